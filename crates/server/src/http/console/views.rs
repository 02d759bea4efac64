//! Saved views: a member names the filters of a list ("Late EU orders") and finds them above
//! that list on every visit. Each member keeps their own ([`backroom_core::auth::views`]); a
//! list page reads them in its own transaction and shows [`bar`].

use super::ui::{self, Kind};
use super::{App, Fields, Posted, Staff, act_then};
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use backroom_core::auth::views::{self, SavedView};
use maud::{Markup, html};

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/console/views", post(save))
        .route("/console/views/{id}/delete", post(delete))
}

/// The query a view keeps: the list's filters and sort, not its page or one-off choices.
fn kept_query(q: &Fields) -> String {
    ui::with_params("", q, &["cursor", "select", "csrf"], &[])
        .trim_start_matches('?')
        .to_string()
}

/// Above a list: its saved views as links (the one in use marked), each with a delete button,
/// and a form that saves the filters in use under a name.
pub(super) fn bar(staff: &Staff, list: &str, q: &Fields, saved: &[SavedView]) -> Markup {
    let current = kept_query(q);
    html! {
        div.views aria-label="Saved views" role="group" {
            span.muted { "Views:" }
            a href=(list) aria-current=[current.is_empty().then_some("page")] { "All" }
            @for v in saved {
                span.view {
                    a href=(format!("{list}?{}", v.query)) aria-current=[(v.query == current).then_some("page")] { (v.name) }
                    form.inline method="post" action=(format!("/console/views/{}/delete", v.id)) {
                        (ui::hidden("csrf", &staff.csrf))
                        button.btn.link type="submit" aria-label=(format!("Delete the view {}", v.name)) title="Delete this view" { "×" }
                    }
                }
            }
            @if !current.is_empty() {
                form.inline.save-view method="post" action="/console/views" {
                    (ui::hidden("csrf", &staff.csrf))
                    (ui::hidden("list", list))
                    (ui::hidden("query", &current))
                    label.visually-hidden for="view-name" { "Name of the view" }
                    input #view-name name="name" type="text" required maxlength="60" placeholder="Name these filters";
                    (ui::button(Kind::Secondary, "Save view"))
                }
            }
        }
    }
}

async fn save(State(app): State<App>, Posted { staff, form: f }: Posted) -> Response {
    let (list, name, query) = (f.text("list"), f.text("name"), f.text("query"));
    let back = if list.starts_with("/console/") {
        list.clone()
    } else {
        "/console".into()
    };
    act_then(
        &app,
        &staff,
        &format!("{back}?{query}"),
        move |tx, ctx| views::save_view(tx, ctx, &list, &name, &query),
        |v| {
            (
                format!("{}?{}", v.list, v.query),
                format!("Saved the view {}.", v.name),
            )
        },
    )
    .await
}

async fn delete(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, .. }: Posted,
) -> Response {
    act_then(
        &app,
        &staff,
        "/console",
        move |tx, ctx| views::delete_view(tx, ctx, id),
        |v| (v.list.clone(), format!("Deleted the view {}.", v.name)),
    )
    .await
}
