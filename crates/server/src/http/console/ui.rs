//! The console's component set, as compile-time templates ([`maud`]): every value put into a
//! page is escaped unless it is already [`Markup`]. Pages are built from these parts: the frame
//! ([`layout`]), page headers, cards, tables with sortable columns, badges, buttons of three
//! kinds, form fields that show their error, empty states and the pager.

use super::{Fields, Notice, Staff};
use backroom_domain::roles::Permission;
use maud::{DOCTYPE, Markup, Render, html};

// ---------------------------------------------------------------------------------------------
// Text as staff read it

/// An amount in a currency's minor units as people read it: `£1,234.50`.
pub(super) fn money(minor: i64, currency: &str) -> String {
    backroom_domain::money::human_in(minor, currency)
}

pub(super) fn show_money(m: &backroom_core::api::Money) -> String {
    money(m.amount, &m.currency)
}

/// A count with thousands separators: `12,345`.
pub(super) fn count(n: i64) -> String {
    backroom_domain::money::group_count(n)
}

/// Percent-encodes a query-string value.
pub(super) fn url_encode(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A query string from pairs, empty values left out: `?a=1&b=x`.
pub(super) fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let parts: Vec<String> = pairs
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// `path` with the filters of `params` but `drop`, and `extra` added.
pub(super) fn with_params(
    path: &str,
    params: &Fields,
    drop: &[&str],
    extra: &[(&str, &str)],
) -> String {
    let kept = params
        .0
        .iter()
        .filter(|(k, _)| !drop.contains(&k.as_str()) && !extra.iter().any(|(e, _)| e == k))
        .map(|(k, v)| (k.as_str(), v.as_str()));
    format!("{path}{}", query_string(kept.chain(extra.iter().copied())))
}

// ---------------------------------------------------------------------------------------------
// Small parts

pub(super) fn link(href: &str, text: &str) -> Markup {
    html! { a href=(href) { (text) } }
}

/// A status as a coloured label: `partially_fulfilled` reads "partially fulfilled".
pub(super) fn badge(text: &str) -> Markup {
    html! {
        span class=(format!("badge b-{}", text.replace(' ', "_"))) { (text.replace('_', " ")) }
    }
}

/// What a button does: the page's main action, another action, or one that cannot be undone.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Primary,
    Secondary,
    Danger,
}

impl Kind {
    fn class(self) -> &'static str {
        match self {
            Kind::Primary => "btn primary",
            Kind::Secondary => "btn secondary",
            Kind::Danger => "btn danger",
        }
    }
}

pub(super) fn button(kind: Kind, label: &str) -> Markup {
    html! { button type="submit" class=(kind.class()) { (label) } }
}

/// A link styled as a button (a page's main way on, "New order" say).
pub(super) fn button_link(kind: Kind, href: &str, label: &str) -> Markup {
    html! { a class=(kind.class()) href=(href) { (label) } }
}

/// A framed block with an optional heading.
pub(super) fn card(title: Option<&str>, body: Markup) -> Markup {
    html! {
        section.card {
            @if let Some(t) = title { h2 { (t) } }
            (body)
        }
    }
}

/// A figure in a card: its label, its value and a line under it (the change, say).
pub(super) fn stat(label: &str, key: &str, value: &str, under: Markup) -> Markup {
    html! {
        div.card.stat {
            div.label { (label) }
            div.v data-kpi=(key) { (value) }
            (under)
        }
    }
}

/// What a list shows when nothing is in it, and where to go from there.
pub(super) fn empty(text: &str, action: Option<(&str, &str)>) -> Markup {
    html! {
        div.empty {
            p { (text) }
            @if let Some((href, label)) = action { p { (link(href, label)) } }
        }
    }
}

/// Terms and their values.
pub(super) fn facts(rows: &[(&str, Markup)]) -> Markup {
    html! {
        dl { @for (k, v) in rows { dt { (k) } dd { (v) } } }
    }
}

// ---------------------------------------------------------------------------------------------
// Form fields

/// The kind of an [`Input`] drawn as a text area ([`textarea`]).
const TEXTAREA: &str = "textarea";

