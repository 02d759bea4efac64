//! The support desk's API: customers' messages in (email, chat, contact forms, with a write-only
//! key), and tickets, conversations and teams for staff.

use super::App;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, Auth, Id, Ids, SupportIngestAuth};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use backroom_core::api::Page;
use backroom_core::support::after_sales::{self, AfterSale};
use backroom_core::support::inbound::{self, ContactMessage, InboundEmail, Received};
use backroom_core::support::macros::{self, Macro, NewMacro, Rendered};
use backroom_core::support::report::{self, SupportReport, SupportReportQuery};
use backroom_core::support::sla::{self, Calendar, NewCalendar, NewPolicy, Policy};
use backroom_core::support::teams::{self, MemberPatch, TeamPatch};
use backroom_core::support::triage::{self, NewTriageRule, TriageRule};
use backroom_core::support::workload::{self, AgentLoad};
use backroom_core::support::{
    self as desk, NewMessage, NewTeam, NewTicket, Team, Ticket, TicketPatch, TicketQuery,
    TicketView,
};
use backroom_core::support::{BulkUpdate, Merge};
use backroom_core::{Ctx, Sql};
use backroom_domain::roles::Permission;

type R<T> = Result<Json<T>, ApiError>;

/// 201 for a message that opened a ticket, 200 for one that joined a ticket or had come before.
fn received(r: Received) -> (StatusCode, Json<Received>) {
    let status = if r.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(r))
}

async fn ingest<T: Send + Sync + 'static>(
    app: &App,
    auth: &SupportIngestAuth,
    body: T,
    f: fn(&mut dyn Sql, &Ctx, &T) -> backroom_core::Result<Received>,
) -> Result<(StatusCode, Json<Received>), ApiError> {
    let ctx = Ctx::new(auth.actor.clone(), backroom_core::util::now_micros());
    let body = std::sync::Arc::new(body);
    Ok(received(app.db.write(move |tx| f(tx, &ctx, &body)).await?))
}

/// Receives an email as an inbound-email provider parses it. It joins its ticket by its
/// `In-Reply-To` and `References`, or by a `[T-42]` reference in its subject when it comes from
/// that ticket's requester; otherwise it opens a ticket. A retry of the same `message_id` stores
/// nothing twice.
#[utoipa::path(post, path = "/support/inbound-email", tag = "support", request_body = InboundEmail, responses((status = 201, body = Received, description = "A new ticket"), (status = 200, body = Received, description = "Joined a ticket, or a retry"), (status = 422, body = ErrorBody)))]
pub async fn inbound_email(
    State(app): State<App>,
    auth: SupportIngestAuth,
    ApiJson(body): ApiJson<InboundEmail>,
) -> Result<(StatusCode, Json<Received>), ApiError> {
    ingest(&app, &auth, body, inbound::email).await
}

/// Receives a chat or contact-form message from the storefront.
#[utoipa::path(post, path = "/support/messages", tag = "support", request_body = ContactMessage, responses((status = 201, body = Received), (status = 200, body = Received), (status = 422, body = ErrorBody)))]
pub async fn contact(
    State(app): State<App>,
    auth: SupportIngestAuth,
    ApiJson(body): ApiJson<ContactMessage>,
) -> Result<(StatusCode, Json<Received>), ApiError> {
    ingest(&app, &auth, body, inbound::contact).await
}

/// Tickets, newest first.
#[utoipa::path(get, path = "/support/tickets", tag = "support", params(TicketQuery), responses((status = 200, body = Page<Ticket>), (status = 403, body = ErrorBody)))]
pub async fn list_tickets(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<TicketQuery>,
) -> R<Page<Ticket>> {
    let ctx = auth.ctx();
    app.read(&auth, Permission::SupportRead, move |tx| {
        desk::list_tickets(tx, &ctx, &q)
    })
    .await
}

/// Opens a ticket on a customer's behalf (a phone call, by default).
#[utoipa::path(post, path = "/support/tickets", tag = "support", request_body = NewTicket, responses((status = 201, body = TicketView), (status = 422, body = ErrorBody)))]
pub async fn create_ticket(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<NewTicket>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| desk::create_ticket(tx, ctx, &body))
            .await?,
    ))
}

