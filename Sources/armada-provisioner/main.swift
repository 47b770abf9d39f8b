import ArmadaService
import Provisioning

// armada-provisioner: orders, droplets and DigitalOcean accounts (Provisioning).
await WorkerProcess.main(name: ProvisionerWorker.name, defaultMetricsPort: 9102) { resources in
    ProvisionerWorker.definition(try ProvisionerSettings(resources.environment), resources)
}
