//! Budgets and targets on both backends: a campaign budget caps its promotions' discounts and
//! uses exactly under racing orders and takes back a cancelled order's; its spend, ROAS and pace
//! are shown; operating budgets measure advertising, discounts and refunds and take the rest by
//! hand; a target shows the month to date, the pace and a weekday forecast, each checked
//! against a computation of its own here.

use crate::support::*;
use backroom_core::analytics::marketing::{self, SpendIn};
use backroom_core::budgets::plan::{self, BudgetIn, TargetIn};
use backroom_core::budgets::{self, NewCampaignBudget};
use backroom_core::promotions::{self, NewPromotion};

fn today() -> i32 {
    (backroom_core::util::now_micros() / 86_400_000_000) as i32
}

fn day(d: i32) -> String {
    backroom_domain::analytics::format_day(d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn campaign_budgets_cap_promotions_and_targets_forecast() {
    for (name, db) in backends().await {
        Store::new(&db, &["B-1"])
            .stock("B-1", At::A, 1000)
            .build()
            .await;
        // 3.00 off every order, for the "bf" campaign, whose budget gives 10.00 of discounts.
        write(&db, |tx, c| {
            promotions::create(
                tx,
                c,
                &NewPromotion {
                    name: "BF auto".into(),
                    kind: "fixed_amount".into(),
                    value: Some("300".into()),
                    automatic: Some(true),
                    campaign: Some("BF".into()),
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap();
        let budget = write(&db, |tx, c| {
            budgets::create(
                tx,
                c,
                &NewCampaignBudget {
                    campaign: "bf".into(),
                    starts_on: day(today() - 1),
                    ends_on: day(today() + 8),
                    discount_cap: Some(1000),
                    ad_spend_cap: Some(50_000),
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap();
        // 40 orders race: exactly three get 3.00 off (9.00 of 10.00), the rest are placed
        // without it, saying why.
        let mut tasks = Vec::new();
        for i in 0..40 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                place(
                    &db,
                    order(&[("B-1", 1)]).by(&format!("b{i}@example.com")),
                    None,
                )
                .await
                .unwrap()
                .order
            }));
        }
        let mut got = Vec::new();
        for t in tasks {
            let o = t.await.unwrap();
            if o.discounts.amount > 0 {
                got.push(o);
            } else {
                assert_eq!(
                    o.discounts_not_applied[0].reason_code, "budget_spent",
                    "{name}"
                );
            }
        }
        assert_eq!(got.len(), 3, "{name}");
        let id = budget.id;
        let b = db
            .read(move |tx| budgets::get(tx, &ctx(), id))
            .await
            .unwrap();
        assert_eq!((b.discount_spent, b.uses), (900, 3), "{name}");
        // A cancelled order gives its 3.00 back; the next order gets it.
        cancel(&db, got[0].id).await.unwrap();
        let o = place(&db, order(&[("B-1", 1)]).by("late@example.com"), None)
            .await
            .unwrap()
            .order;
        assert_eq!(o.discounts.amount, 300, "{name}");
        // Ad spend and attribution: 200.00 spent so far over 2 of its 10 days.
        write(&db, move |tx, c| {
            marketing::put_spend(
                tx,
                c,
                &[SpendIn {
                    date: day(today()),
                    source: "google".into(),
                    medium: Some("cpc".into()),
                    campaign: "bf".into(),
                    amount: 20_000,
                    currency: None,
                }],
            )
        })
        .await
        .unwrap();
        // The server's refresher keeps the KPI rollups current; here it runs once.
        backroom_core::analytics::refresh::run(&db).await.unwrap();
        let b = db
            .read(move |tx| budgets::get(tx, &ctx(), id))
            .await
            .unwrap();
        assert_eq!((b.ad_spend, b.discount_spent), (20_000, 900), "{name}");
        assert_eq!(b.ad_spend_at_pace, Some(100_000), "{name}: 200.00 * 10 / 2");
        assert_eq!(b.status, "over_pace", "{name}");
        assert_eq!(b.roas, Some(0.0), "{name}: nothing attributed");

        // Operating budgets: advertising and discounts measured, shipping entered.
        let month = &day(today())[..7];
        let m = month.to_string();
        write(&db, move |tx, c| {
            plan::put_budgets(
                tx,
                c,
                &[
                    BudgetIn {
                        month: m.clone(),
                        category: "advertising".into(),
                        amount: 100_000,
                        actual: None,
                    },
                    BudgetIn {
                        month: m.clone(),
                        category: "shipping".into(),
                        amount: 5_000,
                        actual: Some(7_000),
                    },
                ],
            )
        })
        .await
        .unwrap();
        let m = month.to_string();
        let e = write(&db, move |tx, c| {
            plan::put_budgets(
                tx,
                c,
                &[BudgetIn {
                    month: m.clone(),
                    category: "discounts".into(),
                    amount: 1,
                    actual: Some(5),
                }],
            )
        })
        .await
        .unwrap_err();
        assert!(format!("{e:?}").contains("[0].actual"), "{name}: {e:?}");
        let m = month.to_string();
        let r = db
            .read(move |tx| plan::budget_report(tx, &ctx(), &m))
            .await
            .unwrap();
        let line = |c: &str| r.lines.iter().find(|l| l.category == c).unwrap().clone();
        assert_eq!(line("advertising").actual, Some(20_000), "{name}");
        assert_eq!(line("advertising").variance, Some(20_000 - 100_000));
        assert_eq!(
            line("discounts").actual,
            Some(900),
            "{name}: three orders not cancelled"
        );
        assert_eq!(line("discounts").budget, None);
        assert_eq!(
            (line("shipping").actual, line("shipping").variance),
            (Some(7_000), Some(2_000))
        );

        // A target for the month: today's net sales to date, and the weekday forecast: each
        // day left with today's weekday brings a quarter of today (four weeks of history).
        let m = month.to_string();
        write(&db, move |tx, c| {
            plan::put_targets(
                tx,
                c,
                &[TargetIn {
                    month: m.clone(),
                    channel: None,
                    revenue: 1_000_000,
                    orders: Some(500),
                }],
            )
        })
        .await
        .unwrap();
        let m = month.to_string();
        let t = db
            .read(move |tx| plan::target_report(tx, &ctx(), &m))
            .await
            .unwrap();
        let live: Vec<Order> = {
            let mut out = Vec::new();
            let mut id = 1;
            while let Ok(o) = db.read(move |tx| orders::get(tx, id)).await {
                out.push(o);
                id += 1;
            }
            out.into_iter()
                .filter(|o| o.status != "cancelled")
                .collect()
        };
        let sales: i64 = live
            .iter()
            .map(|o| o.subtotal.amount - o.discounts.amount)
            .sum();
        let (first, next) = plan::month_days("m", month).unwrap();
        let same_weekday_left = ((today() + 1)..next)
            .filter(|d| (d - today()) % 7 == 0)
            .count() as i64;
        let quarter = half_even(sales, 4).unwrap();
        let line = &t.targets[0];
        assert_eq!(line.revenue_to_date, sales, "{name}");
        assert_eq!(
            line.revenue_forecast,
            sales + same_weekday_left * quarter,
            "{name}"
        );
        assert_eq!(line.revenue_gap, 1_000_000 - line.revenue_forecast);
        assert_eq!(line.orders_to_date, live.len() as i64, "{name}");
        let elapsed = i64::from(today() - first + 1);
        assert_eq!(
            line.revenue_at_pace,
            half_even(sales * i64::from(next - first), elapsed),
            "{name}"
        );
        assert_invariants(&db).await;
    }
}
