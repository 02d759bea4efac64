//! Analytics routes: event ingest (ingest keys), KPIs and reports, ad spend, email campaigns.
//! Every report first brings sessions up to date with the events acknowledged so far, so what it
//! shows is exact as of the request.

use super::App;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, Auth, IngestAuth};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use backroom_core::analytics::ingest::{self, EventIn, IngestReport};
use backroom_core::analytics::marketing::{
    self, EmailCampaign, EmailCampaignQuery, EmailEventIn, NewEmailCampaign, Spend, SpendIn,
    SpendSaved,
};
use backroom_core::analytics::promotions::PromotionReport;
use backroom_core::analytics::refresh;
use backroom_core::analytics::report::{
    self, ClvQuery, ClvReport, Cohort, FunnelStep, KpiQuery, KpiReport, KpiRow, Opts, PeriodQuery,
    Reconciliation, StockKpi, TopQuery,
};
use backroom_core::util::now_micros;
use backroom_core::{Sql, audit, settings};
use backroom_domain::roles::Permission;
use serde::Serialize;
use utoipa::ToSchema;

type R<T> = Result<Json<T>, ApiError>;

/// The most a batch body may weigh.
const MAX_BODY: usize = 32 << 20;

async fn body_bytes(body: axum::body::Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "a batch may weigh at most 32 MB; split it",
        )
    })
}

/// Receives storefront events: a JSON array, or one JSON object per line (NDJSON), of at most
/// 50,000 events. Each bad event is rejected alone, with its position, field and reason; events
/// whose id was already received are counted as duplicates and ignored. Accepted events are
/// durable when the answer arrives. Takes an ingest key (write-only) or a storefront token.
#[utoipa::path(post, path = "/events", tag = "analytics", request_body(content = Vec<EventIn>, description = "A JSON array of events, or NDJSON"), responses((status = 200, body = IngestReport), (status = 422, body = ErrorBody)))]
pub async fn ingest_events(
    State(app): State<App>,
    _auth: IngestAuth,
    body: axum::body::Body,
) -> R<IngestReport> {
    let bytes = body_bytes(body).await?;
    let now = now_micros();
    let (good, rejected) = tokio::task::spawn_blocking(move || ingest::parse_batch(&bytes, now))
        .await
        .map_err(|e| {
            ApiError::from(backroom_core::Error::Db(backroom_core::DbError::Other(
                e.to_string(),
            )))
        })??;
    let valid = good.len();
    let accepted = if good.is_empty() {
        0
    } else {
        let events = std::sync::Arc::new(good);
        app.db
            .write(move |tx| ingest::store(tx, &events, now))
            .await?
    };
    Ok(Json(IngestReport {
        accepted,
        duplicates: valid - accepted,
        rejected,
    }))
}

/// Receives email events from an email provider's webhook (sent, delivered, bounced, opened,
/// clicked): a JSON array or NDJSON. A campaign not yet known is created by name.
#[utoipa::path(post, path = "/email-events", tag = "analytics", request_body(content = Vec<EmailEventIn>, description = "A JSON array of email events, or NDJSON"), responses((status = 200, body = IngestReport), (status = 422, body = ErrorBody)))]
pub async fn ingest_email_events(
    State(app): State<App>,
    _auth: IngestAuth,
    body: axum::body::Body,
) -> R<IngestReport> {
    let bytes = body_bytes(body).await?;
    let items = std::sync::Arc::new(ingest::split(&bytes)?);
    let now = now_micros();
    Ok(Json(
        app.db
            .write(move |tx| marketing::ingest_email(tx, now, &items))
            .await?,
    ))
}

impl App {
    /// A report: the caller must be allowed to read analytics, and sessions and rollups are
    /// brought up to date with everything acknowledged before it reads.
    pub(super) async fn report<T: Send + 'static>(
        &self,
        auth: &Auth,
        f: impl FnMut(&mut dyn Sql) -> backroom_core::Result<T> + Send + 'static,
    ) -> R<T> {
        auth.require(Permission::AnalyticsRead)?;
        refresh::run(&self.db).await?;
        self.read(auth, Permission::AnalyticsRead, f).await
    }
}

/// Every KPI of DOMAIN.md for a period of local days `[from, to)`: totals, the previous period
/// and the same period last year, a series by day, week or month, and a breakdown.
#[utoipa::path(get, path = "/analytics/kpis", tag = "analytics", params(KpiQuery), responses((status = 200, body = KpiReport), (status = 422, body = ErrorBody)))]
pub async fn kpis(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<KpiQuery>,
) -> R<KpiReport> {
    app.report(&auth, move |tx| {
        let (p, o) = Opts::from_query(tx, &q)?;
        report::kpis(tx, p, &o)
    })
    .await
}

