//! Saved views: a staff member's named filters of a console list ("Late EU orders"), kept per
//! member and list. Saving a name again replaces its filters. Only the member sees and deletes
//! their own views; each save and delete is audited.

use crate::db::{Row, Sql};
use crate::{Ctx, DbError, Error, Result, audit, params};
use backroom_domain::values::required_text;
use serde_json::json;

/// How many views a member may keep per list.
pub const MAX_PER_LIST: i64 = 50;

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SavedView {
    pub id: i64,
    /// The console list the view belongs to: its path, `/console/orders`.
    pub list: String,
    pub name: String,
    /// The query string it applies, without `?`.
    pub query: String,
}

fn view_from(r: &Row) -> std::result::Result<SavedView, DbError> {
    Ok(SavedView {
        id: r.get("id")?,
        list: r.get("list")?,
        name: r.get("name")?,
        query: r.get("query")?,
    })
}

fn check_list(list: &str) -> Result<()> {
    let ok = list.starts_with("/console/")
        && list.len() <= 100
        && list[1..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "list",
            "must be the path of a console list, /console/orders say",
        ))
    }
}

/// The signed-in member's views of `list`, by name.
pub fn list_views(tx: &mut dyn Sql, ctx: &Ctx, list: &str) -> Result<Vec<SavedView>> {
    check_list(list)?;
    let rows = tx.query(
        "SELECT id, list, name, query FROM saved_views WHERE user_id = $1 AND list = $2 ORDER BY name, id",
        params![ctx.actor.user_id, list],
    )?;
    Ok(rows
        .iter()
        .map(view_from)
        .collect::<std::result::Result<_, _>>()?)
}

/// Saves the member's filters of `list` under `name` (replacing a view of that name).
pub fn save_view(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    list: &str,
    name: &str,
    query: &str,
) -> Result<SavedView> {
    check_list(list)?;
    if ctx.actor.user_id <= 0 {
        return Err(Error::invalid(
            "name",
            "views are kept for staff members signed in",
        ));
    }
    let name = required_text("name", name, 60)?;
    let query = query.trim().trim_start_matches('?');
    if query.len() > 2000 || query.contains('\0') {
        return Err(Error::invalid(
            "query",
            "must be a query string of at most 2000 characters",
        ));
    }
    let have = tx
        .query_one(
            "SELECT COUNT(*) AS n FROM saved_views WHERE user_id = $1 AND list = $2 AND name <> $3",
            params![ctx.actor.user_id, list, name.as_str()],
        )?
        .map_or(Ok(0), |r| r.get::<i64>("n"))?;
    if have >= MAX_PER_LIST {
        return Err(Error::invalid(
            "name",
            format!("a list keeps at most {MAX_PER_LIST} views; delete one first"),
        ));
    }
    let r = tx
        .query_one(
            "INSERT INTO saved_views (user_id, list, name, query, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id, list, name) DO UPDATE SET query = excluded.query \
             RETURNING id, list, name, query",
            params![ctx.actor.user_id, list, name.as_str(), query, ctx.now],
        )?
        .ok_or(Error::NotFound { entity: "view" })?;
    let view = view_from(&r)?;
    audit::record(
        tx,
        ctx,
        "view.saved",
        "view",
        view.id,
        json!({"list": list, "name": view.name, "query": view.query}),
    )?;
    Ok(view)
}

/// Deletes one of the member's own views; another member's is not found.
pub fn delete_view(tx: &mut dyn Sql, ctx: &Ctx, id: i64) -> Result<SavedView> {
    let r = tx
        .query_one(
            "DELETE FROM saved_views WHERE id = $1 AND user_id = $2 RETURNING id, list, name, query",
            params![id, ctx.actor.user_id],
        )?
        .ok_or(Error::NotFound { entity: "view" })?;
    let view = view_from(&r)?;
    audit::record(
        tx,
        ctx,
        "view.deleted",
        "view",
        view.id,
        json!({"list": view.list, "name": view.name}),
    )?;
    Ok(view)
}
