//! The support desk: the inbox with its views (mine, unassigned, unsolved, solved, all) and
//! filters, a ticket's page (the conversation, the composer, the ticket's properties, the
//! customer and their orders beside it), and a new ticket (a phone call).

use super::ui::{self, Kind, col};
use super::{App, Fields, Posted, Staff, act, act_then, load, page};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use backroom_core::api::{Order, Page};
use backroom_core::orders::OrderQuery;
use backroom_core::support::macros::{self, Macro, Rendered};
use backroom_core::support::{
    self as desk, Merge, NewMessage, NewTicket, Ticket, TicketPatch, TicketQuery, TicketView,
};
use backroom_core::{auth, orders};
use backroom_domain::roles::Permission;
use backroom_domain::support::{Channel, Priority, Status};
use maud::{Markup, html};
use std::collections::HashMap;

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/console/support", get(inbox))
        .route("/console/support/new", get(new_ticket).post(create))
        .route("/console/support/bulk", post(bulk))
        .route("/console/support/{id}", get(show))
        .route("/console/support/{id}/reply", post(reply))
        .route("/console/support/{id}/update", post(update))
        .route("/console/support/{id}/merge", post(merge))
        .route("/console/support/{id}/after-sales", post(after_sale))
}

/// The inbox's views: (view, title).
const VIEWS: [(&str, &str); 7] = [
    ("mine", "Mine"),
    ("unassigned", "Unassigned"),
    ("breached", "Breached"),
    ("soon", "Due within the hour"),
    ("unsolved", "All unsolved"),
    ("solved", "Solved"),
    ("all", "All"),
];

/// The query a view and the filters make.
fn inbox_query(q: &Fields, view: &str) -> Result<TicketQuery, backroom_core::Error> {
    let (status, assignee) = match view {
        "mine" => (Some("unsolved".to_string()), Some("me".to_string())),
        "unassigned" => (Some("unsolved".into()), Some("none".into())),
        "solved" => (Some("solved".into()), None),
        "all" => (None, None),
        _ => (Some("unsolved".into()), None),
    };
    let sla = match view {
        "breached" | "soon" => Some(view.to_string()),
        _ => None,
    };
    Ok(TicketQuery {
        status: q.opt("status").or(status),
        priority: q.opt("priority"),
        channel: q.opt("channel"),
        assignee: q.opt("assignee").or(assignee),
        team_id: q.opt_int("team_id")?,
        customer_id: q.opt_int("customer_id")?,
        order: q.opt_int("order")?,
        q: q.opt("q"),
        sla,
        limit: Some(50),
        cursor: q.opt("cursor"),
    })
}

/// What the inbox shows: a page of tickets, the names of their assignees, the teams.
struct Inbox {
    tickets: Page<Ticket>,
    /// Who tickets can be given to, for the bulk form.
    agents: Vec<(i64, String)>,
    names: HashMap<i64, String>,
    teams: Vec<(i64, String)>,
}

fn team_options(teams: &[(i64, String)], any: &str) -> Vec<(String, String)> {
    std::iter::once((String::new(), any.to_string()))
        .chain(
            teams
                .iter()
                .map(|(id, name)| (id.to_string(), name.clone())),
        )
        .collect()
}

