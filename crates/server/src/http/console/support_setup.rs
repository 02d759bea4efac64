//! The desk's set-up, a support lead's: teams (how they give out tickets, who is in them,
//! available or away, with what cap), service levels (business-hour calendars and SLA
//! policies), triage rules and macros. Everyone who reads tickets sees it; only a lead has the
//! forms (the services refuse others anyway).

use super::ui::{self, Kind, col};
use super::{App, Fields, Posted, Staff, act, act_on, load, page};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use backroom_core::auth;
use backroom_core::support::macros::{self, Macro, NewMacro};
use backroom_core::support::sla::{self, Calendar, NewCalendar, NewPolicy, Policy};
use backroom_core::support::teams::{self, MemberPatch, TeamPatch};
use backroom_core::support::triage::{self, NewTriageRule, TriageRule};
use backroom_core::support::{self as desk, NewTeam, Team};
use backroom_domain::roles::Permission;
use backroom_domain::support::{Channel, Priority, TriageThen, TriageWhen};
use maud::{Markup, html};

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/console/support/setup", get(teams_page))
        .route("/console/support/setup/teams", post(create_team))
        .route("/console/support/setup/teams/{id}", post(team_mode))
        .route("/console/support/setup/teams/{id}/members", post(member))
        .route(
            "/console/support/setup/teams/{id}/members/{user}/remove",
            post(remove),
        )
        .route("/console/support/setup/service-levels", get(levels_page))
        .route("/console/support/setup/calendars", post(create_calendar))
        .route("/console/support/setup/policies", post(create_policy))
        .route("/console/support/setup/policies/{id}", post(policy_active))
        .route(
            "/console/support/setup/triage",
            get(triage_page).post(create_rule),
        )
        .route("/console/support/setup/triage/{id}", post(rule_active))
        .route(
            "/console/support/setup/macros",
            get(macros_page).post(create_macro),
        )
        .route(
            "/console/support/setup/macros/{id}/delete",
            post(delete_macro),
        )
}

const TABS: [(&str, &str); 4] = [
    ("/console/support/setup", "Teams"),
    ("/console/support/setup/service-levels", "Service levels"),
    ("/console/support/setup/triage", "Triage rules"),
    ("/console/support/setup/macros", "Macros"),
];

fn tabs(current: &str) -> Markup {
    html! {
        nav.tabs aria-label="Desk set-up" {
            @for (i, (href, title)) in TABS.iter().enumerate() {
                @if i > 0 { " · " }
                @if *href == current { strong aria-current="page" { (title) } }
                @else { a href=(href) { (title) } }
            }
        }
    }
}

fn lead(staff: &Staff) -> bool {
    staff.may(Permission::SupportManage)
}

fn options(values: &[&str], none: &str) -> Vec<(String, String)> {
    let mut o = vec![(String::new(), none.to_string())];
    o.extend(ui::options(values));
    o
}

fn minutes(v: Option<i64>) -> String {
    match v {
        None => "-".into(),
        Some(m) if m % 60 == 0 => format!("{} h", m / 60),
        Some(m) => format!("{m} min"),
    }
}

/// Hours of a field in hours (`1.5`), as minutes.
fn hours_field(f: &Fields, name: &str) -> Result<Option<i64>, backroom_core::Error> {
    f.get(name)
        .map(|v| {
            v.replace(',', ".")
                .parse::<f64>()
                .ok()
                .filter(|h| h.is_finite() && *h > 0.0)
                .map(|h| (h * 60.0).round() as i64)
                .ok_or_else(|| backroom_core::Error::invalid(name, "must be a number of hours"))
        })
        .transpose()
}

// ---------------------------------------------------------------------------------------------
// Teams

struct TeamsData {
    teams: Vec<Team>,
    members: Vec<(i64, String)>,
}

