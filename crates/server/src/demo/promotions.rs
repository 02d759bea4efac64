//! The demo's promotions, budgets and targets: a welcome code for first orders, an automatic
//! sneaker sale for the autumn campaign, free shipping from 100.00, tiered savings that stand
//! alone, three caps for the price of two, and a Black Friday batch of single-use codes that
//! some orders use; campaign budgets for the paid campaigns; operating budgets and revenue
//! targets for this month and the two before.

use super::{DAY, e};
use anyhow::Result;
use backroom_core::budgets::plan::{self, BudgetIn, TargetIn};
use backroom_core::budgets::{self, NewCampaignBudget};
use backroom_core::promotions::{
    self, NewPromotion, PromotionBuyXGetY, PromotionConditions, PromotionTier, codes,
};
use backroom_core::{Ctx, Db};
use backroom_domain::analytics::format_day;

/// What the order history needs: the Black Friday codes and when they may be used.
#[derive(Clone, Debug, Default)]
pub struct Seeded {
    pub black_friday: Vec<String>,
    pub bf_from: i64,
    pub bf_to: i64,
}

fn promo(name: &str, kind: &str, value: Option<&str>) -> NewPromotion {
    NewPromotion {
        name: name.into(),
        kind: kind.into(),
        value: value.map(String::from),
        ..Default::default()
    }
}

/// Creates the promotions as of `start` (the history's first day); `now` places the windows.
pub async fn seed(db: &Db, start: i64, now: i64) -> Result<Seeded> {
    let (bf_from, bf_to) = (now - 12 * DAY, now - 5 * DAY);
    let all = vec![
        NewPromotion {
            code: Some("WELCOME10".into()),
            usage_limit_per_customer: Some(1),
            campaign: Some("new-arrivals".into()),
            conditions: Some(PromotionConditions {
                new_customers_only: true,
                ..Default::default()
            }),
            combines: Some(true),
            ..promo("Welcome 10%", "percentage", Some("10"))
        },
        NewPromotion {
            automatic: Some(true),
            combines: Some(true),
            applies_to: Some("lines".into()),
            campaign: Some("autumn-sale".into()),
            conditions: Some(PromotionConditions {
                product_types: vec!["Sneakers".into()],
                ..Default::default()
            }),
            starts_at: Some(backroom_core::util::rfc3339(now - 30 * DAY)),
            ..promo("Autumn sneakers 15%", "percentage", Some("15"))
        },
        NewPromotion {
            automatic: Some(true),
            combines: Some(true),
            conditions: Some(PromotionConditions {
                min_subtotal: Some(10_000),
                ..Default::default()
            }),
            ..promo("Free shipping from 100", "free_shipping", None)
        },
        NewPromotion {
            automatic: Some(true),
            tiers: Some(vec![
                PromotionTier {
                    min_subtotal: 25_000,
                    value: "2500".into(),
                },
                PromotionTier {
                    min_subtotal: 40_000,
                    value: "6000".into(),
                },
            ]),
            ..promo("Spend more, save more", "fixed_amount", None)
        },
        NewPromotion {
            automatic: Some(true),
            combines: Some(true),
            applies_to: Some("lines".into()),
            conditions: Some(PromotionConditions {
                product_types: vec!["Cap".into()],
                ..Default::default()
            }),
            buy_x_get_y: Some(PromotionBuyXGetY {
                buy_quantity: 2,
                get_quantity: 1,
                ..Default::default()
            }),
            ..promo("Three caps for two", "buy_x_get_y", None)
        },
        NewPromotion {
            starts_at: Some(backroom_core::util::rfc3339(bf_from)),
            ends_at: Some(backroom_core::util::rfc3339(bf_to)),
            combines: Some(true),
            campaign: Some("autumn-sale".into()),
            ..promo("Black Friday 20%", "percentage", Some("20"))
        },
    ];
    let black_friday = db
        .write(move |tx| {
            let ctx = Ctx::new(backroom_core::Actor::system(), start);
            let mut bf = 0;
            for p in &all {
                bf = promotions::create(tx, &ctx, p)?.id;
            }
            codes::generate(
                tx,
                &ctx,
                bf,
                &codes::NewCodes {
                    count: 400,
                    prefix: Some("BF-".into()),
                    ..Default::default()
                },
            )?;
            Ok(codes::list(tx, &ctx, bf, 0, 400)?
                .into_iter()
                .map(|c| c.code)
                .collect::<Vec<_>>())
        })
        .await
        .map_err(e)?;
    Ok(Seeded {
        black_friday,
        bf_from,
        bf_to,
    })
}

/// Campaign budgets for the paid campaigns, and this month's and the two before's operating
/// budgets and targets (sized from the demo's own run rate).
pub async fn seed_plans(db: &Db, now: i64) -> Result<()> {
    db.write(move |tx| {
        let ctx = Ctx::new(backroom_core::Actor::system(), now);
        let today = (now / DAY) as i32;
        for (campaign, days_ago, ad_cap, discount_cap) in [
            ("autumn-sale", 45, 600_000, 250_000),
            ("new-arrivals", 60, 450_000, 60_000),
        ] {
            budgets::create(
                tx,
                &ctx,
                &NewCampaignBudget {
                    campaign: campaign.into(),
                    starts_on: format_day(today - days_ago),
                    ends_on: format_day(today + 20),
                    ad_spend_cap: Some(ad_cap),
                    discount_cap: Some(discount_cap),
                    usage_cap: None,
                },
            )?;
        }
        let this = &format_day(today)[..7];
        let (first, _) = plan::month_days("month", this)?;
        let months = [
            format_day(first - 40)[..7].to_string(),
            format_day(first - 10)[..7].to_string(),
            this.to_string(),
        ];
        let mut budgets_in = Vec::new();
        let mut targets_in = Vec::new();
        for m in &months {
            for (category, amount, actual) in [
                ("advertising", 550_000, None),
                ("discounts", 2_800_000, None),
                ("refunds", 7_000_000, None),
                ("shipping", 900_000, Some(640_000)),
                ("support", 400_000, Some(310_000)),
                ("other", 150_000, Some(60_000)),
            ] {
                budgets_in.push(BudgetIn {
                    month: m.clone(),
                    category: category.into(),
                    amount,
                    actual,
                });
            }
            targets_in.push(TargetIn {
                month: m.clone(),
                channel: None,
                revenue: 17_500_000,
                orders: Some(1_350),
            });
            targets_in.push(TargetIn {
                month: m.clone(),
                channel: Some("online".into()),
                revenue: 13_000_000,
                orders: Some(1_000),
            });
        }
        plan::put_budgets(tx, &ctx, &budgets_in)?;
        plan::put_targets(tx, &ctx, &targets_in)?;
        Ok(())
    })
    .await
    .map_err(e)
}