async fn inbox(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::SupportRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let view = q.opt("view").unwrap_or_else(|| "unsolved".into());
    let query = match inbox_query(&q, &view) {
        Ok(query) => query,
        Err(e) => return super::failed(&staff, &e),
    };
    let ctx = staff.ctx();
    let now = ctx.now;
    let d = match load(&app, &staff, move |tx| {
        let tickets = desk::list_tickets(tx, &ctx, &query)?;
        let ids: Vec<i64> = tickets.items.iter().filter_map(|t| t.assignee_id).collect();
        Ok(Inbox {
            names: auth::member_names(tx, &ids)?,
            agents: auth::members_who(tx, Permission::SupportWork)?,
            teams: backroom_core::support::teams::team_names(tx, &ctx)?,
            tickets,
        })
    })
    .await
    {
        Ok(d) => d,
        Err(r) => return r,
    };
    let bulk = staff.may(Permission::SupportWork) && !d.tickets.items.is_empty();
    let rows: Vec<Vec<Markup>> = d
        .tickets
        .items
        .iter()
        .map(|t| {
            let pick = html! {
                input type="checkbox" name="ticket_id" value=(t.id) form="bulk"
                    aria-label=(format!("Select {}", t.reference));
            };
            let mut row = if bulk { vec![pick] } else { Vec::new() };
            row.extend([
                ui::link(&format!("/console/support/{}", t.id), &t.reference),
                html! { (t.subject) },
                html! { (t.requester_name.as_deref().unwrap_or(&t.requester_email)) },
                ui::badge(&t.status),
                ui::badge(&t.priority),
                html! { (t.assignee_id.and_then(|a| d.names.get(&a)).map_or("unassigned", String::as_str)) },
                due(&staff, t.sla.due_at.as_deref(), now),
                html! { (staff.when(&t.updated_at)) },
            ]);
            row
        })
        .collect();
    let cols = [
        col("Select"),
        col("Ticket"),
        col("Subject"),
        col("Requester"),
        col("Status"),
        col("Priority"),
        col("Assignee"),
        col("Due"),
        col("Updated"),
    ];
    let tabs = html! {
        nav.tabs aria-label="Views" {
            @for (i, (v, title)) in VIEWS.iter().enumerate() {
                @if i > 0 { " · " }
                @if *v == view { strong aria-current="page" { (title) } }
                @else { a href=(format!("/console/support?view={v}")) { (title) } }
            }
        }
    };
    let caption = VIEWS
        .iter()
        .find(|(v, _)| *v == view)
        .map_or("Tickets", |(_, t)| t);
    let body = html! {
        @if staff.actor.role.allows(Permission::SupportWork) {
            p { (ui::button_link(Kind::Primary, "/console/support/new", "New ticket")) }
        }
        (tabs)
        (ui::filter_form("/console/support", &q, html! {
            (ui::hidden("view", &view))
            (ui::input("Subject or requester", "q", "search", &q.text("q")))
            (ui::select("Status", "status", &ui::any_of(&ui::names(Status::ALL, Status::as_str)), &q.text("status")))
            (ui::select("Priority", "priority", &ui::any_of(&ui::names(Priority::ALL, Priority::as_str)), &q.text("priority")))
            (ui::select("Channel", "channel", &ui::any_of(&ui::names(Channel::ALL, Channel::as_str)), &q.text("channel")))
            (ui::select("Team", "team_id", &team_options(&d.teams, "any"), &q.text("team_id")))
        }))
        @if bulk {
            p.select-all {
                input type="checkbox" data-select-all="ticket_id" hidden aria-label="Select every ticket on this page";
            }
        }
        (ui::table(&format!("{caption}, newest first"), if bulk { &cols[..] } else { &cols[1..] }, rows, "No ticket matches."))
        @if bulk { (bulk_form(&staff, &q, &d.agents, &d.teams)) }
        (ui::pager("/console/support", &q, d.tickets.next_cursor.as_deref()))
    };
    page(&staff, &headers, "Support", body)
}

/// A due time, marked when it has passed.
fn due(staff: &Staff, at: Option<&str>, now: i64) -> Markup {
    let passed = at
        .and_then(|a| backroom_core::util::parse_time("due_at", a).ok())
        .is_some_and(|t| t <= now);
    match at {
        None => html! { "—" },
        Some(a) if passed => html! { (ui::badge("breached")) " " (staff.when(a)) },
        Some(a) => html! { (staff.when(a)) },
    }
}

/// What a ticket's page shows beside the ticket.
struct TicketPage {
    view: TicketView,
    macros: Vec<Macro>,
    /// The macro chosen for the composer, filled in.
    rendered: Option<Rendered>,
    names: HashMap<i64, String>,
    agents: Vec<(i64, String)>,
    teams: Vec<(i64, String)>,
    orders: Vec<Order>,
}

