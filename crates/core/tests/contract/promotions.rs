//! Discount codes on both backends: a percentage allocated over the lines with tax after the
//! discount, fixed amounts and free shipping, refusals named by field, a per-customer limit, a
//! total limit exact under racing orders, and a cancelled order's redemption given back.

use crate::support::*;
use backroom_core::promotions::{self, NewPromotion};

async fn promo(db: &Db, p: NewPromotion) -> Result<promotions::Promotion, Error> {
    write(db, move |tx, c| promotions::create(tx, c, &p)).await
}

fn coded(lines: &[(&str, i64)], code: &str, email: &str) -> PlaceOrder {
    let mut o = order(lines);
    o.discount_codes = Some(vec![code.to_string()]);
    o.customer.email = email.to_string();
    o
}

fn field_of(e: &Error) -> String {
    format!("{e:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discount_codes_apply_allocate_and_hold_their_limits() {
    for (name, db) in backends().await {
        Store::new(&db, &["P-A", "P-B"])
            .stock("P-A", At::A, 1000)
            .stock("P-B", At::A, 1000)
            .taxed()
            .build()
            .await;
        let new = |name: &str, kind: &str, value: Option<&str>, code: &str| NewPromotion {
            name: name.into(),
            kind: kind.into(),
            value: value.map(String::from),
            code: Some(code.into()),
            ..Default::default()
        };
        let mut ten = new("Ten off", "percentage", Some("10"), "save10");
        ten.usage_limit = Some(10);
        promo(&db, ten).await.unwrap();
        // A code is unique without case; bad values are refused by field.
        let e = promo(&db, new("Again", "percentage", Some("5"), "SAVE10"))
            .await
            .unwrap_err();
        assert!(field_of(&e).contains("code"), "{name}: {e:?}");
        for (kind, value, field) in [
            ("percentage", Some("0"), "value"),
            ("percentage", None, "value"),
            ("bogo", Some("1"), "kind"),
            ("fixed_amount", Some("-5"), "value"),
        ] {
            let e = promo(&db, new("Bad", kind, value, "BAD1"))
                .await
                .unwrap_err();
            assert!(field_of(&e).contains(field), "{name}: {kind}: {e:?}");
        }
        // 10% of the lines, spread in proportion, tax on what is left.
        let o = place(
            &db,
            coded(&[("P-A", 3), ("P-B", 1)], "SAVE10", "c1@example.com"),
            None,
        )
        .await
        .unwrap()
        .order;
        let sub = o.subtotal.amount;
        let want = backroom_domain::money::apply_ppm(sub, 100_000);
        assert_eq!(o.discounts.amount, want, "{name}");
        let lines: i64 = o.lines.iter().map(|l| l.discount.amount).sum();
        assert_eq!(lines, want, "{name}: the lines' shares sum to the discount");
        assert_eq!(
            o.total.amount,
            sub - want + o.shipping.amount + o.tax.amount,
            "{name}"
        );
        let untaxed = place(&db, order(&[("P-A", 3), ("P-B", 1)]), None)
            .await
            .unwrap()
            .order;
        assert!(
            o.tax.amount < untaxed.tax.amount,
            "{name}: tax after the discount"
        );
        let again = db.read(move |tx| orders::get(tx, o.id)).await.unwrap();
        assert_eq!(again.lines, o.lines, "{name}: as written");
        // Refunding a discounted line credits what was paid for it: its price less its share
        // of the discount, with its tax.
        write(&db, pay(o.id, None)).await.unwrap();
        let b = o.lines.iter().find(|l| l.sku == "P-B").unwrap().clone();
        let r = RefundOrder {
            lines: Some(vec![RefundLine {
                line_id: b.id,
                quantity: b.quantity,
            }]),
            reason: "damaged".into(),
            ..Default::default()
        };
        let oid = o.id;
        let refunded = write(&db, move |tx, c| orders::refund(tx, c, oid, &r))
            .await
            .unwrap();
        assert_eq!(
            refunded.refunded.amount,
            b.unit_price.amount * b.quantity - b.discount.amount + b.tax.amount,
            "{name}: order {oid}"
        );
        assert!(b.discount.amount > 0, "{name}");
        // The code is part of the order an idempotency key stands for: the same key with
        // another code is refused, with the same code (in any case) it replays.
        promo(&db, new("Keyed", "percentage", Some("5"), "KEYED"))
            .await
            .unwrap();
        let keyed = |code: &str| coded(&[("P-A", 1)], code, "k@example.com");
        let first = place(&db, keyed("KEYED"), Some("promo-key"))
            .await
            .unwrap()
            .order;
        let again = place(&db, keyed("keyed"), Some("promo-key")).await.unwrap();
        assert!(again.replayed && again.order.id == first.id, "{name}");
        let mut plain = keyed("KEYED");
        plain.discount_codes = None;
        let e = place(&db, plain, Some("promo-key")).await;
        assert!(
            field_of(&e.unwrap_err()).contains("idempotency_key_reused"),
            "{name}"
        );
        // Fixed amount and free shipping.
        promo(&db, new("Five off", "fixed_amount", Some("500"), "FIVE"))
            .await
            .unwrap();
        promo(&db, new("Ship free", "free_shipping", None, "SHIPFREE"))
            .await
            .unwrap();
        let f = place(&db, coded(&[("P-A", 1)], "five", "c2@example.com"), None)
            .await
            .unwrap()
            .order;
        assert_eq!(f.discounts.amount, 500.min(f.subtotal.amount), "{name}");
        let s = place(
            &db,
            coded(&[("P-A", 1)], "SHIPFREE", "c3@example.com"),
            None,
        )
        .await
        .unwrap()
        .order;
        assert_eq!((s.discounts.amount, s.shipping.amount), (0, 0), "{name}");
        // Unknown, expired and doubled codes are refused by field, and place nothing.
        let mut old = new("Old", "percentage", Some("50"), "OLD");
        old.ends_at = Some("2020-01-01".into());
        promo(&db, old).await.unwrap();
        for (code, field) in [("NOPE", "discount_codes[0]"), ("OLD", "discount_codes[0]")] {
            let e = place(&db, coded(&[("P-A", 1)], code, "c4@example.com"), None)
                .await
                .unwrap_err();
            assert!(field_of(&e).contains(field), "{name}: {code}: {e:?}");
        }
        let mut two = order(&[("P-A", 1)]);
        two.discount_codes = Some(vec!["FIVE".into(), "SAVE10".into()]);
        assert!(
            field_of(&place(&db, two, None).await.unwrap_err()).contains("discount_codes"),
            "{name}"
        );
        // One use per customer.
        let mut once = new("Welcome", "percentage", Some("15"), "WELCOME");
        once.usage_limit_per_customer = Some(1);
        promo(&db, once).await.unwrap();
        place(&db, coded(&[("P-A", 1)], "WELCOME", "w@example.com"), None)
            .await
            .unwrap();
        let e = place(&db, coded(&[("P-A", 1)], "WELCOME", "W@example.com"), None)
            .await
            .unwrap_err();
        assert!(
            field_of(&e).contains("code_used_by_customer"),
            "{name}: {e:?}"
        );

        // SAVE10 has 9 uses left: 40 orders race for them; exactly 9 get it.
        let mut tasks = Vec::new();
        for i in 0..40 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                place(
                    &db,
                    coded(&[("P-B", 1)], "SAVE10", &format!("r{i}@example.com")),
                    None,
                )
                .await
            }));
        }
        let mut won = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(p) => won.push(p.order),
                Err(e) => assert!(field_of(&e).contains("code_used_up"), "{name}: {e:?}"),
            }
        }
        assert_eq!(won.len(), 9, "{name}: exactly the limit");
        assert!(won.iter().all(|o| o.discounts.amount > 0));
        let used = |db: &Db| {
            let db = db.clone();
            async move {
                db.read(|tx| promotions::list(tx, &ctx()))
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|p| p.code.as_deref() == Some("save10"))
                    .unwrap()
                    .times_used
            }
        };
        assert_eq!(used(&db).await, 10, "{name}");
        // A cancelled order gives its use back.
        cancel(&db, won[0].id).await.unwrap();
        assert_eq!(used(&db).await, 9, "{name}");
        place(
            &db,
            coded(&[("P-B", 1)], "SAVE10", "late@example.com"),
            None,
        )
        .await
        .unwrap();
        assert_eq!(used(&db).await, 10, "{name}");
        assert_invariants(&db).await;
        // Only marketing, operations and admins make promotions.
        let support = Ctx::new(
            Actor {
                user_id: 0,
                name: "agent".into(),
                role: backroom_domain::roles::Role::Support,
            },
            backroom_core::util::now_micros(),
        );
        let p = new("Mine", "percentage", Some("5"), "MINE");
        let e = db
            .write(move |tx| promotions::create(tx, &support, &p))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Forbidden(_)), "{name}: {e:?}");
    }
}