/// A labelled input (or text area) with the attributes forms use, and the field's error when it
/// was refused.
#[derive(Default)]
pub(super) struct Input<'a> {
    label: &'a str,
    name: &'a str,
    kind: &'a str,
    value: String,
    required: bool,
    autofocus: bool,
    min: Option<&'a str>,
    max: Option<&'a str>,
    size: Option<u32>,
    maxlength: Option<u32>,
    minlength: Option<u32>,
    inputmode: Option<&'a str>,
    placeholder: Option<&'a str>,
    autocomplete: Option<&'a str>,
    hint: Option<&'a str>,
    error: Option<String>,
}

pub(super) fn input<'a>(label: &'a str, name: &'a str, kind: &'a str, value: &str) -> Input<'a> {
    Input {
        label,
        name,
        kind,
        value: value.to_string(),
        ..Input::default()
    }
}

impl<'a> Input<'a> {
    pub(super) fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub(super) fn autofocus(mut self) -> Self {
        self.autofocus = true;
        self
    }
    pub(super) fn min(mut self, v: &'a str) -> Self {
        self.min = Some(v);
        self
    }
    pub(super) fn max(mut self, v: &'a str) -> Self {
        self.max = Some(v);
        self
    }
    pub(super) fn size(mut self, v: u32) -> Self {
        self.size = Some(v);
        self
    }
    pub(super) fn maxlength(mut self, v: u32) -> Self {
        self.maxlength = Some(v);
        self
    }
    pub(super) fn minlength(mut self, v: u32) -> Self {
        self.minlength = Some(v);
        self
    }
    /// `decimal` or `numeric`: the phone keyboard to show.
    pub(super) fn inputmode(mut self, v: &'a str) -> Self {
        self.inputmode = Some(v);
        self
    }
    pub(super) fn placeholder(mut self, v: &'a str) -> Self {
        self.placeholder = Some(v);
        self
    }
    pub(super) fn autocomplete(mut self, v: &'a str) -> Self {
        self.autocomplete = Some(v);
        self
    }
    /// A line under the field saying what it takes.
    pub(super) fn hint(mut self, v: &'a str) -> Self {
        self.hint = Some(v);
        self
    }
    /// The field's error when the form was refused for it (`refusal` names the field first, as
    /// the services do: "sku: is already used").
    pub(super) fn error_from(mut self, refusal: Option<&str>) -> Self {
        self.error = refusal.and_then(|r| field_error(r, self.name));
        self
    }
}

/// The reason of a refusal that names `field` ("field: reason"), if it does.
pub(super) fn field_error(refusal: &str, field: &str) -> Option<String> {
    refusal
        .split_once(": ")
        .filter(|(f, _)| {
            *f == field
                || f.starts_with(&format!("{field}["))
                || f.starts_with(&format!("{field}."))
        })
        .map(|(_, why)| why.to_string())
}

impl Render for Input<'_> {
    /// The field inside its label (so no id is needed to tie them, and a page may hold several
    /// forms with the same field names); its error or hint tied to it by `aria-describedby`.
    fn render(&self) -> Markup {
        let err_id = format!("f-{}-error", self.name);
        let hint_id = format!("f-{}-hint", self.name);
        let described = match (&self.error, self.hint) {
            (Some(_), _) => Some(err_id.clone()),
            (None, Some(_)) => Some(hint_id.clone()),
            _ => None,
        };
        html! {
            div.field.invalid[self.error.is_some()].wide[self.kind == TEXTAREA] {
                label {
                    span.name { (self.label) }
                    @if self.kind == TEXTAREA {
                        textarea name=(self.name) rows="4" required[self.required]
                            placeholder=[self.placeholder]
                            aria-invalid=[self.error.as_ref().map(|_| "true")]
                            aria-describedby=[described] { (self.value) }
                    } @else {
                        input name=(self.name) type=(self.kind) value=(self.value)
                            required[self.required] autofocus[self.autofocus]
                            min=[self.min] max=[self.max] size=[self.size]
                            maxlength=[self.maxlength] minlength=[self.minlength]
                            inputmode=[self.inputmode] placeholder=[self.placeholder]
                            autocomplete=[self.autocomplete]
                            aria-invalid=[self.error.as_ref().map(|_| "true")]
                            aria-describedby=[described];
                    }
                }
                @if let Some(e) = &self.error { span.field-error id=(err_id) { (e) } }
                @else if let Some(h) = self.hint { span.hint id=(hint_id) { (h) } }
            }
        }
    }
}

