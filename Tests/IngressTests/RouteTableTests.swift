import ArmadaTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Ingress

@Suite("The ingress's route table against the routes it registers")
struct RouteTableTests {
    @Test("every (path, method) in IngressRoutes reaches a registered route; another method on it is 405 with Allow")
    func tableMatchesRouter() async throws {
        let token = try await InProcessIngress.token(TestEnvironment.unique("admin"), role: "admin")
        try await InProcessIngress.withApplication { client in
            for route in IngressRoutes.table {
                let path = route.template.replacingOccurrences(of: "{id}", with: UUID().uuidString.lowercased())
                    .replacingOccurrences(of: "{customerId}", with: "cust-route")
                for method in route.methods {
                    try await client.execute(
                        uri: path, method: HTTPRequest.Method(method)!, headers: InProcessIngress.headers(token, key: UUID().uuidString),
                        body: ByteBuffer(string: "{}")
                    ) { response in
                        // Whatever the answer (202, 404 for a missing resource, 422...), it did not come
                        // from "no such route".
                        let code = (try? errorBody(response))?.code
                        #expect(code != "NOT_FOUND" && code != "METHOD_NOT_ALLOWED", "\(method) \(route.template): \(response.status)")
                    }
                }
                let other = ["GET", "POST", "PUT", "PATCH", "DELETE"].first { !route.methods.contains($0) }
                if let other {
                    try await client.execute(uri: path, method: HTTPRequest.Method(other)!, headers: InProcessIngress.headers(token)) {
                        response in
                        #expect(response.status == .methodNotAllowed, "\(other) \(route.template)")
                        #expect(response.headers[.allow] == route.methods.joined(separator: ", "))
                    }
                }
            }
        }
    }
}
