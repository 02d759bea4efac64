//! Staff accounts and API tokens.
//!
//! Passwords are hashed with Argon2id; tokens are 160 random bits, shown once and stored as a
//! SHA-256 hash (a fast hash suits a high-entropy secret, and keeps every request cheap).

pub mod views;

use crate::api::{ApiToken, IssuedToken, NewToken, NewUser, User};
use crate::audit;
use crate::db::{Row, Sql};
use crate::util::{opt_rfc3339, random_hex, rfc3339, sha256_hex};
use crate::{Actor, Ctx, DbError, Error, Result, params};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use backroom_domain::Email;
use backroom_domain::roles::{Permission, Role};
use backroom_domain::values::required_text;
use serde_json::json;

/// How long a sign-in session token lives.
pub const SESSION_MICROS: i64 = 12 * 3600 * 1_000_000;
const DAY_MICROS: i64 = 86_400 * 1_000_000;

fn user_from(r: &Row) -> std::result::Result<User, DbError> {
    Ok(User {
        id: r.get("id")?,
        email: r.get("email")?,
        name: r.get("name")?,
        role: r.get("role")?,
        active: r.get("active")?,
        created_at: rfc3339(r.get("created_at")?),
    })
}

fn token_from(r: &Row) -> std::result::Result<ApiToken, DbError> {
    Ok(ApiToken {
        id: r.get("id")?,
        user_id: r.get("user_id")?,
        name: r.get("name")?,
        kind: r.get("kind")?,
        prefix: r.get("prefix")?,
        created_at: rfc3339(r.get("created_at")?),
        expires_at: opt_rfc3339(r.get("expires_at")?),
        revoked_at: opt_rfc3339(r.get("revoked_at")?),
    })
}

pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| DbError::Other(format!("no randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| DbError::Other(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| DbError::Other(e.to_string()))?
        .to_string())
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Checks a new user's fields and hashes the password; done outside any transaction because
/// Argon2 is deliberately slow.
pub struct PreparedUser {
    email: Email,
    name: String,
    role: Role,
    password_hash: Option<String>,
}

pub fn prepare_user(u: &NewUser) -> Result<PreparedUser> {
    let email = Email::parse(&u.email)?;
    let name = required_text("name", &u.name, 255)?;
    let role = Role::parse(&u.role).ok_or_else(|| Error::invalid("role", "must be admin, operations, inventory, fulfillment, support, support_lead, marketing, analyst or storefront"))?;
    let password_hash = match &u.password {
        Some(p) => Some(hash_password(valid_password("password", p)?)?),
        None => None,
    };
    Ok(PreparedUser {
        email,
        name,
        role,
        password_hash,
    })
}

/// A password a user may choose: 10 characters at least, 1024 bytes at most.
fn valid_password<'a>(field: &str, p: &'a str) -> Result<&'a str> {
    if p.chars().count() < 10 {
        return Err(Error::invalid(field, "must be at least 10 characters"));
    }
    if p.len() > 1024 {
        return Err(Error::invalid(field, "must be at most 1024 bytes"));
    }
    Ok(p)
}

/// Changes the acting user's password after checking the current one; every other token of
/// theirs is revoked (other sessions sign in again), the one in `keep` stays valid.
pub async fn change_password(
    db: &crate::Db,
    ctx: &Ctx,
    current: &str,
    new: &str,
    keep: &str,
) -> Result<()> {
    valid_password("new_password", new)?;
    let user_id = ctx.actor.user_id;
    let found = db
        .read(move |tx| {
            Ok(tx
                .query_one(
                    "SELECT password_hash FROM users WHERE id = $1 AND active = TRUE",
                    params![user_id],
                )?
                .map(|r| r.get::<Option<String>>("password_hash"))
                .transpose()?
                .flatten())
        })
        .await?;
    let (current, new) = (current.to_string(), new.to_string());
    let hashed = tokio::task::spawn_blocking(move || {
        if check_password(&current, found.as_deref()) {
            hash_password(&new).map(Some)
        } else {
            Ok(None)
        }
    })
    .await
    .map_err(|e| DbError::Other(e.to_string()))??
    .ok_or_else(|| Error::invalid("current_password", "is not your current password"))?;
    let (ctx, keep) = (ctx.clone(), sha256_hex(keep));
    db.write(move |tx| {
        tx.exec(
            "UPDATE users SET password_hash = $1 WHERE id = $2",
            params![hashed.clone(), user_id],
        )?;
        tx.exec(
            "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND kind = 'session' AND token_hash <> $3 AND revoked_at IS NULL",
            params![ctx.now, user_id, keep.clone()],
        )?;
        audit::record(tx, &ctx, "user.password_changed", "user", user_id, json!({}))
    })
    .await
}

