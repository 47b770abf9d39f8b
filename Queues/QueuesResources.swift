// The data in this folder, embedded into every binary at build time so a process declares the
// topology and knows the catalog without reading files at run time.

/// The bytes of `Queues/topology.json`.
public let topologyJSON: [UInt8] = PackageResources.topology_json

/// The example message of every catalogued type, by file name.
public let exampleMessages: [(file: String, bytes: [UInt8])] = [
    ("payments.tripay-callback.json", PackageResources.payments_tripay_callback_json),
    ("event.deposit.paid.json", PackageResources.event_deposit_paid_json),
    ("event.deposit.expired.json", PackageResources.event_deposit_expired_json),
    ("payments.create-deposit.json", PackageResources.payments_create_deposit_json),
    ("payments.update-contact.json", PackageResources.payments_update_contact_json),
    ("payments.cancel-deposit.json", PackageResources.payments_cancel_deposit_json),
    ("payments.claim-welcome-bonus.json", PackageResources.payments_claim_welcome_bonus_json),
    ("payments.manage-promo.json", PackageResources.payments_manage_promo_json),
    ("payments.adjust-wallet.json", PackageResources.payments_adjust_wallet_json),
    ("event.welcome-bonus.credited.json", PackageResources.event_welcome_bonus_credited_json),
]
