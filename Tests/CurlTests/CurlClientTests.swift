import ArmadaTestSupport
import Curl
import Foundation
import Testing

struct Echo: Decodable {
    var method: String
    var path: String
    var headers: [String: String]
    var body: String
}

@Suite("libcurl wrapper against real HTTP and SMTP peers")
struct CurlClientTests {
    @Test("a request carries method, headers and body; the response has status, headers and body")
    func roundTrip() async throws {
        let (server, base) = try await Peers.echoHTTP()
        defer { server.signal(SIGKILL) }
        let client = CurlClient()
        let body = Array(#"{"amount": 150000, "note": "héllo"}"#.utf8)
        let response = try await client.send(
            HTTPRequest(
                method: "POST", url: base + "/transaction/create",
                headers: [("Authorization", "Bearer dev-fake"), ("Content-Type", "application/json")], body: body))
        #expect(response.status == 200)
        #expect(response.header("x-echo") == "yes")
        #expect(response.header("CONTENT-TYPE") == "application/json")
        let echo = try JSONDecoder().decode(Echo.self, from: Data(response.body))
        #expect(echo.method == "POST")
        #expect(echo.path == "/transaction/create")
        #expect(echo.headers["authorization"] == "Bearer dev-fake")
        #expect(echo.headers["expect"] == nil)
        #expect(echo.body == #"{"amount": 150000, "note": "héllo"}"#)
    }

    @Test("HTTP error statuses are responses, classified by whether a retry can help")
    func statuses() async throws {
        let (server, base) = try await Peers.echoHTTP()
        defer { server.signal(SIGKILL) }
        let client = CurlClient()
        let notFound = try await client.send(HTTPRequest(method: "DELETE", url: base + "/status/404"))
        #expect(notFound.status == 404)
        #expect(!notFound.isRetriableStatus)
        #expect(try await client.send(HTTPRequest(url: base + "/status/503")).isRetriableStatus)
        #expect(try await client.send(HTTPRequest(url: base + "/status/429")).isRetriableStatus)
    }

    @Test("the total timeout ends a slow request with a retriable error")
    func timeout() async throws {
        let (server, base) = try await Peers.echoHTTP()
        defer { server.signal(SIGKILL) }
        let started = ContinuousClock.now
        await #expect {
            _ = try await CurlClient().send(HTTPRequest(url: base + "/slow/5", timeout: 0.5))
        } throws: { ($0 as? CurlError)?.code == 28 && ($0 as? CurlError)?.isRetriable == true }
        #expect(ContinuousClock.now - started < .seconds(3))
    }

    @Test("a refused connection is a retriable error")
    func refused() async throws {
        await #expect {
            _ = try await CurlClient().send(HTTPRequest(url: "http://127.0.0.1:1/"))
        } throws: { ($0 as? CurlError)?.code == 7 && ($0 as? CurlError)?.isRetriable == true }
    }

    @Test("a MIME message with text and HTML parts is delivered over SMTP")
    func smtp() async throws {
        let (sink, port, maildir) = try await Peers.armadaSMTPSink()
        defer { sink.signal(SIGKILL) }
        let message = MailMessage(
            from: "billing@armada.test", fromName: "Armada", to: ["budi@example.test"], subject: "Deposit Rp 150.000 diterima ✓",
            text: "Saldo Anda bertambah Rp 150.000.", html: "<p>Saldo Anda bertambah <b>Rp 150.000</b>.</p>",
            messageID: "notification-42@armada.test")
        try await CurlClient().sendMail(message, via: SMTPConfiguration(url: "smtp://127.0.0.1:\(port)"))

        var stored: String?
        let arrived = await eventually(timeout: .seconds(10)) {
            stored = Peers.sinkMessages(maildir).first
            return stored != nil
        }
        #expect(arrived)
        let mail = try #require(stored)
        #expect(mail.contains("Message-ID: <notification-42@armada.test>"))
        #expect(mail.contains("To: <budi@example.test>"))
        #expect(mail.contains("Subject: =?UTF-8?B?"))
        #expect(mail.contains("multipart/alternative"))
        #expect(mail.contains(Data("Saldo Anda bertambah Rp 150.000.".utf8).base64EncodedString()))
    }

    @Test("SMTP failures are classified: a refused recipient is final; a busy server, no server, or a refused sender is retriable")
    func smtpFailures() async throws {
        let (sink, port, _) = try await Peers.armadaSMTPSink()
        defer { sink.signal(SIGKILL) }
        func send(to recipient: String, port: Int) async -> SMTPError? {
            let message = MailMessage(
                from: "billing@armada.test", to: [recipient], subject: "s", text: "t", messageID: "\(UUID().uuidString)@armada.test")
            do {
                try await CurlClient().sendMail(message, via: SMTPConfiguration(url: "smtp://127.0.0.1:\(port)", timeout: 10))
                return nil
            } catch {
                return error as? SMTPError
            }
        }
        let refused = try #require(await send(to: "reject-me@example.test", port: port))
        #expect(refused.replyCode == 550 && refused.recipientRefused && !refused.isRetriable, "\(refused)")
        let busy = try #require(await send(to: "tempfail-me@example.test", port: port))
        #expect(busy.replyCode == 451 && !busy.recipientRefused && busy.isRetriable, "\(busy)")
        let nobody = try #require(await send(to: "budi@example.test", port: freePort()))
        #expect(nobody.replyCode == 0 && nobody.isRetriable, "\(nobody)")
        #expect(await send(to: "budi@example.test", port: port) == nil)
        // A 5xx to MAIL FROM (a relay that wants AUTH, say) is the operator's to fix, not final.
        let sender = SMTPError(curl: CurlError(code: 55, message: "MAIL failed: 530"), replyCode: 530)
        #expect(!sender.recipientRefused && sender.isRetriable)
    }
}
