import Foundation
import Logging
import Postgres

/// The migrated test database (`armada_test`, prepared by `Deploy/local/test.sh`).
public enum TestDatabase {
    public static func pool(size: Int = 4, name: String = "tests") -> PostgresPool {
        PostgresPool(connectionString: TestEnvironment.databaseURL, size: size, applicationName: name, logger: Logger(label: "test.db"))
    }

    /// A URL for another database on the same server.
    public static func url(database: String) -> String {
        var components = URLComponents(string: TestEnvironment.databaseURL)!
        components.path = "/" + database
        return components.string!
    }
}
