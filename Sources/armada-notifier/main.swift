import ArmadaService
import Notifications

// armada-notifier: notifications recorded from events, sent by email and Telegram (Notifications).
await WorkerProcess.main(name: NotifierWorker.name, defaultMetricsPort: 9104) { resources in
    try NotifierWorker.definitions(try NotifierSettings(resources.environment), resources)
}
