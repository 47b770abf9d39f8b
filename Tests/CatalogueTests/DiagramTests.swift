import ArmadaTestSupport
import Foundation
import Messaging
import Testing

/// The diagram of processes, exchanges and queues in `Docs/architecture.md`, kept true to
/// `Queues/topology.json`: the same exchanges and queues, every binding drawn as an
/// exchange-to-queue edge labelled with its routing key, every queue drawn into the executable
/// that consumes it, and nothing the topology does not declare.
@Suite("The architecture diagram against Queues/topology.json")
struct DiagramTests {
    struct Diagram {
        /// Node id → label, for exchanges (`{{…}}`), queues (`[(armada.…)]`) and processes (`[…]`).
        var exchanges: [String: String] = [:]
        var queues: [String: String] = [:]
        var processes: [String: String] = [:]
        /// (from, label, to) for every `-->` edge.
        var edges: [(from: String, label: String, to: String)] = []
    }

    static func documentText() throws -> String {
        try String(contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("Docs/architecture.md"), encoding: .utf8)
    }

    static func diagram(_ text: String) throws -> Diagram {
        guard let begin = text.range(of: "<!-- diagram:begin"),
            let start = text.range(of: "```mermaid", range: begin.upperBound..<text.endIndex),
            let end = text.range(of: "<!-- diagram:end -->")
        else {
            throw TestFailure("Docs/architecture.md has no diagram markers")
        }
        var diagram = Diagram()
        let node = /([a-z_]+)(\{\{[^}]+\}\}|\[\([^)]+\)\]|\(\[[^\]]+\]\)|\[[^\]]+\])?/
        for raw in text[start.upperBound..<end.lowerBound].split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard line.contains("-->") || line.contains("---") else { continue }
            let arrow = line.contains("-->") ? "-->" : "---"
            let sides = line.components(separatedBy: arrow)
            guard sides.count == 2 else { continue }
            var right = sides[1].trimmingCharacters(in: .whitespaces)
            var label = ""
            if right.hasPrefix("|"), let close = right.dropFirst().firstIndex(of: "|") {
                label = String(right[right.index(after: right.startIndex)..<close])
                right = String(right[right.index(after: close)...]).trimmingCharacters(in: .whitespaces)
            }
            var ids: [String] = []
            for side in [sides[0].trimmingCharacters(in: .whitespaces), right] {
                guard let match = side.wholeMatch(of: node) else { throw TestFailure("cannot read \(side) in: \(line)") }
                let id = String(match.1)
                ids.append(id)
                guard let shape = match.2.map(String.init) else { continue }
                if shape.hasPrefix("{{") {
                    diagram.exchanges[id] = String(shape.dropFirst(2).dropLast(2))
                } else if shape.hasPrefix("[(") {
                    let name = String(shape.dropFirst(2).dropLast(2))
                    if name.hasPrefix("armada.") { diagram.queues[id] = name }
                } else if shape.hasPrefix("[") {
                    diagram.processes[id] = String(shape.dropFirst().dropLast())
                }
            }
            if arrow == "-->" { diagram.edges.append((ids[0], label, ids[1])) }
        }
        return diagram
    }

    /// Every way the diagram differs from the topology, in words.
    static func mismatches(_ diagram: Diagram, _ topology: Topology) -> [String] {
        var found: [String] = []
        if Set(diagram.exchanges.values) != Set(topology.exchanges.map(\.name)) {
            found.append("exchanges: drawn \(diagram.exchanges.values.sorted()), declared \(topology.exchanges.map(\.name).sorted())")
        }
        if Set(diagram.queues.values) != Set(topology.queues.map(\.name)) {
            found.append("queues: drawn \(diagram.queues.values.sorted()), declared \(topology.queues.map(\.name).sorted())")
        }
        let queueIds = Dictionary(diagram.queues.map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        var bindings: Set<String> = []
        for queue in topology.queues {
            for binding in queue.bindings { bindings.insert("\(binding.exchange) \(binding.routingKey) \(queue.name)") }
            // "armada-notifier.email" is the notifier executable's email consumer.
            let executable = (queue.consumer ?? "").split(separator: ".").first.map(String.init)
            let consumers = diagram.edges.filter { $0.from == queueIds[queue.name] }.compactMap { diagram.processes[$0.to] }
            if consumers != [executable].compactMap({ $0 }) {
                found.append("\(queue.name) is consumed by \(executable ?? "nobody") but drawn into \(consumers)")
            }
        }
        let drawn = Set(
            diagram.edges.compactMap { edge -> String? in
                guard let exchange = diagram.exchanges[edge.from], let queue = diagram.queues[edge.to] else { return nil }
                return "\(exchange) \(edge.label) \(queue)"
            })
        for binding in drawn.subtracting(bindings).sorted() { found.append("drawn but not bound: \(binding)") }
        for binding in bindings.subtracting(drawn).sorted() { found.append("bound but not drawn: \(binding)") }
        return found
    }

    @Test("the same exchanges, queues, bindings and consumers as the topology, and nothing more")
    func diagramMatchesTopology() throws {
        let diagram = try Self.diagram(try Self.documentText())
        #expect(diagram.edges.count > 20 && diagram.processes.values.contains("armada-payments"))
        #expect(Self.mismatches(diagram, try Topology.bundled()) == [])
    }

    @Test("a diagram with a wrong routing key, a missing consumer or an extra queue is caught")
    func driftIsCaught() throws {
        let text = try Self.documentText()
        let topology = try Topology.bundled()
        let wrongKey = try Self.diagram(text.replacingOccurrences(of: "-->|payments.#| q_payments", with: "-->|payment.#| q_payments"))
        #expect(
            Self.mismatches(wrongKey, topology).sorted() == [
                "bound but not drawn: armada.commands payments.# armada.payments",
                "drawn but not bound: armada.commands payment.# armada.payments",
            ])
        let noConsumer = try Self.diagram(text.replacingOccurrences(of: "  q_telegram --> notifier\n", with: ""))
        #expect(Self.mismatches(noConsumer, topology) == ["armada.telegram is consumed by armada-notifier but drawn into []"])
        let extra = try Self.diagram(
            text.replacingOccurrences(of: "```mermaid\n", with: "```mermaid\n  x_events -->|ghost.#| q_ghost[(armada.ghost)]\n"))
        #expect(Self.mismatches(extra, topology).count == 2, "an undeclared queue and its binding")
    }
}