async fn show(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<Fields>,
) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::SupportRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let ctx = staff.ctx();
    let chosen = match q.opt_int("macro") {
        Ok(m) => m,
        Err(e) => return super::failed(&staff, &e),
    };
    let d = match load(&app, &staff, move |tx| {
        let view = desk::get_ticket(tx, id)?;
        let works = ctx.actor.role.allows(Permission::SupportWork);
        let rendered = match chosen {
            Some(m) if works => Some(macros::render(tx, &ctx, id, m)?),
            _ => None,
        };
        let mut ids: Vec<i64> = view
            .messages
            .iter()
            .filter_map(|m| m.author_user_id)
            .collect();
        ids.extend(view.ticket.assignee_id);
        // The customer's latest orders, beside the conversation.
        let orders = match view.ticket.customer_id {
            Some(c) if ctx.actor.role.allows(Permission::OrdersRead) => {
                orders::list(
                    tx,
                    &OrderQuery {
                        customer_id: Some(c),
                        limit: Some(5),
                        ..Default::default()
                    },
                    ctx.now,
                )?
                .items
            }
            _ => Vec::new(),
        };
        Ok(TicketPage {
            macros: if works {
                macros::list_macros(tx, &ctx)?
            } else {
                Vec::new()
            },
            rendered,
            names: auth::member_names(tx, &ids)?,
            agents: auth::members_who(tx, Permission::SupportWork)?,
            teams: backroom_core::support::teams::team_names(tx, &ctx)?,
            orders,
            view,
        })
    })
    .await
    {
        Ok(d) => d,
        Err(r) => return r,
    };
    let t = &d.view.ticket;
    let now = backroom_core::util::now_micros();
    let works = staff.actor.role.allows(Permission::SupportWork);
    let body = html! {
        p {
            (ui::badge(&t.status)) " " (ui::badge(&t.priority)) " "
            (t.reference) " · " (t.channel) " · opened " (staff.when(&t.created_at))
        }
        @if t.sla.policy_id.is_some() {
            (ui::facts(&[
                ("First reply due", due(&staff, t.sla.first_reply_due_at.as_deref(), now)),
                ("Next reply due", due(&staff, t.sla.next_reply_due_at.as_deref(), now)),
                ("Resolution due", due(&staff, t.sla.resolution_due_at.as_deref(), now)),
            ]))
        }
        div.grid {
            div {
                (conversation(&staff, &d))
                @if works && t.status != "closed" {
                    (composer(&staff, t, &d))
                }
            }
            div {
                (requester_card(&staff, &d))
                @if works && !t.orders.is_empty() && staff.actor.role.allows(Permission::OrdersManage) {
                    (after_sales_card(&staff, t))
                }
                @if works { (properties(&staff, &d)) }
                @if works && t.status != "closed" {
                    (ui::card(Some("Merge"), ui::form(&staff, &format!("/console/support/{}/merge", t.id), html! {
                        (ui::input("Merge into ticket", "into", "text", "").inputmode("numeric").placeholder("T-42").hint("this ticket closes; its conversation joins the other as a note"))
                    }, "Merge")))
                }
            }
        }
    };
    page(
        &staff,
        &headers,
        &format!("{} · {}", t.reference, t.subject),
        body,
    )
}

fn conversation(staff: &Staff, d: &TicketPage) -> Markup {
    html! {
        section aria-label="Conversation" {
            @for m in &d.view.messages {
                article.card.message.note[!m.public] {
                    header {
                        strong {
                            @match (m.author_kind.as_str(), m.author_user_id) {
                                ("agent", Some(u)) => (d.names.get(&u).map_or("A member", String::as_str)),
                                ("agent", None) => "The desk",
                                _ => (m.author_email.as_deref().unwrap_or("The customer")),
                            }
                        }
                        " · " (staff.when(&m.created_at))
                        @if !m.public { " · " (ui::badge("internal note")) }
                        @if let Some(d) = &m.delivery { " · email " (ui::badge(d)) }
                    }
                    p.body { (m.body) }
                }
            }
        }
    }
}

fn composer(staff: &Staff, t: &Ticket, d: &TicketPage) -> Markup {
    let statuses: Vec<(String, String)> = std::iter::once((
        String::new(),
        "as it goes (pending after a reply)".to_string(),
    ))
    .chain(ui::options(&["open", "pending", "on_hold", "solved"]))
    .collect();
    let (body, status) = match &d.rendered {
        Some(r) => (r.body.clone(), r.status.clone().unwrap_or_default()),
        None => (String::new(), String::new()),
    };
    let choices: Vec<(String, String)> = d
        .macros
        .iter()
        .map(|m| (m.id.to_string(), m.name.clone()))
        .collect();
    let chosen = d
        .rendered
        .as_ref()
        .map(|r| r.macro_id.to_string())
        .unwrap_or_default();
    html! {
        @if !choices.is_empty() {
            form.macros method="get" action=(format!("/console/support/{}", t.id)) {
                (ui::select("Macro", "macro", &choices, &chosen))
                div.actions { (ui::button(Kind::Secondary, "Insert into the reply")) }
            }
        }
        (ui::form(
            staff,
            &format!("/console/support/{}/reply", t.id),
            html! {
                (ui::textarea("Reply", "body", &body).required().maxlength(100_000))
                (ui::checkbox("Internal note (the customer does not see it)", "internal", "yes", false))
                (ui::select("Then set the ticket", "status", &statuses, &status))
            },
            "Send",
        ))
    }
}

