//! Macros: canned replies with placeholders (the requester's name, the ticket's reference, the
//! order's number and tracking link, the agent's name) and what they set on the ticket. An
//! agent renders one into the composer ([`render`]), edits it, and sends it as any reply.

use crate::db::{Sql, query_as};
use crate::util::{from_json, rfc3339, to_json};
use crate::{Ctx, Error, Result, audit, params};
use backroom_domain::roles::Permission;
use backroom_domain::support::{self as rules, Priority, Status};
use backroom_domain::values::required_text;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// A canned reply.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Macro {
    pub id: i64,
    pub name: String,
    /// The reply's text: `{{requester.name}}`, `{{requester.first_name}}`,
    /// `{{ticket.reference}}`, `{{ticket.subject}}`, `{{order.number}}`, `{{order.tracking}}`,
    /// `{{agent.name}}` are filled in.
    pub body: String,
    /// The status the reply leaves the ticket in.
    pub status: Option<String>,
    pub priority: Option<String>,
    /// Tags added.
    pub tags: Vec<String>,
    pub created_at: String,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewMacro {
    pub name: String,
    pub body: String,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// A macro filled in for one ticket, ready for the composer.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Rendered {
    pub macro_id: i64,
    pub body: String,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub tags: Vec<String>,
}

crate::row! {
    struct MacroRow { id: i64, name: String, body: String, status: Option<String>, priority: Option<String>, tags: String, created_at: i64 }
}

fn macro_of(r: MacroRow) -> Macro {
    Macro {
        id: r.id,
        name: r.name,
        body: r.body,
        status: r.status,
        priority: r.priority,
        tags: from_json(&r.tags),
        created_at: rfc3339(r.created_at),
    }
}

pub fn list_macros(tx: &mut dyn Sql, ctx: &Ctx) -> Result<Vec<Macro>> {
    ctx.actor.require(Permission::SupportRead)?;
    Ok(query_as::<MacroRow>(
        tx,
        "SELECT id, name, body, status, priority, tags, created_at FROM support_macros ORDER BY name, id",
        &[],
    )?
    .into_iter()
    .map(macro_of)
    .collect())
}

fn get_macro(tx: &mut dyn Sql, id: i64) -> Result<Macro> {
    crate::db::query_one_as::<MacroRow>(
        tx,
        "SELECT id, name, body, status, priority, tags, created_at FROM support_macros WHERE id = $1",
        params![id],
    )?
    .map(macro_of)
    .ok_or(Error::NotFound { entity: "macro" })
}

pub fn create_macro(tx: &mut dyn Sql, ctx: &Ctx, m: &NewMacro) -> Result<Macro> {
    ctx.actor.require(Permission::SupportManage)?;
    let name = required_text("name", &m.name, 200)?;
    let body = required_text("body", &m.body, super::BODY_MAX)?;
    rules::placeholders_in(&body)?;
    if let Some(s) = &m.status {
        match Status::parse_field(s)? {
            Status::New | Status::Closed => {
                return Err(Error::invalid(
                    "status",
                    "must be open, pending, on_hold or solved",
                ));
            }
            _ => {}
        }
    }
    if let Some(p) = &m.priority {
        Priority::parse_field(p)?;
    }
    let tags = super::clean_tags(m.tags.as_deref().unwrap_or_default())?;
    let r = tx
        .query_one(
            "INSERT INTO support_macros (name, body, status, priority, tags, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (name) DO NOTHING RETURNING id",
            params![name.as_str(), body.as_str(), m.status.clone(), m.priority.clone(), to_json(&tags), ctx.now],
        )?
        .ok_or_else(|| Error::Conflict {
            code: "macro_exists",
            message: format!("a macro named {name} exists"),
            field: Some("name".into()),
        })?;
    let id: i64 = r.get("id")?;
    audit::record(tx, ctx, "macro.created", "macro", id, json!({"name": name}))?;
    get_macro(tx, id)
}

/// Deletes a macro (replies made with it keep their text).
pub fn delete_macro(tx: &mut dyn Sql, ctx: &Ctx, id: i64) -> Result<Macro> {
    ctx.actor.require(Permission::SupportManage)?;
    let m = get_macro(tx, id)?;
    tx.exec("DELETE FROM support_macros WHERE id = $1", params![id])?;
    audit::record(
        tx,
        ctx,
        "macro.deleted",
        "macro",
        id,
        json!({"name": m.name}),
    )?;
    Ok(m)
}

/// A macro filled in for a ticket (as the agent asking for it).
pub fn render(tx: &mut dyn Sql, ctx: &Ctx, ticket: i64, macro_id: i64) -> Result<Rendered> {
    ctx.actor.require(Permission::SupportWork)?;
    let m = get_macro(tx, macro_id)?;
    let t = super::get_ticket(tx, ticket)?.ticket;
    let order = t.orders.first().cloned();
    let tracking = match &order {
        Some(o) => crate::fulfillment::shipments_of_order(tx, o.order_id)?
            .into_iter()
            .rev()
            .find_map(|f| f.tracking_url.or(f.tracking_number)),
        None => None,
    };
    let name = t
        .requester_name
        .clone()
        .unwrap_or_else(|| t.requester_email.clone());
    let first = name
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let value = |k: &str| -> Option<String> {
        match k {
            "requester.name" => Some(name.clone()),
            "requester.first_name" => Some(first.clone()),
            "ticket.reference" => Some(t.reference.clone()),
            "ticket.subject" => Some(t.subject.clone()),
            "order.number" => order.as_ref().map(|o| format!("#{}", o.number)),
            "order.tracking" => tracking.clone(),
            "agent.name" => Some(ctx.actor.name.clone()),
            _ => None,
        }
    };
    Ok(Rendered {
        macro_id,
        body: rules::render(&m.body, &value),
        status: m.status,
        priority: m.priority,
        tags: m.tags,
    })
}
