//! Backroom's engine: storage behind one interface (SQLite and PostgreSQL adapters) and the services
//! that run every business flow in a single transaction.
//!
//! Services take a [`Ctx`] (who acts, and when) and an open transaction; they call the pure rules of
//! `backroom-domain` and the repository functions here. They never know about HTTP. Everything a
//! service changes is written to the audit log in the same transaction.

// The business areas: each folder keeps its rules, its SQL and its rows, owns its tables (the
// conventions test in tests/contract names them) and calls other areas through their functions.
pub mod analytics;
pub mod auth;
pub mod budgets;
pub mod catalog;
pub mod customers;
pub mod fulfillment;
pub mod imports;
pub mod inventory;
pub mod orders;
pub mod promotions;
pub mod returns;
pub mod settings;
pub mod support;
pub mod webhooks;

// The platform under them: storage, the wire types, the audit log, migrations, shared helpers
// and the demo and test fixtures.
pub mod api;
pub mod audit;
pub mod db;
pub mod fixtures;
pub mod jobs;
pub mod migrate;
pub mod util;

pub use db::{Db, DbError, Dialect, Row, Sql, Val};

use backroom_domain::Invalid;
use backroom_domain::roles::{Permission, Role};

/// Who is acting, and the time the action happens at (microseconds since the Unix epoch, UTC).
#[derive(Clone, Debug)]
pub struct Ctx {
    pub actor: Actor,
    pub now: i64,
}

/// The authenticated principal behind a request or command.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The user id; 0 for the system itself (migrations, the demo seeder, the CLI).
    pub user_id: i64,
    pub name: String,
    pub role: Role,
}

impl Actor {
    pub fn system() -> Actor {
        Actor {
            user_id: 0,
            name: "system".into(),
            role: Role::Admin,
        }
    }

    pub fn require(&self, p: Permission) -> Result<(), Error> {
        if self.role.allows(p) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "the {} role may not do this",
                self.role.as_str()
            )))
        }
    }
}

impl Ctx {
    pub fn new(actor: Actor, now: i64) -> Ctx {
        Ctx { actor, now }
    }
    /// The system acting at the current wall-clock time.
    pub fn system_now() -> Ctx {
        Ctx {
            actor: Actor::system(),
            now: util::now_micros(),
        }
    }
}

/// Everything a service can refuse or fail with. The HTTP layer maps each to one status and code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// A request that conflicts with the current state; `code` is stable and machine-readable.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("not enough stock for {sku}: {requested} requested, {available} available")]
    InsufficientStock {
        field: String,
        sku: String,
        requested: i64,
        available: i64,
    },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl Error {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Error {
        Error::Conflict {
            code,
            message: message.into(),
            field: None,
        }
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid(Invalid::new(field, message))
    }
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Db(DbError::Retry(_)))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