pub fn create_user(tx: &mut dyn Sql, ctx: &Ctx, u: &PreparedUser) -> Result<User> {
    ctx.actor.require(Permission::UsersAdmin)?;
    let r = tx
        .query_one(
            "INSERT INTO users (email, email_key, name, role, password_hash, active, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, email, name, role, active, created_at",
            params![u.email.as_str(), u.email.key(), u.name.as_str(), u.role.as_str(), u.password_hash.clone(), true, ctx.now],
        )
        .map_err(|e| match e {
            DbError::Unique(_) => Error::Conflict { code: "already_exists", message: format!("a user with email {} already exists", u.email.as_str()), field: Some("email".into()) },
            e => Error::Db(e),
        })?
        .ok_or(Error::NotFound { entity: "user" })?;
    let user = user_from(&r)?;
    audit::record(
        tx,
        ctx,
        "user.created",
        "user",
        user.id,
        json!({"email": user.email, "role": user.role}),
    )?;
    Ok(user)
}

pub fn list_users(tx: &mut dyn Sql, ctx: &Ctx) -> Result<Vec<User>> {
    ctx.actor.require(Permission::UsersAdmin)?;
    Ok(tx
        .query(
            "SELECT id, email, name, role, active, created_at FROM users ORDER BY id",
            &[],
        )?
        .iter()
        .map(user_from)
        .collect::<std::result::Result<_, _>>()?)
}

/// Staff accounts in the order they were made, paged like every list.
pub fn users_page(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    q: &crate::api::PageQuery,
) -> Result<crate::api::Page<User>> {
    use crate::util::{Filter, Keyset, keyset_page};
    ctx.actor.require(Permission::UsersAdmin)?;
    keyset_page(
        tx,
        "SELECT id, email, name, role, active, created_at FROM users",
        Filter::default(),
        q,
        Keyset::IdAsc,
        "id",
        user_from,
        |u| (String::new(), u.id),
    )
}

pub fn get_user(tx: &mut dyn Sql, id: i64) -> Result<User> {
    let r = tx
        .query_one(
            "SELECT id, email, name, role, active, created_at FROM users WHERE id = $1",
            params![id],
        )?
        .ok_or(Error::NotFound { entity: "user" })?;
    Ok(user_from(&r)?)
}

/// The active members whose role allows `p`, by name: whom a ticket can be assigned to, say.
/// Names only: anyone who works with them may see who they are.
pub fn members_who(tx: &mut dyn Sql, p: Permission) -> Result<Vec<(i64, String)>> {
    crate::row! {
        struct MemberRow { id: i64, name: String, role: String }
    }
    Ok(crate::db::query_as::<MemberRow>(
        tx,
        "SELECT id, name, role FROM users WHERE active = TRUE ORDER BY name, id",
        &[],
    )?
    .into_iter()
    .filter(|m| Role::parse(&m.role).is_some_and(|r| r.allows(p)))
    .map(|m| (m.id, m.name))
    .collect())
}

/// The names of these members (those that exist), by id.
pub fn member_names(
    tx: &mut dyn Sql,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, String>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let vals: Vec<crate::Val> = ids.iter().map(|i| crate::Val::from(*i)).collect();
    let (cond, list) = crate::db::in_list(tx.dialect(), "id", 1, &vals);
    tx.query(&format!("SELECT id, name FROM users WHERE {cond}"), &[list])?
        .iter()
        .map(|r| Ok((r.get::<i64>("id")?, r.get::<String>("name")?)))
        .collect()
}

/// The member with this email (any case), active or not: who wrote a message in a history.
pub fn user_id_by_email(tx: &mut dyn Sql, email: &str) -> Result<Option<i64>> {
    let key = email.trim().to_lowercase();
    Ok(tx
        .query_one("SELECT id FROM users WHERE email_key = $1", params![key])?
        .map(|r| r.get::<i64>("id"))
        .transpose()?)
}

pub fn set_user_active(tx: &mut dyn Sql, ctx: &Ctx, id: i64, active: bool) -> Result<User> {
    ctx.actor.require(Permission::UsersAdmin)?;
    if id == ctx.actor.user_id && !active {
        return Err(Error::conflict(
            "cannot_deactivate_self",
            "you cannot deactivate your own account",
        ));
    }
    get_user(tx, id)?;
    tx.exec(
        "UPDATE users SET active = $1 WHERE id = $2",
        params![active, id],
    )?;
    audit::record(
        tx,
        ctx,
        if active {
            "user.activated"
        } else {
            "user.deactivated"
        },
        "user",
        id,
        json!({"active": active}),
    )?;
    get_user(tx, id)
}