async fn teams_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::SupportRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let ctx = staff.ctx();
    let d = match load(&app, &staff, move |tx| {
        Ok(TeamsData {
            teams: desk::list_teams(tx, &ctx)?,
            members: auth::members_who(tx, Permission::SupportWork)?,
        })
    })
    .await
    {
        Ok(d) => d,
        Err(r) => return r,
    };
    let modes = ui::options(&["manual", "round_robin", "balanced"]);
    let people: Vec<(String, String)> = d
        .members
        .iter()
        .map(|(id, name)| (id.to_string(), name.clone()))
        .collect();
    let body = html! {
        (tabs("/console/support/setup"))
        p.muted { "Balanced gives a new ticket to the available member with the fewest unsolved tickets (weighted by priority) under their cap; round robin takes members in turn. A member who goes away has their untouched tickets given out again." }
        @for t in &d.teams {
            section.card data-team=(t.id) {
                h2 { (t.name) " " (ui::badge(&t.assignment)) }
                (ui::table(&format!("Members of {}", t.name), &[col("Member"), col("Available"), col("Cap").num(), col("")],
                    t.members.iter().map(|m| vec![
                        html! { (m.name) },
                        html! { @if m.available { "available" } @else { strong { "away" } } },
                        html! { (m.capacity.map_or("none".into(), |c| c.to_string())) },
                        html! {
                            @if lead(&staff) {
                                (ui::form_of(&staff, &format!("/console/support/setup/teams/{}/members", t.id), html! {
                                    (ui::hidden("user_id", &m.user_id.to_string()))
                                    (ui::hidden("available", if m.available { "no" } else { "yes" }))
                                }, Kind::Secondary, if m.available { "Mark away" } else { "Mark available" }))
                                (ui::form_of(&staff, &format!("/console/support/setup/teams/{}/members/{}/remove", t.id, m.user_id), html! {}, Kind::Secondary, "Remove"))
                            }
                        },
                    ]).collect(), "No member yet."))
                @if lead(&staff) {
                    (ui::form(&staff, &format!("/console/support/setup/teams/{}/members", t.id), html! {
                        (ui::select("Member", "user_id", &people, ""))
                        (ui::input("Cap of unsolved tickets", "capacity", "number", "").hint("empty for none"))
                    }, "Add or update member"))
                    (ui::form(&staff, &format!("/console/support/setup/teams/{}", t.id), html! {
                        (ui::select("Assignment", "assignment", &modes, &t.assignment))
                    }, "Save assignment"))
                }
            }
        }
        @if d.teams.is_empty() { (ui::empty("No team yet.", None)) }
        @if lead(&staff) {
            h2 { "New team" }
            (ui::form(&staff, "/console/support/setup/teams", html! {
                (ui::input("Name", "name", "text", "").required())
                (ui::select("Assignment", "assignment", &modes, "balanced"))
            }, "Create team"))
        }
    };
    page(&staff, &headers, "Desk set-up", body)
}

async fn create_team(State(app): State<App>, Posted { staff, form }: Posted) -> Response {
    let t = NewTeam {
        name: form.text("name"),
        assignment: form.opt("assignment"),
    };
    act(
        &app,
        &staff,
        "/console/support/setup",
        move |tx, ctx| teams::create_team(tx, ctx, &t),
        |t: &Team| format!("Team {} created", t.name),
    )
    .await
}

async fn team_mode(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, form }: Posted,
) -> Response {
    let p = TeamPatch {
        assignment: form.opt("assignment"),
        ..Default::default()
    };
    act(
        &app,
        &staff,
        "/console/support/setup",
        move |tx, ctx| teams::update_team(tx, ctx, id, &p),
        |t: &Team| format!("{} gives out tickets: {}", t.name, t.assignment),
    )
    .await
}

async fn member(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, form }: Posted,
) -> Response {
    let back = "/console/support/setup";
    let parsed = (|| {
        let user = form
            .opt_int("user_id")?
            .ok_or_else(|| backroom_core::Error::invalid("user_id", "choose a member"))?;
        let capacity = match form.get("capacity") {
            Some(_) => Some(form.opt_int("capacity")?),
            None => None,
        };
        let available = form.get("available").map(|v| v == "yes");
        Ok::<_, backroom_core::Error>((
            user,
            MemberPatch {
                available,
                capacity,
            },
        ))
    })();
    let (user, p) = match parsed {
        Ok(v) => v,
        Err(e) => return super::see_other(back, false, &super::describe(&e)),
    };
    act(
        &app,
        &staff,
        back,
        move |tx, ctx| teams::set_member(tx, ctx, id, user, &p),
        |t: &Team| format!("{} saved", t.name),
    )
    .await
}

