//! Background jobs: the queue every server works from (imports today), with each job's status,
//! attempts, progress, the server holding it and its last error; a failed job is retried and a
//! queued one cancelled from here. For those who may change the settings (admin, operations).

use super::ui::{self, Kind, col};
use super::{App, Fields, Posted, Staff, act, load, page};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use backroom_core::jobs::{self, Job, JobQuery};
use backroom_domain::jobs::Status;
use backroom_domain::roles::Permission;
use maud::{Markup, html};

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/console/settings/jobs", get(list))
        .route("/console/settings/jobs/{id}/{action}", post(change))
}

async fn list(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::SettingsWrite).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let query = JobQuery {
        status: q.opt("status"),
        kind: None,
        limit: Some(50),
        cursor: q.opt("cursor"),
    };
    let (found, counts) = match load(&app, &staff, move |tx| {
        Ok((jobs::page(tx, &query)?, jobs::counts(tx)?))
    })
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let waiting = found
        .items
        .iter()
        .any(|j| j.status == "running" || j.status == "queued");
    let statuses = ui::names(&Status::ALL, Status::as_str);
    let rows: Vec<Vec<Markup>> = found.items.iter().map(|j| job_row(&staff, j)).collect();
    let body = html! {
        @if waiting {
            // Live progress without script: the page reloads itself while jobs wait or run.
            meta http-equiv="refresh" content="3";
            p role="status" { "Jobs are waiting or running; this page refreshes every 3 seconds." }
        }
        p data-job-counts {
            @if counts.is_empty() { "No job yet." }
            @for (i, (s, n)) in counts.iter().enumerate() {
                @if i > 0 { " · " }
                (s.replace('_', " ")) ": " strong { (ui::count(*n)) }
            }
        }
        (ui::filter_form("/console/settings/jobs", &q,
            ui::select("Status", "status", &ui::any_of(&statuses), &q.text("status"))))
        (ui::table("Jobs, newest first",
            &[col("#"), col("Kind"), col("What"), col("Status"), col("Attempts"), col("Progress").num(),
              col("Server"), col("Last error"), col("Created"), col("Finished"), col("")],
            rows, "No job matches."))
        (ui::pager("/console/settings/jobs", &q, found.next_cursor.as_deref()))
    };
    page(&staff, &headers, "Jobs", body)
}

/// A job in the list: what it works on, how far it got, and what may be done with it (a failed
/// one retried, a queued one cancelled: that cannot be undone, so it is confirmed).
fn job_row(staff: &Staff, j: &Job) -> Vec<Markup> {
    let what = match backroom_core::imports::jobs::import_of(&j.payload) {
        Some(i) => ui::link("/console/settings/imports", &format!("import {i}")),
        None => html! {},
    };
    let path = |action: &str| format!("/console/settings/jobs/{}/{action}", j.id);
    let action = match j.status.as_str() {
        "failed" => ui::form_of(staff, &path("retry"), html! {}, Kind::Secondary, "Retry"),
        "queued" => ui::danger_form(
            staff,
            &path("cancel"),
            html! {},
            "Cancel",
            "Yes, cancel this job: it will not run",
        ),
        _ => html! {},
    };
    let finished = if j.status == "queued" && j.attempts > 0 {
        format!("retry at {}", staff.when(&j.run_at))
    } else {
        j.finished_at
            .as_deref()
            .map(|t| staff.when(t))
            .unwrap_or_default()
    };
    vec![
        html! { (j.id) },
        html! { (j.kind) },
        what,
        ui::badge(&j.status),
        html! { (j.attempts) " of " (j.max_attempts) },
        html! {
            @if j.progress_total > 0 {
                ((j.progress_done * 100 / j.progress_total).clamp(0, 100)) "%"
            }
        },
        html! { (j.owner.as_deref().unwrap_or_default()) },
        html! { (j.last_error.as_deref().unwrap_or_default()) },
        html! { (staff.when(&j.created_at)) },
        html! { (finished) },
        action,
    ]
}

async fn change(
    State(app): State<App>,
    Path((id, action)): Path<(i64, String)>,
    Posted { staff, form: f }: Posted,
) -> Response {
    let retry = action == "retry";
    act(
        &app,
        &staff,
        "/console/settings/jobs",
        move |tx, ctx| {
            // Cancelling cannot be undone: asked to confirm.
            if !retry {
                f.confirmed()?;
            }
            let job = if retry {
                jobs::retry(tx, ctx, id)?
            } else {
                jobs::cancel(tx, ctx, id)?
            };
            crate::http::job_worker::changed(tx, &job, ctx.now)?;
            Ok(job)
        },
        move |j| {
            if retry {
                format!("Job {} queued again.", j.id)
            } else {
                format!("Job {} cancelled.", j.id)
            }
        },
    )
    .await
}
