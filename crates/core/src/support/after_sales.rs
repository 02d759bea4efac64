//! After-sales from a ticket: refund, cancel, hold or release an order, open a return or an
//! exchange, reship it, or note on it, through the orders', fulfillment's and returns' own
//! services (their rules and permissions hold), in one unit with the ticket: the order is
//! linked to the ticket, its timeline says the action came from the ticket, and the ticket gets
//! an internal note of what was done.

use super::{Posting, TicketView, get_ticket, link_orders, post};
use crate::api::{CancelOrder, HoldOrder, NewReturn, OrderNote, RefundOrder};
use crate::db::Sql;
use crate::{Ctx, Error, Result, audit};
use backroom_domain::roles::Permission;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

/// An action on one of the requester's orders, from a ticket; the field named by `action` holds
/// its details where it has any.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct AfterSale {
    pub order_id: i64,
    /// `refund`, `cancel`, `hold`, `release`, `return`, `reship` or `note`.
    pub action: String,
    pub refund: Option<RefundOrder>,
    pub cancel: Option<CancelOrder>,
    pub hold: Option<HoldOrder>,
    #[serde(rename = "return")]
    pub return_request: Option<NewReturn>,
    pub note: Option<OrderNote>,
    pub reship: Option<crate::orders::Reship>,
}

fn needs<'a, T>(v: &'a Option<T>, field: &str) -> Result<&'a T> {
    v.as_ref()
        .ok_or_else(|| Error::invalid(field, format!("is required for this action ({field})")))
}

/// Runs an after-sales action from ticket `id`.
pub fn act(tx: &mut dyn Sql, ctx: &Ctx, id: i64, a: &AfterSale) -> Result<TicketView> {
    ctx.actor.require(Permission::SupportWork)?;
    let ticket = get_ticket(tx, id)?.ticket;
    let order = crate::orders::get(tx, a.order_id)
        .map_err(|_| Error::invalid("order_id", "is not an order"))?;
    if ticket.customer_id.is_some_and(|c| c != order.customer.id) {
        return Err(Error::invalid(
            "order_id",
            "is not an order of this ticket's requester",
        ));
    }
    let number = order.number;
    let mut replacement = None;
    let done = match a.action.as_str() {
        "refund" => {
            let r = needs(&a.refund, "refund")?;
            let before = order.refunded.amount;
            let after = crate::orders::refund(tx, ctx, a.order_id, r)?;
            let amount = after.refunded.amount - before;
            let shown = backroom_domain::money::human_in(amount, &after.refunded.currency);
            format!("Refunded {shown} on order #{number}")
        }
        "cancel" => {
            crate::orders::cancel(tx, ctx, a.order_id, needs(&a.cancel, "cancel")?)?;
            format!("Cancelled order #{number}")
        }
        "hold" => {
            let h = needs(&a.hold, "hold")?;
            crate::fulfillment::hold(tx, ctx, a.order_id, h)?;
            format!("Put order #{number} on hold ({})", h.reason)
        }
        "release" => {
            crate::fulfillment::release_hold(tx, ctx, a.order_id)?;
            format!("Released the hold on order #{number}")
        }
        "return" => {
            let n = needs(&a.return_request, "return")?;
            let r = crate::returns::create(tx, ctx, a.order_id, n)?;
            let kind = if r.exchange {
                "an exchange"
            } else {
                "a return"
            };
            format!("Opened {kind} (return {}) on order #{number}", r.id)
        }
        "note" => {
            crate::orders::add_note(tx, ctx, a.order_id, needs(&a.note, "note")?)?;
            format!("Noted on order #{number}")
        }
        "reship" => {
            let r = crate::orders::reship(tx, ctx, a.order_id, needs(&a.reship, "reship")?)?;
            replacement = Some(r.replacement.number);
            let units: i64 = r.replacement.lines.iter().map(|l| l.quantity).sum();
            format!(
                "Reshipped {units} units of order #{number} as order #{} at no charge",
                r.replacement.number
            )
        }
        _ => {
            return Err(Error::invalid(
                "action",
                "must be refund, cancel, hold, release, return, reship or note",
            ));
        }
    };
    link_orders(tx, ctx, id, &[number])?;
    if let Some(n) = replacement {
        link_orders(tx, ctx, id, &[n])?;
    }
    crate::orders::event(
        tx,
        ctx,
        a.order_id,
        "support",
        &format!("{done}, from ticket T-{id}"),
    )?;
    post(
        tx,
        ctx,
        &Posting {
            ticket: id,
            author_kind: "system",
            author_user_id: None,
            author_email: None,
            public: false,
            body: &format!("{done} ({})", ctx.actor.name),
            message_id: None,
        },
    )?;
    audit::record(
        tx,
        ctx,
        "ticket.after_sale",
        "ticket",
        id,
        json!({"order_id": a.order_id, "action": a.action}),
    )?;
    get_ticket(tx, id)
}
