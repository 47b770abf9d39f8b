import Foundation

/// Where and how to send mail.
public struct SMTPConfiguration: Sendable {
    /// `smtp://host:port` or `smtps://host:port`.
    public var url: String
    public var username: String?
    public var password: String?
    /// Refuse to send over `smtp://` unless the server upgrades with STARTTLS.
    public var requireTLS: Bool
    public var connectTimeout: Double
    public var timeout: Double

    public init(
        url: String, username: String? = nil, password: String? = nil, requireTLS: Bool = false, connectTimeout: Double = 10,
        timeout: Double = 30
    ) {
        self.url = url
        self.username = username
        self.password = password
        self.requireTLS = requireTLS
        self.connectTimeout = connectTimeout
        self.timeout = timeout
    }
}

/// A MIME message with a plain-text and an HTML alternative.
public struct MailMessage: Sendable {
    public var from: String
    public var fromName: String?
    public var to: [String]
    public var subject: String
    public var text: String
    public var html: String?
    /// A stable id (derived from the notification id) so a resend is recognisable.
    public var messageID: String
    public var date: Date

    public init(
        from: String, fromName: String? = nil, to: [String], subject: String, text: String, html: String? = nil, messageID: String,
        date: Date = Date()
    ) {
        self.from = from
        self.fromName = fromName
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.messageID = messageID
        self.date = date
    }

    /// The RFC 5322 message: CRLF line ends, UTF-8 parts in base64, an RFC 2047 subject.
    public func rendered() -> String {
        let boundary =
            "armada-"
            + String(messageID.utf8.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }, radix: 16)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        var lines = [
            "From: " + (fromName.map { "\(Self.encodedWord($0)) <\(from)>" } ?? "<\(from)>"),
            "To: " + to.map { "<\($0)>" }.joined(separator: ", "),
            "Subject: \(Self.encodedWord(subject))",
            "Date: \(formatter.string(from: date))",
            "Message-ID: <\(messageID)>",
            "MIME-Version: 1.0",
        ]
        if let html {
            lines += ["Content-Type: multipart/alternative; boundary=\"\(boundary)\"", ""]
            lines += ["--\(boundary)"] + Self.part("text/plain", text)
            lines += ["--\(boundary)"] + Self.part("text/html", html)
            lines += ["--\(boundary)--", ""]
        } else {
            lines += Self.part("text/plain", text)
        }
        return lines.joined(separator: "\r\n")
    }

    private static func part(_ type: String, _ content: String) -> [String] {
        let encoded = Data(content.utf8).base64EncodedString(options: [
            .lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed,
        ])
        return ["Content-Type: \(type); charset=utf-8", "Content-Transfer-Encoding: base64", "", encoded, ""]
    }

    private static func encodedWord(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 >= 32 && $0 < 127 }) { return text }
        return "=?UTF-8?B?\(Data(text.utf8).base64EncodedString())?="
    }
}
