import Foundation
import Hummingbird
import Messaging
import Operations

/// The ops page: `GET /ops` serves a static page (no data in it, no token needed to load it)
/// whose script reads `GET /api/v1/admin/ops` with an admin token every few seconds.
struct OpsAPI: Sendable {
    let sampler: OpsSampler?

    static let page = ByteBuffer(bytes: PackageResources.ops_html)

    func addPage(to router: Router<IngressContext>) {
        router.get("/ops") { _, _ in
            Response(
                status: .ok,
                headers: [
                    .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                    // The page runs only its own inline script and talks only to this origin.
                    .contentSecurityPolicy:
                        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                ],
                body: .init(byteBuffer: Self.page))
        }
    }

    func addRoutes(to group: RouterGroup<IngressContext>) {
        group.get("/admin/ops") { _, context in
            _ = try context.requireAdmin()
            guard let sampler else {
                throw APIError(.serviceUnavailable, .serviceUnavailable, "this ingress does not sample the queues")
            }
            do {
                return try encodedResponse(try await sampler.current())
            } catch {
                throw APIError(.serviceUnavailable, .serviceUnavailable, "the broker or the database did not answer: \(error)")
            }
        }
    }
}
