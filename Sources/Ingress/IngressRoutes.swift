/// Every route the ingress serves, by path template: what answers 405 (with `Allow`) for a
/// method a known path does not take, instead of 404. The OpenAPI contract test holds this table
/// to `Docs/openapi.yaml`.
enum IngressRoutes {
    static let table: [(template: String, methods: [String])] = [
        ("/health", ["GET"]), ("/ready", ["GET"]), ("/metrics", ["GET"]), ("/api/v1/webhooks/tripay", ["POST"]),
        ("/api/v1/wallet", ["GET"]), ("/api/v1/wallet/transactions", ["GET"]), ("/api/v1/payment-channels", ["GET"]),
        ("/api/v1/wallet/deposits", ["GET", "POST"]), ("/api/v1/wallet/deposits/{id}", ["GET", "DELETE"]),
        ("/api/v1/commands/{id}", ["GET"]), ("/api/v1/me/contact", ["GET", "PUT"]), ("/api/v1/notifications", ["GET"]),
        ("/api/v1/promos/validate", ["POST"]),
        ("/api/v1/promos/welcome-bonus", ["GET"]), ("/api/v1/promos/welcome-bonus/claim", ["POST"]),
        ("/api/v1/admin/promos", ["GET", "POST"]), ("/api/v1/admin/promos/{id}", ["PATCH", "DELETE"]),
        ("/api/v1/admin/wallets/{customerId}/adjustments", ["POST"]), ("/api/v1/plans", ["GET"]), ("/api/v1/images", ["GET"]),
        ("/api/v1/regions", ["GET"]), ("/api/v1/orders", ["GET", "POST"]), ("/api/v1/orders/{id}", ["GET", "PATCH", "DELETE"]),
        ("/api/v1/orders/{id}/power-on", ["POST"]), ("/api/v1/orders/{id}/power-off", ["POST"]), ("/api/v1/orders/{id}/reboot", ["POST"]),
        ("/api/v1/orders/{id}/rebuild", ["POST"]), ("/api/v1/orders/{id}/console", ["GET"]), ("/api/v1/orders/{id}/renew", ["POST"]),
        ("/api/v1/admin/orders/{id}/retry-provisioning", ["POST"]), ("/api/v1/admin/do-accounts", ["GET", "POST"]),
        ("/api/v1/admin/do-accounts/{id}", ["PATCH"]), ("/api/v1/admin/plans", ["GET", "POST"]),
        ("/api/v1/admin/plans/{id}", ["PATCH", "DELETE"]), ("/api/v1/admin/images", ["GET", "POST"]),
        ("/api/v1/admin/images/{slug}", ["PATCH", "DELETE"]), ("/api/v1/admin/regions", ["GET", "POST"]),
        ("/api/v1/admin/regions/{slug}", ["PATCH", "DELETE"]), ("/ops", ["GET"]), ("/api/v1/admin/ops", ["GET"]),
    ]

    /// The methods a path takes; nil when no route has this path.
    static func methods(for path: String) -> [String]? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        return table.first { route in
            let template = route.template.split(separator: "/", omittingEmptySubsequences: false)
            return template.count == segments.count
                && zip(template, segments).allSatisfy { pattern, segment in
                    pattern.hasPrefix("{") ? !segment.isEmpty : pattern == segment
                }
        }?.methods
    }
}