fn issue(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    user_id: i64,
    name: &str,
    kind: &str,
    expires_at: Option<i64>,
) -> Result<IssuedToken> {
    let secret = format!("br_{}", random_hex(20));
    let prefix: String = secret.chars().take(10).collect();
    let r = tx
        .query_one(
            "INSERT INTO api_tokens (user_id, name, kind, token_hash, prefix, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, user_id, name, kind, prefix, created_at, expires_at, revoked_at",
            params![user_id, name, kind, sha256_hex(&secret), prefix, ctx.now, expires_at],
        )?
        .ok_or(Error::NotFound { entity: "token" })?;
    let details = token_from(&r)?;
    let user = get_user(tx, user_id)?;
    if kind != "session" {
        audit::record(
            tx,
            ctx,
            "token.created",
            "api_token",
            details.id,
            json!({"user_id": user_id, "name": name, "kind": kind, "prefix": details.prefix}),
        )?;
    }
    Ok(IssuedToken {
        token: secret,
        details,
        user,
    })
}

/// Creates an API token for yourself, or (admins) for another user such as a storefront account.
pub fn create_token(tx: &mut dyn Sql, ctx: &Ctx, t: &NewToken) -> Result<IssuedToken> {
    let name = required_text("name", &t.name, 255)?;
    let user_id = match t.user_id {
        Some(id) if id != ctx.actor.user_id => {
            ctx.actor.require(Permission::UsersAdmin)?;
            id
        }
        _ => ctx.actor.user_id,
    };
    let user = get_user(tx, user_id)
        .map_err(|_| Error::invalid("user_id", format!("no user has id {user_id}")))?;
    if !user.active {
        return Err(Error::invalid("user_id", "the user is deactivated"));
    }
    let expires_at = match t.expires_in_days {
        None => None,
        Some(d) if (1..=3650).contains(&d) => Some(ctx.now + d * DAY_MICROS),
        Some(_) => {
            return Err(Error::invalid(
                "expires_in_days",
                "must be between 1 and 3650",
            ));
        }
    };
    let kind = if t.ingest {
        ctx.actor.require(Permission::MarketingWrite)?;
        "ingest"
    } else {
        "api"
    };
    issue(tx, ctx, user_id, &name, kind, expires_at)
}

/// Looks up the user for a sign-in; the password is verified by [`check_password`] outside the
/// transaction.
pub fn password_hash_for(tx: &mut dyn Sql, email: &str) -> Result<Option<(i64, String)>> {
    let key = email.trim().to_lowercase();
    let r = tx.query_one(
        "SELECT id, password_hash FROM users WHERE email_key = $1 AND active = TRUE",
        params![key],
    )?;
    let Some(r) = r else {
        return Ok(None);
    };
    Ok(r.get::<Option<String>>("password_hash")?
        .map(|h| r.get::<i64>("id").map(|id| (id, h)))
        .transpose()?)
}

/// Verifies a password against a stored hash (constant-time inside Argon2). When there is no such
/// user, a dummy hash is verified so that timing does not reveal which emails exist.
pub fn check_password(password: &str, found: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match found {
        Some(h) => verify_password(password, h),
        None => {
            let dummy = DUMMY.get_or_init(|| hash_password(&random_hex(16)).unwrap_or_default());
            let _ = verify_password(password, dummy);
            false
        }
    }
}

/// Signs in with email and password: looks the user up, verifies the password off the async
/// threads (Argon2 is deliberately slow) and, if it matches, issues a session token acting as that
/// user. A wrong email and a wrong password are refused alike.
pub async fn sign_in(db: &crate::Db, email: &str, password: &str, now: i64) -> Result<IssuedToken> {
    let key = email.trim().to_lowercase();
    let found = db.read(move |tx| password_hash_for(tx, &key)).await?;
    let (password, hash) = (password.to_string(), found.as_ref().map(|(_, h)| h.clone()));
    let ok = tokio::task::spawn_blocking(move || check_password(&password, hash.as_deref()))
        .await
        .unwrap_or(false);
    let refused = || Error::Unauthenticated("the email or password is wrong".into());
    let user_id = match (ok, found) {
        (true, Some((id, _))) => id,
        _ => return Err(refused()),
    };
    db.write(move |tx| {
        let user = get_user(tx, user_id)?;
        let role = Role::parse(&user.role).ok_or_else(refused)?;
        let ctx = Ctx::new(
            Actor {
                user_id,
                name: user.name.clone(),
                role,
            },
            now,
        );
        let t = issue(
            tx,
            &ctx,
            user_id,
            "sign-in",
            "session",
            Some(now + SESSION_MICROS),
        )?;
        audit::record(
            tx,
            &ctx,
            "user.signed_in",
            "user",
            user_id,
            json!({"token_prefix": t.details.prefix}),
        )?;
        Ok(t)
    })
    .await
}

