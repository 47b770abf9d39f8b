import AMQP
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Messaging
import Metrics
import Tripay
import WalletContracts

/// `POST /api/v1/webhooks/tripay`: verifies Tripay's callback and hands it to the payments
/// queue. It answers `{"success": true}` only once the broker confirmed the message, so a
/// callback Tripay thinks delivered is never lost; on a broker problem it answers 503 and
/// Tripay sends it again.
struct TripayWebhookController: Sendable {
    static let path = "/api/v1/webhooks/tripay"
    static let maximumBodySize = 64 * 1024
    static let signatureHeader = HTTPField.Name("X-Callback-Signature")!
    static let eventHeader = HTTPField.Name("X-Callback-Event")!

    /// TRIPAY_PRIVATE_KEY, then (during a rotation) TRIPAY_PRIVATE_KEY_PREVIOUS.
    let privateKeys: [String]
    let broker: BrokerClient
    let logger: Logger

    private static let accepted = Counter(label: "armada_webhook_callbacks_total", dimensions: [("outcome", "accepted")])
    private static let success = Array(#"{"success":true}"#.utf8)

    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.post(RouterPath(Self.path)) { request, context in
            try await receive(request, context: context)
        }
    }

    func receive<Context: RequestContext>(_ request: Request, context: Context) async throws -> Response {
        let buffer = try await request.body.collect(upTo: Self.maximumBodySize)
        let body = Array(buffer.readableBytesView)
        guard request.headers[values: Self.eventHeader].first == "payment_status" else {
            throw rejected(.badRequest, .invalidCallbackEvent, "X-Callback-Event must be payment_status")
        }
        guard let signature = request.headers[Self.signatureHeader], !signature.isEmpty else {
            throw rejected(.unauthorized, .missingSignature, "X-Callback-Signature is required")
        }
        guard privateKeys.contains(where: { TripaySignature.isValidCallback(body: body, signature: signature, privateKey: $0) }) else {
            throw rejected(.unauthorized, .invalidSignature, "X-Callback-Signature does not match the body")
        }
        let callback: TripayCallback
        do {
            callback = try TripayCallback.decode(body)
        } catch {
            throw rejected(
                .badRequest, .malformedCallback, "the callback body is not a valid Tripay payment_status payload: \(Self.describe(error))"
            )
        }

        let received = Date()
        let envelope = Envelope(
            id: TripayCallbackReceived.messageID(reference: callback.reference, status: callback.status.rawValue),
            data: TripayCallbackReceived(rawBody: String(decoding: body, as: UTF8.self), receivedAt: received), occurredAt: received,
            correlationId: callback.reference)
        do {
            try await broker.publish(envelope)
        } catch {
            logger.warning(
                "tripay callback not enqueued; answering 503", metadata: ["reference": "\(callback.reference)", "error": "\(error)"])
            Counter(label: "armada_webhook_callbacks_total", dimensions: [("outcome", "unavailable")]).increment()
            return jsonResponse(
                ["success": false, "message": "temporarily unavailable, please retry"], status: .serviceUnavailable,
                headers: [.retryAfter: "5"])
        }
        logger.info(
            "tripay callback enqueued",
            metadata: [
                "reference": "\(callback.reference)", "status": "\(callback.status.rawValue)",
                "message_id": "\(envelope.id.uuidString.lowercased())",
            ])
        Self.accepted.increment()
        // What Tripay expects; built once, not per callback.
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: Self.success)))
    }

    private func rejected(_ status: HTTPResponse.Status, _ code: ErrorCode, _ message: String) -> APIError {
        logger.notice("tripay callback rejected", metadata: ["code": "\(code)"])
        Counter(label: "armada_webhook_callbacks_total", dimensions: [("outcome", code.rawValue.lowercased())]).increment()
        return APIError(status, code, message)
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "not JSON" : "invalid value at \(path)"
        default: return "not JSON"
        }
    }
}