fn requester_card(staff: &Staff, d: &TicketPage) -> Markup {
    let t = &d.view.ticket;
    ui::card(
        Some("Requester"),
        html! {
            p {
                @if let Some(n) = &t.requester_name { (n) br; }
                (t.requester_email)
            }
            @if let Some(c) = t.customer_id {
                @if staff.actor.role.allows(Permission::CustomersRead) {
                    p { (ui::link(&format!("/console/customers/{c}"), "Customer profile")) }
                }
            }
            @if !t.orders.is_empty() {
                h3 { "Orders this ticket concerns" }
                ul {
                    @for o in &t.orders {
                        li { (ui::link(&format!("/console/orders/{}", o.order_id), &format!("#{}", o.number))) }
                    }
                }
            }
            @if !d.orders.is_empty() {
                h3 { "Latest orders" }
                ul {
                    @for o in &d.orders {
                        li {
                            (ui::link(&format!("/console/orders/{}", o.id), &o.name)) " "
                            (ui::badge(&o.fulfillment_status)) " " (ui::show_money(&o.total)) " · "
                            (staff.when(&o.placed_at))
                        }
                    }
                }
            }
        },
    )
}

fn properties(staff: &Staff, d: &TicketPage) -> Markup {
    let t = &d.view.ticket;
    let agents: Vec<(String, String)> = std::iter::once((String::new(), "unassigned".to_string()))
        .chain(d.agents.iter().map(|(id, n)| (id.to_string(), n.clone())))
        .collect();
    let assignee = t.assignee_id.map(|a| a.to_string()).unwrap_or_default();
    let team = t.team_id.map(|a| a.to_string()).unwrap_or_default();
    let statuses: Vec<&str> = Status::ALL
        .iter()
        .map(|s| s.as_str())
        .filter(|s| *s != "new" || t.status == "new")
        .collect();
    ui::card(
        Some("Ticket"),
        ui::form(
            staff,
            &format!("/console/support/{}/update", t.id),
            html! {
                (ui::select("Status", "status", &ui::options(&statuses), &t.status))
                (ui::select("Priority", "priority", &ui::options(&ui::names(Priority::ALL, Priority::as_str)), &t.priority))
                (ui::input("Type", "kind", "text", t.kind.as_deref().unwrap_or("")).maxlength(60))
                (ui::input("Tags", "tags", "text", &t.tags.join(", ")).hint("separated by commas"))
                (ui::select("Team", "team_id", &team_options(&d.teams, "no team"), &team))
                (ui::select("Assignee", "assignee_id", &agents, &assignee))
                (ui::input("Link an order", "add_order", "text", "").inputmode("numeric").placeholder("1042"))
            },
            "Save",
        ),
    )
}

/// The number of an order as typed: `1042` or `#1042`.
fn order_number(s: &str) -> Result<i64, backroom_core::Error> {
    s.trim().trim_start_matches('#').parse().map_err(|_| {
        backroom_core::Error::invalid("add_order", "must be an order number such as 1042")
    })
}

async fn reply(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, form }: Posted,
) -> Response {
    let m = NewMessage {
        body: form.text("body"),
        public: Some(form.flag("internal") != Some(true)),
        status: form.opt("status"),
    };
    let back = format!("/console/support/{id}");
    act(
        &app,
        &staff,
        &back,
        move |tx, ctx| desk::add_message(tx, ctx, id, &m),
        |v: &TicketView| match v.messages.last() {
            Some(m) if !m.public => "Note added".to_string(),
            _ => format!(
                "Reply sent; the ticket is {}",
                v.ticket.status.replace('_', " ")
            ),
        },
    )
    .await
}

async fn update(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, form }: Posted,
) -> Response {
    let back = format!("/console/support/{id}");
    let parsed = (|| -> Result<TicketPatch, backroom_core::Error> {
        let tags: Vec<String> = form
            .text("tags")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect();
        Ok(TicketPatch {
            status: form.opt("status"),
            priority: form.opt("priority"),
            kind: Some(form.opt("kind")),
            tags: Some(tags),
            team_id: Some(form.opt_int("team_id")?),
            assignee_id: Some(form.opt_int("assignee_id")?),
            add_orders: form
                .opt("add_order")
                .map(|n| order_number(&n))
                .transpose()?
                .map(|n| vec![n]),
            remove_orders: None,
        })
    })();
    let patch = match parsed {
        Ok(p) => p,
        Err(e) => return super::see_other(&back, false, &super::describe(&e)),
    };
    act(
        &app,
        &staff,
        &back,
        move |tx, ctx| desk::update_ticket(tx, ctx, id, &patch),
        |v: &TicketView| format!("{} saved", v.ticket.reference),
    )
    .await
}