/// A ticket with its conversation.
#[utoipa::path(get, path = "/support/tickets/{id}", tag = "support", params(("id" = i64, Path)), responses((status = 200, body = TicketView), (status = 404, body = ErrorBody)))]
pub async fn get_ticket(State(app): State<App>, auth: Auth, Id(id): Id) -> R<TicketView> {
    app.read(&auth, Permission::SupportRead, move |tx| {
        desk::get_ticket(tx, id)
    })
    .await
}

/// Changes a ticket's status, priority, type, tags, team, assignee or linked orders.
#[utoipa::path(patch, path = "/support/tickets/{id}", tag = "support", params(("id" = i64, Path)), request_body = TicketPatch, responses((status = 200, body = TicketView), (status = 422, body = ErrorBody)))]
pub async fn update_ticket(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<TicketPatch>,
) -> R<TicketView> {
    app.write(&auth, move |tx, ctx| {
        desk::update_ticket(tx, ctx, id, &body)
    })
    .await
}

/// A public reply (sent by email to an email ticket's requester) or an internal note.
#[utoipa::path(post, path = "/support/tickets/{id}/messages", tag = "support", params(("id" = i64, Path)), request_body = NewMessage, responses((status = 201, body = TicketView), (status = 422, body = ErrorBody)))]
pub async fn add_message(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<NewMessage>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| desk::add_message(tx, ctx, id, &body))
            .await?,
    ))
}

/// The support teams.
#[utoipa::path(get, path = "/support/teams", tag = "support", responses((status = 200, body = Vec<Team>)))]
pub async fn list_teams(State(app): State<App>, auth: Auth) -> R<Vec<Team>> {
    let ctx = auth.ctx();
    app.read(&auth, Permission::SupportRead, move |tx| {
        desk::list_teams(tx, &ctx)
    })
    .await
}

/// Creates a support team (a support lead's).
#[utoipa::path(post, path = "/support/teams", tag = "support", request_body = NewTeam, responses((status = 201, body = Team), (status = 409, body = ErrorBody)))]
pub async fn create_team(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<NewTeam>,
) -> Result<(StatusCode, Json<Team>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| desk::create_team(tx, ctx, &body))
            .await?,
    ))
}

/// The business-hour calendars service levels count in.
#[utoipa::path(get, path = "/support/calendars", tag = "support", responses((status = 200, body = Vec<Calendar>)))]
pub async fn list_calendars(State(app): State<App>, auth: Auth) -> R<Vec<Calendar>> {
    let ctx = auth.ctx();
    app.read(&auth, Permission::SupportRead, move |tx| {
        sla::list_calendars(tx, &ctx)
    })
    .await
}

/// Creates a business-hour calendar: weekly hours in a time zone, and holidays.
#[utoipa::path(post, path = "/support/calendars", tag = "support", request_body = NewCalendar, responses((status = 201, body = Calendar), (status = 422, body = ErrorBody)))]
pub async fn create_calendar(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<NewCalendar>,
) -> Result<(StatusCode, Json<Calendar>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| sla::create_calendar(tx, ctx, &body))
            .await?,
    ))
}

/// The service-level policies, in the order they are tried.
#[utoipa::path(get, path = "/support/sla-policies", tag = "support", responses((status = 200, body = Vec<Policy>)))]
pub async fn list_policies(State(app): State<App>, auth: Auth) -> R<Vec<Policy>> {
    let ctx = auth.ctx();
    app.read(&auth, Permission::SupportRead, move |tx| {
        sla::list_policies(tx, &ctx)
    })
    .await
}

/// Creates a service-level policy; unsolved tickets it fits take it at once.
#[utoipa::path(post, path = "/support/sla-policies", tag = "support", request_body = NewPolicy, responses((status = 201, body = Policy), (status = 422, body = ErrorBody)))]
pub async fn create_policy(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<NewPolicy>,
) -> Result<(StatusCode, Json<Policy>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| sla::create_policy(tx, ctx, &body))
            .await?,
    ))
}

