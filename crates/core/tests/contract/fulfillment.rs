//! Shipping, delivery, holds, pick lists, click and collect, fulfillment times.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipping_delivering_refunding() {
    for (name, db) in backends().await {
        let (a, b, _) = Store::new(&db, &["X1"])
            .stock("X1", At::A, 3)
            .stock("X1", At::B, 2)
            .build()
            .await;
        let o = place(&db, order(&[("X1", 4)]), None).await.unwrap().order;
        let (id, line) = (o.id, o.lines[0].id);
        let ship = |loc: i64, lines: Option<Vec<ShipLine>>| ShipOrder {
            location_id: loc,
            lines,
            carrier: Some("DHL".into()),
            tracking_number: Some("TRK1".into()),
            ..Default::default()
        };
        // Everything reserved at A leaves A: on hand and reserved both drop, available does not move.
        let s = ship(a, None);
        let after = ship_order(&db, id, s).await.unwrap();
        assert_eq!(after.fulfillment_status, "partially_fulfilled", "{name}");
        assert_eq!(after.fulfillments.len(), 1);
        assert_eq!(after.fulfillments[0].lines[0].quantity, 3);
        let st = stock(&db, "X1").await;
        let at = |l: i64| level(&st, l);
        assert_eq!(
            (at(a).on_hand, at(a).reserved, at(b).on_hand, at(b).reserved),
            (0, 0, 2, 1),
            "{name}"
        );
        assert_invariants(&db).await;
        // A partly shipped order cannot be cancelled; B holds only one unit for this line.
        let r = db
            .write(move |tx| orders::cancel(tx, &ctx(), id, &CancelOrder::default()))
            .await;
        assert!(
            matches!(
                r,
                Err(Error::Conflict {
                    code: "cannot_cancel",
                    ..
                })
            ),
            "{name}: {r:?}"
        );
        let s = ship(
            b,
            Some(vec![ShipLine {
                line_id: line,
                quantity: 2,
            }]),
        );
        let r = ship_order(&db, id, s).await;
        assert!(
            matches!(
                r,
                Err(Error::Conflict {
                    code: "not_reserved_here",
                    ..
                })
            ),
            "{name}: {r:?}"
        );
        let s = ship(
            b,
            Some(vec![ShipLine {
                line_id: line,
                quantity: 1,
            }]),
        );
        let done = ship_order(&db, id, s).await.unwrap();
        assert_eq!(
            (done.fulfillment_status.as_str(), done.status.as_str()),
            ("fulfilled", "open"),
            "{name}: unpaid, so still open"
        );
        let s = ship(b, None);
        let r = ship_order(&db, id, s).await;
        assert!(
            matches!(
                r,
                Err(Error::Conflict {
                    code: "cannot_ship",
                    ..
                })
            ),
            "{name}: {r:?}"
        );
        let fid = done.fulfillments[0].id;
        let d = db
            .write(move |tx| backroom_core::fulfillment::deliver(tx, &ctx(), fid))
            .await
            .unwrap();
        assert_eq!(d.fulfillments[0].status, "delivered");
        assert!(
            db.write(move |tx| backroom_core::fulfillment::deliver(tx, &ctx(), fid))
                .await
                .is_err()
        );
        // Paid and fulfilled closes the order; refunds are bounded by what was paid.
        let paid = write(&db, pay(id, None)).await.unwrap();
        assert_eq!(paid.status, "closed", "{name}");
        let total = paid.total.amount;
        let refund = |amount: i64| RefundOrder {
            amount: Some(amount),
            lines: None,
            shipping: None,
            reason: "damaged".into(),
            note: None,
        };
        let r1 = refund_order(&db, id, refund(1000)).await.unwrap();
        assert_eq!(
            (r1.payment_status.as_str(), r1.refunded.amount),
            ("partially_refunded", 1000)
        );
        let over = refund_order(&db, id, refund(total - 999)).await;
        assert!(
            matches!(
                over,
                Err(Error::Conflict {
                    code: "refund_refused",
                    ..
                })
            ),
            "{name}: {over:?}"
        );
        let r2 = refund_order(&db, id, refund(total - 1000)).await.unwrap();
        assert_eq!(
            (r2.payment_status.as_str(), r2.refunded.amount),
            ("refunded", total)
        );
        let kinds: Vec<String> = timeline_kinds(&db, id).await;
        assert_eq!(
            kinds,
            [
                "placed",
                "sourced",
                "shipped",
                "shipped",
                "delivered",
                "payment_paid",
                "refunded",
                "refunded"
            ],
            "{name}"
        );
        let ledger = db
            .read(|tx| {
                inventory::ledger(
                    tx,
                    &inventory::LedgerQuery {
                        sku: "X1".into(),
                        reason: Some("sale_shipped".into()),
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(
            ledger.items.iter().map(|e| e.on_hand_delta).sum::<i64>(),
            -4
        );
        // The order as read equals the order the last step returned.
        let read = get_order(&db, id).await;
        assert_eq!(read, r2);
        assert_invariants(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_ship_by_and_pick_lists() {
    for (name, db) in backends().await {
        let (a, _, _) = Store::new(&db, &["H1", "H2"])
            .stock("H1", At::A, 50)
            .stock("H2", At::A, 50)
            .build()
            .await;
        let now = backroom_core::util::now_micros();
        let hour = 3_600_000_000i64;
        // Placed three days ago on a 48-hour promise: late. Placed now on a 12-hour promise: at risk.
        let old = order(&[("H1", 2), ("H2", 1)]);
        let late = db
            .write(move |tx| orders::place(tx, &ctx_at(now - 72 * hour), &old, None))
            .await
            .unwrap()
            .order;
        assert!(late.ship_by.is_some());
        let ch = channel_id(&db, "online").await;
        db.write(move |tx| {
            catalog::update_channel(
                tx,
                &ctx(),
                ch,
                &ChannelPatch {
                    handling_hours: Some(12),
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap();
        let soon = place(&db, order(&[("H1", 1)]), None).await.unwrap().order;
        let q =
            |late: Option<bool>, at_risk: Option<bool>, on_hold: Option<bool>| orders::OrderQuery {
                late,
                at_risk,
                on_hold,
                ..Default::default()
            };
        let ids =
            |p: backroom_core::api::Page<Order>| p.items.iter().map(|o| o.id).collect::<Vec<_>>();
        let l = db
            .read(move |tx| orders::list(tx, &q(Some(true), None, None), now))
            .await
            .unwrap();
        assert_eq!(ids(l), vec![late.id], "{name}");
        let r = db
            .read(move |tx| orders::list(tx, &q(None, Some(true), None), now))
            .await
            .unwrap();
        assert_eq!(ids(r), vec![soon.id], "{name}");
        // The pick list groups units per SKU across orders, oldest order first.
        let pl = db
            .read(move |tx| backroom_core::analytics::operations::pick_list(tx, a, 50, now))
            .await
            .unwrap();
        let summary: Vec<(String, i64, Vec<i64>)> = pl
            .items
            .iter()
            .map(|i| {
                (
                    i.sku.clone(),
                    i.quantity,
                    i.orders.iter().map(|o| o.number).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("H1".into(), 3, vec![late.number, soon.number]),
                ("H2".into(), 1, vec![late.number])
            ],
            "{name}"
        );
        // With H2 in bin A-01 (and H1 in none), the walk starts at the bin; bins are audited
        // and shown on the level; an over-long bin is refused.
        let lvl = write(&db, move |tx, c| {
            inventory::set_bin(
                tx,
                c,
                &SetBin {
                    sku: "H2".into(),
                    location_id: a,
                    bin: Some("A-01".into()),
                },
            )
        })
        .await
        .unwrap();
        assert_eq!(lvl.bin.as_deref(), Some("A-01"), "{name}");
        let long = write(&db, move |tx, c| {
            inventory::set_bin(
                tx,
                c,
                &SetBin {
                    sku: "H2".into(),
                    location_id: a,
                    bin: Some("x".repeat(65)),
                },
            )
        })
        .await;
        assert!(matches!(long, Err(Error::Invalid(_))), "{name}");
        let pl = db
            .read(move |tx| backroom_core::analytics::operations::pick_list(tx, a, 50, now))
            .await
            .unwrap();
        let walk: Vec<(Option<String>, String)> = pl
            .items
            .iter()
            .map(|i| (i.bin.clone(), i.sku.clone()))
            .collect();
        assert_eq!(
            walk,
            vec![(Some("A-01".into()), "H2".into()), (None, "H1".into())],
            "{name}"
        );
        // A held order neither ships nor appears on the pick list, until released.
        let id = late.id;
        let held = hold_order(&db, id, "fraud_review", Some("AVS mismatch"))
            .await
            .unwrap();
        assert_eq!(
            held.hold.as_ref().map(|h| h.reason.as_str()),
            Some("fraud_review")
        );
        let again = hold_order(&db, id, "other", None).await;
        assert!(
            matches!(
                again,
                Err(Error::Conflict {
                    code: "already_on_hold",
                    ..
                })
            ),
            "{name}: {again:?}"
        );
        let bad = hold_order(&db, id, "because", None).await;
        assert!(
            matches!(bad, Err(Error::Invalid(ref i)) if i.field == "reason"),
            "{name}: {bad:?}"
        );
        let ship = ship_order(&db, id, everything_at(a)).await;
        assert!(
            matches!(
                ship,
                Err(Error::Conflict {
                    code: "on_hold",
                    ..
                })
            ),
            "{name}: {ship:?}"
        );
        let pl = db
            .read(move |tx| backroom_core::analytics::operations::pick_list(tx, a, 50, now))
            .await
            .unwrap();
        assert_eq!(pl.order_numbers, vec![soon.number], "{name}");
        let on_hold = db
            .read(move |tx| orders::list(tx, &q(None, None, Some(true)), now))
            .await
            .unwrap();
        assert_eq!(ids(on_hold), vec![id]);
        let released = db
            .write(move |tx| backroom_core::fulfillment::release_hold(tx, &ctx(), id))
            .await
            .unwrap();
        assert!(released.hold.is_none());
        let shipped = ship_order(&db, id, everything_at(a)).await.unwrap();
        assert_eq!(shipped.fulfillment_status, "fulfilled");
        // Shipped orders are neither late nor on the pick list any more.
        let l = db
            .read(move |tx| orders::list(tx, &q(Some(true), None, None), now))
            .await
            .unwrap();
        assert!(l.items.is_empty(), "{name}");
        let kinds: Vec<String> = timeline_kinds(&db, id).await;
        assert_eq!(
            kinds,
            ["placed", "sourced", "held", "hold_released", "shipped"],
            "{name}"
        );
        assert_invariants(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn click_and_collect_with_a_deadline() {
    for (name, db) in backends().await {
        let (a, _, shop) = Store::new(&db, &["CC1"])
            .stock("CC1", At::A, 10)
            .stock("CC1", At::Shop, 3)
            .build()
            .await;
        // The online channel sells from the warehouses; add the shop, which offers pickup.
        let ch = channel_id(&db, "online").await;
        let (wa, wb) = db
            .read(|tx| {
                Ok((
                    tx.query_one("SELECT id FROM locations WHERE code = 'wh-a'", &[])?
                        .unwrap()
                        .get::<i64>("id")?,
                    tx.query_one("SELECT id FROM locations WHERE code = 'wh-b'", &[])?
                        .unwrap()
                        .get::<i64>("id")?,
                ))
            })
            .await
            .unwrap();
        let patch = ChannelPatch {
            location_ids: Some(vec![wa, wb, shop]),
            pickup_hold_hours: Some(48),
            ..Default::default()
        };
        db.write(move |tx| catalog::update_channel(tx, &ctx(), ch, &patch))
            .await
            .unwrap();
        let pickup = |q: i64, at: Option<i64>| order(&[("CC1", q)]).pickup_at(at);
        // A warehouse does not offer pickup; a pickup order must say where.
        let r = place(&db, pickup(1, Some(a)), None).await;
        assert!(
            matches!(r, Err(Error::Invalid(ref i)) if i.field == "pickup_location_id"),
            "{name}: {r:?}"
        );
        assert!(matches!(
            place(&db, pickup(1, None), None).await,
            Err(Error::Invalid(_))
        ));
        // Reserved at the shop even though the warehouse comes first by priority; more than the
        // shop holds is refused rather than shipped from elsewhere.
        let o = place(&db, pickup(2, Some(shop)), None).await.unwrap().order;
        assert_eq!(o.lines[0].allocations[0].location_id, shop, "{name}");
        assert_eq!(o.pickup.as_ref().map(|p| p.location_id), Some(shop));
        assert!(
            matches!(
                place(&db, pickup(2, Some(shop)), None).await,
                Err(Error::InsufficientStock { .. })
            ),
            "{name}"
        );
        let id = o.id;
        let not_yet = hand_over(&db, id, "Léa").await;
        assert!(
            matches!(
                not_yet,
                Err(Error::Conflict {
                    code: "not_ready",
                    ..
                })
            ),
            "{name}"
        );
        let ready = db
            .write(move |tx| backroom_core::fulfillment::ready_for_pickup(tx, &ctx(), id))
            .await
            .unwrap();
        assert_eq!(ready.fulfillment_status, "ready_for_pickup");
        assert!(
            ready
                .pickup
                .as_ref()
                .and_then(|p| p.deadline.clone())
                .is_some()
        );
        let done = hand_over(&db, id, "Léa").await.unwrap();
        assert_eq!(
            (
                done.fulfillment_status.as_str(),
                done.pickup.as_ref().and_then(|p| p.picked_up_by.as_deref())
            ),
            ("picked_up", Some("Léa")),
            "{name}"
        );
        let st = stock(&db, "CC1").await;
        let shop_level = st
            .levels
            .iter()
            .find(|l| l.location_id == shop)
            .unwrap()
            .clone();
        assert_eq!((shop_level.on_hand, shop_level.reserved), (1, 0), "{name}");
        // A paid order not collected in time: cancelled, refunded, its stock free again. The clock
        // is a parameter: "now" is 49 hours after it was ready.
        let o2 = place(&db, pickup(1, Some(shop)), None).await.unwrap().order;
        let id2 = o2.id;
        write(&db, pay(id2, None)).await.unwrap();
        db.write(move |tx| backroom_core::fulfillment::ready_for_pickup(tx, &ctx(), id2))
            .await
            .unwrap();
        let early = db
            .write(|tx| {
                backroom_core::fulfillment::expire_pickups(
                    tx,
                    &ctx_at(backroom_core::util::now_micros() + 47 * 3_600_000_000),
                )
            })
            .await
            .unwrap();
        assert!(early.is_empty(), "{name}: not before the deadline");
        let expired = db
            .write(|tx| {
                backroom_core::fulfillment::expire_pickups(
                    tx,
                    &ctx_at(backroom_core::util::now_micros() + 49 * 3_600_000_000),
                )
            })
            .await
            .unwrap();
        assert_eq!(expired, vec![id2], "{name}");
        let gone = get_order(&db, id2).await;
        assert_eq!(
            (
                gone.status.as_str(),
                gone.payment_status.as_str(),
                gone.refunded.amount
            ),
            ("cancelled", "refunded", gone.total.amount),
            "{name}"
        );
        let st = stock(&db, "CC1").await;
        let shop_level = st
            .levels
            .iter()
            .find(|l| l.location_id == shop)
            .unwrap()
            .clone();
        assert_eq!(
            (
                shop_level.on_hand,
                shop_level.reserved,
                shop_level.available
            ),
            (1, 0, 1),
            "{name}"
        );
        assert_invariants(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fulfillment_time_and_on_time_rate() {
    const H: i64 = 3_600_000_000;
    for (name, db) in backends().await {
        let (a, _, _) = Store::new(&db, &["F1"])
            .stock("F1", At::A, 100)
            .build()
            .await;
        let t0 = backroom_core::util::now_micros() - 400 * H;
        let at = |t: i64| ctx_at(t);
        // (placed at, shipped after hours or never, cancelled)
        let plan: [(i64, Option<i64>, bool); 7] = [
            (0, Some(5), false),
            (1, Some(47), false),
            (2, Some(49), false),
            (3, Some(100), false),
            (4, None, false),
            (5, None, true),
            (395, None, false),
        ];
        for (h, ship_after, cancel) in plan {
            let placed = t0 + h * H;
            db.write(move |tx| {
                let o = orders::place(tx, &at(placed), &order(&[("F1", 1)]), None)?.order;
                if let Some(s) = ship_after {
                    backroom_core::fulfillment::ship(
                        tx,
                        &at(placed + s * H),
                        o.id,
                        &ShipOrder {
                            location_id: a,
                            ..Default::default()
                        },
                    )?;
                }
                if cancel {
                    orders::cancel(tx, &at(placed + H), o.id, &CancelOrder::default())?;
                }
                Ok(())
            })
            .await
            .unwrap();
        }
        let q = backroom_core::fulfillment::FulfillmentReportQuery {
            from: Some(backroom_core::util::rfc3339(t0)),
            to: Some(backroom_core::util::rfc3339(t0 + 400 * H)),
            channel_id: None,
        };
        let now = backroom_core::util::now_micros();
        let rep = db
            .read(move |tx| backroom_core::analytics::operations::fulfillment_report(tx, &q, now))
            .await
            .unwrap();
        // Independently, from the orders as read back (ship-by is 48 h by default).
        let all = db
            .read(|tx| {
                orders::list(
                    tx,
                    &orders::OrderQuery {
                        limit: Some(100),
                        ..Default::default()
                    },
                    0,
                )
            })
            .await
            .unwrap()
            .items;
        let (mut on_time, mut late, mut pending, mut hours) = (0, 0, 0, Vec::new());
        for o in all.iter().filter(|o| o.status != "cancelled") {
            let placed = o
                .placed_at
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_microsecond();
            let by = o
                .ship_by
                .as_ref()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_microsecond();
            assert_eq!(by - placed, 48 * H, "{name}");
            match o.fulfillments.last() {
                Some(f) => {
                    let s = f
                        .shipped_at
                        .parse::<jiff::Timestamp>()
                        .unwrap()
                        .as_microsecond();
                    hours.push((s - placed) as f64 / H as f64);
                    if s <= by { on_time += 1 } else { late += 1 }
                }
                None if by < now => late += 1,
                None => pending += 1,
            }
        }
        hours.sort_by(f64::total_cmp);
        assert_eq!(
            (rep.orders, rep.shipped, rep.on_time, rep.late, rep.pending),
            (6, 4, on_time, late, pending),
            "{name}"
        );
        assert_eq!((on_time, late, pending), (2, 3, 1), "{name}");
        assert_eq!(rep.on_time_rate, Some(2.0 / 5.0), "{name}");
        assert_eq!(
            rep.median_hours,
            Some((hours[1] + hours[2]) / 2.0),
            "{name}"
        );
        assert_eq!(
            rep.p90_hours,
            Some(hours[3]),
            "{name}: nearest rank of 4 is the 4th"
        );
        assert_eq!(rep.median_hours, Some(48.0), "{name}");
    }
}
