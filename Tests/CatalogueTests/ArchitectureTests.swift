import ArmadaTestSupport
import Foundation
import Testing

/// The module arrows of `Docs/architecture.md`, kept true by the code: every source file's
/// imports are allowed by its module's row, and every import is declared in `Package.swift`.
@Suite("Module arrows: Docs/architecture.md against Sources/ and Package.swift")
struct ArchitectureTests {
    static let root = TestEnvironment.repositoryRoot
    /// Modules of the toolchain, never declared as dependencies.
    static let system: Set<String> = ["Foundation", "Glibc", "Dispatch", "Synchronization"]
    /// Products whose name differs from a module they bring.
    static let productModules: [String: Set<String>] = ["Metrics": ["Metrics", "CoreMetrics"]]

    static func allowedImports() throws -> [String: Set<String>] {
        let text = try String(contentsOf: root.appendingPathComponent("Docs/architecture.md"), encoding: .utf8)
        guard let start = text.range(of: "<!-- imports:begin -->"), let end = text.range(of: "<!-- imports:end -->") else {
            throw TestFailure("Docs/architecture.md has no imports table")
        }
        var table: [String: Set<String>] = [:]
        for line in text[start.upperBound..<end.lowerBound].split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, cells[1] != "module", !cells[1].hasPrefix("---") else { continue }
            table[cells[1]] = Set(cells[2].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        }
        return table
    }

    static func imports(of module: String) throws -> [(file: String, module: String)] {
        let folder = root.appendingPathComponent("Sources/\(module)")
        guard let files = FileManager.default.enumerator(atPath: folder.path) else { return [] }
        var found: [(String, String)] = []
        for case let file as String in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let trimmed = line.replacingOccurrences(of: "@testable ", with: "")
                guard trimmed.hasPrefix("import ") else { continue }
                found.append(("\(module)/\(file)", String(trimmed.dropFirst("import ".count)).trimmingCharacters(in: .whitespaces)))
            }
        }
        return found
    }

    static var swiftModules: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Sources").path)) ?? []).filter { module in
            let folder = root.appendingPathComponent("Sources/\(module)").path
            return (FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] ?? []).contains { $0.hasSuffix(".swift") }
        }.sorted()
    }

    @Test("every module has a row, and every import is one its row allows")
    func importsFollowTheArrows() throws {
        let table = try Self.allowedImports()
        for module in Self.swiftModules {
            guard let allowed = table[module] else {
                Issue.record("Sources/\(module) has no row in Docs/architecture.md's imports table")
                continue
            }
            for (file, imported) in try Self.imports(of: module) where !allowed.contains(imported) {
                Issue.record("\(file) imports \(imported), which its row in Docs/architecture.md does not allow")
            }
        }
    }

    @Test("Messaging and ArmadaService import no business area and no provider")
    func kitKnowsNoArea() throws {
        let forbidden: Set<String> = ["Wallet", "WalletContracts", "Tripay", "Curl", "Ingress"]
        for module in ["Messaging", "ArmadaService"] {
            for (file, imported) in try Self.imports(of: module) where forbidden.contains(imported) {
                Issue.record("\(file) imports \(imported)")
            }
        }
    }

    @Test("every module a source file imports is declared as its target's dependency in Package.swift")
    func importsAreDeclared() throws {
        let manifest = try String(contentsOf: Self.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        for module in Self.swiftModules {
            let declared = try #require(Self.dependencies(of: module, in: manifest), "no target \(module) in Package.swift")
            for (file, imported) in try Self.imports(of: module) where !Self.system.contains(imported) && !declared.contains(imported) {
                Issue.record("\(file) imports \(imported), which Package.swift does not declare for \(module)")
            }
        }
    }

    /// The modules a target's `dependencies:` list brings (target names and product modules).
    static func dependencies(of target: String, in manifest: String) -> Set<String>? {
        let pattern = "[tT]arget\\(\\s*name: \"\(NSRegularExpression.escapedPattern(for: target))\""
        guard let nameRange = manifest.range(of: pattern, options: .regularExpression) else { return nil }
        let rest = manifest[nameRange.upperBound...]
        // The target's own declaration ends where the next one begins.
        let end = rest.range(of: "\n        .")?.lowerBound ?? rest.endIndex
        let declaration = rest[..<end]
        guard let list = declaration.range(of: "dependencies: [") else { return [] }
        var depth = 1
        var index = list.upperBound
        while index < declaration.endIndex && depth > 0 {
            if declaration[index] == "[" { depth += 1 }
            if declaration[index] == "]" { depth -= 1 }
            index = declaration.index(after: index)
        }
        let body = declaration[list.upperBound..<index]
        var modules = Set<String>()
        for part in body.components(separatedBy: "\"").enumerated() where part.offset % 2 == 1 {
            modules.insert(part.element)
        }
        for (product, extra) in productModules where modules.contains(product) { modules.formUnion(extra) }
        return modules
    }
}