/// Renames a team or changes how it gives out tickets (`manual`, `round_robin`, `balanced`).
#[utoipa::path(patch, path = "/support/teams/{id}", tag = "support", params(("id" = i64, Path)), request_body = TeamPatch, responses((status = 200, body = Team), (status = 422, body = ErrorBody)))]
pub async fn update_team(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<TeamPatch>,
) -> R<Team> {
    app.write(&auth, move |tx, ctx| teams::update_team(tx, ctx, id, &body))
        .await
}

/// Adds a member to a team, or sets their availability (members set their own) or their cap
/// of unsolved tickets. A member who goes away has their untouched tickets given out again.
#[utoipa::path(put, path = "/support/teams/{id}/members/{user_id}", tag = "support", params(("id" = i64, Path), ("user_id" = i64, Path)), request_body = MemberPatch, responses((status = 200, body = Team), (status = 422, body = ErrorBody)))]
pub async fn set_member(
    State(app): State<App>,
    auth: Auth,
    Ids(id, user): Ids,
    ApiJson(body): ApiJson<MemberPatch>,
) -> R<Team> {
    app.write(&auth, move |tx, ctx| {
        teams::set_member(tx, ctx, id, user, &body)
    })
    .await
}

/// Takes a member off a team; their tickets stay theirs.
#[utoipa::path(delete, path = "/support/teams/{id}/members/{user_id}", tag = "support", params(("id" = i64, Path), ("user_id" = i64, Path)), responses((status = 200, body = Team), (status = 404, body = ErrorBody)))]
pub async fn remove_member(State(app): State<App>, auth: Auth, Ids(id, user): Ids) -> R<Team> {
    app.write(&auth, move |tx, ctx| {
        teams::remove_member(tx, ctx, id, user)
    })
    .await
}

/// The triage rules, in the order they are tried.
#[utoipa::path(get, path = "/support/triage-rules", tag = "support", responses((status = 200, body = Vec<TriageRule>)))]
pub async fn list_triage_rules(State(app): State<App>, auth: Auth) -> R<Vec<TriageRule>> {
    let ctx = auth.ctx();
    app.read(&auth, Permission::SupportRead, move |tx| {
        triage::list_rules(tx, &ctx)
    })
    .await
}

/// Creates a triage rule: conditions on a new ticket and the priority, team and tags it gets.
#[utoipa::path(post, path = "/support/triage-rules", tag = "support", request_body = NewTriageRule, responses((status = 201, body = TriageRule), (status = 422, body = ErrorBody)))]
pub async fn create_triage_rule(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<NewTriageRule>,
) -> Result<(StatusCode, Json<TriageRule>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| triage::create_rule(tx, ctx, &body))
            .await?,
    ))
}

/// The macros (canned replies).
#[utoipa::path(get, path = "/support/macros", tag = "support", responses((status = 200, body = Vec<Macro>)))]
pub async fn list_macros(State(app): State<App>, auth: Auth) -> R<Vec<Macro>> {
    let ctx = auth.ctx();
    app.read(&auth, Permission::SupportRead, move |tx| {
        macros::list_macros(tx, &ctx)
    })
    .await
}

/// Creates a macro; an unknown placeholder is refused.
#[utoipa::path(post, path = "/support/macros", tag = "support", request_body = NewMacro, responses((status = 201, body = Macro), (status = 422, body = ErrorBody)))]
pub async fn create_macro(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<NewMacro>,
) -> Result<(StatusCode, Json<Macro>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| macros::create_macro(tx, ctx, &body))
            .await?,
    ))
}

/// A macro filled in for a ticket: the reply to edit and send, and what it sets.
#[utoipa::path(get, path = "/support/tickets/{id}/macros/{macro_id}", tag = "support", params(("id" = i64, Path), ("macro_id" = i64, Path)), responses((status = 200, body = Rendered), (status = 404, body = ErrorBody)))]
pub async fn render_macro(State(app): State<App>, auth: Auth, Ids(id, m): Ids) -> R<Rendered> {
    let ctx = auth.ctx();
    app.read(&auth, Permission::SupportWork, move |tx| {
        macros::render(tx, &ctx, id, m)
    })
    .await
}

