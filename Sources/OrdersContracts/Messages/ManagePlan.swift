import Foundation
import Messaging

/// `provisioning.manage-plan`: admin, `POST /admin/plans`, `PATCH /admin/plans/{id}`,
/// `DELETE /admin/plans/{id}` (deactivates: ordered plans stay for their orders).
public struct ManagePlan: MessageBody, Equatable {
    public static let messageType = "provisioning.manage-plan"
    public static let exchange = Exchange.commands

    public enum Action: String, Codable, Sendable { case create, update, deactivate }

    /// A price an update sets back to none (an explicit `null`).
    public enum ClearablePrice: String, Codable, Sendable, CaseIterable { case priceDaily, priceMonthly, priceYearly }

    /// On update, nil means unchanged.
    public struct Fields: Codable, Sendable, Equatable {
        public var name: String?
        public var displayName: String?
        public var vcpu: Int?
        public var memoryMb: Int?
        public var diskGb: Int?
        public var bandwidthTb: Double?
        public var sizeSlug: String?
        public var active: Bool?
        public var sortOrder: Int?
        public var priceDaily: Int64?
        public var priceMonthly: Int64?
        public var priceYearly: Int64?
        public var allowDaily: Bool?
        public var allowMonthly: Bool?
        public var allowYearly: Bool?

        public init() {}
    }

    public var action: Action
    public var planId: UUID
    public var fields: Fields
    public var cleared: [ClearablePrice]

    public init(action: Action, planId: UUID, fields: Fields, cleared: [ClearablePrice] = []) {
        self.action = action
        self.planId = planId
        self.fields = fields
        self.cleared = cleared
    }

    /// A new plan's id, derived from the command's.
    public static func planId(for commandId: UUID) -> UUID {
        MessageID.derive("plan", commandId.uuidString)
    }
}
