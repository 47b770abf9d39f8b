import Foundation
import Mustache
import Retriability

/// A notification as each channel sends it.
public struct RenderedNotice: Sendable, Equatable {
    public var subject: String
    /// Email's plain-text part.
    public var text: String
    /// Email's HTML part: the body in the locale's layout.
    public var html: String
    /// Telegram's message (parse mode HTML): the body as rendered.
    public var telegram: String
}

/// A template that is missing, does not parse, or renders something no channel can send. Not
/// retriable: the same event meets the same template; an operator fixes the file and replays.
public struct TemplateError: Error, Sendable, RetryClassifiable, CustomStringConvertible {
    public var description: String
    public var isRetriable: Bool { false }
    init(_ description: String) { self.description = description }
}

/// The templates in `ARMADA_TEMPLATES_DIR` (Templates/notifications/README.md): per locale,
/// `<kind>.subject.mustache` (text), `<kind>.body.mustache` (HTML with `<b>`, `<i>`, `<code>`
/// only: the same body is Telegram's HTML), `layout.html.mustache` and `reasons.json`. Read once
/// at start: an edit takes effect when the notifier restarts, with no rebuild.
public struct NotificationTemplates: Sendable {
    private let libraries: [NoticeFormat.Locale: MustacheLibrary]
    private let reasons: [NoticeFormat.Locale: [String: String]]

    /// Loads and checks every locale: each kind has its subject and body, each locale its layout.
    public init(directory: String, kinds: [String]) throws {
        var libraries: [NoticeFormat.Locale: MustacheLibrary] = [:]
        var reasons: [NoticeFormat.Locale: [String: String]] = [:]
        for locale in NoticeFormat.Locale.allCases {
            let folder = (directory as NSString).appendingPathComponent(locale.rawValue)
            var templates: [String: MustacheTemplate] = [:]
            let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            for file in files where file.hasSuffix(".mustache") {
                let path = (folder as NSString).appendingPathComponent(file)
                guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                    throw TemplateError("\(path) cannot be read as UTF-8")
                }
                do {
                    templates[String(file.dropLast(".mustache".count))] = try MustacheTemplate(string: text)
                } catch {
                    throw TemplateError("\(path) does not parse: \(error)")
                }
            }
            for name in kinds.flatMap({ ["\($0).subject", "\($0).body"] }) + ["layout.html"] where templates[name] == nil {
                throw TemplateError("\(folder)/\(name).mustache is missing")
            }
            libraries[locale] = MustacheLibrary(templates: templates)
            let reasonsFile = (folder as NSString).appendingPathComponent("reasons.json")
            guard let data = FileManager.default.contents(atPath: reasonsFile),
                let table = try? JSONDecoder().decode([String: String].self, from: data)
            else { throw TemplateError("\(reasonsFile) is missing or not a JSON object of strings") }
            reasons[locale] = table
        }
        self.libraries = libraries
        self.reasons = reasons
    }

    /// A reason code in words (`reasons.json`), or the `UNKNOWN` phrase.
    public func reason(_ code: String, _ locale: NoticeFormat.Locale) -> String {
        reasons[locale]?[code] ?? reasons[locale]?["UNKNOWN"] ?? code
    }

    /// Telegram refuses a longer message.
    public static let telegramLimit = 4096

    public func render(kind: String, locale: NoticeFormat.Locale, values: [String: Any]) throws -> RenderedNotice {
        guard let library = libraries[locale],
            let subjectText = library.render(values, withTemplate: "\(kind).subject"),
            let body = library.render(values, withTemplate: "\(kind).body")
        else { throw TemplateError("no templates for \(kind) in \(locale.rawValue)") }
        let subject = subjectText.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " ")
        let telegram = body.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !subject.isEmpty, !telegram.isEmpty else {
            throw TemplateError("\(locale.rawValue)/\(kind) renders an empty subject or body")
        }
        guard telegram.count <= Self.telegramLimit else {
            throw TemplateError("\(locale.rawValue)/\(kind) renders \(telegram.count) characters, over Telegram's \(Self.telegramLimit)")
        }
        var layoutValues = values
        layoutValues["content"] = Self.paragraphs(telegram)
        layoutValues["subject"] = subject
        guard let html = library.render(layoutValues, withTemplate: "layout.html") else {
            throw TemplateError("no layout.html in \(locale.rawValue)")
        }
        return RenderedNotice(subject: subject, text: Self.plainText(telegram) + "\n", html: html, telegram: telegram)
    }

    /// The body's paragraphs (blank-line separated) as `<p>`, its line breaks as `<br>`. The
    /// body's values are escaped already, so this adds markup only.
    static func paragraphs(_ body: String) -> String {
        body.components(separatedBy: "\n\n").map { paragraph in
            "<p>" + paragraph.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "<br>\n") + "</p>"
        }.joined(separator: "\n")
    }

    /// The body without its tags, entities decoded. Every `<` from a value is `&lt;` in the body,
    /// so a literal `<` here is a template's tag.
    static func plainText(_ body: String) -> String {
        var text = ""
        var inTag = false
        for character in body {
            if inTag {
                if character == ">" { inTag = false }
            } else if character == "<" {
                inTag = true
            } else {
                text.append(character)
            }
        }
        for (entity, character) in [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#39;", "'"), ("&amp;", "&")] {
            text = text.replacingOccurrences(of: entity, with: character)
        }
        return text
    }
}