/// Promotion performance for local days `[from, to)`: the period's discounts and orders with a
/// discount, and per promotion and per code the orders that used it, what it took off, and the
/// sales and gross margin of those orders.
#[utoipa::path(get, path = "/analytics/promotions", tag = "analytics", params(PeriodQuery), responses((status = 200, body = PromotionReport), (status = 422, body = ErrorBody)))]
pub async fn promotion_report(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> R<PromotionReport> {
    app.report(&auth, move |tx| {
        backroom_core::analytics::promotions::report(tx, q.period()?)
    })
    .await
}

/// The conversion funnel: sessions, product views, add to cart, checkout, purchase.
#[utoipa::path(get, path = "/analytics/funnel", tag = "analytics", params(PeriodQuery), responses((status = 200, body = Vec<FunnelStep>)))]
pub async fn funnel(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> R<Vec<FunnelStep>> {
    app.report(&auth, move |tx| report::funnel(tx, q.period()?))
        .await
}

/// Top products by net sales, or top campaigns by return on ad spend.
#[utoipa::path(get, path = "/analytics/top", tag = "analytics", params(TopQuery), responses((status = 200, body = Vec<KpiRow>)))]
pub async fn top(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<TopQuery>,
) -> R<Vec<KpiRow>> {
    app.report(&auth, move |tx| report::top(tx, &q)).await
}

/// Retention by first-order month, for cohorts whose first order is in the period.
#[utoipa::path(get, path = "/analytics/cohorts", tag = "analytics", params(PeriodQuery), responses((status = 200, body = Vec<Cohort>)))]
pub async fn cohorts(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> R<Vec<Cohort>> {
    app.report(&auth, move |tx| report::cohorts(tx, q.period()?))
        .await
}

/// Historic customer lifetime value per segment, and the top customers.
#[utoipa::path(get, path = "/analytics/clv", tag = "analytics", params(ClvQuery), responses((status = 200, body = ClvReport)))]
pub async fn clv(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ClvQuery>,
) -> R<ClvReport> {
    app.report(&auth, move |tx| report::clv(tx, &q)).await
}

/// Data checks: purchases without an order, online orders without a session, spend for
/// campaigns with no traffic, days with no events.
#[utoipa::path(get, path = "/analytics/reconciliation", tag = "analytics", params(PeriodQuery), responses((status = 200, body = Reconciliation)))]
pub async fn reconciliation(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> R<Reconciliation> {
    app.report(&auth, move |tx| report::reconciliation(tx, q.period()?))
        .await
}

/// Sell-through over the period and days of cover now, per SKU.
#[utoipa::path(get, path = "/analytics/stock", tag = "analytics", params(PeriodQuery), responses((status = 200, body = Vec<StockKpi>)))]
pub async fn stock(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> R<Vec<StockKpi>> {
    let now = now_micros();
    app.read(&auth, Permission::AnalyticsRead, move |tx| {
        report::stock_kpis(tx, q.period()?, now)
    })
    .await
}

#[derive(Serialize, ToSchema)]
pub struct Rebuilt {
    /// Events derived again.
    pub events: u64,
}

/// Throws sessions and attribution away and derives them again from the raw events.
#[utoipa::path(post, path = "/analytics/rebuild", tag = "analytics", responses((status = 200, body = Rebuilt)))]
pub async fn rebuild(State(app): State<App>, auth: Auth) -> R<Rebuilt> {
    auth.require(Permission::MarketingWrite)?;
    let ctx = auth.ctx();
    app.db
        .write(move |tx| {
            audit::record(
                tx,
                &ctx,
                "analytics.rebuilt",
                "analytics",
                0,
                serde_json::json!({}),
            )
        })
        .await?;
    Ok(Json(Rebuilt {
        events: refresh::rebuild(&app.db).await?,
    }))
}

/// Ad spend on the days of a period.
#[utoipa::path(get, path = "/ad-spend", tag = "analytics", params(PeriodQuery), responses((status = 200, body = Vec<Spend>)))]
pub async fn list_spend(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> R<Vec<Spend>> {
    app.read(&auth, Permission::AnalyticsRead, move |tx| {
        let p = q.period()?;
        marketing::list_spend(tx, p.from, p.to)
    })
    .await
}

/// Records ad spend per campaign per day, all rows or none: a JSON array, or a CSV file
/// (`Content-Type: text/csv`; columns `date,source,medium,campaign,amount[,currency]`, amounts in
/// currency units). A row for a day, source and campaign already stored replaces it.
#[utoipa::path(post, path = "/ad-spend", tag = "analytics", request_body(content = Vec<SpendIn>), responses((status = 200, body = SpendSaved), (status = 422, body = ErrorBody)))]
pub async fn put_spend(
    State(app): State<App>,
    auth: Auth,
    headers: HeaderMap,
    body: axum::body::Body,
) -> R<SpendSaved> {
    auth.require(Permission::MarketingWrite)?;
    let bytes = body_bytes(body).await?;
    let csv = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    // Parsed here, not in the writer: a CSV's amounts need only the store's currency.
    let rows: Vec<SpendIn> = if csv {
        let store = app.db.read(|tx| Ok(settings::load(tx)?.currency)).await?;
        marketing::parse_spend_csv(&bytes, store)?
    } else {
        super::extract::parse_json(&bytes)?
    };
    app.write(&auth, move |tx, ctx| marketing::put_spend(tx, ctx, &rows))
        .await
}

/// Email campaigns with sent, delivered, bounced, unique opens and clicks, and their rates, over
/// the sends of a period (`from`, `to`) or all of them: a send's opens count whenever they came.
#[utoipa::path(get, path = "/email-campaigns", tag = "analytics", params(EmailCampaignQuery), responses((status = 200, body = Vec<EmailCampaign>), (status = 422, body = ErrorBody)))]
pub async fn list_email_campaigns(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<EmailCampaignQuery>,
) -> R<Vec<EmailCampaign>> {
    app.read(&auth, Permission::AnalyticsRead, move |tx| {
        marketing::email_campaigns_for(tx, &q)
    })
    .await
}

/// Creates an email campaign ahead of its events, with the `utm_campaign` its links carry.
#[utoipa::path(post, path = "/email-campaigns", tag = "analytics", request_body = NewEmailCampaign, responses((status = 201, body = EmailCampaign), (status = 409, body = ErrorBody)))]
pub async fn create_email_campaign(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<NewEmailCampaign>,
) -> Result<(StatusCode, Json<EmailCampaign>), ApiError> {
    auth.require(Permission::MarketingWrite)?;
    let created = app
        .write(&auth, move |tx, ctx| {
            marketing::create_email_campaign(tx, ctx, &body)
        })
        .await?;
    Ok((StatusCode::CREATED, created))
}
