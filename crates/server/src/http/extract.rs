//! Extractors that turn every bad request into the one error shape: JSON bodies and query strings
//! that name the offending field, numeric path ids, and bearer-token authentication.

use super::App;
use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use backroom_core::{Actor, Ctx};
use backroom_domain::roles::{Permission, Role};
use serde::de::DeserializeOwned;

/// The field named in a serde message like "unknown field `foo`" or "missing field `bar`".
fn named_field(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].to_string())
}

fn join_path(path: &str, field: Option<String>) -> String {
    match (path, field) {
        (".", Some(f)) | ("", Some(f)) => f,
        (p, Some(f)) if p != "." => format!("{p}.{f}"),
        (p, _) => p.to_string(),
    }
}

/// A JSON body: unknown fields and wrong types are refused by name, with the path to the field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body could not be read: {e}"),
            )
        })?;
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let v = deserialize_json(de)?;
    // One JSON value and nothing after it but white space.
    de.end().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e}: nothing may follow the JSON value"),
        )
    })?;
    Ok(v)
}

fn deserialize_json<'de, T: DeserializeOwned>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner();
        use serde_json::error::Category;
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            ),
            Category::Data => {
                let msg = inner.to_string();
                // serde_path_to_error already ends the path with an unknown field's name; a missing
                // field is named only in the message.
                let named = if msg.starts_with("missing field")
                    || (msg.starts_with("unknown field") && path == ".")
                {
                    named_field(&msg)
                } else {
                    None
                };
                let field = join_path(&path, named);
                let clean = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                ApiError::invalid(&field, format!("{field}: {clean}"))
            }
        }
    })
}

/// A query string, refused by name like a body.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|e| {
                let msg = e.body_text();
                let field = named_field(&msg).unwrap_or_else(|| "query".into());
                let clean = msg
                    .trim_start_matches("Failed to deserialize query string: ")
                    .to_string();
                let _ = q;
                ApiError::invalid(&field, format!("{field}: {clean}"))
            })
    }
}

/// A numeric id from the path.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(s): axum::extract::Path<String> =
            axum::extract::Path::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::invalid("id", e.body_text()))?;
        s.parse::<i64>().map(Id).map_err(|_| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{s} is not an id"),
            )
            .field("id")
        })
    }
}

/// Two numeric path ids (`/orders/{id}/lines/{line_id}`), refused like [`Id`] when not numbers.
pub struct Ids(pub i64, pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Ids {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path((a, b)): axum::extract::Path<(String, String)> =
            axum::extract::Path::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::invalid("id", e.body_text()))?;
        let parse = |s: &str| {
            s.parse::<i64>().map_err(|_| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("{s} is not an id"),
                )
                .field("id")
            })
        };
        Ok(Ids(parse(&a)?, parse(&b)?))
    }
}

/// The authenticated caller. Every endpoint but health and sign-in takes one.
pub struct Auth {
    pub actor: Actor,
    pub secret: String,
}

impl Auth {
    pub fn ctx(&self) -> Ctx {
        Ctx::new(self.actor.clone(), backroom_core::util::now_micros())
    }
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        self.actor.require(p).map_err(ApiError::from)
    }
}

/// The bearer secret of a request, or the 401 that says how to send one.
fn bearer(parts: &Parts) -> Result<String, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match header.and_then(|h| h.strip_prefix("Bearer ")) {
        Some(s) => Ok(s.trim().to_string()),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send an API token as Authorization: Bearer <token>",
        )
        .field("Authorization")),
    }
}

impl FromRequestParts<App> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let secret = bearer(parts)?;
        let actor = app.authenticate(&secret).await?;
        if actor.role == Role::Ingest {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "an ingest key may only send events",
            ));
        }
        Ok(Auth { actor, secret })
    }
}

/// A caller allowed to send events: an ingest key, or a staff or storefront token whose role may.
pub struct IngestAuth {
    pub actor: Actor,
}

impl FromRequestParts<App> for IngestAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let secret = bearer(parts)?;
        let actor = app.authenticate(&secret).await?;
        actor
            .require(Permission::EventsIngest)
            .map_err(ApiError::from)?;
        Ok(IngestAuth { actor })
    }
}
