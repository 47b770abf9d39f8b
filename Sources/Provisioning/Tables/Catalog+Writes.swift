import Foundation
import Messaging
import OrdersContracts
import Postgres

/// The admin's writes to the catalog. A plan or entry that orders name is deactivated, never deleted.
extension Catalog {
    static func createPlan(_ id: UUID, _ fields: ManagePlan.Fields, on connection: PGConnection) throws -> Rejection? {
        guard let name = fields.name, let displayName = fields.displayName, let vcpu = fields.vcpu, let memory = fields.memoryMb,
            let disk = fields.diskGb, let bandwidth = fields.bandwidthTb, let size = fields.sizeSlug
        else { return Rejection(.validationFailed, "name, displayName, vcpu, memoryMb, diskGb, bandwidthTb and sizeSlug are required") }
        let inserted = try connection.query(
            """
            INSERT INTO plans (id, name, display_name, vcpu, memory_mb, disk_gb, bandwidth_tb, size_slug, active, sort_order,
                               price_daily, price_monthly, price_yearly, allow_daily, allow_monthly, allow_yearly)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
            ON CONFLICT DO NOTHING RETURNING id
            """, id, name, displayName, vcpu, memory, disk, bandwidth, size, fields.active ?? true, fields.sortOrder ?? 0,
            fields.priceDaily, fields.priceMonthly, fields.priceYearly, fields.allowDaily ?? false, fields.allowMonthly ?? true,
            fields.allowYearly ?? true)
        return inserted.isEmpty ? Rejection(.planNameTaken, "a plan named \(name) exists already") : nil
    }

    static func updatePlan(
        _ id: UUID, _ fields: ManagePlan.Fields, cleared: [ManagePlan.ClearablePrice], on connection: PGConnection
    ) throws -> Rejection? {
        guard try plan(id, on: connection) != nil else { return Rejection(.planNotFound, "no such plan") }
        if let name = fields.name,
            try !connection.query("SELECT 1 FROM plans WHERE name = $1 AND id <> $2", name, id).isEmpty
        {
            return Rejection(.planNameTaken, "a plan named \(name) exists already")
        }
        try connection.execute(
            """
            UPDATE plans SET name = COALESCE($2, name), display_name = COALESCE($3, display_name), vcpu = COALESCE($4, vcpu),
                memory_mb = COALESCE($5, memory_mb), disk_gb = COALESCE($6, disk_gb), bandwidth_tb = COALESCE($7, bandwidth_tb),
                size_slug = COALESCE($8, size_slug), active = COALESCE($9, active), sort_order = COALESCE($10, sort_order),
                price_daily = CASE WHEN $17 THEN NULL ELSE COALESCE($11, price_daily) END,
                price_monthly = CASE WHEN $18 THEN NULL ELSE COALESCE($12, price_monthly) END,
                price_yearly = CASE WHEN $19 THEN NULL ELSE COALESCE($13, price_yearly) END,
                allow_daily = COALESCE($14, allow_daily), allow_monthly = COALESCE($15, allow_monthly),
                allow_yearly = COALESCE($16, allow_yearly), updated_at = now()
            WHERE id = $1
            """, id, fields.name, fields.displayName, fields.vcpu, fields.memoryMb, fields.diskGb, fields.bandwidthTb, fields.sizeSlug,
            fields.active, fields.sortOrder, fields.priceDaily, fields.priceMonthly, fields.priceYearly, fields.allowDaily,
            fields.allowMonthly, fields.allowYearly, cleared.contains(.priceDaily), cleared.contains(.priceMonthly),
            cleared.contains(.priceYearly))
        return nil
    }

    static func saveEntry(_ command: ManageCatalogEntry, on connection: PGConnection) throws -> Rejection? {
        let table = command.kind.table
        switch command.action {
        case .create:
            guard let displayName = command.displayName else { return Rejection(.validationFailed, "displayName is required") }
            let inserted = try connection.query(
                """
                INSERT INTO \(table) (slug, display_name, active, sort_order) VALUES ($1, $2, $3, $4)
                ON CONFLICT (slug) DO NOTHING RETURNING slug
                """, command.slug, displayName, command.active ?? true, command.sortOrder ?? 0)
            return inserted.isEmpty ? Rejection(.validationFailed, "\(command.kind.rawValue) \(command.slug) exists already") : nil
        case .update, .deactivate:
            let active = command.action == .deactivate ? false : command.active
            let updated = try connection.execute(
                """
                UPDATE \(table) SET display_name = COALESCE($2, display_name), active = COALESCE($3, active),
                    sort_order = COALESCE($4, sort_order), updated_at = now()
                WHERE slug = $1
                """, command.slug, command.displayName, active, command.sortOrder)
            return updated == 0 ? Rejection(command.kind.notFound, "no \(command.kind.rawValue) \(command.slug)") : nil
        }
    }
}
