//! Placing, sourcing, idempotency, edits, re-sourcing and refunds.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placing_pricing_sourcing_cancelling() {
    for (name, db) in backends().await {
        let (a, b, _) = Store::new(&db, &["A1", "B1", "C1"])
            .backorder(&["C1"])
            .taxed()
            .stock("A1", At::A, 2)
            .stock("A1", At::B, 5)
            .stock("B1", At::B, 1)
            .build()
            .await;
        // B holds every line: one location, by the fewest-shipments rule.
        let p = place(&db, order(&[("A1", 3), ("B1", 1)]), None)
            .await
            .unwrap()
            .order;
        assert!(
            p.lines
                .iter()
                .all(|l| l.allocations.iter().all(|x| x.location_id == b)),
            "{name}: {:?}",
            p.lines
        );
        assert_eq!(p.subtotal.amount, 4000);
        assert_eq!(p.shipping.amount, 500);
        assert_eq!(p.tax.amount, 900);
        assert_eq!(p.total.amount, 5400);
        // 900 of tax split by weight: 3000 of A1, 1000 of B1, 500 of shipping (which takes 100).
        assert_eq!(
            p.lines.iter().map(|l| l.tax.amount).collect::<Vec<_>>(),
            vec![600, 200],
            "{name}"
        );
        assert!(
            p.sourcing.reason.contains("B"),
            "{name}: {}",
            p.sourcing.reason
        );
        assert_eq!(p.customer.email, "Ann@Example.com");
        // A split: 4 of A1 come from A (2) and B (2).
        let p2 = place(&db, order(&[("A1", 4)]), None).await.unwrap().order;
        let alloc: Vec<(i64, i64)> = p2.lines[0]
            .allocations
            .iter()
            .map(|x| (x.location_id, x.quantity))
            .collect();
        assert_eq!(alloc, vec![(a, 2), (b, 2)], "{name}");
        // Nothing left: refused, and nothing written (no order, no customer change, stock intact).
        let before = stock(&db, "A1").await;
        let orders_before = scalar(&db, "SELECT COUNT(*) FROM orders").await;
        let r = place(
            &db,
            PlaceOrder {
                customer: CustomerInput {
                    email: "new@example.com".into(),
                    ..Default::default()
                },
                ..order(&[("C1", 1), ("A1", 1)])
            },
            None,
        )
        .await;
        match r {
            Err(Error::InsufficientStock {
                field,
                sku,
                requested,
                available,
            }) => {
                assert_eq!(
                    (field.as_str(), sku.as_str(), requested, available),
                    ("lines[1].quantity", "A1", 1, 0),
                    "{name}"
                )
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(stock(&db, "A1").await.totals, before.totals);
        let orders_after = scalar(&db, "SELECT COUNT(*) FROM orders").await;
        assert_eq!(orders_before, orders_after);
        let cust = db
            .read(|tx| {
                customers::list_customers(
                    tx,
                    &customers::CustomerQuery {
                        q: Some("new@".into()),
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap();
        assert!(
            cust.items.is_empty(),
            "{name}: a refused order created a customer"
        );
        // A `continue` variant backorders.
        let p3 = place(&db, order(&[("C1", 2)]), None).await.unwrap().order;
        assert_eq!(p3.lines[0].allocations[0].backordered, 2);
        assert_invariants(&db).await;
        // Cancel releases reservations; a second cancel is refused.
        let c = cancel(&db, p2.id).await.unwrap();
        assert_eq!(c.status, "cancelled");
        assert!(c.lines[0].allocations.iter().all(|x| !x.live));
        assert_eq!(stock(&db, "A1").await.totals.available, 4, "{name}");
        let again = cancel(&db, p2.id).await;
        assert!(matches!(
            again,
            Err(Error::Conflict {
                code: "cannot_cancel",
                ..
            })
        ));
        // Payments follow the state machine.
        let id = p.id;
        let paid = write(&db, pay(id, Some(5400))).await.unwrap();
        assert_eq!(
            (paid.payment_status.as_str(), paid.paid.amount),
            ("paid", 5400)
        );
        let r = db
            .write(move |tx| {
                orders::record_payment(
                    tx,
                    &ctx(),
                    id,
                    &RecordPayment {
                        status: "authorized".into(),
                        amount: None,
                        reference: None,
                    },
                )
            })
            .await;
        assert!(matches!(r, Err(Error::Conflict { .. })));
        let r = db
            .write(move |tx| orders::cancel(tx, &ctx(), id, &CancelOrder::default()))
            .await;
        assert!(
            matches!(r, Err(Error::Conflict { .. })),
            "a paid order needs a refund before cancelling"
        );
        assert_eq!(
            timeline_kinds(&db, id).await,
            ["placed", "sourced", "payment_paid"]
        );
        // The customer was created once and counts orders.
        let cust = db
            .read(|tx| {
                customers::list_customers(
                    tx,
                    &customers::CustomerQuery {
                        q: Some("ann@".into()),
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(cust.items.len(), 1);
        assert_eq!(
            cust.items[0].orders_count, 2,
            "{name}: two open orders (one cancelled)"
        );
        assert_invariants(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys() {
    for (name, db) in backends().await {
        Store::new(&db, &["I1"])
            .stock("I1", At::A, 100)
            .build()
            .await;
        let first = place(&db, order(&[("I1", 1)]), Some("key-1"))
            .await
            .unwrap();
        assert!(!first.replayed);
        let again = place(&db, order(&[("I1", 1)]), Some("key-1"))
            .await
            .unwrap();
        assert!(again.replayed);
        assert_eq!(first.order, again.order, "{name}");
        let other = place(&db, order(&[("I1", 2)]), Some("key-1")).await;
        assert!(
            matches!(
                other,
                Err(Error::Conflict {
                    code: "idempotency_key_reused",
                    ..
                })
            ),
            "{name}: {other:?}"
        );
        // Concurrent requests with one key: one order.
        let mut handles = Vec::new();
        for _ in 0..20 {
            let db = db.clone();
            handles.push(tokio::spawn(async move {
                place(&db, order(&[("I1", 1)]), Some("key-2")).await
            }));
        }
        let mut ids = Vec::new();
        for h in handles {
            ids.push(h.await.unwrap().unwrap().order.id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{name}: {ids:?}");
        assert_eq!(stock(&db, "I1").await.totals.reserved, 2, "{name}");
        assert_invariants(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_placement_never_oversells() {
    for (name, db) in backends().await {
        Store::new(&db, &["HOT"])
            .stock("HOT", At::A, 30)
            .stock("HOT", At::B, 20)
            .build()
            .await;
        let mut handles = Vec::new();
        for i in 0..200 {
            let db = db.clone();
            let lines: Vec<(&str, i64)> = if i % 3 == 0 {
                vec![("HOT", 1), ("HOT", 1)]
            } else {
                vec![("HOT", 1)]
            };
            let o = order(&lines);
            handles.push(tokio::spawn(async move { place(&db, o, None).await }));
        }
        let mut sold = 0;
        for h in handles {
            match h.await.unwrap() {
                Ok(p) => sold += p.order.lines.iter().map(|l| l.quantity).sum::<i64>(),
                Err(Error::InsufficientStock { .. }) => {}
                Err(e) => panic!("{name}: {e:?}"),
            }
        }
        assert_eq!(sold, 50, "{name}");
        let s = stock(&db, "HOT").await;
        assert_eq!((s.totals.reserved, s.totals.available), (50, 0), "{name}");
        assert_invariants(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_choose_their_sourcing_strategy() {
    for (name, db) in backends().await {
        let (a, b, shop) = store(&db, &["N1"], &[]).await;
        // A (priority 1) in Lyon with a little stock, the Paris shop (priority 3) with the most.
        db.write(move |tx| {
            let c = ctx();
            catalog::update_location(
                tx,
                &c,
                a,
                &LocationPatch {
                    latitude: Some(Some(45.76)),
                    longitude: Some(Some(4.84)),
                    ..Default::default()
                },
            )?;
            catalog::update_location(
                tx,
                &c,
                b,
                &LocationPatch {
                    latitude: Some(Some(48.57)),
                    longitude: Some(Some(7.75)),
                    ..Default::default()
                },
            )?;
            catalog::update_location(
                tx,
                &c,
                shop,
                &LocationPatch {
                    latitude: Some(Some(48.86)),
                    longitude: Some(Some(2.36)),
                    ..Default::default()
                },
            )?;
            catalog::create_channel(
                tx,
                &c,
                &NewChannel {
                    code: "web".into(),
                    name: "Web".into(),
                    kind: "online".into(),
                    location_ids: vec![a, b, shop],
                    sourcing_strategy: Some("nearest".into()),
                    handling_hours: None,
                    pickup_hold_hours: None,
                },
            )
        })
        .await
        .unwrap();
        receive(&db, "N1", a, 2).await;
        receive(&db, "N1", b, 3).await;
        receive(&db, "N1", shop, 9).await;
        let paris = |q: i64| {
            let mut o = order(&[("N1", q)]).on("web");
            o.shipping_address.latitude = Some(48.85);
            o.shipping_address.longitude = Some(2.35);
            o
        };
        let p = place(&db, paris(1), None).await.unwrap().order;
        assert_eq!(p.sourcing.strategy, "nearest");
        assert_eq!(
            p.lines[0].allocations[0].location_id, shop,
            "{name}: {}",
            p.sourcing.reason
        );
        assert!(
            p.sourcing.reason.contains("Shop 1 km"),
            "{name}: {}",
            p.sourcing.reason
        );
        // Priority ignores distance; highest stock goes where the most units are.
        for (strategy, want) in [
            ("priority", a),
            ("highest_stock", shop),
            ("fewest_shipments", a),
        ] {
            let ch = channel_id(&db, "web").await;
            let patch = ChannelPatch {
                sourcing_strategy: Some(strategy.into()),
                ..Default::default()
            };
            let updated = db
                .write(move |tx| catalog::update_channel(tx, &ctx(), ch, &patch))
                .await
                .unwrap();
            assert_eq!(updated.sourcing_strategy, strategy);
            let p = place(&db, paris(1), None).await.unwrap().order;
            assert_eq!(
                (
                    p.sourcing.strategy.as_str(),
                    p.lines[0].allocations[0].location_id
                ),
                (strategy, want),
                "{name}: {}",
                p.sourcing.reason
            );
        }
        let bad = db
            .write(|tx| {
                catalog::create_channel(
                    tx,
                    &ctx(),
                    &NewChannel {
                        code: "x".into(),
                        name: "X".into(),
                        kind: "online".into(),
                        location_ids: vec![],
                        sourcing_strategy: Some("cheapest".into()),
                        handling_hours: None,
                        pickup_hold_hours: None,
                    },
                )
            })
            .await;
        assert!(
            matches!(bad, Err(Error::Invalid(ref i)) if i.field == "sourcing_strategy"),
            "{name}: {bad:?}"
        );
        assert_invariants(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_move_reservations_totals_and_balance() {
    for (name, db) in backends().await {
        let (a, b, _) = Store::new(&db, &["E1", "E2", "E3"])
            .taxed()
            .stock("E1", At::A, 5)
            .stock("E2", At::A, 3)
            .stock("E2", At::B, 2)
            .build()
            .await;
        let o = place(&db, order(&[("E1", 2)]), None).await.unwrap().order;
        let id = o.id;
        // 2 x 10.00 + 5.00 shipping, 20% tax on all of it.
        assert_eq!(
            (o.subtotal.amount, o.tax.amount, o.total.amount),
            (2000, 500, 3000),
            "{name}"
        );
        assert_eq!((o.owed.amount, o.balance.amount), (3000, -3000), "{name}");
        let o = write(&db, pay(id, None)).await.unwrap();
        assert_eq!(o.balance.amount, 0, "{name}");

        // One E1 less, four E2 more: E2 splits over A (3) and B (1); the balance shows the debt.
        let edit = EditOrder {
            add: vec![SkuQuantity {
                sku: "E2".into(),
                quantity: 4,
            }],
            change: vec![LineQuantity {
                line_id: o.lines[0].id,
                quantity: 1,
            }],
            reason: Some("customer called".into()),
        };
        let o = edit_order(&db, id, edit).await.unwrap();
        assert_eq!(o.lines.len(), 2, "{name}");
        assert_eq!(live(&o, 0), vec![(a, 1)], "{name}");
        let mut e2 = live(&o, 1);
        e2.sort();
        assert_eq!(e2, vec![(a, 3), (b, 1)], "{name}");
        // Independently: 5 units at 10.00, plus 5.00, plus 20%.
        assert_eq!((o.subtotal.amount, o.total.amount), (5000, 6600), "{name}");
        assert_eq!(
            o.lines.iter().map(|l| l.tax.amount).sum::<i64>() + 100,
            o.tax.amount,
            "{name}"
        );
        assert_eq!(o.balance.amount, 3000 - 6600, "{name}");
        assert_eq!(stock(&db, "E1").await.totals.reserved, 1, "{name}");
        assert_eq!(stock(&db, "E2").await.totals.reserved, 4, "{name}");

        // More than is left: refused with the field named, and nothing changes.
        let before = get_order(&db, id).await;
        let too_many = EditOrder {
            add: vec![SkuQuantity {
                sku: "E2".into(),
                quantity: 2,
            }],
            ..Default::default()
        };
        match edit_order(&db, id, too_many).await {
            Err(Error::InsufficientStock {
                field,
                requested,
                available,
                ..
            }) => {
                assert_eq!(
                    (field.as_str(), requested, available),
                    ("add[0].quantity", 2, 1),
                    "{name}"
                )
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(get_order(&db, id).await, before, "{name}");

        // The customer pays the difference: settled.
        let o = write(&db, pay(id, None)).await.unwrap();
        assert_eq!((o.paid.amount, o.balance.amount), (6600, 0), "{name}");
        assert!(
            matches!(
                write(&db, pay(id, None)).await,
                Err(Error::Conflict {
                    code: "nothing_due",
                    ..
                })
            ),
            "{name}"
        );

        // Ship E1; its quantity cannot go below what shipped.
        let e1 = o.lines[0].id;
        let e2_line = o.lines[1].id;
        ship_order(&db, id, lines_at(a, &[(e1, 1)])).await.unwrap();
        let below = EditOrder {
            change: vec![LineQuantity {
                line_id: e1,
                quantity: 0,
            }],
            ..Default::default()
        };
        match edit_order(&db, id, below).await {
            Err(Error::Conflict { code, field, .. }) => {
                assert_eq!(
                    (code, field.as_deref()),
                    ("already_shipped", Some("change[0].quantity")),
                    "{name}"
                )
            }
            other => panic!("{name}: {other:?}"),
        }

        // Remove E2: its reservations go, the total falls, and the store owes the difference,
        // which a refund settles exactly.
        let remove = EditOrder {
            change: vec![LineQuantity {
                line_id: e2_line,
                quantity: 0,
            }],
            ..Default::default()
        };
        let o = edit_order(&db, id, remove).await.unwrap();
        assert_eq!(stock(&db, "E2").await.totals.reserved, 0, "{name}");
        assert_eq!(o.total.amount, 1800, "{name}");
        assert_eq!(o.balance.amount, 6600 - 1800, "{name}");
        assert_eq!(o.fulfillment_status, "fulfilled", "{name}");
        let refund = RefundOrder {
            amount: Some(4800),
            lines: None,
            shipping: None,
            reason: "edit".into(),
            note: None,
        };
        let o = refund_order(&db, id, refund).await.unwrap();
        assert_eq!(
            (o.refunded.amount, o.owed.amount, o.balance.amount),
            (4800, 1800, 0),
            "{name}"
        );
        assert_eq!(o.payment_status, "partially_refunded", "{name}");

        // Removing every line is refused (cancel instead); so is editing a cancelled order.
        let other = place(&db, order(&[("E3", 1)]), None).await;
        assert!(other.is_err(), "{name}: E3 has no stock");
        receive(&db, "E3", a, 1).await;
        let o2 = place(&db, order(&[("E3", 1)]), None).await.unwrap().order;
        let (id2, l2) = (o2.id, o2.lines[0].id);
        let empty = EditOrder {
            change: vec![LineQuantity {
                line_id: l2,
                quantity: 0,
            }],
            ..Default::default()
        };
        assert!(
            matches!(edit_order(&db, id2, empty).await, Err(Error::Invalid(_))),
            "{name}"
        );
        write(&db, move |tx, c| {
            orders::cancel(tx, c, id2, &CancelOrder::default())
        })
        .await
        .unwrap();
        let late = EditOrder {
            change: vec![LineQuantity {
                line_id: l2,
                quantity: 2,
            }],
            ..Default::default()
        };
        assert!(
            matches!(
                edit_order(&db, id2, late).await,
                Err(Error::Conflict {
                    code: "cannot_edit",
                    ..
                })
            ),
            "{name}"
        );
        let tl = db.read(move |tx| orders::timeline(tx, id)).await.unwrap();
        assert_eq!(
            tl.iter().filter(|e| e.kind == "edited").count(),
            2,
            "{name}"
        );
        assert_invariants(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_by_line_shipping_and_exchanges() {
    for (name, db) in backends().await {
        let (a, _, _) = Store::new(&db, &["X1", "X2"])
            .taxed()
            .stock("X1", At::A, 10)
            .stock("X2", At::A, 10)
            .build()
            .await;
        let o = place(&db, order(&[("X1", 3)]), None).await.unwrap().order;
        let (id, line) = (o.id, o.lines[0].id);
        write(&db, pay(id, None)).await.unwrap();
        let o = ship_order(&db, id, everything_at(a)).await.unwrap();
        assert_eq!(
            (o.total.amount, o.status.as_str()),
            (4200, "closed"),
            "{name}"
        );
        let refund = |lines: Option<Vec<RefundLine>>,
                      shipping: Option<bool>,
                      amount: Option<i64>| RefundOrder {
            amount,
            lines,
            shipping,
            reason: "damaged".into(),
            note: None,
        };
        // One unit by line: a third of (30.00 + its 6.00 tax) = 12.00, a concession.
        let r = refund(
            Some(vec![RefundLine {
                line_id: line,
                quantity: 1,
            }]),
            None,
            None,
        );
        let o = refund_order(&db, id, r).await.unwrap();
        assert_eq!(
            (o.refunded.amount, o.owed.amount, o.balance.amount),
            (1200, 3000, 0),
            "{name}"
        );
        assert_eq!(o.lines[0].refunded_quantity, 1, "{name}");
        // Shipping with its tax (5.00 + 1.00), once.
        let r = refund(None, Some(true), None);
        let o = refund_order(&db, id, r).await.unwrap();
        assert_eq!(o.refunded.amount, 1800, "{name}");
        let r = refund(None, Some(true), None);
        assert!(
            matches!(
                refund_order(&db, id, r).await,
                Err(Error::Conflict {
                    code: "refund_refused",
                    ..
                })
            ),
            "{name}"
        );
        let r = refund(
            Some(vec![RefundLine {
                line_id: line,
                quantity: 3,
            }]),
            None,
            None,
        );
        assert!(
            matches!(
                refund_order(&db, id, r).await,
                Err(Error::Conflict {
                    code: "refund_refused",
                    ..
                })
            ),
            "{name}"
        );
        let r = refund(
            Some(vec![RefundLine {
                line_id: line,
                quantity: 1,
            }]),
            None,
            Some(5),
        );
        assert!(
            matches!(refund_order(&db, id, r).await, Err(Error::Invalid(_))),
            "{name}"
        );
        let r = refund(None, None, None);
        assert!(
            matches!(refund_order(&db, id, r).await, Err(Error::Invalid(_))),
            "{name}"
        );

        // The unit refunded by line stays with the customer: only two can come back.
        let three = return_lines(&[(line, 3, "changed_mind")]);
        let r = open_return(&db, id, three).await;
        assert!(
            matches!(
                r,
                Err(Error::Conflict {
                    code: "not_returnable",
                    ..
                })
            ),
            "{name}: {r:?}"
        );
        // Exchange one X1 for two X2: the new lines are reserved now and reopen the order.
        let ex = NewReturn {
            exchange_lines: Some(vec![SkuQuantity {
                sku: "X2".into(),
                quantity: 2,
            }]),
            ..return_lines(&[(line, 1, "wrong_size")])
        };
        let r = open_return(&db, id, ex).await.unwrap();
        assert!(r.exchange, "{name}");
        assert_eq!(r.exchange_line_ids.len(), 1, "{name}");
        let o = get_order(&db, id).await;
        assert_eq!(o.status, "open", "{name}");
        assert_eq!(o.lines[1].exchange_return_id, Some(r.id), "{name}");
        assert_eq!(live(&o, 1), vec![(a, 2)], "{name}");
        // Two X2 with tax: 24.00. The returned X1 unit (not yet received) is worth 12.00.
        let new_value = o.lines[1].unit_price.amount * 2 + o.lines[1].tax.amount;
        assert_eq!(new_value, 2400, "{name}");
        let x1_value = 3000 + o.lines[0].tax.amount;
        let unit = x1_value / 3;
        assert_eq!(r.price_difference.amount, new_value - unit, "{name}");
        let owed_before = o.owed.amount;
        // Receiving the unit credits its value; the balance is then minus the price difference.
        let rid = r.id;
        receive_return(&db, rid, receipt(&[(line, 1, "restock", Some(a))]))
            .await
            .unwrap();
        let o = get_order(&db, id).await;
        let credited = backroom_domain::balance::next_units_value(x1_value, 3, 0, 1);
        assert_eq!(o.owed.amount, owed_before - credited, "{name}");
        assert_eq!(
            o.balance.amount,
            o.paid.amount - o.refunded.amount - o.owed.amount,
            "{name}"
        );
        assert_eq!(o.balance.amount, -(new_value - credited), "{name}");
        // The customer pays the difference, the new lines ship, and the books are square.
        let o = write(&db, pay(id, None)).await.unwrap();
        assert_eq!(o.balance.amount, 0, "{name}");
        let o = ship_order(&db, id, everything_at(a)).await.unwrap();
        assert_eq!(o.fulfillment_status, "partially_returned", "{name}");
        let x1 = stock(&db, "X1").await;
        assert_eq!((x1.totals.on_hand, x1.totals.reserved), (8, 0), "{name}");
        let x2 = stock(&db, "X2").await;
        assert_eq!((x2.totals.on_hand, x2.totals.reserved), (8, 0), "{name}");
        assert_invariants(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resourcing_endless_aisle_and_reorder_points() {
    for (name, db) in backends().await {
        let (a, b, shop) = Store::new(&db, &["S1", "S2"])
            .stock("S1", At::A, 2)
            .stock("S1", At::B, 5)
            .build()
            .await;
        let o = place(&db, order(&[("S1", 2)]), None).await.unwrap().order;
        let (id, line) = (o.id, o.lines[0].id);
        assert_eq!(live(&o, 0), vec![(a, 2)], "{name}");
        // Move the line to B, atomically.
        let o = write(&db, move |tx, c| {
            backroom_core::orders::edits::resource_line(
                tx,
                c,
                id,
                line,
                &ResourceLine {
                    location_id: Some(b),
                },
            )
        })
        .await
        .unwrap();
        assert_eq!(live(&o, 0), vec![(b, 2)], "{name}");
        let st = stock(&db, "S1").await;
        let at = |loc: i64| {
            st.levels
                .iter()
                .find(|l| l.location_id == loc)
                .map(|l| l.reserved)
        };
        assert_eq!((at(a), at(b)), (Some(0), Some(2)), "{name}");
        // Not a location of the channel: refused, nothing moves.
        let r = write(&db, move |tx, c| {
            backroom_core::orders::edits::resource_line(
                tx,
                c,
                id,
                line,
                &ResourceLine {
                    location_id: Some(shop),
                },
            )
        })
        .await;
        assert!(matches!(r, Err(Error::Invalid(_))), "{name}: {r:?}");
        // Let the strategy choose again: back to A (one location holds everything, priority 1).
        let o = write(&db, move |tx, c| {
            backroom_core::orders::edits::resource_line(
                tx,
                c,
                id,
                line,
                &ResourceLine { location_id: None },
            )
        })
        .await
        .unwrap();
        assert_eq!(live(&o, 0), vec![(a, 2)], "{name}");

        // Endless aisle: the boutique sells S1, which it does not hold; a warehouse ships it.
        write(&db, move |tx, c| {
            catalog::create_channel(
                tx,
                c,
                &NewChannel {
                    code: "pos".into(),
                    name: "Boutique till".into(),
                    kind: "pos".into(),
                    location_ids: vec![shop, b],
                    sourcing_strategy: Some("priority".into()),
                    handling_hours: None,
                    pickup_hold_hours: None,
                },
            )
        })
        .await
        .unwrap();
        let mut sale = order(&[("S1", 1)]).on("pos").sold_at(shop);
        let o = place(&db, sale.clone(), None).await.unwrap().order;
        assert_eq!(o.origin_location_id, Some(shop), "{name}");
        assert_eq!(live(&o, 0), vec![(b, 1)], "{name}: {}", o.sourcing.reason);
        sale.origin_location_id = Some(a);
        assert!(
            matches!(place(&db, sale, None).await, Err(Error::Invalid(_))),
            "{name}: a warehouse sells nothing in store"
        );

        // Reorder points: S2 at A, point 3. inventory.low fires once per crossing.
        write(&db, |tx, c| {
            backroom_core::webhooks::create_subscription(
                tx,
                c,
                &backroom_core::webhooks::NewSubscription {
                    url: "http://127.0.0.1:9/hook".into(),
                    event_types: vec!["inventory.low".into()],
                },
            )
        })
        .await
        .unwrap();
        receive(&db, "S2", a, 5).await;
        let set = move |point: Option<i64>| {
            move |tx: &mut dyn backroom_core::Sql, c: &Ctx| {
                inventory::set_reorder_point(
                    tx,
                    c,
                    &SetReorderPoint {
                        sku: "S2".into(),
                        location_id: a,
                        reorder_point: point,
                        reorder_quantity: point.map(|_| 10),
                        lead_time_days: point.map(|_| 7),
                    },
                )
            }
        };
        let bad = write(&db, move |tx, c| {
            inventory::set_reorder_point(
                tx,
                c,
                &SetReorderPoint {
                    sku: "S2".into(),
                    location_id: a,
                    reorder_point: Some(-1),
                    ..Default::default()
                },
            )
        })
        .await;
        assert!(matches!(bad, Err(Error::Invalid(_))), "{name}");
        let lvl = write(&db, set(Some(3))).await.unwrap();
        assert!(!lvl.low && lvl.suggested_order == 0, "{name}: {lvl:?}");
        let lows = || {
            scalar(
                &db,
                "SELECT COUNT(*) FROM webhook_events WHERE event_type = 'inventory.low'",
            )
        };
        let low_list = |low: bool| {
            let q = inventory::ReorderQuery {
                low: Some(low),
                ..Default::default()
            };
            db.read(move |tx| inventory::reorder_levels(tx, &q))
        };
        assert_eq!(lows().await, 0, "{name}");
        place(&db, order(&[("S2", 2)]), None).await.unwrap();
        assert_eq!(lows().await, 1, "{name}: available 3 <= 3");
        place(&db, order(&[("S2", 1)]), None).await.unwrap();
        assert_eq!(lows().await, 1, "{name}: still low, no second event");
        let l = low_list(true).await.unwrap();
        assert_eq!(l.items.len(), 1, "{name}");
        assert_eq!(
            (l.items[0].available, l.items[0].suggested_order),
            (2, 10),
            "{name}"
        );
        receive(&db, "S2", a, 10).await;
        assert!(low_list(true).await.unwrap().items.is_empty(), "{name}");
        assert_eq!(low_list(false).await.unwrap().items.len(), 1, "{name}");
        place(&db, order(&[("S2", 10)]), None).await.unwrap();
        assert_eq!(lows().await, 2, "{name}: a new crossing");
        let cleared = write(&db, set(None)).await.unwrap();
        assert_eq!(
            (cleared.reorder_point, cleared.low),
            (None, false),
            "{name}"
        );
        assert!(low_list(false).await.unwrap().items.is_empty(), "{name}");
        assert_invariants(&db).await;
    }
}
