import Foundation
import Hummingbird
import Messaging
import Postgres

/// Every error the ingress answers with: `{"error": {"code": "...", "message": "..."}}`.
public struct APIError: Error, Sendable {
    /// A business rule's refusal, answered with `status` (422 unless said otherwise).
    public init(_ rejection: Rejection, status: HTTPResponse.Status = .unprocessableContent, field: String? = nil) {
        self.init(status, rejection.code, rejection.message, field: field)
    }

    public var status: HTTPResponse.Status
    public var code: ErrorCode
    public var message: String
    /// The request field at fault, for validation errors.
    public var field: String?
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ code: ErrorCode, _ message: String, field: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
    }

    public var response: Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        var error = ["code": code.rawValue, "message": message]
        if let field { error["field"] = field }
        let body =
            (try? JSONSerialization.data(withJSONObject: ["error": error], options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data(#"{"error":{"code":"\#(ErrorCode.internalError)","message":"error not encodable"}}"#.utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Turns thrown `APIError`s, and Hummingbird's own errors (413, 404, 405), into the JSON shape.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response
        } catch let error as PostgresError where error.isRetriable {
            // The database is down or failing over: the client may retry; never a bare 500.
            return APIError(
                .serviceUnavailable, .serviceUnavailable, "the service is temporarily unavailable; retry shortly",
                headers: [.retryAfter: "5"]
            ).response
        } catch is PostgresError {
            return APIError(.internalServerError, .internalError, "the request could not be completed").response
        } catch let error as any HTTPResponseError {
            // Hummingbird's own errors (unknown route, wrong method, body over the limit) in our shape.
            switch error.status {
            case .contentTooLarge: return APIError(.contentTooLarge, .payloadTooLarge, "the request body is too large").response
            case .notFound:
                // A known path with a method it does not take is 405, naming the ones it does.
                if let methods = IngressRoutes.methods(for: request.uri.path) {
                    return APIError(
                        .methodNotAllowed, .methodNotAllowed, "\(request.method) is not allowed here",
                        headers: [.allow: methods.joined(separator: ", ")]
                    ).response
                }
                return APIError(.notFound, .notFound, "no such resource").response
            case .methodNotAllowed:
                let allowed = IngressRoutes.methods(for: request.uri.path)?.joined(separator: ", ") ?? ""
                return APIError(.methodNotAllowed, .methodNotAllowed, "method not allowed here", headers: [.allow: allowed]).response
            default:
                let message = (error as? HTTPError)?.body ?? error.status.reasonPhrase
                return APIError(error.status, ErrorCode("HTTP_\(error.status.code)"), message).response
            }
        }
    }
}

func jsonResponse(_ object: Any, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
    var headers = headers
    headers[.contentType] = "application/json"
    let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
}
