//! The satisfaction survey a solving reply links to: `/csat/{token}`, no sign-in (the token in
//! the link is the customer's key, stored hashed). A page with two buttons and a comment box,
//! and its answer; it works without script, and allows nothing to be loaded from elsewhere.

use super::App;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use backroom_core::support::csat;
use backroom_core::{Actor, Ctx, Error};
use backroom_domain::roles::Role;
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

pub fn routes() -> Router<App> {
    Router::new().route("/csat/{token}", get(page).post(answer))
}

fn frame(status: StatusCode, body: Markup) -> Response {
    let html = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "How did we do?" }
            }
            body { main { (body) } }
        }
    };
    let mut r = (status, Html(html.into_string())).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; form-action 'self'; frame-ancestors 'none'"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

fn refused(e: &Error) -> Response {
    match e {
        Error::NotFound { .. } => frame(
            StatusCode::NOT_FOUND,
            html! { h1 { "This survey link does not work" } p { "It may have been replaced by a newer one." } },
        ),
        Error::Invalid(i) => frame(
            StatusCode::UNPROCESSABLE_ENTITY,
            html! { p role="alert" { (i.to_string()) } },
        ),
        Error::Conflict { message, .. } => {
            frame(StatusCode::CONFLICT, html! { p role="alert" { (message) } })
        }
        _ => frame(
            StatusCode::SERVICE_UNAVAILABLE,
            html! { p { "Please try again later." } },
        ),
    }
}

async fn page(State(app): State<App>, Path(token): Path<String>) -> Response {
    let t = token.clone();
    match app.db.read(move |tx| csat::survey(tx, &t)).await {
        Ok(s) => frame(
            StatusCode::OK,
            html! {
                h1 { "How did we do?" }
                p { "About " (s.reference) ": " (s.subject) }
                @if let Some(r) = &s.satisfaction.rating { p { "You said: " (r) ". You may change it." } }
                @if s.closed { p { "This conversation is closed." } } @else {
                    form method="post" action=(format!("/csat/{token}")) {
                        label { "Anything to add? " textarea name="comment" maxlength="2000" {} }
                        p {
                            button type="submit" name="rating" value="good" { "Good, I am satisfied" }
                            " "
                            button type="submit" name="rating" value="bad" { "Bad, I am not satisfied" }
                        }
                    }
                }
            },
        ),
        Err(e) => refused(&e),
    }
}

#[derive(Deserialize)]
struct Answer {
    rating: String,
    comment: Option<String>,
}

async fn answer(
    State(app): State<App>,
    Path(token): Path<String>,
    Form(a): Form<Answer>,
) -> Response {
    let ctx = Ctx::new(
        Actor {
            user_id: 0,
            name: "customer (survey)".into(),
            role: Role::Ingest,
        },
        backroom_core::util::now_micros(),
    );
    match app
        .db
        .write(move |tx| csat::rate(tx, &ctx, &token, &a.rating, a.comment.as_deref()))
        .await
    {
        Ok(_) => frame(
            StatusCode::OK,
            html! { h1 { "Thank you" } p { "Your answer reached our team." } },
        ),
        Err(e) => refused(&e),
    }
}