/// Merges a duplicate ticket into another (its conversation joins it as a note; it is closed).
#[utoipa::path(post, path = "/support/tickets/{id}/merge", tag = "support", params(("id" = i64, Path)), request_body = Merge, responses((status = 200, body = TicketView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn merge(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<Merge>,
) -> R<TicketView> {
    app.write(&auth, move |tx, ctx| desk::merge(tx, ctx, id, &body))
        .await
}

/// One change to many tickets, all or nothing.
#[utoipa::path(post, path = "/support/tickets/bulk", tag = "support", request_body = BulkUpdate, responses((status = 200, body = Vec<Ticket>), (status = 422, body = ErrorBody)))]
pub async fn bulk_update(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<BulkUpdate>,
) -> R<Vec<Ticket>> {
    app.write(&auth, move |tx, ctx| desk::bulk_update(tx, ctx, &body))
        .await
}

/// Refunds, cancels, holds or releases one of the requester's orders, opens a return or an
/// exchange, or notes on it, from the ticket: through the order's own services, on its timeline
/// and as a note on the ticket.
#[utoipa::path(post, path = "/support/tickets/{id}/after-sales", tag = "support", params(("id" = i64, Path)), request_body = AfterSale, responses((status = 200, body = TicketView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn after_sale(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<AfterSale>,
) -> R<TicketView> {
    app.write(&auth, move |tx, ctx| after_sales::act(tx, ctx, id, &body))
        .await
}

/// Each member who works tickets: unsolved tickets by priority, breached, due within four hours,
/// solved this week; busiest first.
#[utoipa::path(get, path = "/support/workload", tag = "support", responses((status = 200, body = Vec<AgentLoad>)))]
pub async fn workload(State(app): State<App>, auth: Auth) -> R<Vec<AgentLoad>> {
    let ctx = auth.ctx();
    app.read(&auth, Permission::SupportRead, move |tx| {
        workload::workload(tx, &ctx)
    })
    .await
}

/// The support KPIs of a period (store-time days `[from, to)`), with the previous period, a
/// series by day, week or month and a breakdown by agent, team, channel or priority.
#[utoipa::path(get, path = "/support/report", tag = "support", params(SupportReportQuery), responses((status = 200, body = SupportReport)))]
pub async fn support_report(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<SupportReportQuery>,
) -> R<SupportReport> {
    let ctx = auth.ctx();
    app.read(&auth, Permission::SupportRead, move |tx| {
        report::report(tx, &ctx, &q)
    })
    .await
}

/// Turns something of the desk's set-up on or off.
#[derive(serde::Deserialize, utoipa::ToSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Activation {
    pub active: bool,
}

/// Turns an SLA policy on or off; unsolved tickets of its priority are looked at again.
#[utoipa::path(patch, path = "/support/sla-policies/{id}", tag = "support", params(("id" = i64, Path)), request_body = Activation, responses((status = 200, body = Policy), (status = 404, body = ErrorBody)))]
pub async fn update_policy(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<Activation>,
) -> R<Policy> {
    app.write(&auth, move |tx, ctx| {
        sla::set_policy_active(tx, ctx, id, body.active)
    })
    .await
}

/// Turns a triage rule on or off (for new tickets).
#[utoipa::path(patch, path = "/support/triage-rules/{id}", tag = "support", params(("id" = i64, Path)), request_body = Activation, responses((status = 200, body = TriageRule), (status = 404, body = ErrorBody)))]
pub async fn update_triage_rule(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<Activation>,
) -> R<TriageRule> {
    app.write(&auth, move |tx, ctx| {
        triage::set_rule_active(tx, ctx, id, body.active)
    })
    .await
}

/// Deletes a macro; replies made with it keep their text.
#[utoipa::path(delete, path = "/support/macros/{id}", tag = "support", params(("id" = i64, Path)), responses((status = 200, body = Macro), (status = 404, body = ErrorBody)))]
pub async fn delete_macro(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Macro> {
    app.write(&auth, move |tx, ctx| macros::delete_macro(tx, ctx, id))
        .await
}
