import Foundation
import Messaging

/// `event.order.created` (ORDER_CREATED): the order was paid from the wallet.
public struct OrderCreated: MessageBody, Equatable {
    public static let messageType = "event.order.created"
    public static let exchange = Exchange.events

    public var customerId: String
    public var orderId: UUID
    public var planName: String
    public var billingPeriod: BillingPeriod
    public var price: Int64
    public var hostname: String

    public init(customerId: String, orderId: UUID, planName: String, billingPeriod: BillingPeriod, price: Int64, hostname: String) {
        self.customerId = customerId
        self.orderId = orderId
        self.planName = planName
        self.billingPeriod = billingPeriod
        self.price = price
        self.hostname = hostname
    }
}