pub fn list_tokens(tx: &mut dyn Sql, ctx: &Ctx) -> Result<Vec<ApiToken>> {
    let sql = "SELECT id, user_id, name, kind, prefix, created_at, expires_at, revoked_at FROM api_tokens";
    let rows = if ctx.actor.role.allows(Permission::UsersAdmin) {
        tx.query(
            &format!("{sql} WHERE kind IN ('api', 'ingest') ORDER BY id"),
            &[],
        )?
    } else {
        tx.query(
            &format!("{sql} WHERE kind IN ('api', 'ingest') AND user_id = $1 ORDER BY id"),
            params![ctx.actor.user_id],
        )?
    };
    Ok(rows
        .iter()
        .map(token_from)
        .collect::<std::result::Result<_, _>>()?)
}

/// API and ingest tokens (all of them for an admin, one's own otherwise), oldest first, paged.
pub fn tokens_page(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    q: &crate::api::PageQuery,
) -> Result<crate::api::Page<ApiToken>> {
    use crate::util::{Filter, Keyset, keyset_page};
    let mut f = Filter::default();
    f.add("kind IN ('api', 'ingest')", vec![]);
    if !ctx.actor.role.allows(Permission::UsersAdmin) {
        f.add("user_id = ?", vec![ctx.actor.user_id.into()]);
    }
    keyset_page(
        tx,
        "SELECT id, user_id, name, kind, prefix, created_at, expires_at, revoked_at FROM api_tokens",
        f,
        q,
        Keyset::IdAsc,
        "id",
        token_from,
        |t| (String::new(), t.id),
    )
}

pub fn revoke_token(tx: &mut dyn Sql, ctx: &Ctx, id: i64) -> Result<ApiToken> {
    let r = tx
        .query_one(
            "SELECT user_id, token_hash FROM api_tokens WHERE id = $1",
            params![id],
        )?
        .ok_or(Error::NotFound { entity: "token" })?;
    if r.get::<i64>("user_id")? != ctx.actor.user_id {
        ctx.actor.require(Permission::UsersAdmin)?;
    }
    tx.exec(
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        params![ctx.now, id],
    )?;
    audit::record(tx, ctx, "token.revoked", "api_token", id, json!({}))?;
    let r = tx.query_one("SELECT id, user_id, name, kind, prefix, created_at, expires_at, revoked_at FROM api_tokens WHERE id = $1", params![id])?.ok_or(Error::NotFound { entity: "token" })?;
    Ok(token_from(&r)?)
}

/// Revokes the token that signed this request (sign-out).
pub fn revoke_by_secret(tx: &mut dyn Sql, ctx: &Ctx, secret: &str) -> Result<()> {
    tx.exec(
        "UPDATE api_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        params![ctx.now, sha256_hex(secret)],
    )?;
    audit::record(
        tx,
        ctx,
        "user.signed_out",
        "user",
        ctx.actor.user_id,
        json!({}),
    )?;
    Ok(())
}

/// The actor behind a bearer token, and when the token stops being valid, if ever.
pub fn authenticate(tx: &mut dyn Sql, secret: &str, now: i64) -> Result<(Actor, Option<i64>)> {
    let denied = || Error::Unauthenticated("the token is unknown, expired or revoked".into());
    if !secret.starts_with("br_") || secret.len() != 43 {
        return Err(denied());
    }
    let r = tx
        .query_one(
            "SELECT u.id, u.name, u.role, t.expires_at, t.kind FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.active = TRUE",
            params![sha256_hex(secret)],
        )?
        .ok_or_else(denied)?;
    let expires: Option<i64> = r.get("expires_at")?;
    if expires.is_some_and(|e| e <= now) {
        return Err(denied());
    }
    let role = if r.get::<String>("kind")? == "ingest" {
        Role::Ingest
    } else {
        Role::parse(&r.get::<String>("role")?).ok_or_else(denied)?
    };
    Ok((
        Actor {
            user_id: r.get("id")?,
            name: r.get("name")?,
            role,
        },
        expires,
    ))
}

/// Issues an API token for the user with this email, as the system (CLI `token create`, the demo).
pub fn issue_api_token(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    email: &str,
    name: &str,
) -> Result<IssuedToken> {
    let id = tx
        .query_one(
            "SELECT id FROM users WHERE email_key = $1",
            params![email.trim().to_lowercase()],
        )?
        .map(|r| r.get::<i64>("id"))
        .transpose()?
        .ok_or(Error::NotFound { entity: "user" })?;
    issue(tx, ctx, id, name, "api", None)
}