/// A labelled select; `options` are (value, label).
pub(super) fn select(
    label: &str,
    name: &str,
    options: &[(String, String)],
    selected: &str,
) -> Markup {
    html! {
        div.field {
            label {
                span.name { (label) }
                select name=(name) {
                    @for (v, l) in options {
                        option value=(v) selected[v == selected] { (l) }
                    }
                }
            }
        }
    }
}

/// A labelled text area, with the same hint, error and attributes as an [`Input`].
pub(super) fn textarea<'a>(label: &'a str, name: &'a str, value: &str) -> Input<'a> {
    input(label, name, TEXTAREA, value)
}

/// A checkbox with its label after it.
pub(super) fn checkbox(label: &str, name: &str, value: &str, checked: bool) -> Markup {
    html! {
        label.check { input type="checkbox" name=(name) value=(value) checked[checked]; " " (label) }
    }
}

pub(super) fn hidden(name: &str, value: &str) -> Markup {
    html! { input type="hidden" name=(name) value=(value); }
}

/// The names of a vocabulary of the domain (`OrderStatus::ALL` and its `as_str`, say), for
/// [`options`].
pub(super) fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| name(*v)).collect()
}

/// Select options from names: `partially_fulfilled` reads "partially fulfilled".
pub(super) fn options(values: &[&str]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|v| (v.to_string(), v.replace('_', " ")))
        .collect()
}

/// Options with an "any" choice first, for a filter.
pub(super) fn any_of(values: &[&str]) -> Vec<(String, String)> {
    let mut o = vec![(String::new(), "any".to_string())];
    o.extend(options(values));
    o
}

// ---------------------------------------------------------------------------------------------
// Forms

/// A POST form carrying the session's CSRF token, with one primary button.
pub(super) fn form(staff: &Staff, action: &str, fields: Markup, label: &str) -> Markup {
    form_of(staff, action, fields, Kind::Primary, label)
}

/// A POST form with a button of the given kind.
pub(super) fn form_of(
    staff: &Staff,
    action: &str,
    fields: Markup,
    kind: Kind,
    label: &str,
) -> Markup {
    html! {
        form.act method="post" action=(action) {
            (hidden("csrf", &staff.csrf))
            (fields)
            div.actions { (button(kind, label)) }
        }
    }
}

/// A form whose action cannot be undone (cancel an order, archive a product): a red button and
/// a box to tick first. The box is `required`, so the browser asks without any script, and the
/// server refuses the action unticked as well ([`super::Fields::confirmed`]).
pub(super) fn danger_form(
    staff: &Staff,
    action: &str,
    fields: Markup,
    label: &str,
    confirm: &str,
) -> Markup {
    html! {
        form.act.danger method="post" action=(action) {
            (hidden("csrf", &staff.csrf))
            (fields)
            label.check { input type="checkbox" name="confirm" value="yes" required; " " (confirm) }
            div.actions { (button(Kind::Danger, label)) }
        }
    }
}