async fn new_ticket(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<Fields>,
) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::SupportWork).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let body = ui::form(
        &staff,
        "/console/support/new",
        html! {
            (ui::input("Requester's email", "requester_email", "email", &q.text("requester_email")).required().autocomplete("off"))
            (ui::input("Requester's name", "requester_name", "text", &q.text("requester_name")))
            (ui::input("Subject", "subject", "text", &q.text("subject")).required().maxlength(300))
            (ui::textarea("What the customer said", "body", &q.text("body")).required())
            (ui::select("Channel", "channel", &ui::options(&ui::names(Channel::ALL, Channel::as_str)), &q.opt("channel").unwrap_or_else(|| "phone".into())))
            (ui::select("Priority", "priority", &ui::options(&ui::names(Priority::ALL, Priority::as_str)), &q.opt("priority").unwrap_or_else(|| "normal".into())))
        },
        "Open ticket",
    );
    page(&staff, &headers, "New ticket", body)
}

async fn create(State(app): State<App>, Posted { staff, form }: Posted) -> Response {
    let t = NewTicket {
        subject: form.text("subject"),
        body: form.text("body"),
        requester_email: form.text("requester_email"),
        requester_name: form.opt("requester_name"),
        channel: form.opt("channel"),
        priority: form.opt("priority"),
        ..Default::default()
    };
    act_then(
        &app,
        &staff,
        "/console/support/new",
        move |tx, ctx| desk::create_ticket(tx, ctx, &t),
        |v: &TicketView| {
            (
                format!("/console/support/{}", v.ticket.id),
                format!("{} opened", v.ticket.reference),
            )
        },
    )
    .await
}

async fn merge(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, form }: Posted,
) -> Response {
    let back = format!("/console/support/{id}");
    let Ok(into) = form
        .text("into")
        .trim()
        .trim_start_matches("T-")
        .parse::<i64>()
    else {
        return super::see_other(&back, false, "into: must be a ticket such as T-42");
    };
    let m = Merge { into };
    act_then(
        &app,
        &staff,
        &back,
        move |tx, ctx| desk::merge(tx, ctx, id, &m),
        |v: &TicketView| {
            (
                format!("/console/support/{}", v.ticket.id),
                format!("T-{id} merged into {}", v.ticket.reference),
            )
        },
    )
    .await
}

/// Note on, hold, release or cancel one of the ticket's orders from the ticket; refunds, returns
/// and exchanges are a link away, on the order's page.
fn after_sales_card(staff: &Staff, t: &Ticket) -> Markup {
    let orders: Vec<(String, String)> = t
        .orders
        .iter()
        .map(|o| (o.order_id.to_string(), format!("#{}", o.number)))
        .collect();
    let actions = vec![
        ("note".to_string(), "Note on the order".to_string()),
        ("hold".to_string(), "Hold it (customer request)".to_string()),
        ("release".to_string(), "Release its hold".to_string()),
        (
            "reship".to_string(),
            "Reship what was shipped, at no charge".to_string(),
        ),
        ("cancel".to_string(), "Cancel it".to_string()),
    ];
    ui::card(
        Some("After-sales"),
        html! {
            (ui::danger_form(staff, &format!("/console/support/{}/after-sales", t.id), html! {
                (ui::select("Order", "order_id", &orders, ""))
                (ui::select("Action", "action", &actions, "note"))
                (ui::input("Note or reason", "text", "text", "").maxlength(5000))
            }, "Do it", "I checked the order and the action"))
            p { "Refunds, returns and exchanges: on the order's page ("
                @for (i, o) in t.orders.iter().enumerate() {
                    @if i > 0 { ", " }
                    (ui::link(&format!("/console/orders/{}", o.order_id), &format!("#{}", o.number)))
                }
                ")." }
        },
    )
}