async fn remove(
    State(app): State<App>,
    Path((id, user)): Path<(i64, i64)>,
    Posted { staff, .. }: Posted,
) -> Response {
    act(
        &app,
        &staff,
        "/console/support/setup",
        move |tx, ctx| teams::remove_member(tx, ctx, id, user),
        |t: &Team| format!("Member taken off {}", t.name),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Service levels

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

async fn levels_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::SupportRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let ctx = staff.ctx();
    let (calendars, policies) = match load(&app, &staff, move |tx| {
        Ok((
            sla::list_calendars(tx, &ctx)?,
            sla::list_policies(tx, &ctx)?,
        ))
    })
    .await
    {
        Ok(d) => d,
        Err(r) => return r,
    };
    let name_of = |id: Option<i64>| {
        id.and_then(|i| calendars.iter().find(|c| c.id == i))
            .map_or("calendar hours".to_string(), |c| c.name.clone())
    };
    let body = html! {
        (tabs("/console/support/setup/service-levels"))
        p.muted { "A ticket's policy is the first active one, in this order, for its priority whose channel and tag (when the policy names them) are the ticket's. Its clock runs while the ticket is new, open or on hold, in the policy's calendar or round the clock." }
        (ui::table("SLA policies, in the order they are tried", &[
            col("Policy"), col("Priority"), col("Channel"), col("Tag"), col("Counted in"),
            col("First reply").num(), col("Next reply").num(), col("Resolution").num(), col("Active"), col(""),
        ], policies.iter().map(|p: &Policy| vec![
            html! { (p.name) },
            ui::badge(&p.priority),
            html! { (p.channel.as_deref().unwrap_or("any")) },
            html! { (p.tag.as_deref().unwrap_or("any")) },
            html! { (name_of(p.calendar_id)) },
            html! { (minutes(p.first_reply_minutes)) },
            html! { (minutes(p.next_reply_minutes)) },
            html! { (minutes(p.resolution_minutes)) },
            html! { @if p.active { "yes" } @else { "off" } },
            html! { @if lead(&staff) {
                (ui::form_of(&staff, &format!("/console/support/setup/policies/{}", p.id), html! {
                    (ui::hidden("active", if p.active { "no" } else { "yes" }))
                }, Kind::Secondary, if p.active { "Turn off" } else { "Turn on" }))
            } },
        ]).collect(), "No policy: tickets have no due times."))
        @if lead(&staff) {
            h2 { "New policy" }
            (ui::form(&staff, "/console/support/setup/policies", html! {
                (ui::input("Name", "name", "text", "").required())
                (ui::select("Priority", "priority", &ui::options(&ui::names(Priority::ALL, Priority::as_str)), "normal"))
                (ui::select("Channel", "channel", &options(&ui::names(Channel::ALL, Channel::as_str), "any"), ""))
                (ui::input("Tag", "tag", "text", "").hint("only tickets with this tag; empty for any"))
                (ui::select("Counted in", "calendar_id", &std::iter::once((String::new(), "calendar hours".to_string()))
                    .chain(calendars.iter().map(|c| (c.id.to_string(), c.name.clone()))).collect::<Vec<_>>(), ""))
                (ui::input("First reply within (hours)", "first_reply_hours", "text", "").inputmode("decimal"))
                (ui::input("Next reply within (hours)", "next_reply_hours", "text", "").inputmode("decimal"))
                (ui::input("Solved within (hours)", "resolution_hours", "text", "").inputmode("decimal"))
            }, "Create policy"))
        }
        h2 { "Business-hour calendars" }
        (ui::table("Calendars", &[col("Calendar"), col("Time zone"), col("Week"), col("Holidays")],
            calendars.iter().map(|c: &Calendar| vec![
                html! { (c.name) },
                html! { (c.timezone) },
                html! { (week_text(&c.week)) },
                html! { (c.holidays.join(", ")) },
            ]).collect(), "No calendar: policies count round the clock."))
        @if lead(&staff) {
            h2 { "New calendar" }
            (ui::form(&staff, "/console/support/setup/calendars", html! {
                (ui::input("Name", "name", "text", "").required())
                (ui::input("Time zone", "timezone", "text", "Europe/Paris").required().hint("an IANA zone such as Europe/Paris"))
                @for (i, d) in DAYS.iter().enumerate() {
                    (ui::input(d, &format!("day{i}"), "text", if i < 5 { "09:00-18:00" } else { "" }).hint("such as 09:00-12:30, 13:30-18:00; empty when closed"))
                }
                (ui::textarea("Holidays", "holidays", "").hint("one date (YYYY-MM-DD) per line"))
            }, "Create calendar"))
        }
    };
    page(&staff, &headers, "Desk set-up", body)
}

fn week_text(week: &[Vec<[String; 2]>]) -> String {
    week.iter()
        .zip(DAYS)
        .filter(|(hours, _)| !hours.is_empty())
        .map(|(hours, d)| {
            let h: Vec<String> = hours.iter().map(|[a, b]| format!("{a}-{b}")).collect();
            format!("{} {}", &d[..3], h.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A day's hours as typed (`09:00-12:30, 13:30-18:00`).
fn day_hours(field: &str, s: &str) -> Result<Vec<[String; 2]>, backroom_core::Error> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('-')
                .map(|(a, b)| [a.trim().to_string(), b.trim().to_string()])
                .ok_or_else(|| {
                    backroom_core::Error::invalid(field, "write hours such as 09:00-18:00")
                })
        })
        .collect()
}

async fn create_calendar(State(app): State<App>, Posted { staff, form }: Posted) -> Response {
    let back = "/console/support/setup/service-levels";
    let week: Result<Vec<_>, _> = (0..7)
        .map(|i| day_hours(DAYS[i], &form.text(&format!("day{i}"))))
        .collect();
    let week = match week {
        Ok(w) => w,
        Err(e) => return super::see_other(back, false, &super::describe(&e)),
    };
    let c = NewCalendar {
        name: form.text("name"),
        timezone: form.text("timezone"),
        week,
        holidays: Some(
            form.text("holidays")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
        ),
    };
    act(
        &app,
        &staff,
        back,
        move |tx, ctx| sla::create_calendar(tx, ctx, &c),
        |c: &Calendar| format!("Calendar {} created", c.name),
    )
    .await
}

async fn create_policy(State(app): State<App>, Posted { staff, form }: Posted) -> Response {
    let back = "/console/support/setup/service-levels";
    let parsed = (|| {
        Ok::<_, backroom_core::Error>(NewPolicy {
            name: form.text("name"),
            priority: form.text("priority"),
            channel: form.opt("channel"),
            tag: form.opt("tag"),
            calendar_id: form.opt_int("calendar_id")?,
            first_reply_minutes: hours_field(&form, "first_reply_hours")?,
            next_reply_minutes: hours_field(&form, "next_reply_hours")?,
            resolution_minutes: hours_field(&form, "resolution_hours")?,
            position: None,
        })
    })();
    act_on(
        &app,
        &staff,
        back,
        parsed,
        sla::create_policy,
        |p: &Policy| format!("Policy {} created", p.name),
    )
    .await
}

async fn policy_active(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, form }: Posted,
) -> Response {
    let active = form.get("active") == Some("yes");
    act(
        &app,
        &staff,
        "/console/support/setup/service-levels",
        move |tx, ctx| sla::set_policy_active(tx, ctx, id, active),
        |p: &Policy| {
            format!(
                "Policy {} turned {}",
                p.name,
                if p.active { "on" } else { "off" }
            )
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Triage rules

async fn triage_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::SupportRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let ctx = staff.ctx();
    let (rules, teams) = match load(&app, &staff, move |tx| {
        Ok((triage::list_rules(tx, &ctx)?, teams::team_names(tx, &ctx)?))
    })
    .await
    {
        Ok(d) => d,
        Err(r) => return r,
    };
    let team_name = |id: Option<i64>| {
        id.and_then(|i| teams.iter().find(|(t, _)| *t == i))
            .map(|(_, n)| n.clone())
    };
    let when_text = |w: &TriageWhen| {
        let mut parts = Vec::new();
        if !w.text_contains.is_empty() {
            parts.push(format!("mentions {}", w.text_contains.join(" or ")));
        }
        if let Some(c) = &w.channel {
            parts.push(format!("by {c}"));
        }
        if let Some(v) = w.min_lifetime_value {
            parts.push(format!("customer worth at least {v} (minor units)"));
        }
        if w.has_open_order == Some(true) {
            parts.push("has an open order".into());
        }
        if w.has_late_order == Some(true) {
            parts.push("has a late order".into());
        }
        parts.join(", ")
    };
    let then_text = |t: &TriageThen| {
        let mut parts = Vec::new();
        if let Some(p) = &t.priority {
            parts.push(format!("priority {p}"));
        }
        if let Some(n) = team_name(t.team_id) {
            parts.push(format!("team {n}"));
        }
        if !t.tags.is_empty() {
            parts.push(format!("tags {}", t.tags.join(", ")));
        }
        parts.join(", ")
    };
    let team_options: Vec<(String, String)> = std::iter::once((String::new(), "none".to_string()))
        .chain(teams.iter().map(|(id, n)| (id.to_string(), n.clone())))
        .collect();
    let body = html! {
        (tabs("/console/support/setup/triage"))
        p.muted { "Each new ticket is tried against the active rules in order; every rule that fits sets what it says (a later rule overrides an earlier one)." }
        (ui::table("Triage rules, in order", &[col("Rule"), col("When"), col("Then"), col("Active"), col("")],
            rules.iter().map(|r: &TriageRule| vec![
                html! { (r.name) },
                html! { (when_text(&r.when)) },
                html! { (then_text(&r.then)) },
                html! { @if r.active { "yes" } @else { "off" } },
                html! { @if lead(&staff) {
                    (ui::form_of(&staff, &format!("/console/support/setup/triage/{}", r.id), html! {
                        (ui::hidden("active", if r.active { "no" } else { "yes" }))
                    }, Kind::Secondary, if r.active { "Turn off" } else { "Turn on" }))
                } },
            ]).collect(), "No rule: new tickets keep their priority and team."))
        @if lead(&staff) {
            h2 { "New rule" }
            (ui::form(&staff, "/console/support/setup/triage", html! {
                (ui::input("Name", "name", "text", "").required())
                (ui::input("When the text mentions", "words", "text", "").hint("words or phrases, comma separated"))
                (ui::select("Channel", "channel", &options(&ui::names(Channel::ALL, Channel::as_str), "any"), ""))
                (ui::checkbox("The customer has an open order", "has_open_order", "yes", false))
                (ui::checkbox("The customer has a late order", "has_late_order", "yes", false))
                (ui::select("Then priority", "priority", &options(&ui::names(Priority::ALL, Priority::as_str), "unchanged"), ""))
                (ui::select("Then team", "team_id", &team_options, ""))
                (ui::input("Then tags", "tags", "text", "").hint("comma separated"))
            }, "Create rule"))
        }
    };
    page(&staff, &headers, "Desk set-up", body)
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

async fn create_rule(State(app): State<App>, Posted { staff, form }: Posted) -> Response {
    let back = "/console/support/setup/triage";
    let team_id = match form.opt_int("team_id") {
        Ok(t) => t,
        Err(e) => return super::see_other(back, false, &super::describe(&e)),
    };
    let r = NewTriageRule {
        name: form.text("name"),
        when: TriageWhen {
            text_contains: list(&form.text("words")),
            channel: form.opt("channel"),
            has_open_order: form.get("has_open_order").map(|_| true),
            has_late_order: form.get("has_late_order").map(|_| true),
            ..Default::default()
        },
        then: TriageThen {
            priority: form.opt("priority"),
            team_id,
            tags: list(&form.text("tags")),
        },
        position: None,
    };
    act(
        &app,
        &staff,
        back,
        move |tx, ctx| triage::create_rule(tx, ctx, &r),
        |r: &TriageRule| format!("Rule {} created", r.name),
    )
    .await
}

async fn rule_active(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, form }: Posted,
) -> Response {
    let active = form.get("active") == Some("yes");
    act(
        &app,
        &staff,
        "/console/support/setup/triage",
        move |tx, ctx| triage::set_rule_active(tx, ctx, id, active),
        |r: &TriageRule| {
            format!(
                "Rule {} turned {}",
                r.name,
                if r.active { "on" } else { "off" }
            )
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Macros

async fn macros_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::SupportRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let ctx = staff.ctx();
    let list = match load(&app, &staff, move |tx| macros::list_macros(tx, &ctx)).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let placeholders: Vec<String> = backroom_domain::support::PLACEHOLDERS
        .iter()
        .map(|p| format!("{{{{{p}}}}}"))
        .collect();
    let body = html! {
        (tabs("/console/support/setup/macros"))
        p.muted { "A macro is a canned reply an agent inserts from the ticket page; it may also set the status, priority and tags. Placeholders: " (placeholders.join(", ")) "." }
        (ui::table("Macros", &[col("Macro"), col("Reply"), col("Sets"), col("")],
            list.iter().map(|m: &Macro| vec![
                html! { (m.name) },
                html! { (m.body.chars().take(120).collect::<String>()) @if m.body.chars().count() > 120 { "…" } },
                html! { (sets(m)) },
                html! { @if lead(&staff) {
                    (ui::danger_form(&staff, &format!("/console/support/setup/macros/{}/delete", m.id), html! {}, "Delete", "Delete this macro"))
                } },
            ]).collect(), "No macro yet."))
        @if lead(&staff) {
            h2 { "New macro" }
            (ui::form(&staff, "/console/support/setup/macros", html! {
                (ui::input("Name", "name", "text", "").required())
                (ui::textarea("Reply", "body", "").required())
                (ui::select("Then status", "status", &options(&["open", "pending", "on_hold", "solved"], "unchanged"), ""))
                (ui::select("Then priority", "priority", &options(&ui::names(Priority::ALL, Priority::as_str), "unchanged"), ""))
                (ui::input("Then tags", "tags", "text", "").hint("comma separated"))
            }, "Create macro"))
        }
    };
    page(&staff, &headers, "Desk set-up", body)
}

fn sets(m: &Macro) -> String {
    let mut parts = Vec::new();
    if let Some(s) = &m.status {
        parts.push(format!("status {}", s.replace('_', " ")));
    }
    if let Some(p) = &m.priority {
        parts.push(format!("priority {p}"));
    }
    if !m.tags.is_empty() {
        parts.push(format!("tags {}", m.tags.join(", ")));
    }
    parts.join(", ")
}

async fn create_macro(State(app): State<App>, Posted { staff, form }: Posted) -> Response {
    let m = NewMacro {
        name: form.text("name"),
        body: form.raw("body").trim().to_string(),
        status: form.opt("status"),
        priority: form.opt("priority"),
        tags: Some(list(&form.text("tags"))),
    };
    act(
        &app,
        &staff,
        "/console/support/setup/macros",
        move |tx, ctx| macros::create_macro(tx, ctx, &m),
        |m: &Macro| format!("Macro {} created", m.name),
    )
    .await
}

async fn delete_macro(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, form }: Posted,
) -> Response {
    let back = "/console/support/setup/macros";
    if let Err(e) = form.confirmed() {
        return super::see_other(back, false, &super::describe(&e));
    }
    act(
        &app,
        &staff,
        back,
        move |tx, ctx| macros::delete_macro(tx, ctx, id),
        |m: &Macro| format!("Macro {} deleted", m.name),
    )
    .await
}
