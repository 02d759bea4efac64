//! Schema migrations: numbered scripts per backend, applied once each, in order, in a transaction
//! (so a failed migration leaves the schema as it was): on PostgreSQL every pending one in the
//! caller's transaction, on SQLite each in a transaction of its own.

use crate::db::{Dialect, Sql, statements};
use crate::{Error, params};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// One migration: its version, name, and the script per backend in `migrations/`.
macro_rules! migration {
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/", $file, ".sqlite.sql")),
            postgres: include_str!(concat!("../migrations/", $file, ".postgres.sql")),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(1, "core", "0001_core"),
    migration!(2, "fulfillment", "0002_fulfillment"),
    migration!(3, "sourcing", "0003_sourcing"),
    migration!(4, "holds_ship_by", "0004_holds_ship_by"),
    migration!(5, "returns", "0005_returns"),
    migration!(6, "webhooks", "0006_webhooks"),
    migration!(7, "pickup", "0007_pickup"),
    migration!(8, "edits_exchanges", "0008_edits_exchanges"),
    migration!(9, "import_jobs", "0009_import_jobs"),
    migration!(10, "analytics", "0010_analytics"),
    migration!(11, "rollups", "0011_rollups"),
    migration!(12, "sessions_resume", "0012_sessions_resume"),
    migration!(13, "order_facts", "0013_order_facts"),
    migration!(14, "email_ts", "0014_email_ts"),
    migration!(15, "dirty_vacuum", "0015_dirty_vacuum"),
    migration!(16, "placement_indexes", "0016_placement_indexes"),
    migration!(17, "store_settings", "0017_store_settings"),
    migration!(18, "real_store", "0018_real_store"),
    migration!(19, "import_job_leases", "0019_import_job_leases"),
    migration!(20, "jobs", "0020_jobs"),
    migration!(21, "saved_views", "0021_saved_views"),
    migration!(22, "email_rollup", "0022_email_rollup"),
    migration!(23, "support", "0023_support"),
    migration!(24, "support_sla", "0024_support_sla"),
    migration!(25, "support_assignment", "0025_support_assignment"),
    migration!(26, "support_triage", "0026_support_triage"),
    migration!(27, "support_macros", "0027_support_macros"),
    migration!(28, "support_csat", "0028_support_csat"),
    migration!(29, "support_kpis", "0029_support_kpis"),
    migration!(30, "promotions", "0030_promotions"),
    migration!(31, "promotion_rules", "0031_promotion_rules"),
    migration!(32, "discount_kpis", "0032_discount_kpis"),
    migration!(33, "budgets", "0033_budgets"),
];

/// Applies every migration not yet recorded. On SQLite the caller holds the only write connection;
/// on PostgreSQL it holds an advisory lock.
pub fn apply(sql: &mut dyn Sql, dialect: Dialect) -> Result<(), Error> {
    sql.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)", &[])?;
    let done: Vec<i64> = sql
        .query("SELECT version FROM schema_migrations", &[])?
        .iter()
        .map(|r| r.get::<i64>("version"))
        .collect::<Result<_, _>>()?;
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