async fn after_sale(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, form }: Posted,
) -> Response {
    use backroom_core::api::{CancelOrder, HoldOrder, OrderNote};
    use backroom_core::support::after_sales::{self, AfterSale};
    let back = format!("/console/support/{id}");
    let parsed = (|| -> Result<AfterSale, backroom_core::Error> {
        form.confirmed()?;
        let action = form.text("action");
        let text = form.opt("text");
        let mut a = AfterSale {
            order_id: form.int("order_id")?,
            action: action.clone(),
            ..Default::default()
        };
        match action.as_str() {
            "note" => {
                a.note = Some(OrderNote {
                    message: text.unwrap_or_default(),
                })
            }
            "hold" => {
                a.hold = Some(HoldOrder {
                    reason: "customer_request".into(),
                    note: text,
                })
            }
            "cancel" => a.cancel = Some(CancelOrder { reason: text }),
            "reship" => {
                a.reship = Some(backroom_core::orders::Reship {
                    lines: Vec::new(),
                    reason: text.unwrap_or_default(),
                })
            }
            _ => {}
        }
        Ok(a)
    })();
    let a = match parsed {
        Ok(a) => a,
        Err(e) => return super::see_other(&back, false, &super::describe(&e)),
    };
    act(
        &app,
        &staff,
        &back,
        move |tx, ctx| after_sales::act(tx, ctx, id, &a),
        |v: &TicketView| {
            v.messages
                .last()
                .map_or_else(|| "Done".to_string(), |m| m.body.clone())
        },
    )
    .await
}

/// The bulk form the inbox rows' boxes belong to (`form="bulk"`): a status, priority, assignee
/// or team for every selected ticket, all or none. It posts to a path carrying the inbox's
/// query, so the browser comes back to the same view and filters.
fn bulk_form(
    staff: &Staff,
    q: &Fields,
    agents: &[(i64, String)],
    teams: &[(i64, String)],
) -> Markup {
    let action = ui::with_params("/console/support/bulk", q, &[], &[]);
    let keep = |mut o: Vec<(String, String)>| {
        o.insert(0, (String::new(), "unchanged".into()));
        o
    };
    let people: Vec<(String, String)> = [("none".to_string(), "unassigned".to_string())]
        .into_iter()
        .chain(agents.iter().map(|(id, n)| (id.to_string(), n.clone())))
        .collect();
    let team_choices: Vec<(String, String)> = [("none".to_string(), "no team".to_string())]
        .into_iter()
        .chain(teams.iter().map(|(id, n)| (id.to_string(), n.clone())))
        .collect();
    html! {
        form #bulk.act method="post" action=(action) aria-label="With the selected tickets" {
            (ui::hidden("csrf", &staff.csrf))
            (ui::select("Status", "status", &keep(ui::options(&["open", "pending", "on_hold", "solved", "closed"])), ""))
            (ui::select("Priority", "priority", &keep(ui::options(&ui::names(Priority::ALL, Priority::as_str))), ""))
            (ui::select("Assignee", "assignee_id", &keep(people), ""))
            (ui::select("Team", "team_id", &keep(team_choices), ""))
            div.actions { button.btn.primary type="submit" { "Apply to selected" } }
        }
    }
}

/// `none` clears a choice, a number sets it, nothing leaves it.
fn cleared_or_id(f: &Fields, name: &str) -> Result<Option<Option<i64>>, backroom_core::Error> {
    match f.get(name) {
        None => Ok(None),
        Some("none") => Ok(Some(None)),
        Some(_) => Ok(Some(f.opt_int(name)?)),
    }
}

/// One change to every selected ticket, in one unit: if one refuses it, none changes and the
/// notice names the ticket. Back to the inbox the form was on.
async fn bulk(
    State(app): State<App>,
    Query(from): Query<Fields>,
    Posted { staff, form: f }: Posted,
) -> Response {
    let back = ui::with_params("/console/support", &from, &[], &[]);
    let ids: Vec<i64> = f
        .all("ticket_id")
        .iter()
        .filter_map(|v| v.parse().ok())
        .collect();
    if ids.is_empty() {
        return super::see_other(&back, false, "Select at least one ticket.");
    }
    let changes = (|| {
        Ok::<_, backroom_core::Error>(TicketPatch {
            status: f.opt("status"),
            priority: f.opt("priority"),
            assignee_id: cleared_or_id(&f, "assignee_id")?,
            team_id: cleared_or_id(&f, "team_id")?,
            ..Default::default()
        })
    })();
    let changes = match changes {
        Ok(c) => c,
        Err(e) => return super::see_other(&back, false, &super::describe(&e)),
    };
    let b = desk::BulkUpdate { ids, changes };
    act(
        &app,
        &staff,
        &back,
        move |tx, ctx| desk::bulk_update(tx, ctx, &b),
        |t: &Vec<Ticket>| format!("{} tickets changed", t.len()),
    )
    .await
}
