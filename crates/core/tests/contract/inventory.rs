//! The stock ledger, transfers, the invariant check and stock KPIs.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_moves_and_two_leg_transfers() {
    for (name, db) in backends().await {
        let (a, b, _) = Store::new(&db, &["K1"])
            .stock("K1", At::A, 10)
            .build()
            .await;
        db.write(move |tx| {
            inventory::adjust(
                tx,
                &ctx(),
                &AdjustStock {
                    sku: "K1".into(),
                    location_id: a,
                    delta: -2,
                    note: "shrinkage".into(),
                },
            )
        })
        .await
        .unwrap();
        let c = db
            .write(move |tx| {
                inventory::count(
                    tx,
                    &ctx(),
                    &CountStock {
                        sku: "K1".into(),
                        location_id: a,
                        counted: 9,
                        note: None,
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(c.ledger_entry.on_hand_delta, 1, "{name}: count variance");
        db.write(move |tx| {
            inventory::damage(
                tx,
                &ctx(),
                &DamageStock {
                    sku: "K1".into(),
                    location_id: a,
                    quantity: 2,
                    action: None,
                    note: None,
                },
            )
        })
        .await
        .unwrap();
        let s = stock(&db, "K1").await;
        assert_eq!(
            (s.totals.on_hand, s.totals.unavailable, s.totals.available),
            (9, 2, 7),
            "{name}"
        );
        db.write(move |tx| {
            inventory::damage(
                tx,
                &ctx(),
                &DamageStock {
                    sku: "K1".into(),
                    location_id: a,
                    quantity: 1,
                    action: Some("write_off".into()),
                    note: None,
                },
            )
        })
        .await
        .unwrap();
        // Removing more than on hand is refused and changes nothing.
        let r = db
            .write(move |tx| {
                inventory::adjust(
                    tx,
                    &ctx(),
                    &AdjustStock {
                        sku: "K1".into(),
                        location_id: a,
                        delta: -100,
                        note: "x".into(),
                    },
                )
            })
            .await;
        assert!(matches!(r, Err(Error::Conflict { .. })), "{name}: {r:?}");

        // Transfer 5 from A to B: in transit shows as incoming at B, then arrives in two receipts.
        let t = db
            .write(move |tx| {
                inventory::create_transfer(
                    tx,
                    &ctx(),
                    &NewTransfer {
                        from_location_id: a,
                        to_location_id: b,
                        lines: vec![SkuQuantity {
                            sku: "K1".into(),
                            quantity: 5,
                        }],
                        note: None,
                        ship: true,
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(t.status, "in_transit");
        let s = stock(&db, "K1").await;
        let at = |l: i64| level(&s, l);
        assert_eq!(
            (at(a).on_hand, at(b).on_hand, at(b).incoming),
            (3, 0, 5),
            "{name}"
        );
        assert_invariants(&db).await;
        let id = t.id;
        let t = db
            .write(move |tx| {
                inventory::receive_transfer(
                    tx,
                    &ctx(),
                    id,
                    &ReceiveTransfer {
                        lines: Some(vec![SkuQuantity {
                            sku: "K1".into(),
                            quantity: 2,
                        }]),
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(t.status, "partially_received");
        let t = db
            .write(move |tx| {
                inventory::receive_transfer(tx, &ctx(), id, &ReceiveTransfer { lines: None })
            })
            .await
            .unwrap();
        assert_eq!(t.status, "received");
        let s = stock(&db, "K1").await;
        let at = |l: i64| level(&s, l);
        assert_eq!(
            (
                at(a).on_hand,
                at(b).on_hand,
                at(b).incoming,
                s.totals.on_hand
            ),
            (3, 5, 0, 8),
            "{name}"
        );
        // Cannot ship more than is available.
        let r = db
            .write(move |tx| {
                inventory::create_transfer(
                    tx,
                    &ctx(),
                    &NewTransfer {
                        from_location_id: a,
                        to_location_id: b,
                        lines: vec![SkuQuantity {
                            sku: "K1".into(),
                            quantity: 4,
                        }],
                        note: None,
                        ship: true,
                    },
                )
            })
            .await;
        assert!(
            matches!(r, Err(Error::InsufficientStock { .. })),
            "{name}: {r:?}"
        );
        let ledger = db
            .read(|tx| {
                inventory::ledger(
                    tx,
                    &inventory::LedgerQuery {
                        sku: "K1".into(),
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap();
        let reasons: Vec<&str> = ledger
            .items
            .iter()
            .rev()
            .map(|e| e.reason.as_str())
            .collect();
        assert_eq!(
            reasons,
            [
                "receipt",
                "adjustment",
                "count",
                "damage",
                "write_off",
                "transfer_out",
                "transfer_in",
                "transfer_in"
            ],
            "{name}"
        );
        assert_invariants(&db).await;
    }
}

/// Random sequences of stock operations and orders, checked against a model after every step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_operations_keep_invariants() {
    // Several seeds, each on fresh databases: different interleavings of every operation.
    let mut exchanges_received = 0;
    for seed0 in [0x5EEDu64, 11, 2026] {
        for (name, db) in backends().await {
            let name = format!("{name} seed {seed0}");
            let (a, b, _) = store(&db, &["R1", "R2"], &[]).await;
            // Promotions in play: 10% off R1 lines whenever it is bought, and a 1.00 code that
            // a third of the orders carry, 20 uses in all; both combine.
            write(&db, |tx, c| {
                use backroom_core::promotions::{self, NewPromotion, PromotionConditions};
                promotions::create(
                    tx,
                    c,
                    &NewPromotion {
                        name: "R1 ten".into(),
                        kind: "percentage".into(),
                        value: Some("10".into()),
                        applies_to: Some("lines".into()),
                        automatic: Some(true),
                        combines: Some(true),
                        conditions: Some(PromotionConditions {
                            variants: vec!["R1".into()],
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                )?;
                promotions::create(
                    tx,
                    c,
                    &NewPromotion {
                        name: "One".into(),
                        kind: "fixed_amount".into(),
                        value: Some("100".into()),
                        code: Some("RAND5".into()),
                        usage_limit: Some(20),
                        combines: Some(true),
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap();
            let mut seed: u64 = seed0;
            let mut next = move |n: u64| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 33) % n
            };
            let mut open_orders: Vec<i64> = Vec::new();
            let steps = 300;
            for step in 0..steps {
                let sku = if next(2) == 0 { "R1" } else { "R2" }.to_string();
                let loc = if next(2) == 0 { a } else { b };
                let q = next(5) as i64 + 1;
                let s2 = sku.clone();
                let other = if sku == "R1" { "R2" } else { "R1" }.to_string();
                let _ = match next(15) {
                    12 => match open_orders.last().copied() {
                        // Edit: change the first line to q units (or 0), or add a line.
                        Some(id) => {
                            let pick = next(3);
                            db.write(move |tx| {
                                let o = orders::get(tx, id)?;
                                let edit = match pick {
                                    0 => EditOrder {
                                        add: vec![SkuQuantity {
                                            sku: s2.clone(),
                                            quantity: q,
                                        }],
                                        ..Default::default()
                                    },
                                    1 => EditOrder {
                                        change: vec![LineQuantity {
                                            line_id: o.lines[0].id,
                                            quantity: 0,
                                        }],
                                        ..Default::default()
                                    },
                                    _ => EditOrder {
                                        change: vec![LineQuantity {
                                            line_id: o.lines[0].id,
                                            quantity: q,
                                        }],
                                        ..Default::default()
                                    },
                                };
                                backroom_core::orders::edits::edit(tx, &ctx(), id, &edit)
                                    .map(|_| ())
                            })
                            .await
                        }
                        None => Ok(()),
                    },
                    13 => match open_orders.first().copied() {
                        // Exchange one unit of the first line for one of the other SKU, received.
                        Some(id) => {
                            db.write(move |tx| {
                                let line = orders::get(tx, id)?.lines[0].id;
                                let r = backroom_core::returns::create(
                                    tx,
                                    &ctx(),
                                    id,
                                    &NewReturn {
                                        exchange_lines: Some(vec![SkuQuantity {
                                            sku: other.clone(),
                                            quantity: 1,
                                        }]),
                                        ..return_lines(&[(line, 1, "wrong_size")])
                                    },
                                )?;
                                backroom_core::returns::receive(
                                    tx,
                                    &ctx(),
                                    r.id,
                                    &receipt(&[(line, 1, "restock", Some(loc))]),
                                )
                                .map(|_| ())
                            })
                            .await
                        }
                        None => Ok(()),
                    },
                    14 => match open_orders.first().copied() {
                        // Capture what an edit or exchange left the customer owing.
                        Some(id) => {
                            db.write(move |tx| {
                                orders::record_payment(
                                    tx,
                                    &ctx(),
                                    id,
                                    &RecordPayment {
                                        status: "paid".into(),
                                        amount: None,
                                        reference: None,
                                    },
                                )
                                .map(|_| ())
                            })
                            .await
                        }
                        None => Ok(()),
                    },
                    0 | 1 => {
                        db.write(move |tx| {
                            inventory::receive(
                                tx,
                                &ctx(),
                                &ReceiveStock {
                                    sku: s2.clone(),
                                    location_id: loc,
                                    quantity: q,
                                    note: None,
                                },
                            )
                            .map(|_| ())
                        })
                        .await
                    }
                    2 => {
                        db.write(move |tx| {
                            inventory::adjust(
                                tx,
                                &ctx(),
                                &AdjustStock {
                                    sku: s2.clone(),
                                    location_id: loc,
                                    delta: -q,
                                    note: "random".into(),
                                },
                            )
                            .map(|_| ())
                        })
                        .await
                    }
                    3 => {
                        db.write(move |tx| {
                            inventory::damage(
                                tx,
                                &ctx(),
                                &DamageStock {
                                    sku: s2.clone(),
                                    location_id: loc,
                                    quantity: q,
                                    action: Some(
                                        ["mark", "release", "write_off"][(q % 3) as usize].into(),
                                    ),
                                    note: None,
                                },
                            )
                            .map(|_| ())
                        })
                        .await
                    }
                    4 | 5 => match place(
                        &db,
                        {
                            let mut o = order(&[(&sku, q)]);
                            if next(2) == 0 {
                                o.discount_codes = Some(vec!["rand5".into()]);
                                o.skip_invalid_codes = Some(true);
                            }
                            o
                        },
                        None,
                    )
                    .await
                    {
                        Ok(p) => {
                            open_orders.push(p.order.id);
                            Ok(())
                        }
                        Err(e) => Err(e),
                    },
                    9 => match open_orders.last().copied() {
                        Some(id) => {
                            db.write(move |tx| {
                                orders::record_payment(
                                    tx,
                                    &ctx(),
                                    id,
                                    &RecordPayment {
                                        status: "paid".into(),
                                        amount: None,
                                        reference: None,
                                    },
                                )
                                .map(|_| ())
                            })
                            .await
                        }
                        None => Ok(()),
                    },
                    10 => match open_orders.first().copied() {
                        Some(id) => {
                            db.write(move |tx| {
                                backroom_core::orders::refund(
                                    tx,
                                    &ctx(),
                                    id,
                                    &RefundOrder {
                                        amount: Some(q * 300),
                                        lines: None,
                                        shipping: None,
                                        reason: "random".into(),
                                        note: None,
                                    },
                                )
                                .map(|_| ())
                            })
                            .await
                        }
                        None => Ok(()),
                    },
                    11 => match open_orders.first().copied() {
                        // Return one unit of the first line, restocked where the step says.
                        Some(id) => {
                            db.write(move |tx| {
                                let line = orders::get(tx, id)?.lines[0].id;
                                let r = backroom_core::returns::create(
                                    tx,
                                    &ctx(),
                                    id,
                                    &return_lines(&[(line, 1, "changed_mind")]),
                                )?;
                                backroom_core::returns::receive(
                                    tx,
                                    &ctx(),
                                    r.id,
                                    &receipt(&[(line, 1, "restock", Some(loc))]),
                                )
                                .map(|_| ())
                            })
                            .await
                        }
                        None => Ok(()),
                    },
                    7 | 8 => match open_orders.last().copied() {
                        // Ship whatever this order holds at one location.
                        Some(id) => {
                            let s = ShipOrder {
                                location_id: loc,
                                ..Default::default()
                            };
                            db.write(move |tx| {
                                backroom_core::fulfillment::ship(tx, &ctx(), id, &s).map(|_| ())
                            })
                            .await
                        }
                        None => Ok(()),
                    },
                    _ => match open_orders.pop() {
                        Some(id) => {
                            db.write(move |tx| {
                                orders::cancel(tx, &ctx(), id, &CancelOrder::default()).map(|_| ())
                            })
                            .await
                        }
                        None => Ok(()),
                    },
                };
                let r = db.read(check::run).await.unwrap();
                assert!(r.ok, "{name} step {step}: {:#?}", r.violations);
                // Money reconciles on every order: totals recomputed from the lines, payments and
                // refunds from their rows, refunds never beyond what was paid, and the payment
                // status says exactly that.
                let money = db
                .read(|tx| {
                    Ok(tx.query(
                        "SELECT o.id, o.total_minor, o.paid_minor, o.refunded_minor, o.payment_status, \
                         CAST(COALESCE((SELECT SUM(r.amount_minor) FROM refunds r WHERE r.order_id = o.id), 0) AS BIGINT) AS refund_sum, \
                         CAST(COALESCE((SELECT SUM(p.amount_minor) FROM payments p WHERE p.order_id = o.id AND p.kind = 'capture'), 0) AS BIGINT) AS captured, \
                         o.subtotal_minor, o.shipping_minor, o.tax_minor, o.discounts_minor, \
                         CAST(COALESCE((SELECT SUM(l.unit_price_minor * l.quantity) FROM order_lines l WHERE l.order_id = o.id), 0) AS BIGINT) AS lines_subtotal, o.status, \
                         o.adjustments_minor, CAST(COALESCE((SELECT SUM(r.amount_minor - r.settled_minor) FROM refunds r WHERE r.order_id = o.id), 0) AS BIGINT) AS unsettled, \
                         o.returned_minor, \
                         CAST(COALESCE((SELECT SUM(l.discount_minor) FROM order_lines l WHERE l.order_id = o.id), 0) AS BIGINT) AS line_discounts, \
                         CAST(COALESCE((SELECT SUM(pr.amount_minor) FROM promotion_redemptions pr WHERE pr.order_id = o.id), 0) AS BIGINT) AS promoted \
                         FROM orders o",
                        &[],
                    )?)
                })
                .await
                .unwrap();
                for m in &money {
                    let int = |c: &str| m.get::<i64>(c).unwrap();
                    let (total, paid, refunded, status, refund_sum, captured) = (
                        int("total_minor"),
                        int("paid_minor"),
                        int("refunded_minor"),
                        m.get::<String>("payment_status").unwrap(),
                        int("refund_sum"),
                        int("captured"),
                    );
                    let id = int("id");
                    assert_eq!(paid, captured, "{name} step {step}: order {id}");
                    // Concessions are exactly the refunded amounts that settled nothing owed.
                    assert_eq!(
                        int("adjustments_minor"),
                        int("unsettled"),
                        "{name} step {step}: order {id} concessions"
                    );
                    // What the customer owes is never negative: refunds and returns never exceed it.
                    let owed = if m.get::<String>("status").unwrap() == "cancelled" {
                        0
                    } else {
                        total - int("returned_minor") - int("adjustments_minor")
                    };
                    if owed < 0 {
                        let o = db.read(move |tx| orders::get(tx, id)).await.unwrap();
                        let t = db.read(move |tx| orders::timeline(tx, id)).await.unwrap();
                        panic!("{name} step {step}: order {id} owes {owed}: {o:#?} {t:#?}");
                    }
                    assert_eq!(
                        int("subtotal_minor"),
                        int("lines_subtotal"),
                        "{name} step {step}: order {id} subtotal"
                    );
                    // Discounts: the lines' shares sum to the order's, and to what its
                    // promotions record (edits re-evaluate them).
                    assert_eq!(
                        (int("line_discounts"), int("promoted")),
                        (int("discounts_minor"), int("discounts_minor")),
                        "{name} step {step}: order {id} discounts"
                    );
                    assert_eq!(
                        total,
                        int("subtotal_minor") - int("discounts_minor")
                            + int("shipping_minor")
                            + int("tax_minor"),
                        "{name} step {step}: order {id} total"
                    );
                    assert!(
                        refunded <= paid && refunded == refund_sum,
                        "{name} step {step}: order {id} refunded {refunded} of {paid} ({refund_sum})"
                    );
                    assert_eq!(
                        status == "refunded",
                        paid > 0 && refunded == paid,
                        "{name} step {step}: order {id} {status}"
                    );
                    assert_eq!(
                        status == "partially_refunded",
                        refunded > 0 && refunded < paid,
                        "{name} step {step}: order {id} {status}"
                    );
                }
                // Every unit of every line is accounted for: reserved (live) plus shipped equals the
                // line's quantity on open orders; nothing stays reserved on cancelled or closed ones.
                let lines = db
                .read(|tx| {
                    Ok(tx.query(
                        "SELECT l.id, l.quantity, o.status, \
                         CAST(COALESCE((SELECT SUM(r.quantity) FROM reservations r WHERE r.order_line_id = l.id AND r.released_at IS NULL), 0) AS BIGINT) AS live, \
                         CAST(COALESCE((SELECT SUM(fl.quantity) FROM fulfillment_lines fl WHERE fl.order_line_id = l.id), 0) AS BIGINT) AS shipped \
                         FROM order_lines l JOIN orders o ON o.id = l.order_id",
                        &[],
                    )?)
                })
                .await
                .unwrap();
                for l in &lines {
                    let int = |c: &str| l.get::<i64>(c).unwrap();
                    let (id, quantity, status, live, shipped) = (
                        int("id"),
                        int("quantity"),
                        l.get::<String>("status").unwrap(),
                        int("live"),
                        int("shipped"),
                    );
                    match status.as_str() {
                        "open" => {
                            assert_eq!(live + shipped, quantity, "{name} step {step}: line {id}")
                        }
                        _ => assert_eq!(live, 0, "{name} step {step}: line {id} {status}"),
                    }
                }
                for s in ["R1", "R2"] {
                    let st = stock(&db, s).await;
                    assert!(
                        st.levels.iter().all(|l| l.available >= 0 && l.on_hand >= 0),
                        "{name} step {step}: {st:?}"
                    );
                }
            }
            // The sequence really shipped, cancelled and placed orders, not only refused them.
            let counts = db
            .read(|tx| {
                let n = |tx: &mut dyn backroom_core::Sql, sql: &str| {
                    Ok::<i64, Error>(
                        tx.query_one(sql, &[])?
                            .map(|r| r.get::<i64>("n"))
                            .transpose()?
                            .unwrap_or(0),
                    )
                };
                Ok((
                    n(tx, "SELECT COUNT(*) AS n FROM fulfillments")?,
                    n(tx, "SELECT COUNT(*) AS n FROM orders WHERE status = 'cancelled'")?,
                    n(tx, "SELECT COUNT(*) AS n FROM orders")?,
                    n(tx, "SELECT COUNT(*) AS n FROM refunds")?,
                    n(tx, "SELECT COUNT(*) AS n FROM returns WHERE status = 'received'")?,
                    n(tx, "SELECT COUNT(*) AS n FROM order_events WHERE kind = 'edited'")?,
                    n(tx, "SELECT COUNT(*) AS n FROM returns WHERE exchange = TRUE AND status = 'received'")?,
                ))
            })
            .await
            .unwrap();
            assert!(
                counts.0 > 0
                    && counts.1 > 0
                    && counts.2 > 5
                    && counts.3 > 0
                    && counts.4 > 0
                    && counts.5 > 0,
                "{name}: {counts:?}"
            );
            exchanges_received += counts.6;
        }
    }
    assert!(exchanges_received > 0, "no seed received an exchange");
}

/// `backroom check` adds up live reservations per stock level, and the stock KPIs units sold per
/// variant, each in one grouped pass (no index serves one level or one variant at a time): the
/// sums come out per level and per variant, cancelled orders and released reservations left out,
/// and a level whose `reserved` disagrees is reported with both numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_stock_kpis_add_up_per_level_and_variant() {
    use backroom_core::analytics::{Zone, report};
    use backroom_domain::analytics::format_day;
    for (name, db) in backends().await {
        let (a, b, _) = store(&db, &["A", "B", "C"], &["C"]).await;
        receive(&db, "A", a, 5).await;
        receive(&db, "A", b, 5).await;
        receive(&db, "B", a, 3).await;
        // A across both warehouses, B at one, C backordered; a second order is cancelled.
        place(&db, order(&[("A", 7), ("B", 2), ("C", 1)]), None)
            .await
            .unwrap();
        let gone = place(&db, order(&[("A", 1), ("B", 1)]), None)
            .await
            .unwrap();
        cancel(&db, gone.order.id).await.unwrap();
        // An order of 40 days ago: in a long period, not in the last 28 days.
        let old = place(&db, order(&[("C", 2)]), None).await.unwrap().order.id;
        db.write(move |tx| {
            tx.exec(
                "UPDATE orders SET placed_at = placed_at - $1 WHERE id = $2",
                &[
                    (40 * backroom_domain::analytics::DAY_MICROS).into(),
                    old.into(),
                ],
            )?;
            Ok(())
        })
        .await
        .unwrap();
        assert_invariants(&db).await;
        let today = Zone::get("UTC").unwrap().day_of(ctx().now);
        let now = ctx().now + 1;
        // Units in the period and in the last 28 days, per SKU, for a period from `from` days ago
        // to `to` days ago (the periods reach a day further back, in case midnight passed).
        let sold = |from: i32, to: i32| {
            let db = db.clone();
            async move {
                let p = report::Period::parse(&format_day(today - from), &format_day(today - to))
                    .unwrap();
                let kpis = db
                    .read(move |tx| report::stock_kpis(tx, p, now))
                    .await
                    .unwrap();
                kpis.into_iter()
                    .map(|k| (k.sku, k.units_sold, k.sold_last_28_days))
                    .collect::<Vec<_>>()
            }
        };
        let row = |s: &str, n: i64, r: i64| (s.to_string(), n, r);
        assert_eq!(
            sold(1, -1).await,
            vec![row("A", 7, 7), row("B", 2, 2), row("C", 1, 1)],
            "{name}: units sold per variant, the last two days"
        );
        assert_eq!(
            sold(45, -1).await,
            vec![row("A", 7, 7), row("B", 2, 2), row("C", 3, 1)],
            "{name}: 45 days"
        );
        assert_eq!(
            sold(45, 30).await,
            vec![row("A", 0, 7), row("B", 0, 2), row("C", 2, 1)],
            "{name}: 45 to 30 days ago"
        );
        // One level's `reserved` off by one: reported with what the reservations add up to.
        db.write(move |tx| {
            tx.exec(
                "UPDATE inventory_levels SET reserved = reserved + 1 WHERE location_id = $1 AND variant_id = (SELECT id FROM variants WHERE sku = 'B')",
                &[a.into()],
            )?;
            Ok(())
        })
        .await
        .unwrap();
        let r = db.read(check::run).await.unwrap();
        let found: Vec<(&str, &str, i64, i64, i64)> = r
            .violations
            .iter()
            .map(|v| {
                (
                    v.rule.as_str(),
                    v.sku.as_str(),
                    v.location_id,
                    v.recorded,
                    v.expected,
                )
            })
            .collect();
        assert_eq!(
            found,
            vec![("reserved_reservations", "B", a, 3, 2)],
            "{name}: {:#?}",
            r.violations
        );
    }
}
