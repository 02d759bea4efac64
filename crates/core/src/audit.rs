//! The audit log: every change, with who made it, when, and what changed, written in the same
//! transaction as the change itself.

use crate::api::{AuditEntry, Page};
use crate::db::{DbError, Sql};
use crate::util::{Filter, decode_cursor, encode_cursor, page, page_limit, rfc3339};
use crate::{Ctx, Result, Val, params};

pub fn record(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    action: &str,
    entity_type: &str,
    entity_id: impl ToString,
    changes: serde_json::Value,
) -> Result<()> {
    tx.exec_deferred(
        "INSERT INTO audit_log (actor_user_id, actor, action, entity_type, entity_id, changes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![ctx.actor.user_id, ctx.actor.name.as_str(), action, entity_type, entity_id.to_string(), changes.to_string(), ctx.now],
    )?;
    Ok(())
}

#[derive(Default, Clone, Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<String>,
    pub actor_user_id: Option<i64>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub fn list(tx: &mut dyn Sql, q: &AuditQuery) -> Result<Page<AuditEntry>> {
    let limit = page_limit(q.limit)?;
    let mut f = Filter::default();
    if let Some(v) = &q.entity_type {
        f.add("entity_type = ?", vec![Val::from(v)]);
    }
    if let Some(v) = &q.entity_id {
        f.add("entity_id = ?", vec![Val::from(v)]);
    }
    if let Some(v) = &q.action {
        f.add("action = ?", vec![Val::from(v)]);
    }
    if let Some(v) = q.actor_user_id {
        f.add("actor_user_id = ?", vec![Val::from(v)]);
    }
    if let Some(c) = &q.cursor {
        let (_, id) = decode_cursor(c)?;
        f.add("id < ?", vec![Val::from(id)]);
    }
    let lim = f.push(Val::from(limit + 1));
    let sql = format!(
        "SELECT id, actor_user_id, actor, action, entity_type, entity_id, changes, created_at FROM audit_log{} ORDER BY id DESC LIMIT {lim}",
        f.where_sql()
    );
    let rows = tx.query(&sql, &f.params)?;
    let mut items: Vec<AuditEntry> = rows
        .iter()
        .map(|r| {
            Ok(AuditEntry {
                id: r.get("id")?,
                actor_user_id: r.get("actor_user_id")?,
                actor: r.get("actor")?,
                action: r.get("action")?,
                entity_type: r.get("entity_type")?,
                entity_id: r.get("entity_id")?,
                changes: serde_json::from_str(&r.get::<String>("changes")?)
                    .unwrap_or(serde_json::Value::Null),
                created_at: rfc3339(r.get("created_at")?),
            })
        })
        .collect::<std::result::Result<_, DbError>>()?;
    Ok(page(&mut items, limit, |e| encode_cursor("", e.id)))
}
