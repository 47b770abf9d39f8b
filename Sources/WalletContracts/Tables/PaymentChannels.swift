import Foundation
import Postgres
import Tripay

/// The `payment_channels` table: Tripay's channel list, cached. Read by the API and the worker;
/// refreshed by the payments worker (`Wallet`, `PaymentChannels+Writes`).
public enum PaymentChannels {
    public static func all(on connection: PGConnection) throws -> [PaymentChannel] {
        try connection.query("SELECT channel::text AS c FROM payment_channels ORDER BY code").map {
            try JSONDecoder().decode(PaymentChannel.self, from: Data(try $0.decode("c", as: String.self).utf8))
        }
    }
}