/// A GET filter form: its fields, then Apply and a link that clears them. A sort chosen on the
/// list is kept. On a phone the filters fold under a "Filters" line (open when some are in use)
/// so the list comes first; on a wide screen they always show.
pub(super) fn filter_form(action: &str, params: &Fields, fields: Markup) -> Markup {
    let active = params
        .0
        .iter()
        .filter(|(k, v)| {
            !v.trim().is_empty() && !matches!(k.as_str(), "cursor" | "sort" | "view" | "select")
        })
        .count();
    html! {
        div.filterbox {
            // A box (no script needed) that shows the filters on a phone; hidden on a wide screen.
            input #filters-shown.filters-toggle type="checkbox" checked[active > 0];
            label.filters-button for="filters-shown" {
                "Filters" @if active > 0 { " (" (active) " in use)" }
            }
            form.filters method="get" action=(action) role="search" aria-label="Filters" {
                (fields)
                @if let Some(s) = params.get("sort") { (hidden("sort", s)) }
                div.actions {
                    (button(Kind::Secondary, "Apply"))
                    " " a href=(action) { "Clear" }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tables

/// A column of a [`Table`]: its heading, the sort key the list accepts for it, and whether it
/// holds numbers (aligned right).
#[derive(Clone, Copy)]
pub(super) struct Col {
    label: &'static str,
    sort: Option<&'static str>,
    num: bool,
}

pub(super) const fn col(label: &'static str) -> Col {
    Col {
        label,
        sort: None,
        num: false,
    }
}

impl Col {
    /// The column sorts the list by `key` (`?sort=key`, `?sort=-key` descending).
    pub(super) const fn sort(mut self, key: &'static str) -> Col {
        self.sort = Some(key);
        self
    }
    pub(super) const fn num(mut self) -> Col {
        self.num = true;
        self
    }
}

/// A table: on a wide screen rows and columns, on a phone one card per row with each value
/// labelled. Columns with a sort key link to the list sorted by it (the server sorts the whole
/// list, so paging follows); a table without one may be sorted in the browser by a small script.
pub(super) struct Table<'a> {
    pub caption: &'a str,
    pub cols: &'a [Col],
    pub rows: Vec<Vec<Markup>>,
    pub empty: &'a str,
    /// The list's path and query, for sort links.
    pub sorted: Option<(&'a str, &'a Fields)>,
}

pub(super) fn table(
    caption: &str,
    cols: &[Col],
    rows: Vec<Vec<Markup>>,
    empty_text: &str,
) -> Markup {
    Table {
        caption,
        cols,
        rows,
        empty: empty_text,
        sorted: None,
    }
    .render()
}

impl Render for Table<'_> {
    fn render(&self) -> Markup {
        if self.rows.is_empty() {
            return empty(self.empty, None);
        }
        let current = self.sorted.and_then(|(_, p)| p.get("sort"));
        html! {
            div.scroll tabindex="0" role="region" aria-label=(self.caption) {
                table.list data-sortable=[self.sorted.is_none().then_some("client")] {
                    caption { (self.caption) }
                    thead { tr {
                        @for c in self.cols {
                            @let state = c.sort.and_then(|k| match current {
                                Some(s) if s == k => Some("ascending"),
                                Some(s) if s.strip_prefix('-') == Some(k) => Some("descending"),
                                _ => None,
                            });
                            th scope="col" class=[c.num.then_some("num")] aria-sort=[state] {
                                @match (c.sort, self.sorted) {
                                    (Some(k), Some((path, params))) => {
                                        @let next = if state == Some("ascending") { format!("-{k}") } else { k.to_string() };
                                        a href=(with_params(path, params, &["cursor", "sort"], &[("sort", &next)])) {
                                            (c.label)
                                            span.arrow aria-hidden="true" {
                                                @match state { Some("ascending") => " ▲", Some(_) => " ▼", None => "" }
                                            }
                                        }
                                    }
                                    _ => { (c.label) }
                                }
                            }
                        }
                    } }
                    tbody {
                        @for r in &self.rows {
                            tr {
                                @for (i, cell) in r.iter().enumerate() {
                                    @let c = self.cols.get(i);
                                    td data-label=[c.map(|c| c.label)] class=[c.filter(|c| c.num).map(|_| "num")] { (cell) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Links to the first and the next page of a list, keeping its filters and sort.
pub(super) fn pager(path: &str, params: &Fields, next: Option<&str>) -> Markup {
    html! {
        nav.pager aria-label="Pages" {
            @if params.get("cursor").is_some() {
                a href=(with_params(path, params, &["cursor"], &[])) { "First page" }
            }
            @if let Some(c) = next {
                " " a href=(with_params(path, params, &["cursor"], &[("cursor", c)])) { "Next page" }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The frame

/// A link of the navigation: what it needs, where it goes, what it says.
type NavLink = (Permission, &'static str, &'static str);

/// The left navigation, grouped by work; a member sees what their role may open.
const NAV: &[(&str, &[NavLink])] = &[
    (
        "Orders",
        &[
            (Permission::OrdersRead, "/console/orders", "Orders"),
            (Permission::OrdersRead, "/console/returns", "Returns"),
            (Permission::OrdersRead, "/console/pick-list", "Pick list"),
        ],
    ),
    (
        "Products",
        &[(Permission::CatalogRead, "/console/products", "Products")],
    ),
    (
        "Inventory",
        &[
            (
                Permission::InventoryRead,
                "/console/inventory",
                "Stock levels",
            ),
            (
                Permission::InventoryRead,
                "/console/inventory/low",
                "Low stock",
            ),
            (Permission::InventoryRead, "/console/transfers", "Transfers"),
        ],
    ),
    (
        "Customers",
        &[(Permission::CustomersRead, "/console/customers", "Customers")],
    ),
    (
        "Support",
        &[
            (Permission::SupportRead, "/console/support", "Tickets"),
            (
                Permission::SupportRead,
                "/console/support/workload",
                "Workload",
            ),
            (
                Permission::SupportRead,
                "/console/support/reports",
                "Support reports",
            ),
            (
                Permission::SupportRead,
                "/console/support/setup",
                "Desk set-up",
            ),
        ],
    ),
    (
        "Marketing",
        &[(Permission::OrdersRead, "/console/promotions", "Promotions")],
    ),
    (
        "Analytics",
        &[
            (Permission::AnalyticsRead, "/console/analytics", "Reports"),
            (
                Permission::AnalyticsRead,
                "/console/budgets",
                "Budgets and targets",
            ),
        ],
    ),
];

fn nav(staff: &Staff, current: &str) -> Markup {
    // The link of the page, or of the closest page above it: `/console/inventory/low` is
    // "Low stock", `/console/orders/12` is "Orders".
    let best = NAV
        .iter()
        .flat_map(|(_, links)| links.iter().map(|(_, href, _)| *href))
        .chain(["/console/settings", "/console/help"])
        .filter(|h| current == *h || current.starts_with(&format!("{h}/")))
        .max_by_key(|h| h.len())
        .unwrap_or("/console");
    let here = |href: &str| (href == best).then_some("page");
    html! {
        nav.side aria-label="Main" {
            ul {
                li { a href="/console" aria-current=[here("/console")] { "Home" } }
            }
            @for (group, links) in NAV {
                @let shown: Vec<_> = links.iter().filter(|(p, _, _)| staff.may(*p)).collect();
                @if !shown.is_empty() {
                    h2 { (group) }
                    ul {
                        @for (_, href, text) in shown {
                            li { a href=(href) aria-current=[here(href)] { (text) } }
                        }
                    }
                }
            }
            h2 { "Settings" }
            ul {
                li { a href="/console/settings" aria-current=[here("/console/settings")] { "Settings" } }
                li { a href="/console/help" aria-current=[here("/console/help")] { "Help and shortcuts" } }
            }
        }
    }
}

/// The page frame: the top bar (search, who is signed in), the left navigation, the notice,
/// the page's heading, then the body. `path` marks where the member is in the navigation.
pub(super) fn layout(
    title: &str,
    staff: Option<&Staff>,
    notice: Option<Notice>,
    path: &str,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · Backroom" }
                link rel="stylesheet" href=(format!("/console/assets/app-{}.css", *super::assets::VERSION));
                @if staff.is_some() {
                    script src=(format!("/console/assets/app-{}.js", *super::assets::VERSION)) defer {}
                }
            }
            body.signed-in[staff.is_some()] {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    @if staff.is_some() {
                        input #menu.menu-toggle type="checkbox" aria-label="Show the menu";
                        label.menu-button for="menu" aria-hidden="true" { "Menu" }
                    }
                    a.brand href="/console" { "Backroom" }
                    @if let Some(s) = staff {
                        form.search method="get" action="/console/search" role="search" {
                            label.visually-hidden for="q" { "Search orders, products and customers" }
                            input #q name="q" type="search" placeholder="Search  ( / )" autocomplete="off";
                        }
                        div.who {
                            a href="/console/password" { (s.actor.name) " (" (s.actor.role.as_str()) ")" }
                            form method="post" action="/console/logout" {
                                (hidden("csrf", &s.csrf))
                                button.btn.secondary type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                div.frame {
                    @if let Some(s) = staff { (nav(s, path)) }
                    main #main {
                        h1 { (title) }
                        @if let Some(n) = notice {
                            p class=(if n.ok { "notice ok" } else { "notice error" })
                                role=(if n.ok { "status" } else { "alert" }) { (n.text) }
                        }
                        (body)
                    }
                }
            }
        }
    }
}
