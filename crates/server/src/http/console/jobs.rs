//! Background jobs: the queue every server works from (imports today), with each job's status,
//! attempts, progress, the server holding it and its last error; a failed job is retried and a
//! queued one cancelled from here. For those who may change the settings (admin, operations).

use super::{
    App, Fields, Posted, Staff, act, badge, esc, filter_form, form, link, load, options, page_html,
    pager, select, table, when,
};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use backroom_core::jobs::{self, JobQuery};
use backroom_domain::roles::Permission;

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
    let mut body = String::new();
    if found
        .items
        .iter()
        .any(|j| j.status == "running" || j.status == "queued")
    {
        body.push_str("<meta http-equiv=\"refresh\" content=\"3\"><p role=\"status\">Jobs are waiting or running; this page refreshes every 3 seconds.</p>");
    }
    let summary: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{}: {n}", esc(s)))
        .collect();
    body.push_str(&format!(
        "<p>{}</p>",
        if summary.is_empty() {
            "No job yet.".to_string()
        } else {
            summary.join(" · ")
        }
    ));
    let mut statuses = vec![""];
    statuses.extend(backroom_domain::jobs::Status::ALL.map(|s| s.as_str()));
    body.push_str(&filter_form(
        "/console/settings/jobs",
        &select("Status", "status", &options(&statuses), &q.text("status")),
    ));
    let rows: Vec<Vec<String>> = found
        .items
        .iter()
        .map(|j| {
            let what = match backroom_core::imports::jobs::import_of(&j.payload) {
                Some(i) => link("/console/settings/imports", &format!("import {i}")),
                None => String::new(),
            };
            let progress = if j.progress_total > 0 {
                format!(
                    "{}%",
                    (j.progress_done * 100 / j.progress_total).clamp(0, 100)
                )
            } else {
                String::new()
            };
            let action = match j.status.as_str() {
                "failed" => form(
                    &staff,
                    &format!("/console/settings/jobs/{}/retry", j.id),
                    "",
                    "Retry",
                ),
                "queued" => form(
                    &staff,
                    &format!("/console/settings/jobs/{}/cancel", j.id),
                    "",
                    "Cancel",
                ),
                _ => String::new(),
            };
            vec![
                j.id.to_string(),
                esc(&j.kind),
                what,
                badge(&j.status),
                format!("{} of {}", j.attempts, j.max_attempts),
                progress,
                esc(j.owner.as_deref().unwrap_or_default()),
                esc(j.last_error.as_deref().unwrap_or_default()),
                esc(&when(&j.created_at)),
                if j.status == "queued" && j.attempts > 0 {
                    format!("retry at {}", esc(&when(&j.run_at)))
                } else {
                    j.finished_at
                        .as_deref()
                        .map(when)
                        .map(|w| esc(&w))
                        .unwrap_or_default()
                },
                action,
            ]
        })
        .collect();
    body.push_str(&table(
        "Jobs, newest first",
        &[
            "#",
            "Kind",
            "What",
            "Status",
            "Attempts",
            "Progress",
            "Server",
            "Last error",
            "Created",
            "Finished",
            "",
        ],
        &rows,
        "No job matches.",
    ));
    body.push_str(&pager(
        "/console/settings/jobs",
        &q,
        found.next_cursor.as_deref(),
    ));
    page_html(&staff, &headers, "Jobs", &body)
}

async fn change(
    State(app): State<App>,
    Path((id, action)): Path<(i64, String)>,
    Posted { staff, .. }: Posted,
) -> Response {
    let retry = action == "retry";
    act(
        &app,
        &staff,
        "/console/settings/jobs",
        move |tx, ctx| {
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
