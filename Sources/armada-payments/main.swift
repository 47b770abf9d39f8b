import ArmadaService
import Wallet

// armada-payments: deposits, Tripay callbacks, the wallet ledger, promos (Wallet).
await WorkerProcess.main(name: PaymentsWorker.name, defaultMetricsPort: 9101) { resources in
    PaymentsWorker.definition(try PaymentsSettings(resources.environment), resources)
}
