import ArmadaService
import Lifecycle

// armada-lifecycle: ticks, reminders, auto-renewal, suspension and termination (Lifecycle).
await WorkerProcess.main(name: LifecycleWorker.name, defaultMetricsPort: 9103) { resources in
    LifecycleWorker.definition(try LifecycleSettings(resources.environment), resources)
}
