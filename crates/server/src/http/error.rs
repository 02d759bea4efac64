//! One error shape for every failure: `{"error": {"code", "message", "field", "details"}}`.
//!
//! The table in [`ApiError::of`] is the only place a service error becomes an HTTP status and a
//! stable code, for the API and the console alike. Internal details are logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use backroom_core::{DbError, Error};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema, Debug)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `validation_failed`, `insufficient_stock`.
    pub code: String,
    /// For people.
    pub message: String,
    /// The offending input, as a path: `lines[1].quantity`, `Idempotency-Key`.
    pub field: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            details: None,
        }
    }
    pub fn field(mut self, f: impl Into<String>) -> Self {
        self.field = Some(f.into());
        self
    }
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        )
        .field(field)
    }
}

impl ApiError {
    /// The one error table, for the API and the console alike: a core error as a status, a
    /// stable code, a message and the field. A storage failure is logged here ([`Self::log`]) and
    /// shown as a generic message, never as database text.
    pub fn from_core(e: Error) -> Self {
        Self::log(&e);
        Self::of(&e)
    }

    /// Logs what a generic message hides: storage failures, conflicts that kept retrying.
    pub fn log(e: &Error) {
        match e {
            Error::Db(DbError::Retry(m)) => {
                tracing::warn!(error = %m, "transaction kept conflicting")
            }
            Error::Db(DbError::Unique(m)) => {
                tracing::warn!(error = %m, "unique violation not mapped by a service")
            }
            Error::Db(DbError::Timeout(m)) => tracing::error!(error = %m, "database timeout"),
            Error::Db(DbError::Other(m))
            | Error::Db(DbError::StalePlan(m))
            | Error::Db(DbError::Decode(m)) => tracing::error!(error = %m, "storage failure"),
            _ => {}
        }
    }

    /// [`Self::from_core`] without logging.
    pub fn of(e: &Error) -> Self {
        match e {
            Error::Invalid(i) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                format!("{}: {}", i.field, i.message),
            )
            .field(i.field.clone()),
            Error::NotFound { entity } => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{entity} not found"),
            ),
            Error::Conflict {
                code,
                message,
                field,
            } => ApiError {
                status: StatusCode::CONFLICT,
                code,
                message: message.clone(),
                field: field.clone(),
                details: None,
            },
            Error::InsufficientStock {
                field,
                sku,
                requested,
                available,
            } => ApiError {
                status: StatusCode::CONFLICT,
                code: "insufficient_stock",
                message: format!(
                    "not enough stock for {sku}: {requested} requested, {available} available"
                ),
                field: Some(field.clone()),
                details: Some(
                    serde_json::json!({"sku": sku, "requested": requested, "available": available}),
                ),
            },
            Error::Unauthenticated(m) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", m.clone())
            }
            Error::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m.clone()),
            Error::Db(DbError::Retry(_)) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the store is busy; retry the request",
            ),
            Error::Db(DbError::Unique(_)) => ApiError::new(
                StatusCode::CONFLICT,
                "already_exists",
                "a record with the same unique value already exists",
            ),
            Error::Db(DbError::NulInText) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                DbError::NulInText.to_string(),
            ),
            Error::Db(DbError::Timeout(_)) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "the database did not answer in time; retry the request",
            ),
            Error::Db(DbError::Other(_))
            | Error::Db(DbError::StalePlan(_))
            | Error::Db(DbError::Decode(_)) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred; it has been logged",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
                details: self.details,
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}
