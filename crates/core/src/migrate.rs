//! Schema migrations: numbered scripts per backend, applied once each, in order, inside the
//! caller's transaction (so a failed migration leaves the schema as it was).

use crate::db::{Dialect, Sql, statements};
use crate::{Error, params};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "core",
        sqlite: include_str!("../migrations/0001_core.sqlite.sql"),
        postgres: include_str!("../migrations/0001_core.postgres.sql"),
    },
    Migration {
        version: 2,
        name: "fulfillment",
        sqlite: include_str!("../migrations/0002_fulfillment.sqlite.sql"),
        postgres: include_str!("../migrations/0002_fulfillment.postgres.sql"),
    },
    Migration {
        version: 3,
        name: "sourcing",
        sqlite: include_str!("../migrations/0003_sourcing.sqlite.sql"),
        postgres: include_str!("../migrations/0003_sourcing.postgres.sql"),
    },
    Migration {
        version: 4,
        name: "holds_ship_by",
        sqlite: include_str!("../migrations/0004_holds_ship_by.sqlite.sql"),
        postgres: include_str!("../migrations/0004_holds_ship_by.postgres.sql"),
    },
    Migration {
        version: 5,
        name: "returns",
        sqlite: include_str!("../migrations/0005_returns.sqlite.sql"),
        postgres: include_str!("../migrations/0005_returns.postgres.sql"),
    },
    Migration {
        version: 6,
        name: "webhooks",
        sqlite: include_str!("../migrations/0006_webhooks.sqlite.sql"),
        postgres: include_str!("../migrations/0006_webhooks.postgres.sql"),
    },
    Migration {
        version: 7,
        name: "pickup",
        sqlite: include_str!("../migrations/0007_pickup.sqlite.sql"),
        postgres: include_str!("../migrations/0007_pickup.postgres.sql"),
    },
];

/// Applies every migration not yet recorded. On SQLite the caller holds the only write connection;
/// on PostgreSQL it holds an advisory lock.
pub fn apply(sql: &mut dyn Sql, dialect: Dialect) -> Result<(), Error> {
    sql.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)", &[])?;
    let done: Vec<i64> = sql
        .query("SELECT version FROM schema_migrations", &[])?
        .iter()
        .map(|r| r.i64(0))
        .collect();
    for m in MIGRATIONS {
        if done.contains(&m.version) {
            continue;
        }
        let script = match dialect {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        let transactional = dialect == Dialect::Postgres;
        if !transactional {
            sql.exec("BEGIN", &[])?;
        }
        let result = (|| {
            for stmt in statements(script) {
                sql.exec(&stmt, &[])?;
            }
            sql.exec(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                params![m.version, m.name, crate::util::now_micros()],
            )?;
            Ok::<(), Error>(())
        })();
        if !transactional {
            if result.is_ok() {
                sql.exec("COMMIT", &[])?;
            } else {
                let _ = sql.exec("ROLLBACK", &[]);
            }
        }
        result?;
        tracing::info!(
            migration.version = m.version,
            migration.name = m.name,
            "applied migration"
        );
    }
    Ok(())
}

/// The latest schema version this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}
