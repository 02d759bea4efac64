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
    refuse_nul(bytes)?;
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

/// No text may hold U+0000 (PostgreSQL cannot store it; no real value has it): a body that
/// escapes one is refused naming the field, on every backend alike.
fn refuse_nul(bytes: &[u8]) -> Result<(), ApiError> {
    if !bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return Ok(());
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(()); // malformed: the parse below says so
    };
    match nul_path(&v, String::new()) {
        Some(path) => {
            let field = if path.is_empty() {
                "body".to_string()
            } else {
                path
            };
            Err(ApiError::invalid(
                &field,
                format!("{field}: contains the NUL character (U+0000), which no text may hold"),
            ))
        }
        None => Ok(()),
    }
}

/// The path (`lines[0].sku`) of the first string or key holding U+0000.
fn nul_path(v: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) if s.contains('\0') => Some(at),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| nul_path(x, format!("{at}[{i}]"))),
        Value::Object(m) => m.iter().find_map(|(k, x)| {
            let p = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            if k.contains('\0') {
                Some(p)
            } else {
                nul_path(x, p)
            }
        }),
        _ => None,
    }
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
                // A fractional or quoted amount where an integer is expected: money in requests is
                // an integer count of minor units.
                let integer = clean.contains("expected i64") || clean.contains("expected u32");
                if integer && (clean.contains("floating point") || clean.contains("string")) {
                    return ApiError::invalid(
                        &field,
                        format!(
                            "{field}: must be a whole number; amounts are integer minor units (1250 for 12.50), not decimals or text ({clean})"
                        ),
                    );
                }
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
        if let Some(name) = nul_parameter(q) {
            return Err(ApiError::invalid(
                &name,
                format!("{name}: contains the NUL character (U+0000), which no text may hold"),
            ));
        }
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

/// The name of the first query parameter whose value (or name) decodes to hold U+0000.
fn nul_parameter(q: &str) -> Option<String> {
    if !q.to_ascii_lowercase().contains("%00") {
        return None;
    }
    q.split('&').find_map(|pair| {
        pair.to_ascii_lowercase().contains("%00").then(|| {
            let name = pair.split('=').next().unwrap_or("query");
            if name.to_ascii_lowercase().contains("%00") || name.is_empty() {
                "query".to_string()
            } else {
                name.to_string()
            }
        })
    })
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

/// The bearer token's actor, if its role allows `p`.
async fn actor_allowed(parts: &mut Parts, app: &App, p: Permission) -> Result<Actor, ApiError> {
    let secret = bearer(parts)?;
    let actor = app.authenticate(&secret).await?;
    actor.require(p).map_err(ApiError::from)?;
    Ok(actor)
}

impl FromRequestParts<App> for IngestAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let actor = actor_allowed(parts, app, Permission::EventsIngest).await?;
        Ok(IngestAuth { actor })
    }
}

/// A caller allowed to post customers' messages to the support desk: an ingest key, or a
/// storefront token.
pub struct SupportIngestAuth {
    pub actor: Actor,
}

impl FromRequestParts<App> for SupportIngestAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let actor = actor_allowed(parts, app, Permission::SupportIngest).await?;
        Ok(SupportIngestAuth { actor })
    }
}
