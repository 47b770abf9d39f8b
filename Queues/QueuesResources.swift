// The topology, embedded into every binary at build time so a process declares it without
// reading files at run time. The catalogue (README.md, examples/) is checked by the tests
// against the code's registry, straight from this folder.

/// The bytes of `Queues/topology.json`.
public let topologyJSON: [UInt8] = PackageResources.topology_json
