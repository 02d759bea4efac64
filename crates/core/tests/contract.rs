//! The storage contract suite: every test runs against SQLite, and against PostgreSQL when
//! `BACKROOM_TEST_PG_URL` is set (CI sets it). Each test gets a fresh database (a new SQLite file,
//! or a new PostgreSQL schema).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use backroom_core::api::*;
use backroom_core::{
    Actor, Ctx, Db, Error, catalog, customers, inventory, inventory::check, orders,
};
use std::sync::atomic::{AtomicU64, Ordering};

static SEQ: AtomicU64 = AtomicU64::new(0);

static SWEEP: std::sync::Once = std::sync::Once::new();

async fn backends() -> Vec<(&'static str, Db)> {
    SWEEP.call_once(|| {
        let pg = std::env::var("BACKROOM_TEST_PG_URL").ok();
        backroom_core::fixtures::sweep_test_leftovers("backroom-contract-", "t_", pg.as_deref());
    });
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let tag = format!(
        "{}_{}_{}",
        std::process::id(),
        n,
        backroom_core::util::random_hex(3)
    );
    let dir = std::env::temp_dir().join(format!("backroom-contract-{tag}"));
    let path = dir.join("t.db");
    let mut out = vec![("sqlite", Db::open(path.to_str().unwrap()).await.unwrap())];
    if let Ok(url) = std::env::var("BACKROOM_TEST_PG_URL") {
        let name = format!("t_{tag}");
        let u = url.clone();
        let fresh = tokio::task::spawn_blocking(move || {
            backroom_core::db::postgres::fresh_schema_url(&u, &name)
        })
        .await
        .unwrap()
        .unwrap();
        out.push(("postgres", Db::open(&fresh).await.unwrap()));
    }
    out
}

fn ctx() -> Ctx {
    Ctx::new(Actor::system(), backroom_core::util::now_micros())
}

/// Two warehouses (priorities 1 and 2) and a boutique, an `online` channel over the warehouses,
/// and one active product with the given SKUs (all `deny` unless listed in `backorder`).
async fn store(db: &Db, skus: &[&str], backorder: &[&str]) -> (i64, i64, i64) {
    let skus: Vec<String> = skus.iter().map(|s| s.to_string()).collect();
    let backorder: Vec<String> = backorder.iter().map(|s| s.to_string()).collect();
    db.write(move |tx| {
        let c = ctx();
        let store = backroom_core::fixtures::small_store(tx, &c)?;
        let (a, b, s) = (store.a, store.b, store.shop);
        catalog::create_product(
            tx,
            &c,
            &NewProduct {
                title: "Test shirt".into(),
                status: Some("active".into()),
                options: Some(vec!["Size".into()]),
                variants: skus
                    .iter()
                    .map(|s| NewVariant {
                        sku: s.clone(),
                        options: Some(vec![s.clone()]),
                        price: 1000,
                        inventory_policy: Some(if backorder.contains(s) {
                            "continue".into()
                        } else {
                            "deny".into()
                        }),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
        )?;
        Ok((a, b, s))
    })
    .await
    .unwrap()
}

async fn receive(db: &Db, sku: &str, loc: i64, q: i64) {
    let sku = sku.to_string();
    db.write(move |tx| {
        inventory::receive(
            tx,
            &ctx(),
            &ReceiveStock {
                sku: sku.clone(),
                location_id: loc,
                quantity: q,
                note: None,
            },
        )
    })
    .await
    .unwrap();
}

fn order(lines: &[(&str, i64)]) -> PlaceOrder {
    PlaceOrder {
        channel: "online".into(),
        customer: CustomerInput {
            email: "Ann@Example.com".into(),
            first_name: Some("Ann".into()),
            ..Default::default()
        },
        shipping_address: Address {
            name: "Ann".into(),
            line1: "1 Main St".into(),
            city: "Lyon".into(),
            postal_code: "69001".into(),
            country: "fr".into(),
            ..Default::default()
        },
        shipping_method: None,
        pickup_location_id: None,
        lines: lines
            .iter()
            .map(|(s, q)| SkuQuantity {
                sku: s.to_string(),
                quantity: *q,
            })
            .collect(),
        note: None,
        origin_location_id: None,
    }
}

async fn place(db: &Db, o: PlaceOrder, key: Option<&str>) -> Result<orders::Placed, Error> {
    let key = key.map(str::to_string);
    db.write(move |tx| orders::place(tx, &ctx(), &o, key.as_deref()))
        .await
}

async fn cancel(db: &Db, id: i64) -> Result<Order, Error> {
    db.write(move |tx| {
        orders::cancel(
            tx,
            &ctx(),
            id,
            &CancelOrder {
                reason: Some("test".into()),
            },
        )
    })
    .await
}

async fn stock(db: &Db, sku: &str) -> SkuStock {
    let sku = sku.to_string();
    db.read(move |tx| inventory::sku_stock(tx, &sku))
        .await
        .unwrap()
}

async fn assert_invariants(db: &Db) {
    let r = db.read(check::run).await.unwrap();
    assert!(r.ok, "invariants violated: {:#?}", r.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_create_update_list() {
    for (name, db) in backends().await {
        store(&db, &["S1", "S2"], &[]).await;
        // Duplicate SKU and duplicate handle are 409s naming the field, and write nothing.
        let dup = db
            .write(|tx| {
                catalog::create_product(
                    tx,
                    &ctx(),
                    &NewProduct {
                        title: "Other".into(),
                        variants: vec![NewVariant {
                            sku: "S1".into(),
                            price: 5,
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )
            })
            .await;
        assert!(
            matches!(dup, Err(Error::Conflict { code: "already_exists", ref field, .. }) if field.as_deref() == Some("variants[0].sku")),
            "{name}: {dup:?}"
        );
        let dup = db
            .write(|tx| {
                catalog::create_product(
                    tx,
                    &ctx(),
                    &NewProduct {
                        title: "Test shirt".into(),
                        variants: vec![NewVariant {
                            sku: "NEW1".into(),
                            price: 5,
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )
            })
            .await;
        assert!(
            matches!(dup, Err(Error::Conflict { ref field, .. }) if field.as_deref() == Some("handle")),
            "{name}: {dup:?}"
        );
        let none = db
            .read(|tx| {
                Ok(tx
                    .query_one("SELECT id FROM variants WHERE sku = 'NEW1'", &[])?
                    .is_none())
            })
            .await
            .unwrap();
        assert!(none, "{name}: a refused product left a variant behind");
        // Bad input names the field.
        let bad = db
            .write(|tx| {
                catalog::create_product(
                    tx,
                    &ctx(),
                    &NewProduct {
                        title: "X".into(),
                        variants: vec![NewVariant {
                            sku: "has space".into(),
                            price: 5,
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )
            })
            .await;
        assert!(
            matches!(bad, Err(Error::Invalid(ref i)) if i.field == "variants[0].sku"),
            "{name}: {bad:?}"
        );

        // 30 more products; paginate through all of them by title and by id.
        db.write(|tx| {
            for i in 0..30 {
                catalog::create_product(
                    tx,
                    &ctx(),
                    &NewProduct {
                        title: format!("Product {i:02}"),
                        vendor: Some(if i % 2 == 0 {
                            "Even".into()
                        } else {
                            "Odd".into()
                        }),
                        variants: vec![NewVariant {
                            sku: format!("P{i}"),
                            price: 100 + i,
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
        for sort in ["title", "-title", "id", "-updated_at"] {
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let q = catalog::ProductQuery {
                    sort: Some(sort.into()),
                    limit: Some(7),
                    cursor: cursor.clone(),
                    ..Default::default()
                };
                let page = db
                    .read(move |tx| catalog::list_products(tx, &q))
                    .await
                    .unwrap();
                seen.extend(page.items.iter().map(|p| p.id));
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            let mut uniq = seen.clone();
            uniq.sort();
            uniq.dedup();
            assert_eq!(uniq.len(), 31, "{name} sort {sort}: {seen:?}");
            assert_eq!(
                seen.len(),
                31,
                "{name} sort {sort}: duplicates across pages"
            );
        }
        let q = catalog::ProductQuery {
            q: Some("p1".into()),
            vendor: Some("Odd".into()),
            ..Default::default()
        };
        let found = db
            .read(move |tx| catalog::list_products(tx, &q))
            .await
            .unwrap();
        // SKUs P1, P11, P13, ... P19 with odd i: P1, P11, P13, P15, P17, P19.
        assert_eq!(found.items.len(), 6, "{name}");

        // Update records a diff in the audit log.
        let id = found.items[0].id;
        let p = db
            .write(move |tx| {
                catalog::update_product(
                    tx,
                    &ctx(),
                    id,
                    &ProductPatch {
                        title: Some("Renamed".into()),
                        seo_title: Some(Some("SEO".into())),
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(p.title, "Renamed");
        let audit = db
            .read(move |tx| {
                backroom_core::audit::list(
                    tx,
                    &backroom_core::audit::AuditQuery {
                        entity_type: Some("product".into()),
                        entity_id: Some(id.to_string()),
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(audit.items[0].action, "product.updated");
        assert_eq!(
            audit.items[0].changes["title"]["from"],
            found.items[0].title.as_str()
        );
        assert_eq!(audit.items[0].changes["title"]["to"], "Renamed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_moves_and_two_leg_transfers() {
    for (name, db) in backends().await {
        let (a, b, _) = store(&db, &["K1"], &[]).await;
        receive(&db, "K1", a, 10).await;
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
        let at = |l: i64| {
            s.levels
                .iter()
                .find(|x| x.location_id == l)
                .cloned()
                .unwrap()
        };
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
        let at = |l: i64| {
            s.levels
                .iter()
                .find(|x| x.location_id == l)
                .cloned()
                .unwrap()
        };
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placing_pricing_sourcing_cancelling() {
    for (name, db) in backends().await {
        let (a, b, _) = store(&db, &["A1", "B1", "C1"], &["C1"]).await;
        db.write(|tx| {
            backroom_core::settings::set(tx, "default_tax_rate", "0.2")?;
            backroom_core::settings::set_shipping_rate(tx, "standard", "Standard", 500)
        })
        .await
        .unwrap();
        receive(&db, "A1", a, 2).await;
        receive(&db, "A1", b, 5).await;
        receive(&db, "B1", b, 1).await;
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
        let orders_before = db
            .read(|tx| {
                Ok(tx
                    .query_one("SELECT COUNT(*) FROM orders", &[])?
                    .unwrap()
                    .i64(0))
            })
            .await
            .unwrap();
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
        let orders_after = db
            .read(|tx| {
                Ok(tx
                    .query_one("SELECT COUNT(*) FROM orders", &[])?
                    .unwrap()
                    .i64(0))
            })
            .await
            .unwrap();
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
        let paid = db
            .write(move |tx| {
                orders::record_payment(
                    tx,
                    &ctx(),
                    id,
                    &RecordPayment {
                        status: "paid".into(),
                        amount: Some(5400),
                        reference: None,
                    },
                )
            })
            .await
            .unwrap();
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
        let tl = db.read(move |tx| orders::timeline(tx, id)).await.unwrap();
        assert_eq!(
            tl.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
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
        let (a, _, _) = store(&db, &["I1"], &[]).await;
        receive(&db, "I1", a, 100).await;
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
        let (a, b, _) = store(&db, &["HOT"], &[]).await;
        receive(&db, "HOT", a, 30).await;
        receive(&db, "HOT", b, 20).await;
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

/// Random sequences of stock operations and orders, checked against a model after every step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_operations_keep_invariants() {
    // Several seeds, each on fresh databases: different interleavings of every operation.
    let mut exchanges_received = 0;
    for seed0 in [0x5EEDu64, 7, 2026] {
        for (name, db) in backends().await {
            let name = format!("{name} seed {seed0}");
            let (a, b, _) = store(&db, &["R1", "R2"], &[]).await;
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
                                        lines: vec![NewReturnLine {
                                            line_id: line,
                                            quantity: 1,
                                            reason: "wrong_size".into(),
                                        }],
                                        exchange_lines: Some(vec![SkuQuantity {
                                            sku: other.clone(),
                                            quantity: 1,
                                        }]),
                                        ..Default::default()
                                    },
                                )?;
                                backroom_core::returns::receive(
                                    tx,
                                    &ctx(),
                                    r.id,
                                    &ReceiveReturn {
                                        lines: vec![ReceivedLine {
                                            line_id: line,
                                            quantity: 1,
                                            disposition: "restock".into(),
                                            location_id: Some(loc),
                                        }],
                                    },
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
                    4 | 5 => match place(&db, order(&[(&sku, q)]), None).await {
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
                                    &NewReturn {
                                        lines: vec![NewReturnLine {
                                            line_id: line,
                                            quantity: 1,
                                            reason: "changed_mind".into(),
                                        }],
                                        ..Default::default()
                                    },
                                )?;
                                backroom_core::returns::receive(
                                    tx,
                                    &ctx(),
                                    r.id,
                                    &ReceiveReturn {
                                        lines: vec![ReceivedLine {
                                            line_id: line,
                                            quantity: 1,
                                            disposition: "restock".into(),
                                            location_id: Some(loc),
                                        }],
                                    },
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
                         CAST(COALESCE((SELECT SUM(r.amount_minor) FROM refunds r WHERE r.order_id = o.id), 0) AS BIGINT), \
                         CAST(COALESCE((SELECT SUM(p.amount_minor) FROM payments p WHERE p.order_id = o.id AND p.kind = 'capture'), 0) AS BIGINT), \
                         o.subtotal_minor, o.shipping_minor, o.tax_minor, o.discounts_minor, \
                         CAST(COALESCE((SELECT SUM(l.unit_price_minor * l.quantity) FROM order_lines l WHERE l.order_id = o.id), 0) AS BIGINT), o.status, \
                         o.adjustments_minor, CAST(COALESCE((SELECT SUM(r.amount_minor - r.settled_minor) FROM refunds r WHERE r.order_id = o.id), 0) AS BIGINT), \
                         o.returned_minor FROM orders o",
                        &[],
                    )?)
                })
                .await
                .unwrap();
                for m in &money {
                    let (total, paid, refunded, status, refund_sum, captured) = (
                        m.i64(1),
                        m.i64(2),
                        m.i64(3),
                        m.string(4),
                        m.i64(5),
                        m.i64(6),
                    );
                    let id = m.i64(0);
                    assert_eq!(paid, captured, "{name} step {step}: order {id}");
                    // Concessions are exactly the refunded amounts that settled nothing owed.
                    assert_eq!(
                        m.i64(13),
                        m.i64(14),
                        "{name} step {step}: order {id} concessions"
                    );
                    // What the customer owes is never negative: refunds and returns never exceed it.
                    let owed = if m.string(12) == "cancelled" {
                        0
                    } else {
                        total - m.i64(15) - m.i64(13)
                    };
                    assert!(owed >= 0, "{name} step {step}: order {id} owes {owed}");
                    assert_eq!(
                        m.i64(7),
                        m.i64(11),
                        "{name} step {step}: order {id} subtotal"
                    );
                    assert_eq!(
                        total,
                        m.i64(7) - m.i64(10) + m.i64(8) + m.i64(9),
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
                         CAST(COALESCE((SELECT SUM(r.quantity) FROM reservations r WHERE r.order_line_id = l.id AND r.released_at IS NULL), 0) AS BIGINT), \
                         CAST(COALESCE((SELECT SUM(fl.quantity) FROM fulfillment_lines fl WHERE fl.order_line_id = l.id), 0) AS BIGINT) \
                         FROM order_lines l JOIN orders o ON o.id = l.order_id",
                        &[],
                    )?)
                })
                .await
                .unwrap();
                for l in &lines {
                    let (quantity, status, live, shipped) =
                        (l.i64(1), l.string(2), l.i64(3), l.i64(4));
                    match status.as_str() {
                        "open" => assert_eq!(
                            live + shipped,
                            quantity,
                            "{name} step {step}: line {}",
                            l.i64(0)
                        ),
                        _ => assert_eq!(live, 0, "{name} step {step}: line {} {status}", l.i64(0)),
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
                    Ok::<i64, Error>(tx.query_one(sql, &[])?.map_or(0, |r| r.i64(0)))
                };
                Ok((
                    n(tx, "SELECT COUNT(*) FROM fulfillments")?,
                    n(tx, "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'")?,
                    n(tx, "SELECT COUNT(*) FROM orders")?,
                    n(tx, "SELECT COUNT(*) FROM refunds")?,
                    n(tx, "SELECT COUNT(*) FROM returns WHERE status = 'received'")?,
                    n(tx, "SELECT COUNT(*) FROM order_events WHERE kind = 'edited'")?,
                    n(tx, "SELECT COUNT(*) FROM returns WHERE exchange = TRUE AND status = 'received'")?,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipping_delivering_refunding() {
    for (name, db) in backends().await {
        let (a, b, _) = store(&db, &["X1"], &[]).await;
        receive(&db, "X1", a, 3).await;
        receive(&db, "X1", b, 2).await;
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
        let after = db
            .write(move |tx| backroom_core::fulfillment::ship(tx, &ctx(), id, &s))
            .await
            .unwrap();
        assert_eq!(after.fulfillment_status, "partially_fulfilled", "{name}");
        assert_eq!(after.fulfillments.len(), 1);
        assert_eq!(after.fulfillments[0].lines[0].quantity, 3);
        let st = stock(&db, "X1").await;
        let at = |l: i64| {
            st.levels
                .iter()
                .find(|x| x.location_id == l)
                .cloned()
                .unwrap()
        };
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
        let r = db
            .write(move |tx| backroom_core::fulfillment::ship(tx, &ctx(), id, &s))
            .await;
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
        let done = db
            .write(move |tx| backroom_core::fulfillment::ship(tx, &ctx(), id, &s))
            .await
            .unwrap();
        assert_eq!(
            (done.fulfillment_status.as_str(), done.status.as_str()),
            ("fulfilled", "open"),
            "{name}: unpaid, so still open"
        );
        let s = ship(b, None);
        let r = db
            .write(move |tx| backroom_core::fulfillment::ship(tx, &ctx(), id, &s))
            .await;
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
        let paid = db
            .write(move |tx| {
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
            })
            .await
            .unwrap();
        assert_eq!(paid.status, "closed", "{name}");
        let total = paid.total.amount;
        let refund = |amount: i64| RefundOrder {
            amount: Some(amount),
            lines: None,
            shipping: None,
            reason: "damaged".into(),
            note: None,
        };
        let r1 = db
            .write(move |tx| backroom_core::orders::refund(tx, &ctx(), id, &refund(1000)))
            .await
            .unwrap();
        assert_eq!(
            (r1.payment_status.as_str(), r1.refunded.amount),
            ("partially_refunded", 1000)
        );
        let over = db
            .write(move |tx| {
                backroom_core::orders::refund(tx, &ctx(), id, &refund(total - 999))
            })
            .await;
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
        let r2 = db
            .write(move |tx| {
                backroom_core::orders::refund(tx, &ctx(), id, &refund(total - 1000))
            })
            .await
            .unwrap();
        assert_eq!(
            (r2.payment_status.as_str(), r2.refunded.amount),
            ("refunded", total)
        );
        let kinds: Vec<String> = db
            .read(move |tx| orders::timeline(tx, id))
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
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
        let read = db.read(move |tx| orders::get(tx, id)).await.unwrap();
        assert_eq!(read, r2);
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
            let mut o = order(&[("N1", q)]);
            o.channel = "web".into();
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
            let ch = db
                .read(|tx| {
                    Ok(tx
                        .query_one("SELECT id FROM channels WHERE code = 'web'", &[])?
                        .unwrap()
                        .i64(0))
                })
                .await
                .unwrap();
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
async fn holds_ship_by_and_pick_lists() {
    for (name, db) in backends().await {
        let (a, _, _) = store(&db, &["H1", "H2"], &[]).await;
        receive(&db, "H1", a, 50).await;
        receive(&db, "H2", a, 50).await;
        let now = backroom_core::util::now_micros();
        let hour = 3_600_000_000i64;
        // Placed three days ago on a 48-hour promise: late. Placed now on a 12-hour promise: at risk.
        let old = order(&[("H1", 2), ("H2", 1)]);
        let late = db
            .write(move |tx| {
                orders::place(tx, &Ctx::new(Actor::system(), now - 72 * hour), &old, None)
            })
            .await
            .unwrap()
            .order;
        assert!(late.ship_by.is_some());
        let ch = db
            .read(|tx| {
                Ok(tx
                    .query_one("SELECT id FROM channels WHERE code = 'online'", &[])?
                    .unwrap()
                    .i64(0))
            })
            .await
            .unwrap();
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
            .read(move |tx| backroom_core::fulfillment::pick_list(tx, a, 50, now))
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
            .read(move |tx| backroom_core::fulfillment::pick_list(tx, a, 50, now))
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
        let held = db
            .write(move |tx| {
                backroom_core::fulfillment::hold(
                    tx,
                    &ctx(),
                    id,
                    &HoldOrder {
                        reason: "fraud_review".into(),
                        note: Some("AVS mismatch".into()),
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(
            held.hold.as_ref().map(|h| h.reason.as_str()),
            Some("fraud_review")
        );
        let again = db
            .write(move |tx| {
                backroom_core::fulfillment::hold(
                    tx,
                    &ctx(),
                    id,
                    &HoldOrder {
                        reason: "other".into(),
                        note: None,
                    },
                )
            })
            .await;
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
        let bad = db
            .write(move |tx| {
                backroom_core::fulfillment::hold(
                    tx,
                    &ctx(),
                    id,
                    &HoldOrder {
                        reason: "because".into(),
                        note: None,
                    },
                )
            })
            .await;
        assert!(
            matches!(bad, Err(Error::Invalid(ref i)) if i.field == "reason"),
            "{name}: {bad:?}"
        );
        let ship = db
            .write(move |tx| {
                backroom_core::fulfillment::ship(
                    tx,
                    &ctx(),
                    id,
                    &ShipOrder {
                        location_id: a,
                        ..Default::default()
                    },
                )
            })
            .await;
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
            .read(move |tx| backroom_core::fulfillment::pick_list(tx, a, 50, now))
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
        let shipped = db
            .write(move |tx| {
                backroom_core::fulfillment::ship(
                    tx,
                    &ctx(),
                    id,
                    &ShipOrder {
                        location_id: a,
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(shipped.fulfillment_status, "fulfilled");
        // Shipped orders are neither late nor on the pick list any more.
        let l = db
            .read(move |tx| orders::list(tx, &q(Some(true), None, None), now))
            .await
            .unwrap();
        assert!(l.items.is_empty(), "{name}");
        let kinds: Vec<String> = db
            .read(move |tx| orders::timeline(tx, id))
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            ["placed", "sourced", "held", "hold_released", "shipped"],
            "{name}"
        );
        assert_invariants(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_received_and_inspected() {
    for (name, db) in backends().await {
        let (a, b, _) = store(&db, &["RT1", "RT2"], &[]).await;
        receive(&db, "RT1", a, 10).await;
        receive(&db, "RT2", a, 10).await;
        let o = place(&db, order(&[("RT1", 3), ("RT2", 1)]), None)
            .await
            .unwrap()
            .order;
        let (id, l1, l2) = (o.id, o.lines[0].id, o.lines[1].id);
        // Nothing shipped yet: nothing to return.
        let early = db
            .write(move |tx| {
                backroom_core::returns::create(
                    tx,
                    &ctx(),
                    id,
                    &NewReturn {
                        lines: vec![NewReturnLine {
                            line_id: l1,
                            quantity: 1,
                            reason: "damaged".into(),
                        }],
                        ..Default::default()
                    },
                )
            })
            .await;
        assert!(
            matches!(
                early,
                Err(Error::Conflict {
                    code: "not_returnable",
                    ..
                })
            ),
            "{name}: {early:?}"
        );
        db.write(move |tx| {
            backroom_core::fulfillment::ship(
                tx,
                &ctx(),
                id,
                &ShipOrder {
                    location_id: a,
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap();
        let too_many = db
            .write(move |tx| {
                backroom_core::returns::create(
                    tx,
                    &ctx(),
                    id,
                    &NewReturn {
                        lines: vec![NewReturnLine {
                            line_id: l1,
                            quantity: 4,
                            reason: "damaged".into(),
                        }],
                        ..Default::default()
                    },
                )
            })
            .await;
        assert!(
            matches!(
                too_many,
                Err(Error::Conflict {
                    code: "not_returnable",
                    ..
                })
            ),
            "{name}"
        );
        let bad_reason = db
            .write(move |tx| {
                backroom_core::returns::create(
                    tx,
                    &ctx(),
                    id,
                    &NewReturn {
                        lines: vec![NewReturnLine {
                            line_id: l1,
                            quantity: 1,
                            reason: "meh".into(),
                        }],
                        ..Default::default()
                    },
                )
            })
            .await;
        assert!(
            matches!(bad_reason, Err(Error::Invalid(ref i)) if i.field == "lines[0].reason"),
            "{name}"
        );
        let rma = db
            .write(move |tx| {
                backroom_core::returns::create(
                    tx,
                    &ctx(),
                    id,
                    &NewReturn {
                        lines: vec![
                            NewReturnLine {
                                line_id: l1,
                                quantity: 2,
                                reason: "damaged".into(),
                            },
                            NewReturnLine {
                                line_id: l2,
                                quantity: 1,
                                reason: "wrong_size".into(),
                            },
                        ],
                        label_tracking: Some("RET1".into()),
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(rma.status, "requested");
        // The same units cannot be returned twice.
        let twice = db
            .write(move |tx| {
                backroom_core::returns::create(
                    tx,
                    &ctx(),
                    id,
                    &NewReturn {
                        lines: vec![NewReturnLine {
                            line_id: l1,
                            quantity: 2,
                            reason: "damaged".into(),
                        }],
                        ..Default::default()
                    },
                )
            })
            .await;
        assert!(
            matches!(
                twice,
                Err(Error::Conflict {
                    code: "not_returnable",
                    ..
                })
            ),
            "{name}"
        );
        let rid = rma.id;
        // One unit of RT1 restocked at A, one kept unavailable at B; RT2 written off later.
        let got = db
            .write(move |tx| {
                backroom_core::returns::receive(
                    tx,
                    &ctx(),
                    rid,
                    &ReceiveReturn {
                        lines: vec![
                            ReceivedLine {
                                line_id: l1,
                                quantity: 1,
                                disposition: "restock".into(),
                                location_id: Some(a),
                            },
                            ReceivedLine {
                                line_id: l1,
                                quantity: 1,
                                disposition: "unavailable".into(),
                                location_id: Some(b),
                            },
                        ],
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(got.status, "partially_received", "{name}");
        let st = stock(&db, "RT1").await;
        let at = |l: i64| {
            st.levels
                .iter()
                .find(|x| x.location_id == l)
                .cloned()
                .unwrap()
        };
        assert_eq!(
            (
                at(a).on_hand,
                at(a).available,
                at(b).on_hand,
                at(b).unavailable,
                at(b).available
            ),
            (8, 8, 1, 1, 0),
            "{name}"
        );
        let over = db
            .write(move |tx| {
                backroom_core::returns::receive(
                    tx,
                    &ctx(),
                    rid,
                    &ReceiveReturn {
                        lines: vec![ReceivedLine {
                            line_id: l1,
                            quantity: 1,
                            disposition: "restock".into(),
                            location_id: Some(a),
                        }],
                    },
                )
            })
            .await;
        assert!(matches!(over, Err(Error::Invalid(_))), "{name}: {over:?}");
        let done = db
            .write(move |tx| {
                backroom_core::returns::receive(
                    tx,
                    &ctx(),
                    rid,
                    &ReceiveReturn {
                        lines: vec![ReceivedLine {
                            line_id: l2,
                            quantity: 1,
                            disposition: "write_off".into(),
                            location_id: None,
                        }],
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(done.status, "received");
        assert_eq!(
            stock(&db, "RT2").await.totals.on_hand,
            9,
            "{name}: a write-off changes no stock"
        );
        let order_now = db.read(move |tx| orders::get(tx, id)).await.unwrap();
        assert_eq!(order_now.fulfillment_status, "partially_returned", "{name}");
        let cancel = db
            .write(move |tx| backroom_core::returns::cancel(tx, &ctx(), rid))
            .await;
        assert!(matches!(cancel, Err(Error::Conflict { .. })), "{name}");
        // Return rate: computed here from what the test did, against the report.
        let rates = db
            .read(|tx| backroom_core::returns::return_rates(tx, &Default::default()))
            .await
            .unwrap();
        assert_eq!((rates.units_sold, rates.units_returned), (4, 3), "{name}");
        assert!((rates.rate - 0.75).abs() < 1e-12);
        let rt1 = rates.by_product.iter().find(|p| p.sku == "RT1").unwrap();
        assert_eq!((rt1.units_sold, rt1.units_returned), (3, 2));
        let reasons: Vec<(String, i64)> = rates
            .by_reason
            .iter()
            .map(|r| (r.reason.clone(), r.units_returned))
            .collect();
        assert_eq!(
            reasons,
            vec![("damaged".into(), 2), ("wrong_size".into(), 1)]
        );
        let ledger = db
            .read(|tx| {
                inventory::ledger(
                    tx,
                    &inventory::LedgerQuery {
                        sku: "RT1".into(),
                        reason: Some("return_restock".into()),
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(ledger.items.len(), 2);
        assert_invariants(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn click_and_collect_with_a_deadline() {
    for (name, db) in backends().await {
        let (a, _, shop) = store(&db, &["CC1"], &[]).await;
        receive(&db, "CC1", a, 10).await;
        receive(&db, "CC1", shop, 3).await;
        // The online channel sells from the warehouses; add the shop, which offers pickup.
        let ch = db
            .read(|tx| {
                Ok(tx
                    .query_one("SELECT id FROM channels WHERE code = 'online'", &[])?
                    .unwrap()
                    .i64(0))
            })
            .await
            .unwrap();
        let (wa, wb) = db
            .read(|tx| {
                Ok((
                    tx.query_one("SELECT id FROM locations WHERE code = 'wh-a'", &[])?
                        .unwrap()
                        .i64(0),
                    tx.query_one("SELECT id FROM locations WHERE code = 'wh-b'", &[])?
                        .unwrap()
                        .i64(0),
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
        let pickup = |q: i64, at: Option<i64>| {
            let mut o = order(&[("CC1", q)]);
            o.shipping_method = Some("pickup".into());
            o.pickup_location_id = at;
            o
        };
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
        let not_yet = db
            .write(move |tx| {
                backroom_core::fulfillment::picked_up(
                    tx,
                    &ctx(),
                    id,
                    &PickedUp {
                        handed_over_by: "Léa".into(),
                    },
                )
            })
            .await;
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
        let done = db
            .write(move |tx| {
                backroom_core::fulfillment::picked_up(
                    tx,
                    &ctx(),
                    id,
                    &PickedUp {
                        handed_over_by: "Léa".into(),
                    },
                )
            })
            .await
            .unwrap();
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
        db.write(move |tx| {
            orders::record_payment(
                tx,
                &ctx(),
                id2,
                &RecordPayment {
                    status: "paid".into(),
                    amount: None,
                    reference: None,
                },
            )
        })
        .await
        .unwrap();
        db.write(move |tx| backroom_core::fulfillment::ready_for_pickup(tx, &ctx(), id2))
            .await
            .unwrap();
        let early = db
            .write(|tx| {
                backroom_core::fulfillment::expire_pickups(
                    tx,
                    &Ctx::new(
                        Actor::system(),
                        backroom_core::util::now_micros() + 47 * 3_600_000_000,
                    ),
                )
            })
            .await
            .unwrap();
        assert!(early.is_empty(), "{name}: not before the deadline");
        let expired = db
            .write(|tx| {
                backroom_core::fulfillment::expire_pickups(
                    tx,
                    &Ctx::new(
                        Actor::system(),
                        backroom_core::util::now_micros() + 49 * 3_600_000_000,
                    ),
                )
            })
            .await
            .unwrap();
        assert_eq!(expired, vec![id2], "{name}");
        let gone = db.read(move |tx| orders::get(tx, id2)).await.unwrap();
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

/// Sets a 20% tax rate and a 5.00 standard shipping charge, so values have tax and shipping.
async fn taxed(db: &Db) {
    db.write(|tx| {
        backroom_core::settings::set(tx, "default_tax_rate", "0.2")?;
        backroom_core::settings::set_shipping_rate(tx, "standard", "Standard", 500)
    })
    .await
    .unwrap();
}

async fn write<T: Send + 'static>(
    db: &Db,
    mut f: impl FnMut(&mut dyn backroom_core::Sql, &Ctx) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    db.write(move |tx| f(tx, &ctx())).await
}

fn pay(
    id: i64,
    amount: Option<i64>,
) -> impl FnMut(&mut dyn backroom_core::Sql, &Ctx) -> Result<Order, Error> {
    move |tx, c| {
        orders::record_payment(
            tx,
            c,
            id,
            &RecordPayment {
                status: "paid".into(),
                amount,
                reference: None,
            },
        )
    }
}

fn live(o: &Order, line: usize) -> Vec<(i64, i64)> {
    o.lines[line]
        .allocations
        .iter()
        .filter(|a| a.live)
        .map(|a| (a.location_id, a.quantity))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_move_reservations_totals_and_balance() {
    for (name, db) in backends().await {
        let (a, b, _) = store(&db, &["E1", "E2", "E3"], &[]).await;
        taxed(&db).await;
        receive(&db, "E1", a, 5).await;
        receive(&db, "E2", a, 3).await;
        receive(&db, "E2", b, 2).await;
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
        let o = write(&db, move |tx, c| {
            backroom_core::orders::edits::edit(tx, c, id, &edit)
        })
        .await
        .unwrap();
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
        let before = db.read(move |tx| orders::get(tx, id)).await.unwrap();
        let too_many = EditOrder {
            add: vec![SkuQuantity {
                sku: "E2".into(),
                quantity: 2,
            }],
            ..Default::default()
        };
        match write(&db, move |tx, c| {
            backroom_core::orders::edits::edit(tx, c, id, &too_many)
        })
        .await
        {
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
        assert_eq!(
            db.read(move |tx| orders::get(tx, id)).await.unwrap(),
            before,
            "{name}"
        );

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
        write(&db, move |tx, c| {
            backroom_core::fulfillment::ship(
                tx,
                c,
                id,
                &ShipOrder {
                    location_id: a,
                    lines: Some(vec![ShipLine {
                        line_id: e1,
                        quantity: 1,
                    }]),
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap();
        let below = EditOrder {
            change: vec![LineQuantity {
                line_id: e1,
                quantity: 0,
            }],
            ..Default::default()
        };
        match write(&db, move |tx, c| {
            backroom_core::orders::edits::edit(tx, c, id, &below)
        })
        .await
        {
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
        let o = write(&db, move |tx, c| {
            backroom_core::orders::edits::edit(tx, c, id, &remove)
        })
        .await
        .unwrap();
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
        let o = write(&db, move |tx, c| {
            backroom_core::orders::refund(tx, c, id, &refund)
        })
        .await
        .unwrap();
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
            matches!(
                write(&db, move |tx, c| backroom_core::orders::edits::edit(
                    tx, c, id2, &empty
                ))
                .await,
                Err(Error::Invalid(_))
            ),
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
                write(&db, move |tx, c| backroom_core::orders::edits::edit(
                    tx, c, id2, &late
                ))
                .await,
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
        let (a, _, _) = store(&db, &["X1", "X2"], &[]).await;
        taxed(&db).await;
        receive(&db, "X1", a, 10).await;
        receive(&db, "X2", a, 10).await;
        let o = place(&db, order(&[("X1", 3)]), None).await.unwrap().order;
        let (id, line) = (o.id, o.lines[0].id);
        write(&db, pay(id, None)).await.unwrap();
        let o = write(&db, move |tx, c| {
            backroom_core::fulfillment::ship(
                tx,
                c,
                id,
                &ShipOrder {
                    location_id: a,
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap();
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
        let o = write(&db, move |tx, c| {
            backroom_core::orders::refund(tx, c, id, &r)
        })
        .await
        .unwrap();
        assert_eq!(
            (o.refunded.amount, o.owed.amount, o.balance.amount),
            (1200, 3000, 0),
            "{name}"
        );
        assert_eq!(o.lines[0].refunded_quantity, 1, "{name}");
        // Shipping with its tax (5.00 + 1.00), once.
        let r = refund(None, Some(true), None);
        let o = write(&db, move |tx, c| {
            backroom_core::orders::refund(tx, c, id, &r)
        })
        .await
        .unwrap();
        assert_eq!(o.refunded.amount, 1800, "{name}");
        let r = refund(None, Some(true), None);
        assert!(
            matches!(
                write(&db, move |tx, c| backroom_core::orders::refund(
                    tx, c, id, &r
                ))
                .await,
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
                write(&db, move |tx, c| backroom_core::orders::refund(
                    tx, c, id, &r
                ))
                .await,
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
            matches!(
                write(&db, move |tx, c| backroom_core::orders::refund(
                    tx, c, id, &r
                ))
                .await,
                Err(Error::Invalid(_))
            ),
            "{name}"
        );
        let r = refund(None, None, None);
        assert!(
            matches!(
                write(&db, move |tx, c| backroom_core::orders::refund(
                    tx, c, id, &r
                ))
                .await,
                Err(Error::Invalid(_))
            ),
            "{name}"
        );

        // The unit refunded by line stays with the customer: only two can come back.
        let three = NewReturn {
            lines: vec![NewReturnLine {
                line_id: line,
                quantity: 3,
                reason: "changed_mind".into(),
            }],
            ..Default::default()
        };
        let r = write(&db, move |tx, c| {
            backroom_core::returns::create(tx, c, id, &three)
        })
        .await;
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
            lines: vec![NewReturnLine {
                line_id: line,
                quantity: 1,
                reason: "wrong_size".into(),
            }],
            exchange_lines: Some(vec![SkuQuantity {
                sku: "X2".into(),
                quantity: 2,
            }]),
            ..Default::default()
        };
        let r = write(&db, move |tx, c| {
            backroom_core::returns::create(tx, c, id, &ex)
        })
        .await
        .unwrap();
        assert!(r.exchange, "{name}");
        assert_eq!(r.exchange_line_ids.len(), 1, "{name}");
        let o = db.read(move |tx| orders::get(tx, id)).await.unwrap();
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
        write(&db, move |tx, c| {
            backroom_core::returns::receive(
                tx,
                c,
                rid,
                &ReceiveReturn {
                    lines: vec![ReceivedLine {
                        line_id: line,
                        quantity: 1,
                        disposition: "restock".into(),
                        location_id: Some(a),
                    }],
                },
            )
        })
        .await
        .unwrap();
        let o = db.read(move |tx| orders::get(tx, id)).await.unwrap();
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
        let o = write(&db, move |tx, c| {
            backroom_core::fulfillment::ship(
                tx,
                c,
                id,
                &ShipOrder {
                    location_id: a,
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap();
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
        let (a, b, shop) = store(&db, &["S1", "S2"], &[]).await;
        receive(&db, "S1", a, 2).await;
        receive(&db, "S1", b, 5).await;
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
        let mut sale = order(&[("S1", 1)]);
        sale.channel = "pos".into();
        sale.origin_location_id = Some(shop);
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
        let lows = || async {
            db.read(|tx| {
                Ok(tx
                    .query_one(
                        "SELECT COUNT(*) FROM webhook_events WHERE event_type = 'inventory.low'",
                        &[],
                    )?
                    .unwrap()
                    .i64(0))
            })
            .await
            .unwrap()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fulfillment_time_and_on_time_rate() {
    const H: i64 = 3_600_000_000;
    for (name, db) in backends().await {
        let (a, _, _) = store(&db, &["F1"], &[]).await;
        receive(&db, "F1", a, 100).await;
        let t0 = backroom_core::util::now_micros() - 400 * H;
        let at = |t: i64| Ctx::new(Actor::system(), t);
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
            .read(move |tx| backroom_core::fulfillment::fulfillment_report(tx, &q, now))
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

// ----------------------------------------------------------------------------------------------
// Imports

fn shared(rel: &str) -> Option<std::path::PathBuf> {
    backroom_import::shared_data(rel)
}

fn read_products(bytes: &[u8]) -> backroom_import::products::ProductFile {
    backroom_import::products::read(bytes, None, 2)
}

async fn import_products(
    db: &Db,
    bytes: &[u8],
    opts: backroom_core::imports::Options,
) -> backroom_core::imports::Summary {
    backroom_core::imports::products(db, Actor::system(), read_products(bytes), &opts)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_catalog_imports_and_reimports_unchanged() {
    let files = [
        "formats/shopify/product_template.csv",
        "formats/woocommerce/sample_products.csv",
        "formats/woocommerce/sample_products_400.csv",
        "formats/woocommerce/importer_sample.csv",
        "formats/magento/configurable_products.csv",
    ];
    let mut data = Vec::new();
    for f in files {
        let Some(p) = shared(f) else { return };
        data.push((f, std::fs::read(p).unwrap()));
    }
    for (name, db) in backends().await {
        store(&db, &["UNUSED"], &[]).await;
        let opts = || backroom_core::imports::Options {
            location: Some("wh-a".into()),
            ..Default::default()
        };
        for (f, bytes) in &data {
            let parsed = read_products(bytes);
            let s = import_products(&db, bytes, opts()).await;
            assert!(s.rejected.is_empty(), "{name} {f}: {:?}", s.rejected);
            assert_eq!(
                (s.created, s.updated, s.unchanged),
                (parsed.products.len() as u64, 0, 0),
                "{name} {f}"
            );
            // The second time changes nothing.
            let again = import_products(&db, bytes, opts()).await;
            assert_eq!(
                (again.created, again.updated, again.unchanged),
                (0, 0, parsed.products.len() as u64),
                "{name} {f}: {:?}",
                again
                    .changes
                    .iter()
                    .filter(|c| c.action != "unchanged")
                    .collect::<Vec<_>>()
            );
        }
        // The catalog as a merchant sees it: Magento's configurable with 15 sizes and colours,
        // priced in minor units, with its stock at the warehouse.
        let p = db
            .read(|tx| {
                let id = tx
                    .query_one("SELECT id FROM products WHERE handle = 'mh01'", &[])?
                    .unwrap()
                    .i64(0);
                catalog::get_product(tx, id)
            })
            .await
            .unwrap();
        assert_eq!(
            p.options,
            vec!["Size".to_string(), "Color".to_string()],
            "{name}"
        );
        assert_eq!(p.variants.len(), 15, "{name}");
        assert_eq!(p.variants[0].price.amount, 5200, "{name}");
        let st = stock(&db, "MH01-XS-Black").await;
        assert_eq!(st.totals.on_hand, 100, "{name}");
        assert_eq!(stock(&db, "WOOLOGO").await.totals.on_hand, 5, "{name}");
        assert_invariants(&db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_are_refused_row_by_row_and_strict_applies_nothing() {
    use backroom_core::imports::Options;
    const HEAD: &str = "handle,title,status,option1_name,sku,option1,price\n";
    for (name, db) in backends().await {
        store(&db, &["UNUSED"], &[]).await;
        let count = || async {
            db.read(|tx| {
                Ok(tx
                    .query_one("SELECT COUNT(*) FROM products", &[])?
                    .unwrap()
                    .i64(0))
            })
            .await
            .unwrap()
        };
        let before = count().await;
        // A bad price, a duplicate SKU, a row with too few fields (a truncated last line), CR
        // line endings and a BOM, and a quoted newline in a title.
        let body = format!(
            "\u{feff}{}\r{}\r{}\r{}\r{}",
            HEAD.trim_end(),
            "tee,\"Tee\nshirt\",active,Size,TEE-S,S,19.99",
            "tee,\"Tee\nshirt\",active,Size,TEE-M,M,abc",
            "cap,Cap,active,Size,TEE-S,One,5",
            "mug,Mug,active,Size,MUG-1"
        );
        // Strict: nothing goes in, every problem is named.
        let s = import_products(
            &db,
            body.as_bytes(),
            Options {
                strict: true,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(count().await, before, "{name}");
        let found: Vec<(u64, Option<String>)> = s
            .rejected
            .iter()
            .map(|e| (e.line, e.column.clone()))
            .collect();
        assert!(
            found.contains(&(4, Some("price".into()))),
            "{name}: {:?}",
            s.rejected
        );
        // Quoted newlines count: the second row starts on line 4, the third on line 6.
        assert!(
            found.contains(&(6, Some("sku".into()))),
            "{name}: {:?}",
            s.rejected
        );
        assert!(found.contains(&(7, None)), "{name}: {:?}", s.rejected);
        // Not strict: the good product goes in (line numbers count the quoted newline), the
        // rest is reported.
        let s = import_products(&db, body.as_bytes(), Options::default()).await;
        assert_eq!(s.created, 1, "{name}: {:?}", s.rejected);
        assert_eq!(count().await, before + 1, "{name}");
        let p = db
            .read(|tx| {
                let id = tx
                    .query_one("SELECT id FROM products WHERE handle = 'tee'", &[])?
                    .unwrap()
                    .i64(0);
                catalog::get_product(tx, id)
            })
            .await
            .unwrap();
        assert_eq!(p.title, "Tee\nshirt", "{name}");
        assert_eq!(p.variants.len(), 1, "{name}");
        // A missing column is named once, at the header.
        let s = import_products(
            &db,
            b"handle,title,sku\nhat,Hat,HAT-1\nbag,Bag,BAG-1\n",
            Options::default(),
        )
        .await;
        assert_eq!(
            s.rejected
                .iter()
                .map(|e| (e.line, e.column.as_deref()))
                .collect::<Vec<_>>(),
            vec![(1, Some("price"))],
            "{name}: {:?}",
            s.rejected
        );
        // A semicolon file is refused at the header; a dry run changes nothing but says what it
        // would change.
        let s = import_products(&db, b"handle;title;sku\nx;y;z\n", Options::default()).await;
        assert_eq!((s.rejected.len(), s.rejected[0].line), (1, 1), "{name}");
        let repriced = format!("{HEAD}tee,\"Tee\nshirt\",active,Size,TEE-S,S,21.50\n");
        let s = import_products(
            &db,
            repriced.as_bytes(),
            Options {
                dry_run: true,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(s.updated, 1, "{name}");
        let change = &s.changes[0];
        assert!(
            change
                .fields
                .iter()
                .any(|(f, a, b)| f == "TEE-S.price" && a == 1999 && b == 2150),
            "{name}: {change:?}"
        );
        assert_eq!(
            stock_price(&db, "TEE-S").await,
            1999,
            "{name}: the dry run changed nothing"
        );
    }
}

async fn stock_price(db: &Db, sku: &str) -> i64 {
    let sku = sku.to_string();
    db.read(move |tx| {
        Ok(tx
            .query_one(
                "SELECT price_minor FROM variants WHERE sku = $1",
                &[sku.as_str().into()],
            )?
            .unwrap()
            .i64(0))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_files_set_or_add_through_the_ledger() {
    use backroom_core::imports::{Options, StockMode};
    for (name, db) in backends().await {
        store(&db, &["K1", "K2"], &[]).await;
        let file =
            "sku,location,quantity\nK1,wh-a,10\nK2,wh-b,4\nK1,nowhere,3\nK9,wh-a,1\nK2,wh-a,x\n";
        let (recs, errs) = backroom_import::stock::read(file.as_bytes());
        assert_eq!(errs.len(), 1, "{name}: the bad number");
        let s = backroom_core::imports::stock(
            &db,
            Actor::system(),
            recs.clone(),
            errs.clone(),
            StockMode::Set,
            "opening".into(),
            &Options::default(),
        )
        .await
        .unwrap();
        assert_eq!(s.updated, 2, "{name}");
        let why: Vec<(u64, String)> = s
            .rejected
            .iter()
            .map(|e| (e.line, e.message.clone()))
            .collect();
        assert_eq!(why.len(), 3, "{name}: {why:?}");
        assert!(why[0].1.contains("nowhere"), "{name}: {why:?}");
        assert!(why[1].1.contains("K9"), "{name}: {why:?}");
        assert_eq!(stock(&db, "K1").await.totals.on_hand, 10, "{name}");
        // Setting the same again changes nothing; adding adds.
        let s = backroom_core::imports::stock(
            &db,
            Actor::system(),
            recs.clone(),
            vec![],
            StockMode::Set,
            "again".into(),
            &Options::default(),
        )
        .await
        .unwrap();
        assert_eq!((s.updated, s.unchanged), (0, 2), "{name}");
        backroom_core::imports::stock(
            &db,
            Actor::system(),
            recs,
            vec![],
            StockMode::Add,
            "delivery".into(),
            &Options::default(),
        )
        .await
        .unwrap();
        assert_eq!(stock(&db, "K1").await.totals.on_hand, 20, "{name}");
        // Streamed, as the CLI and the API read files: the same outcome, row for row.
        let mut reader = backroom_import::stock::StockReader::new(file.as_bytes()).unwrap();
        let s = backroom_core::imports::stock_stream(
            &db,
            Actor::system(),
            move || reader.next(),
            StockMode::Set,
            "recount".into(),
            &Options::default(),
        )
        .await
        .unwrap();
        assert_eq!(
            (s.rows, s.updated, s.rejected.len()),
            (5, 2, 3),
            "{name}: {:?}",
            s.rejected
        );
        assert_eq!(stock(&db, "K1").await.totals.on_hand, 10, "{name}");
        assert_invariants(&db).await;
    }
}

/// The whole UCI Online Retail history imports, and what the import reports matches a plain
/// computation over the CSV files: orders, lines, customers, products, refused rows by reason,
/// and every cancellation either matched to an earlier sale of the same code to the same
/// customer or reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_online_retail_history_imports_with_counts_that_match_the_files() {
    use std::collections::{BTreeSet, HashSet};
    let Some(dir) = shared("online-retail/by-day") else {
        return;
    };
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // Independently: straight loops over the rows.
    let (mut sale_lines, mut cancel_lines, mut negative, mut adjustments) =
        (0u64, 0u64, 0u64, 0u64);
    let mut sale_invoices: HashSet<String> = HashSet::new();
    let mut customers: BTreeSet<String> = BTreeSet::new();
    let mut codes: HashSet<String> = HashSet::new();
    let mut rows = 0u64;
    // (invoice, code, units, date, unit price in pence, customer), accepted rows in file order.
    let mut accepted_rows: Vec<(String, String, i64, String, i64, String)> = Vec::new();
    for f in &files {
        for r in csv::Reader::from_path(f).unwrap().records() {
            let r = r.unwrap();
            rows += 1;
            let (inv, code, qty, cust) = (&r[0], &r[1], r[3].parse::<i64>().unwrap(), &r[6]);
            if inv.starts_with('A') {
                adjustments += 1;
                continue;
            }
            if !inv.starts_with('C') && qty < 0 {
                negative += 1;
                continue;
            }
            if inv.starts_with('C') {
                cancel_lines += 1;
            } else {
                sale_lines += 1;
                sale_invoices.insert(inv.to_string());
            }
            let price = backroom_import::money::parse_minor(&r[5], 2).unwrap();
            accepted_rows.push((
                inv.to_string(),
                code.to_string(),
                qty.abs(),
                r[4].to_string(),
                price,
                cust.to_string(),
            ));
            if !cust.is_empty() {
                customers.insert(cust.to_string());
            }
            codes.insert(code.to_string());
        }
    }
    assert_eq!(rows, 541_909);
    for (name, db) in backends().await {
        let mut readers = files.clone().into_iter();
        let mut current: Option<
            backroom_import::retail::InvoiceReader<std::io::BufReader<std::fs::File>>,
        > = None;
        let next = move || loop {
            if let Some(r) = current.as_mut()
                && let Some(item) = r.next()
            {
                return Some(item);
            }
            let f = readers.next()?;
            current = Some(
                backroom_import::retail::InvoiceReader::new(
                    std::io::BufReader::new(std::fs::File::open(f).unwrap()),
                    2,
                )
                .unwrap(),
            );
        };
        let (oc, _) = backroom_core::imports::order_context(
            &db,
            &Actor::system(),
            &backroom_core::imports::OrderOptions {
                channel: "online".into(),
                currency: Some("GBP".into()),
                timezone: Some("Europe/London".into()),
                stock_location: None,
            },
        )
        .await
        .unwrap();
        let s = backroom_core::imports::orders(
            &db,
            Actor::system(),
            oc,
            next,
            &Default::default(),
            |_| {},
        )
        .await
        .unwrap();
        let count = |k: &str| s.counts.iter().find(|(n, _)| n == k).map_or(0, |(_, v)| *v);
        assert_eq!(s.rows, rows, "{name}");
        assert_eq!(count("orders"), sale_invoices.len() as u64, "{name}");
        assert_eq!(count("order lines"), sale_lines, "{name}");
        assert_eq!(count("customers"), customers.len() as u64, "{name}");
        assert_eq!(count("products"), codes.len() as u64, "{name}");
        let matched = count("cancellation lines matched");
        let by = |prefix: &str| {
            s.rejected
                .iter()
                .filter(|e| e.message.starts_with(prefix))
                .count() as u64
        };
        assert_eq!(by("is negative on a sale"), negative, "{name}");
        assert_eq!(by("an A invoice"), adjustments, "{name}");
        assert_eq!(
            matched + by("no earlier sale to cancel"),
            cancel_lines,
            "{name}"
        );
        assert_eq!(
            s.rejected.len() as u64,
            negative + adjustments + (cancel_lines - matched),
            "{name}"
        );
        // Every matched cancellation took back units of an earlier sale of the same code to the
        // same customer, never more than were sold; refunds never exceed what was paid.
        let bad = db
            .read(|tx| {
                Ok(tx
                    .query_one(
                        "SELECT COUNT(*) FROM return_lines rl JOIN returns r ON r.id = rl.return_id JOIN order_lines l ON l.id = rl.order_line_id \
                         JOIN orders o ON o.id = l.order_id WHERE o.placed_at > r.created_at OR l.returned_quantity > l.quantity",
                        &[],
                    )?
                    .unwrap()
                    .i64(0)
                    + tx.query_one("SELECT COUNT(*) FROM orders WHERE refunded_minor > paid_minor", &[])?.unwrap().i64(0))
            })
            .await
            .unwrap();
        assert_eq!(bad, 0, "{name}");
        let units = db
            .read(|tx| {
                Ok(tx
                    .query_one(
                        "SELECT CAST(SUM(quantity) AS BIGINT) FROM return_lines",
                        &[],
                    )?
                    .unwrap()
                    .i64(0))
            })
            .await
            .unwrap();
        assert!(units > 0 && matched > 0, "{name}");
        online_retail_kpis(name, &db, &accepted_rows).await;
    }
}

/// The order KPIs of the imported Online Retail year (orders, net sales, AOV, repeat customer
/// rate, units returned, net sales by month) against plain loops over the CSV rows. Cancellations
/// are matched as the import documents it: to the latest earlier sales of the same stock code,
/// unit price and customer with units still open (taken from several when one is not enough,
/// refused when all together are not); a refund is their value at that price, never more than
/// what the order has left to refund, dated at the cancellation. Guest invoices (no customer)
/// count in orders and sales, never as a customer.
async fn online_retail_kpis(
    name: &str,
    db: &Db,
    rows: &[(String, String, i64, String, i64, String)],
) {
    use backroom_core::analytics::report;
    use std::collections::{BTreeMap, HashMap};
    struct Sale {
        date: String,
        customer: String,
        total: i64,
        refunded: i64,
        lines: Vec<(String, i64, i64)>,
    }
    let mut sales: Vec<Sale> = Vec::new();
    let mut sale_index: HashMap<&str, usize> = HashMap::new();
    // Cancellations in file order: (invoice, date, customer, lines).
    type Cancel<'a> = (&'a str, &'a str, &'a str, Vec<(&'a str, i64, i64)>);
    let mut cancels: Vec<Cancel> = Vec::new();
    for (inv, code, qty, date, price, cust) in rows {
        if inv.starts_with('C') {
            if cancels.last().is_none_or(|c| c.0 != inv) {
                cancels.push((inv, date, cust, Vec::new()));
            }
            cancels.last_mut().unwrap().3.push((code, *qty, *price));
        } else {
            let i = *sale_index.entry(inv).or_insert_with(|| {
                sales.push(Sale {
                    date: date.clone(),
                    customer: cust.clone(),
                    total: 0,
                    refunded: 0,
                    lines: Vec::new(),
                });
                sales.len() - 1
            });
            sales[i].total += qty * price;
            sales[i].lines.push((code.clone(), *qty, *price));
        }
    }
    let mut by_key: HashMap<(String, String, i64), Vec<(usize, usize)>> = HashMap::new();
    for (i, s) in sales.iter().enumerate() {
        for (j, (code, _, price)) in s.lines.iter().enumerate() {
            by_key
                .entry((s.customer.clone(), code.clone(), *price))
                .or_default()
                .push((i, j));
        }
    }
    let mut remaining: Vec<Vec<i64>> = sales
        .iter()
        .map(|s| s.lines.iter().map(|l| l.1).collect())
        .collect();
    let mut refunds: BTreeMap<String, i64> = BTreeMap::new();
    let mut returned_units = 0;
    for (_, date, cust, lines) in &cancels {
        if cust.is_empty() {
            continue;
        }
        let mut value_per_order: BTreeMap<usize, i64> = BTreeMap::new();
        for (code, qty, price) in lines {
            let Some(cands) = by_key.get(&(cust.to_string(), code.to_string(), *price)) else {
                continue;
            };
            let mut open: Vec<(usize, usize)> = cands
                .iter()
                .copied()
                .filter(|(i, j)| sales[*i].date.as_str() <= *date && remaining[*i][*j] > 0)
                .collect();
            open.sort_by_key(|(i, j)| std::cmp::Reverse((sales[*i].date.clone(), *i, *j)));
            if open.iter().map(|(i, j)| remaining[*i][*j]).sum::<i64>() < *qty {
                continue;
            }
            let mut left = *qty;
            for (i, j) in open {
                let take = left.min(remaining[i][j]);
                remaining[i][j] -= take;
                left -= take;
                returned_units += take;
                *value_per_order.entry(i).or_default() += take * price;
                if left == 0 {
                    break;
                }
            }
        }
        for (i, value) in value_per_order {
            let refund = value.min(sales[i].total - sales[i].refunded).max(0);
            sales[i].refunded += refund;
            *refunds.entry(date[..7].to_string()).or_default() += refund;
        }
    }
    let orders = sales.len() as i64;
    let gross: i64 = sales.iter().map(|s| s.total).sum();
    let refunded: i64 = refunds.values().sum();
    let mut per_customer: HashMap<&str, i64> = HashMap::new();
    for s in sales.iter().filter(|s| !s.customer.is_empty()) {
        *per_customer.entry(s.customer.as_str()).or_default() += 1;
    }
    let repeat = per_customer.values().filter(|n| **n >= 2).count() as i64;
    let mut monthly: BTreeMap<String, i64> = BTreeMap::new();
    for s in &sales {
        *monthly.entry(s.date[..7].to_string()).or_default() += s.total;
    }
    for (m, r) in &refunds {
        *monthly.entry(m.clone()).or_default() -= r;
    }

    db.write(|tx| backroom_core::settings::set(tx, "timezone", "Europe/London"))
        .await
        .unwrap();
    backroom_core::analytics::refresh::run(db).await.unwrap();
    let q = report::KpiQuery {
        from: "2010-12-01".into(),
        to: "2011-12-10".into(),
        by: Some("month".into()),
        breakdown: None,
        currency: Some("GBP".into()),
        compare: Some(false),
    };
    let r = db
        .read(move |tx| {
            let (p, o) = report::Opts::from_query(tx, &q)?;
            report::kpis(tx, p, &o)
        })
        .await
        .unwrap();
    let t = &r.totals;
    assert_eq!(t.orders, orders, "{name}: orders");
    assert_eq!(t.gross_sales, gross, "{name}: gross sales");
    assert_eq!(t.units_returned, returned_units, "{name}: units returned");
    assert_eq!(t.net_sales, gross - refunded, "{name}: net sales");
    assert_eq!(t.aov, half_even(gross, orders), "{name}: AOV");
    assert_eq!(t.customers, per_customer.len() as i64, "{name}: customers");
    assert_eq!(
        t.repeat_customer_rate,
        Some(repeat as f64 / per_customer.len() as f64),
        "{name}: repeat rate"
    );
    assert_eq!(t.units_returned, returned_units, "{name}: units returned");
    let got: BTreeMap<String, i64> = r
        .series
        .iter()
        .map(|row| {
            (
                row.bucket.clone().unwrap()[..7].to_string(),
                row.kpis.net_sales,
            )
        })
        .collect();
    assert_eq!(got, monthly, "{name}: net sales by month");
    assert_eq!(
        t.new_customers,
        per_customer.len() as i64,
        "{name}: new customers"
    );
    // One lifetime value per customer: the CLV report's and the customer resource's are the
    // independent net sales per customer; the guest placeholder is in neither.
    // (The file writes customer 17850 as `17850.0`.)
    let mut net: HashMap<&str, i64> = HashMap::new();
    for s in sales.iter().filter(|s| !s.customer.is_empty()) {
        *net.entry(s.customer.trim_end_matches(".0")).or_default() += s.total - s.refunded;
    }
    let clv = db
        .read(|tx| {
            report::clv(
                tx,
                &report::ClvQuery {
                    segment: None,
                    limit: Some(5),
                },
            )
        })
        .await
        .unwrap();
    assert_eq!(
        clv.segments[0].customers,
        per_customer.len() as i64,
        "{name}: CLV customers"
    );
    assert_eq!(
        clv.segments[0].net_sales,
        net.values().sum::<i64>(),
        "{name}: CLV net sales"
    );
    for top in &clv.top_customers {
        let id = top.email.trim_start_matches("customer-");
        let id = id.split('@').next().unwrap();
        assert_eq!(Some(&top.net_sales), net.get(id), "{name}: {top:?}");
        let c = db
            .read({
                let id = top.customer_id;
                move |tx| backroom_core::customers::get_customer(tx, id)
            })
            .await
            .unwrap();
        assert_eq!(c.lifetime_value.amount, top.net_sales, "{name}: {c:?}");
        assert!(!c.guest, "{name}");
    }
}

/// Export then import into an empty database gives the same catalog and stock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_catalog_and_stock_import_back_the_same() {
    use backroom_core::analytics::export::{self, Filters, Format, Kind};
    let mut sources = Vec::new();
    for f in [
        "formats/magento/configurable_products.csv",
        "formats/woocommerce/sample_products.csv",
        "formats/shopify/product_template.csv",
    ] {
        let Some(p) = shared(f) else { return };
        sources.push(std::fs::read(p).unwrap());
    }
    let pairs = backends().await.into_iter().zip(backends().await);
    for ((name, from), (_, to)) in pairs {
        store(&from, &["UNUSED"], &[]).await;
        store(&to, &["UNUSED"], &[]).await;
        for bytes in &sources {
            let s = import_products(
                &from,
                bytes,
                backroom_core::imports::Options {
                    location: Some("wh-a".into()),
                    ..Default::default()
                },
            )
            .await;
            assert!(s.rejected.is_empty(), "{name}: {:?}", s.rejected);
        }
        let dump = |db: Db, kind: Kind| async move {
            let mut out: Vec<u8> = Vec::new();
            // A small page size, so paging is exercised.
            export::write_all(&db, kind, Filters::default(), Format::Csv, 7, &mut out)
                .await
                .unwrap();
            out
        };
        let products_csv = dump(from.clone(), Kind::Products).await;
        let s = import_products(&to, &products_csv, Default::default()).await;
        assert!(s.rejected.is_empty(), "{name}: {:?}", s.rejected);
        let stock_csv = dump(from.clone(), Kind::Stock).await;
        let (recs, errs) = backroom_import::stock::read(&stock_csv[..]);
        assert!(errs.is_empty(), "{name}: {errs:?}");
        let s = backroom_core::imports::stock(
            &to,
            Actor::system(),
            recs,
            errs,
            backroom_core::imports::StockMode::Set,
            "round trip".into(),
            &Default::default(),
        )
        .await
        .unwrap();
        assert!(s.rejected.is_empty(), "{name}: {:?}", s.rejected);
        // The same tables, row for row (the product ids differ; the exports do not show them).
        assert_eq!(
            String::from_utf8(dump(to.clone(), Kind::Products).await).unwrap(),
            String::from_utf8(products_csv).unwrap(),
            "{name}"
        );
        let again = dump(to.clone(), Kind::Stock).await;
        let norm = |b: &[u8]| {
            let mut l: Vec<String> = String::from_utf8(b.to_vec())
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect();
            l.sort();
            l
        };
        assert_eq!(norm(&again), norm(&stock_csv), "{name}");
        assert_invariants(&to).await;
    }
}

async fn import_order_file(db: &Db, bytes: Vec<u8>) -> backroom_core::imports::Summary {
    import_order_file_at(db, bytes, None).await
}

async fn import_order_file_at(
    db: &Db,
    bytes: Vec<u8>,
    stock_location: Option<&str>,
) -> backroom_core::imports::Summary {
    let (oc, e) = backroom_core::imports::order_context(
        db,
        &Actor::system(),
        &backroom_core::imports::OrderOptions {
            channel: "online".into(),
            currency: None,
            timezone: Some("Europe/London".into()),
            stock_location: stock_location.map(str::to_string),
        },
    )
    .await
    .unwrap();
    let mut reader =
        backroom_import::orders::OrderReader::new(std::io::Cursor::new(bytes), None, e).unwrap();
    let next = move || {
        reader.next().map(|i| match i {
            backroom_import::orders::Item::Order(o) => Ok(o),
            backroom_import::orders::Item::Rejected(e) => Err(e),
        })
    };
    backroom_core::imports::history(
        db,
        Actor::system(),
        oc,
        next,
        backroom_core::imports::apply_order_records,
        &Default::default(),
        |_| {},
    )
    .await
    .unwrap()
}

/// Orders export then import into an empty database: the same orders, lines, statuses and
/// money; and Shopify's order export layout imports with its continuation rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_histories_round_trip_and_shopify_orders_import() {
    use backroom_core::analytics::export::{self, Filters, Format, Kind};
    let pairs = backends().await.into_iter().zip(backends().await);
    for ((name, from), (_, to)) in pairs {
        store(&from, &["O1", "O2"], &[]).await;
        store(&to, &["UNUSED"], &[]).await;
        taxed(&from).await;
        receive(&from, "O1", 1, 50).await;
        receive(&from, "O2", 1, 50).await;
        // Orders in several states: open, paid and shipped, refunded, cancelled.
        for (i, lines) in [
            vec![("O1", 2)],
            vec![("O1", 1), ("O2", 3)],
            vec![("O2", 1)],
            vec![("O1", 4)],
        ]
        .into_iter()
        .enumerate()
        {
            let o = place(&from, order(&lines), None).await.unwrap().order;
            let id = o.id;
            match i {
                1 => {
                    write(&from, pay(id, None)).await.unwrap();
                    write(&from, move |tx, c| {
                        backroom_core::fulfillment::ship(
                            tx,
                            c,
                            id,
                            &ShipOrder {
                                location_id: 1,
                                ..Default::default()
                            },
                        )
                    })
                    .await
                    .unwrap();
                }
                2 => {
                    write(&from, pay(id, None)).await.unwrap();
                    let r = RefundOrder {
                        amount: Some(300),
                        lines: None,
                        shipping: None,
                        reason: "goodwill".into(),
                        note: None,
                    };
                    write(&from, move |tx, c| {
                        backroom_core::orders::refund(tx, c, id, &r)
                    })
                    .await
                    .unwrap();
                }
                3 => {
                    write(&from, move |tx, c| {
                        orders::cancel(tx, c, id, &CancelOrder::default())
                    })
                    .await
                    .unwrap();
                }
                _ => {}
            }
        }
        let dump = |db: Db| async move {
            let mut out: Vec<u8> = Vec::new();
            export::write_all(
                &db,
                Kind::Orders,
                Filters::default(),
                Format::Csv,
                2,
                &mut out,
            )
            .await
            .unwrap();
            out
        };
        let first = dump(from.clone()).await;
        let s = import_order_file(&to, first.clone()).await;
        assert!(s.rejected.is_empty(), "{name}: {:?}", s.rejected);
        assert_eq!(s.created, 4, "{name}");
        assert_eq!(
            String::from_utf8(dump(to.clone()).await).unwrap(),
            String::from_utf8(first.clone()).unwrap(),
            "{name}"
        );
        // Again: nothing changes.
        let s = import_order_file(&to, first).await;
        assert_eq!((s.created, s.unchanged), (0, 4), "{name}");

        // Shopify's layout: order columns on the first row of each order only.
        let header = std::fs::read_to_string(
            shared("formats/shopify/orders_export_header.csv")
                .unwrap_or_else(|| panic!("no Shopify header")),
        )
        .unwrap();
        let cols: Vec<&str> = header.trim().split(',').collect();
        let row = |vals: &[(&str, &str)]| {
            cols.iter()
                .map(|c| {
                    vals.iter()
                        .find(|(k, _)| k == c)
                        .map_or(String::new(), |(_, v)| v.to_string())
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let file = format!(
            "{}\n{}\n{}\n{}\n",
            header.trim(),
            row(&[
                ("Name", "#5001"),
                ("Email", "Shop@Example.com"),
                ("Financial Status", "paid"),
                ("Fulfillment Status", "fulfilled"),
                ("Currency", "USD"),
                ("Subtotal", "30.00"),
                ("Shipping", "5.00"),
                ("Taxes", "0.00"),
                ("Total", "35.00"),
                ("Created at", "2024-01-05 10:12:33 -0500"),
                ("Lineitem quantity", "2"),
                ("Lineitem name", "Tee"),
                ("Lineitem price", "10.00"),
                ("Lineitem sku", "SHOP-TEE")
            ]),
            row(&[
                ("Name", "#5001"),
                ("Lineitem quantity", "1"),
                ("Lineitem name", "Cap"),
                ("Lineitem price", "10.00"),
                ("Lineitem sku", "SHOP-CAP")
            ]),
            row(&[
                ("Name", "#5002"),
                ("Email", "x@example.com"),
                ("Financial Status", "weird"),
                ("Created at", "2024-01-06 10:00:00 -0500"),
                ("Lineitem quantity", "1"),
                ("Lineitem sku", "SHOP-CAP")
            ]),
        );
        let s = import_order_file(&to, file.into_bytes()).await;
        assert_eq!(s.created, 1, "{name}: {:?}", s.rejected);
        assert_eq!(
            (
                s.rejected.len(),
                s.rejected[0].line,
                s.rejected[0].column.as_deref()
            ),
            (1, 4, Some("Financial Status")),
            "{name}"
        );
        let o = to.read(|tx| orders::get_by_number(tx, 5001)).await.unwrap();
        assert_eq!(
            (
                o.lines.len(),
                o.total.amount,
                o.status.as_str(),
                o.customer.email.as_str()
            ),
            (2, 3500, "closed", "Shop@Example.com"),
            "{name}"
        );
        assert_eq!(o.placed_at, "2024-01-05T15:12:33Z", "{name}");
        // History leaves stock alone unless asked; asked, shipped units leave through the ledger,
        // and a sale the location cannot cover is refused for its line, never oversold.
        assert_eq!(stock(&to, "SHOP-TEE").await.totals.on_hand, 0, "{name}");
        receive(&to, "SHOP-TEE", 1, 10).await;
        let file = format!(
            "{}\n{}\n{}\n",
            header.trim(),
            row(&[
                ("Name", "#5003"),
                ("Email", "Shop@Example.com"),
                ("Financial Status", "paid"),
                ("Fulfillment Status", "fulfilled"),
                ("Total", "30.00"),
                ("Created at", "2024-01-07 10:00:00 -0500"),
                ("Lineitem quantity", "2"),
                ("Lineitem price", "10.00"),
                ("Lineitem sku", "SHOP-TEE")
            ]),
            row(&[
                ("Name", "#5003"),
                ("Lineitem quantity", "1"),
                ("Lineitem price", "10.00"),
                ("Lineitem sku", "SHOP-CAP")
            ]),
        );
        let s = import_order_file_at(&to, file.into_bytes(), Some("wh-a")).await;
        assert_eq!(s.created, 1, "{name}");
        assert_eq!(s.rejected.len(), 1, "{name}: {:?}", s.rejected);
        assert!(
            s.rejected[0].message.starts_with("not enough stock"),
            "{name}: {:?}",
            s.rejected
        );
        assert_eq!(stock(&to, "SHOP-TEE").await.totals.on_hand, 8, "{name}");
        assert_eq!(stock(&to, "SHOP-CAP").await.totals.on_hand, 0, "{name}");
        assert_invariants(&to).await;
    }
}

/// Magento's customer sample imports; a second run changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_files_import_by_email() {
    let Some(p) = shared("formats/magento/customer_profile.csv") else {
        return;
    };
    let bytes = std::fs::read(p).unwrap();
    for (name, db) in backends().await {
        let (recs, errs) = backroom_import::customers::read(&bytes[..]);
        assert!(errs.is_empty(), "{name}: {errs:?}");
        let s = backroom_core::imports::customers(
            &db,
            Actor::system(),
            recs.clone(),
            vec![],
            &Default::default(),
        )
        .await
        .unwrap();
        assert_eq!(
            (s.created, s.rejected.len()),
            (1, 0),
            "{name}: {:?}",
            s.rejected
        );
        let c = db
            .read(|tx| customers::list_customers(tx, &customers::CustomerQuery::default()))
            .await
            .unwrap();
        assert_eq!(
            (
                c.items[0].email.as_str(),
                c.items[0].first_name.as_str(),
                c.items[0].last_name.as_str()
            ),
            ("roni_cost@example.com", "Veronica", "Costello"),
            "{name}"
        );
        let s = backroom_core::imports::customers(
            &db,
            Actor::system(),
            recs,
            vec![],
            &Default::default(),
        )
        .await
        .unwrap();
        assert_eq!((s.created, s.updated, s.unchanged), (0, 0, 1), "{name}");
        let (_, errs) = backroom_import::customers::read(
            &b"email,first_name\na@example.com,A\nA@example.com,B\n"[..],
        );
        assert_eq!(
            (errs.len(), errs[0].line),
            (1, 3),
            "{name}: a repeated email"
        );
    }
}

// ----------------------------------------------------------------------------------------------
// Analytics: every KPI against an independent computation written as plain loops over raw rows.

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const MIN: i64 = 60_000_000;
const DAY: i64 = 86_400_000_000;

fn ts(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_microsecond()
}

fn rfc(t: i64) -> String {
    jiff::Timestamp::from_microsecond(t).unwrap().to_string()
}

/// The local date of an instant in Paris, as `YYYY-MM-DD`.
fn paris_day(t: i64) -> String {
    let tz = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
    jiff::Timestamp::from_microsecond(t)
        .unwrap()
        .to_zoned(tz)
        .date()
        .to_string()
}

fn paris_midnight(day: &str) -> i64 {
    let tz = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
    day.parse::<jiff::civil::Date>()
        .unwrap()
        .to_zoned(tz)
        .unwrap()
        .timestamp()
        .as_microsecond()
}

/// A generated storefront event, as sent.
#[derive(Clone, Debug)]
struct Sent {
    id: String,
    kind: &'static str,
    visitor: String,
    ts: i64,
    campaign: Option<(&'static str, &'static str, &'static str)>,
    referrer: Option<&'static str>,
    device: &'static str,
    country: &'static str,
    order: Option<i64>,
}

impl Sent {
    fn json(&self) -> serde_json::Value {
        let mut url = "https://shop.example/p".to_string();
        if let Some((s, m, c)) = self.campaign {
            url.push_str(&format!("?utm_source={s}&utm_medium={m}&utm_campaign={c}"));
        }
        serde_json::json!({
            "id": self.id, "type": self.kind, "visitor_id": self.visitor, "timestamp": rfc(self.ts),
            "url": url, "referrer": self.referrer.map(|r| format!("https://{r}/post")),
            "device": self.device, "country": self.country, "order_number": self.order,
        })
    }
}

/// An independently computed session.
#[derive(Debug, Clone)]
struct ISession {
    visitor: String,
    start: i64,
    end: i64,
    day: String,
    events: Vec<&'static str>,
    source: String,
    medium: String,
    campaign: String,
}

fn independent_sessions(events: &[Sent]) -> Vec<ISession> {
    let mut by_visitor: std::collections::BTreeMap<&str, Vec<&Sent>> = Default::default();
    for e in events {
        by_visitor.entry(&e.visitor).or_default().push(e);
    }
    let mut out = Vec::new();
    for (v, mut es) in by_visitor {
        es.sort_by_key(|e| e.ts);
        let mut cur: Option<(ISession, Option<&str>)> = None;
        for e in es {
            let campaign = e.campaign.map(|c| c.2);
            let split = match &cur {
                None => true,
                Some((s, c)) => e.ts - s.end >= 30 * MIN || (campaign.is_some() && campaign != *c),
            };
            if split {
                if let Some((s, _)) = cur.take() {
                    out.push(s);
                }
                let (source, medium, camp) = match (e.campaign, e.referrer) {
                    (Some((s, m, c)), _) => (s.to_string(), m.to_string(), c.to_string()),
                    (None, Some(r)) => (r.to_string(), "referral".into(), "(none)".into()),
                    (None, None) => ("(direct)".into(), "(none)".into(), "(none)".into()),
                };
                cur = Some((
                    ISession {
                        visitor: v.to_string(),
                        start: e.ts,
                        end: e.ts,
                        day: paris_day(e.ts),
                        events: vec![],
                        source,
                        medium,
                        campaign: camp,
                    },
                    campaign,
                ));
            }
            if let Some((s, _)) = cur.as_mut() {
                s.end = e.ts;
                s.events.push(e.kind);
            }
        }
        if let Some((s, _)) = cur {
            out.push(s);
        }
    }
    out
}

#[derive(Debug, Default, Clone)]
struct Expect {
    sessions: i64,
    visitors: std::collections::HashSet<String>,
    bounces: i64,
    duration: i64,
    converted: i64,
    carts: i64,
    abandoned: i64,
    orders: i64,
    gross: i64,
    refunds: i64,
    customers: std::collections::HashMap<i64, i64>,
    new_customers: i64,
    units: i64,
    costed: i64,
    cogs: i64,
    spend: i64,
    attributed: i64,
    /// (attributed sales, spend) per campaign: ROAS counts only campaigns with spend.
    campaigns: std::collections::HashMap<String, (i64, i64)>,
    sent: i64,
    bounced: i64,
    opens: std::collections::HashSet<String>,
}

fn half_even(a: i64, b: i64) -> Option<i64> {
    if b == 0 {
        return None;
    }
    let (q, r) = (a.div_euclid(b), a.rem_euclid(b));
    Some(match (2 * r).cmp(&b) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    })
}

fn rate(a: i64, b: i64) -> Option<f64> {
    (b != 0).then(|| a as f64 / b as f64)
}

impl Expect {
    fn check(&self, k: &backroom_core::analytics::report::Kpis, what: &str) {
        let repeat = self.customers.values().filter(|n| **n >= 2).count() as i64;
        let customers = self.customers.len() as i64;
        assert_eq!(k.sessions, self.sessions, "{what}: sessions");
        assert_eq!(
            k.unique_visitors,
            self.visitors.len() as i64,
            "{what}: visitors"
        );
        assert_eq!(
            k.bounce_rate,
            rate(self.bounces, self.sessions),
            "{what}: bounce"
        );
        assert_eq!(
            k.avg_session_seconds,
            rate(self.duration, self.sessions).map(|d| d / 1e6),
            "{what}: duration"
        );
        assert_eq!(
            k.conversion_rate,
            rate(self.converted, self.sessions),
            "{what}: conversion"
        );
        assert_eq!(
            k.cart_abandonment_rate,
            rate(self.abandoned, self.carts),
            "{what}: abandonment"
        );
        assert_eq!(k.orders, self.orders, "{what}: orders");
        assert_eq!(k.gross_sales, self.gross, "{what}: gross");
        assert_eq!(k.refunds, self.refunds, "{what}: refunds");
        assert_eq!(k.net_sales, self.gross - self.refunds, "{what}: net");
        assert_eq!(k.aov, half_even(self.gross, self.orders), "{what}: aov");
        assert_eq!(k.customers, customers, "{what}: customers");
        assert_eq!(k.new_customers, self.new_customers, "{what}: new customers");
        assert_eq!(
            k.returning_customers,
            customers - self.new_customers,
            "{what}: returning"
        );
        assert_eq!(
            k.repeat_customer_rate,
            rate(repeat, customers),
            "{what}: repeat"
        );
        assert_eq!(k.units_sold, self.units, "{what}: units");
        assert_eq!(k.cogs, self.cogs, "{what}: cogs");
        assert_eq!(
            k.gross_margin,
            rate(self.costed - self.cogs, self.costed),
            "{what}: margin"
        );
        assert_eq!(k.ad_spend, self.spend, "{what}: spend");
        assert_eq!(
            k.cac,
            if self.spend == 0 {
                None
            } else {
                half_even(self.spend, self.new_customers)
            },
            "{what}: cac (null without spend)"
        );
        assert_eq!(k.attributed_sales, self.attributed, "{what}: attributed");
        let paid: i64 = self
            .campaigns
            .values()
            .filter(|(_, spend)| *spend != 0)
            .map(|(sales, _)| sales)
            .sum();
        assert_eq!(k.paid_attributed_sales, paid, "{what}: paid attributed");
        assert_eq!(k.roas, rate(paid, self.spend), "{what}: roas");
        assert_eq!(k.emails_sent, self.sent, "{what}: sent");
        assert_eq!(
            k.emails_delivered,
            self.sent - self.bounced,
            "{what}: delivered"
        );
        assert_eq!(
            k.email_unique_opens,
            self.opens.len() as i64,
            "{what}: opens"
        );
        assert_eq!(
            k.email_open_rate,
            rate(self.opens.len() as i64, self.sent - self.bounced),
            "{what}: open rate"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpis_match_an_independent_computation() {
    use backroom_core::analytics::{Zone, ingest, marketing, refresh, report};
    use std::collections::{BTreeMap, HashMap, HashSet};

    // The daylight-saving change in Paris: 25 October 2026 lasts 25 hours.
    let zone = Zone::get("Europe/Paris").unwrap();
    let d25 = backroom_domain::analytics::parse_day("2026-10-25").unwrap();
    assert_eq!(zone.start_of(d25), ts("2026-10-24T22:00:00Z"));
    assert_eq!(zone.start_of(d25 + 1), ts("2026-10-25T23:00:00Z"));
    assert_eq!(zone.day_of(ts("2026-10-24T22:30:00Z")), d25);
    assert_eq!(zone.day_of(ts("2026-10-25T22:30:00Z")), d25);
    assert_eq!(zone.day_of(ts("2026-10-25T23:30:00Z")), d25 + 1);

    for (name, db) in backends().await {
        let (a, _, _) = store(&db, &["K-A", "K-B", "K-C"], &[]).await;
        db.write(move |tx| {
            backroom_core::settings::set(tx, "timezone", "Europe/Paris")?;
            let c = ctx();
            for (sku, cost) in [("K-A", Some(400)), ("K-B", None), ("K-C", Some(100))] {
                let v = tx
                    .query_one("SELECT id FROM variants WHERE sku = $1", &[sku.into()])?
                    .unwrap()
                    .i64(0);
                catalog::update_variant(
                    tx,
                    &c,
                    v,
                    &VariantPatch {
                        unit_cost: Some(cost),
                        price: Some(if sku == "K-B" { 2500 } else { 499 }),
                        ..Default::default()
                    },
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
        for sku in ["K-A", "K-B", "K-C"] {
            receive(&db, sku, a, 100_000).await;
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let campaigns = [
            Some(("google", "cpc", "spring")),
            Some(("news", "email", "nl-oct")),
            None,
            None,
        ];
        let mut events: Vec<Sent> = Vec::new();
        // (order id, placed at, visitor)
        let mut placed: Vec<(i64, i64)> = Vec::new();
        let mut n = 0;
        let base = ts("2026-10-19T21:00:00Z");
        for v in 0..40 {
            let visitor = format!("v{v}");
            let email = format!("v{v}@example.com");
            let device = ["desktop", "mobile", "tablet"][v % 3];
            let country = ["FR", "DE"][v % 2];
            // A customer who had ordered long before.
            if v % 7 == 0 {
                let mut o = order(&[("K-A", 1)]);
                o.customer.email = email.clone();
                let o = db
                    .write(move |tx| {
                        orders::place(tx, &Ctx::new(Actor::system(), base - 40 * DAY), &o, None)
                    })
                    .await
                    .unwrap()
                    .order;
                placed.push((o.id, base - 40 * DAY));
            }
            let mut t = base + rng.below(4 * 24 * 60) as i64 * MIN;
            for _visit in 0..(1 + rng.below(4)) {
                let campaign = campaigns[rng.below(4) as usize];
                let referrer = (campaign.is_none() && rng.below(3) == 0).then_some("blog.example");
                let len = 1 + rng.below(6);
                let mut first = true;
                for _ in 0..len {
                    let kind = if first {
                        "page_view"
                    } else {
                        [
                            "page_view",
                            "product_view",
                            "search",
                            "add_to_cart",
                            "remove_from_cart",
                            "checkout_started",
                        ][rng.below(6) as usize]
                    };
                    n += 1;
                    events.push(Sent {
                        id: format!("e{n}"),
                        kind,
                        visitor: visitor.clone(),
                        ts: t,
                        campaign: if first { campaign } else { None },
                        referrer: if first { referrer } else { None },
                        device,
                        country,
                        order: None,
                    });
                    first = false;
                    // Mostly short gaps; sometimes exactly 30 minutes (a new session), or more.
                    t += match rng.below(10) {
                        0 => 30 * MIN,
                        1 => 29 * MIN + 59_000_000,
                        2 => (31 + rng.below(300) as i64) * MIN,
                        _ => (1 + rng.below(10) as i64) * MIN,
                    };
                }
                if rng.below(3) == 0 {
                    // A purchase: the order is placed at that moment.
                    let sku = ["K-A", "K-B", "K-C"][rng.below(3) as usize];
                    let mut o = order(&[(sku, 1 + rng.below(3) as i64)]);
                    o.customer.email = email.clone();
                    let at = t;
                    let o = db
                        .write(move |tx| {
                            orders::place(tx, &Ctx::new(Actor::system(), at), &o, None)
                        })
                        .await
                        .unwrap()
                        .order;
                    placed.push((o.id, at));
                    n += 1;
                    events.push(Sent {
                        id: format!("e{n}"),
                        kind: "purchase",
                        visitor: visitor.clone(),
                        ts: t,
                        campaign: None,
                        referrer: None,
                        device,
                        country,
                        order: Some(o.number),
                    });
                    t += MIN;
                }
                t += (30 + rng.below(3 * 24 * 60) as i64) * MIN;
            }
        }
        // Named edge cases: a session crossing local midnight (counted on the day it starts), one
        // that runs across the night the clocks go back, and a visitor whose second campaign
        // starts a second session within minutes.
        for (id, visitor, at, campaign) in [
            ("mid-1", "night-owl", "2026-10-22T21:50:00Z", None),
            ("mid-2", "night-owl", "2026-10-22T22:10:00Z", None),
            (
                "dst-1",
                "clock",
                "2026-10-25T00:40:00Z",
                Some(("google", "cpc", "spring")),
            ),
            ("dst-2", "clock", "2026-10-25T01:05:00Z", None),
            ("dst-3", "clock", "2026-10-25T01:25:00Z", None),
            (
                "two-1",
                "twice",
                "2026-10-26T10:00:00Z",
                Some(("google", "cpc", "spring")),
            ),
            (
                "two-2",
                "twice",
                "2026-10-26T10:05:00Z",
                Some(("news", "email", "nl-oct")),
            ),
            ("two-3", "twice", "2026-10-26T10:07:00Z", None),
        ] {
            events.push(Sent {
                id: id.into(),
                kind: "page_view",
                visitor: visitor.into(),
                ts: ts(at),
                campaign,
                referrer: None,
                device: "mobile",
                country: "FR",
                order: None,
            });
        }
        // A purchase event whose order does not exist, and an order with no session.
        events.push(Sent {
            id: "ghost".into(),
            kind: "purchase",
            visitor: "v999".into(),
            ts: ts("2026-10-23T10:00:00Z"),
            campaign: None,
            referrer: None,
            device: "desktop",
            country: "FR",
            order: Some(999_999),
        });
        let phone = db
            .write(|tx| {
                orders::place(
                    tx,
                    &Ctx::new(Actor::system(), ts("2026-10-23T11:00:00Z")),
                    &order(&[("K-C", 2)]),
                    None,
                )
            })
            .await
            .unwrap()
            .order;
        placed.push((phone.id, ts("2026-10-23T11:00:00Z")));
        // Payments, cancellations and refunds, some dated after the period.
        refresh::run(&db).await.unwrap();
        for (k, (id, at)) in placed.clone().into_iter().enumerate() {
            match k % 6 {
                0 => {
                    db.write(move |tx| {
                        orders::cancel(
                            tx,
                            &Ctx::new(Actor::system(), at + MIN),
                            id,
                            &CancelOrder {
                                reason: Some("customer".into()),
                            },
                        )
                    })
                    .await
                    .unwrap();
                }
                1 | 2 => {
                    db.write(move |tx| pay(id, None)(tx, &Ctx::new(Actor::system(), at + MIN)))
                        .await
                        .unwrap();
                    let when = at + (k as i64 % 5) * DAY;
                    let by_lines = k % 4 == 1;
                    db.write(move |tx| {
                        let o = orders::get(tx, id)?;
                        backroom_core::orders::refund(
                            tx,
                            &Ctx::new(Actor::system(), when),
                            id,
                            &RefundOrder {
                                amount: (!by_lines).then_some(333),
                                lines: by_lines.then(|| {
                                    vec![RefundLine {
                                        line_id: o.lines[0].id,
                                        quantity: 1,
                                    }]
                                }),
                                shipping: None,
                                reason: "goodwill".into(),
                                note: None,
                            },
                        )
                    })
                    .await
                    .unwrap();
                }
                _ => {
                    db.write(move |tx| pay(id, None)(tx, &Ctx::new(Actor::system(), at + MIN)))
                        .await
                        .unwrap();
                }
            }
            // The rollups are kept between changes, so each change is applied as a difference
            // (a cancelled first order makes the customer's next order their first).
            refresh::run(&db).await.unwrap();
        }
        // A customer's first order moves both ways: an earlier order placed later (an import)
        // becomes their first; a cancelled first order makes the next one the first.
        let place_at = |email: &str, at: i64| {
            let mut o = order(&[("K-A", 1)]);
            o.customer.email = email.into();
            let db = db.clone();
            async move {
                db.write(move |tx| orders::place(tx, &Ctx::new(Actor::system(), at), &o, None))
                    .await
                    .unwrap()
                    .order
                    .id
            }
        };
        for (email, at) in [
            ("v0@example.com", base - 3 * DAY),
            ("z@example.com", base + 2 * DAY),
            ("z@example.com", base + 3 * DAY),
        ] {
            placed.push((place_at(email, at).await, at));
            refresh::run(&db).await.unwrap();
        }
        let z1 = placed[placed.len() - 2].0;
        db.write(move |tx| orders::cancel(tx, &ctx(), z1, &CancelOrder { reason: None }))
            .await
            .unwrap();
        refresh::run(&db).await.unwrap();
        // Ad spend (one campaign with no traffic) and email events.
        let mut spend = Vec::new();
        for d in 10..31 {
            for (src, camp, amount) in [
                ("google", "spring", 1500 + d),
                ("news", "nl-oct", 200),
                ("bing", "ghost", 99),
            ] {
                spend.push(marketing::SpendIn {
                    date: format!("2026-10-{d:02}"),
                    source: src.into(),
                    medium: Some("cpc".into()),
                    campaign: camp.into(),
                    amount,
                    currency: None,
                });
            }
        }
        db.write(move |tx| marketing::put_spend(tx, &ctx(), &spend))
            .await
            .unwrap();
        let mut mails = Vec::new();
        for r in 0..30 {
            let at = ts("2026-10-22T08:00:00Z") + r * MIN;
            mails.push((format!("s{r}"), "sent", r, at));
            if r % 10 == 0 {
                mails.push((format!("b{r}"), "bounced", r, at + MIN));
            } else if r % 3 == 0 {
                mails.push((format!("o{r}"), "opened", r, at + 60 * MIN));
                mails.push((format!("p{r}"), "opened", r, at + 90 * MIN));
            }
        }
        mails.push(("late".into(), "opened", 1, ts("2026-11-05T08:00:00Z")));
        let body: Vec<u8> = mails
            .iter()
            .map(|(id, kind, r, at)| {
                serde_json::json!({"id": id, "campaign": "nl-oct", "recipient": format!("R{r}@Mail.example"), "type": kind, "timestamp": rfc(*at)})
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes();
        let items = std::sync::Arc::new(ingest::split(&body).unwrap());
        let r = db
            .write(move |tx| marketing::ingest_email(tx, ctx().now, &items))
            .await
            .unwrap();
        assert_eq!((r.accepted, r.rejected.len()), (mails.len(), 0), "{name}");

        // Events arrive shuffled, in batches, some twice; sessions are derived between batches.
        let mut shuffled = events.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut chunks: Vec<Vec<Sent>> = shuffled.chunks(37).map(|c| c.to_vec()).collect();
        chunks.push(shuffled[..20].to_vec());
        let mut accepted = 0;
        for c in chunks {
            let body: Vec<u8> = c
                .iter()
                .map(|e| e.json().to_string())
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes();
            let (good, bad) = ingest::parse_batch(&body, ctx().now).unwrap();
            assert!(bad.is_empty(), "{name}: {bad:?}");
            let good = std::sync::Arc::new(good);
            accepted += db
                .write(move |tx| ingest::store(tx, &good, ctx().now))
                .await
                .unwrap();
            refresh::run(&db).await.unwrap();
        }
        assert_eq!(
            accepted,
            events.len(),
            "{name}: duplicates are not stored twice"
        );

        // Independently: sessions, attribution, and the facts of a period.
        let sessions = independent_sessions(&events);
        let of = |v: &str| -> Vec<(String, usize)> {
            sessions
                .iter()
                .filter(|s| s.visitor == v)
                .map(|s| (s.day.clone(), s.events.len()))
                .collect()
        };
        assert_eq!(
            of("night-owl"),
            vec![("2026-10-22".to_string(), 2)],
            "23:50 and 00:10 Paris: one session, on its first day"
        );
        // 02:40 summer time, then 02:05 and 02:25 winter time: 45 minutes of one session.
        assert_eq!(of("clock"), vec![("2026-10-25".to_string(), 3)]);
        let clock = sessions.iter().find(|s| s.visitor == "clock").unwrap();
        assert_eq!(clock.end - clock.start, 45 * MIN);
        assert_eq!(
            of("twice"),
            vec![("2026-10-26".to_string(), 1), ("2026-10-26".to_string(), 2)],
            "a new campaign, a new session"
        );
        let window = 30 * DAY;
        let mut credit: HashMap<i64, (String, String, String)> = HashMap::new();
        for e in events.iter().filter(|e| e.kind == "purchase") {
            let best = sessions
                .iter()
                .filter(|s| {
                    s.visitor == e.visitor
                        && s.start <= e.ts
                        && s.start >= e.ts - window
                        && s.source != "(direct)"
                })
                .max_by_key(|s| s.start);
            let c = best.map_or(("(direct)".into(), "(none)".into(), "(none)".into()), |s| {
                (s.source.clone(), s.medium.clone(), s.campaign.clone())
            });
            credit.entry(e.order.unwrap()).or_insert(c);
        }
        let orders_raw = db
            .read(|tx| {
                Ok(tx
                    .query("SELECT id, number, placed_at, status, subtotal_minor, discounts_minor, customer_id, total_minor FROM orders ORDER BY id", &[])?
                    .iter()
                    .map(|r| (0..8).map(|i| r.i64(i)).collect::<Vec<i64>>())
                    .collect::<Vec<_>>())
            })
            .await
            .unwrap();
        let statuses: HashMap<i64, String> = db
            .read(|tx| {
                Ok(tx
                    .query("SELECT id, status FROM orders", &[])?
                    .iter()
                    .map(|r| (r.i64(0), r.string(1)))
                    .collect())
            })
            .await
            .unwrap();
        let lines_raw = db
            .read(|tx| {
                Ok(tx
                    .query("SELECT order_id, quantity, unit_price_minor, discount_minor, unit_cost_minor FROM order_lines", &[])?
                    .iter()
                    .map(|r| (r.i64(0), r.i64(1), r.i64(2), r.i64(3), r.opt_i64(4)))
                    .collect::<Vec<_>>())
            })
            .await
            .unwrap();
        let refunds_raw = db
            .read(|tx| {
                Ok(tx
                    .query("SELECT order_id, created_at, merchandise_minor, amount_minor, lines FROM refunds", &[])?
                    .iter()
                    .map(|r| (r.i64(0), r.i64(1), r.i64(2), r.i64(3), r.opt_string(4)))
                    .collect::<Vec<_>>())
            })
            .await
            .unwrap();
        let order_by_id: HashMap<i64, &Vec<i64>> = orders_raw.iter().map(|o| (o[0], o)).collect();
        // The merchandise part of each refund: amounts in the order's proportions (half-even),
        // lines at their price less discount.
        for (oid, _, merch, amount, lines) in &refunds_raw {
            let o = order_by_id[oid];
            if lines.is_none() {
                assert_eq!(
                    Some(*merch),
                    half_even(amount * (o[4] - o[5]), o[7]),
                    "{name}"
                );
            } else {
                assert!(
                    [499, 2500].contains(merch),
                    "{name}: one unit, no discount: {merch}"
                );
            }
        }
        let live = |id: i64| statuses[&id] != "cancelled";
        let expect = |from: &str,
                      to: &str,
                      key: &dyn Fn(&str) -> Option<String>|
         -> BTreeMap<String, Expect> {
            let (t0, t1) = (paris_midnight(from), paris_midnight(to));
            let mut m: BTreeMap<String, Expect> = BTreeMap::new();
            let days = |t: i64| paris_day(t);
            for s in &sessions {
                if s.day.as_str() < from || s.day.as_str() >= to {
                    continue;
                }
                let Some(k) = key(&format!("session:{}:{}", s.day, s.campaign)) else {
                    continue;
                };
                let e = m.entry(k).or_default();
                e.sessions += 1;
                e.visitors.insert(s.visitor.clone());
                e.bounces += i64::from(
                    s.events.len() == 1 && matches!(s.events[0], "page_view" | "product_view"),
                );
                e.duration += s.end - s.start;
                let bought = s.events.contains(&"purchase");
                let cart = s.events.contains(&"add_to_cart");
                e.converted += i64::from(bought);
                e.carts += i64::from(cart);
                e.abandoned += i64::from(cart && !bought);
            }
            for o in &orders_raw {
                let (id, number, at, merch, customer) = (o[0], o[1], o[2], o[4] - o[5], o[6]);
                if at < t0 || at >= t1 || !live(id) {
                    continue;
                }
                let c = credit.get(&number).cloned().unwrap_or((
                    "(direct)".into(),
                    "(none)".into(),
                    "(none)".into(),
                ));
                let Some(k) = key(&format!("order:{}:{}", days(at), c.2)) else {
                    continue;
                };
                let first = !orders_raw
                    .iter()
                    .any(|p| p[6] == customer && live(p[0]) && (p[2], p[0]) < (at, id));
                let e = m.entry(k).or_default();
                e.orders += 1;
                e.gross += merch;
                *e.customers.entry(customer).or_default() += 1;
                e.new_customers += i64::from(first);
                if c.0 != "(direct)" {
                    e.attributed += merch;
                    e.campaigns.entry(c.2.clone()).or_default().0 += merch;
                }
                for (_, q, price, disc, cost) in lines_raw.iter().filter(|l| l.0 == id) {
                    e.units += q;
                    if let Some(cost) = cost {
                        e.costed += q * price - disc;
                        e.cogs += q * cost;
                    }
                }
            }
            for (oid, at, merch, _, _) in &refunds_raw {
                if *at < t0 || *at >= t1 || !live(*oid) {
                    continue;
                }
                let number = order_by_id[oid][1];
                let c = credit.get(&number).cloned().unwrap_or((
                    "(direct)".into(),
                    "(none)".into(),
                    "(none)".into(),
                ));
                let Some(k) = key(&format!("order:{}:{}", days(*at), c.2)) else {
                    continue;
                };
                m.entry(k).or_default().refunds += merch;
            }
            for d in 10..31 {
                let day = format!("2026-10-{d:02}");
                if day.as_str() < from || day.as_str() >= to {
                    continue;
                }
                for (camp, amount) in [("spring", 1500 + d), ("nl-oct", 200), ("ghost", 99)] {
                    if let Some(k) = key(&format!("spend:{day}:{camp}")) {
                        let e = m.entry(k).or_default();
                        e.spend += amount;
                        e.campaigns.entry(camp.to_string()).or_default().1 += amount;
                    }
                }
            }
            // Each send of the period on the day it was sent, with its outcome whenever it came:
            // bounced, or else opened.
            for (_, kind, r, at) in &mails {
                if *kind != "sent" || *at < t0 || *at >= t1 {
                    continue;
                }
                let Some(k) = key(&format!("email:{}:nl-oct", days(*at))) else {
                    continue;
                };
                let came = |what: &str| mails.iter().any(|(_, k2, r2, _)| *k2 == what && r2 == r);
                let e = m.entry(k).or_default();
                e.sent += 1;
                if came("bounced") {
                    e.bounced += 1;
                } else if came("opened") {
                    e.opens.insert(format!("R{r}"));
                }
            }
            m
        };
        let all = |_: &str| Some(String::new());
        let q =
            |from: &str, to: &str, by: Option<&str>, breakdown: Option<&str>| report::KpiQuery {
                from: from.into(),
                to: to.into(),
                by: by.map(String::from),
                breakdown: breakdown.map(String::from),
                currency: None,
                compare: Some(true),
            };
        let run = |q: report::KpiQuery| {
            let db = db.clone();
            async move {
                db.read(move |tx| {
                    let (p, o) = report::Opts::from_query(tx, &q)?;
                    report::kpis(tx, p, &o)
                })
                .await
                .unwrap()
            }
        };
        let r = run(q("2026-10-22", "2026-10-30", Some("day"), Some("campaign"))).await;
        assert!(
            r.totals.sessions > 20 && r.totals.orders > 5 && r.totals.refunds > 0,
            "{name}: {:?}",
            r.totals
        );
        let none = Expect::default();
        expect("2026-10-22", "2026-10-30", &all)
            .get("")
            .unwrap_or(&none)
            .check(&r.totals, &format!("{name} totals"));
        expect("2026-10-14", "2026-10-22", &all)
            .get("")
            .unwrap_or(&none)
            .check(r.previous.as_ref().unwrap(), &format!("{name} previous"));
        expect("2025-10-22", "2025-10-30", &all)
            .get("")
            .unwrap_or(&none)
            .check(r.last_year.as_ref().unwrap(), &format!("{name} last year"));
        // By day, including the 25-hour day.
        let by_day = expect("2026-10-22", "2026-10-30", &|k: &str| {
            Some(k.split(':').nth(1).unwrap().to_string())
        });
        assert_eq!(r.series.len(), 8, "{name}");
        for row in &r.series {
            let day = row.bucket.clone().unwrap();
            by_day
                .get(&day)
                .unwrap_or(&none)
                .check(&row.kpis, &format!("{name} {day}"));
        }
        // By day and campaign: sessions by their campaign, orders by the campaign credited.
        let by_campaign = expect("2026-10-22", "2026-10-30", &|k: &str| {
            let mut p = k.split(':');
            let (kind, day, campaign) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap());
            Some(format!("{day}|{campaign}")).filter(|_| kind != "email" || campaign == "nl-oct")
        });
        let got: HashSet<String> = r
            .breakdown
            .iter()
            .map(|row| {
                format!(
                    "{}|{}",
                    row.bucket.clone().unwrap(),
                    row.group.clone().unwrap()
                )
            })
            .collect();
        assert_eq!(
            got,
            by_campaign.keys().cloned().collect::<HashSet<_>>(),
            "{name}: the same groups"
        );
        for row in &r.breakdown {
            let key = format!(
                "{}|{}",
                row.bucket.clone().unwrap(),
                row.group.clone().unwrap()
            );
            by_campaign[&key].check(&row.kpis, &format!("{name} {key}"));
        }
        // By campaign over the whole period (the database counts each group's sessions and
        // distinct visitors): the same as plain loops.
        let whole = run(q("2026-10-22", "2026-10-30", None, Some("campaign"))).await;
        let by_campaign_only = expect("2026-10-22", "2026-10-30", &|k: &str| {
            let mut p = k.split(':');
            let (kind, _, campaign) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap());
            Some(campaign.to_string()).filter(|_| kind != "email" || campaign == "nl-oct")
        });
        assert_eq!(
            whole
                .breakdown
                .iter()
                .map(|row| row.group.clone().unwrap())
                .collect::<HashSet<_>>(),
            by_campaign_only.keys().cloned().collect::<HashSet<_>>(),
            "{name}: the same groups over the period"
        );
        for row in &whole.breakdown {
            let key = row.group.clone().unwrap();
            by_campaign_only[&key].check(&row.kpis, &format!("{name} whole {key}"));
        }
        // Weeks and months bucket the same facts.
        let weekly = run(q("2026-10-22", "2026-10-30", Some("week"), None)).await;
        assert_eq!(
            weekly
                .series
                .iter()
                .map(|r| r.bucket.clone().unwrap())
                .collect::<Vec<_>>(),
            vec!["2026-10-19", "2026-10-26"]
        );
        assert_eq!(
            weekly.series.iter().map(|r| r.kpis.sessions).sum::<i64>(),
            r.totals.sessions
        );
        assert_eq!(
            weekly.series.iter().map(|r| r.kpis.net_sales).sum::<i64>(),
            r.totals.net_sales
        );
        // An empty period has zeros and no ratios.
        let empty = run(q(
            "2020-01-01",
            "2020-02-01",
            Some("month"),
            Some("channel"),
        ))
        .await;
        assert_eq!(empty.totals, report::Kpis::default(), "{name}");
        assert_eq!(empty.series.len(), 1);
        assert!(empty.breakdown.is_empty());
        // Channel breakdown: the storefront's sessions belong to the online channel.
        let ch = run(q("2026-10-22", "2026-10-30", None, Some("channel"))).await;
        assert_eq!(ch.breakdown.len(), 1, "{name}");
        assert_eq!(ch.breakdown[0].kpis.net_sales, r.totals.net_sales);
        assert_eq!(ch.breakdown[0].kpis.sessions, r.totals.sessions, "{name}");
        assert_eq!(ch.breakdown[0].note, None, "{name}");
        // The funnel.
        let p = report::Period::parse("2026-10-22", "2026-10-30").unwrap();
        let f = db.read(move |tx| report::funnel(tx, p)).await.unwrap();
        let in_period: Vec<&ISession> = sessions
            .iter()
            .filter(|s| s.day.as_str() >= "2026-10-22" && s.day.as_str() < "2026-10-30")
            .collect();
        let reach = |k: &str| in_period.iter().filter(|s| s.events.contains(&k)).count() as i64;
        assert_eq!(
            f.iter().map(|s| s.sessions).collect::<Vec<_>>(),
            vec![
                in_period.len() as i64,
                reach("product_view"),
                reach("add_to_cart"),
                reach("checkout_started"),
                reach("purchase")
            ],
            "{name}"
        );
        // Reconciliation.
        let rec = db
            .read(move |tx| report::reconciliation(tx, p))
            .await
            .unwrap();
        assert_eq!(rec.purchases_without_order, vec![999_999], "{name}");
        assert!(rec.orders_without_session.contains(&phone.number), "{name}");
        assert_eq!(
            rec.spend_without_traffic,
            vec!["ghost".to_string()],
            "{name}"
        );
        let active: HashSet<&str> = in_period.iter().map(|s| s.day.as_str()).collect();
        assert_eq!(rec.days_without_events.len(), 8 - active.len(), "{name}");
        // Top campaigns by ROAS; email campaigns.
        let top = db
            .read(|tx| {
                report::top(
                    tx,
                    &report::TopQuery {
                        from: "2026-10-22".into(),
                        to: "2026-10-30".into(),
                        by: "campaign".into(),
                        limit: Some(5),
                    },
                )
            })
            .await
            .unwrap();
        let roas: Vec<f64> = top.iter().map(|r| r.kpis.roas.unwrap_or(-1.0)).collect();
        assert!(roas.windows(2).all(|w| w[0] >= w[1]), "{name}: {roas:?}");
        // Both top lists from one read of the facts equal each read on its own.
        let (both, products) = db
            .read(|tx| {
                let q = |by: &str| report::TopQuery {
                    from: "2026-10-22".into(),
                    to: "2026-10-30".into(),
                    by: by.into(),
                    limit: Some(5),
                };
                Ok((
                    report::top_products_and_campaigns(tx, "2026-10-22", "2026-10-30", Some(5))?,
                    report::top(tx, &q("product"))?,
                ))
            })
            .await
            .unwrap();
        assert!(!products.is_empty(), "{name}");
        assert_eq!(both, (products, top.clone()), "{name}");
        let emails = db
            .read(|tx| marketing::email_campaigns(tx, None))
            .await
            .unwrap();
        assert_eq!(
            (emails[0].sent, emails[0].bounced, emails[0].unique_opens),
            (30, 3, 10),
            "{name}: the late open counts when no period is given"
        );

        // Historic CLV per customer and by cohort, and cohort retention, from the raw rows.
        let mut value: BTreeMap<i64, (i64, i64, i64)> = BTreeMap::new();
        let mut months: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        let mut by_time: Vec<&Vec<i64>> = orders_raw.iter().filter(|o| live(o[0])).collect();
        by_time.sort_by_key(|o| (o[2], o[0]));
        for o in by_time {
            let refunded: i64 = refunds_raw
                .iter()
                .filter(|r| r.0 == o[0])
                .map(|r| r.2)
                .sum();
            let cost: i64 = lines_raw
                .iter()
                .filter(|l| l.0 == o[0])
                .map(|l| l.1 * l.4.unwrap_or(0))
                .sum();
            let e = value.entry(o[6]).or_default();
            e.0 += 1;
            e.1 += o[4] - o[5] - refunded;
            e.2 += o[4] - o[5] - refunded - cost;
            months
                .entry(o[6])
                .or_default()
                .push(paris_day(o[2])[..7].to_string());
        }
        let clv = db
            .read(|tx| {
                report::clv(
                    tx,
                    &report::ClvQuery {
                        segment: Some("cohort".into()),
                        limit: Some(500),
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(clv.top_customers.len(), value.len(), "{name}");
        for c in &clv.top_customers {
            assert_eq!(
                (c.orders, c.net_sales, c.gross_margin),
                value[&c.customer_id],
                "{name}: customer {}",
                c.customer_id
            );
        }
        let mut cohort_sum: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for (c, (_, net, _)) in &value {
            let e = cohort_sum.entry(months[c][0].clone()).or_default();
            e.0 += 1;
            e.1 += net;
        }
        assert_eq!(
            clv.segments
                .iter()
                .map(|s| (s.segment.clone(), (s.customers, s.net_sales), s.avg_clv))
                .collect::<Vec<_>>(),
            cohort_sum
                .iter()
                .map(|(m, (n, net))| (m.clone(), (*n, *net), half_even(*net, *n)))
                .collect::<Vec<_>>(),
            "{name}"
        );
        let p_all = report::Period::parse("2026-09-01", "2026-11-01").unwrap();
        let cohorts = db.read(move |tx| report::cohorts(tx, p_all)).await.unwrap();
        for c in &cohorts {
            let members: Vec<&Vec<String>> = months.values().filter(|m| m[0] == c.month).collect();
            assert_eq!(c.customers, members.len() as i64, "{name} {}", c.month);
            for (k, active) in c.active.iter().enumerate() {
                let (y, m) = (
                    c.month[..4].parse::<i32>().unwrap(),
                    c.month[5..].parse::<i32>().unwrap(),
                );
                let idx = y * 12 + m - 1 + k as i32;
                let month = format!("{:04}-{:02}", idx / 12, idx % 12 + 1);
                let expected = members.iter().filter(|ms| ms.contains(&month)).count() as i64;
                assert_eq!(*active, expected, "{name} {} +{k}", c.month);
            }
        }
        assert_eq!(
            cohorts.iter().map(|c| c.month.as_str()).collect::<Vec<_>>(),
            vec!["2026-09", "2026-10"],
            "{name}"
        );

        // Sessions derived batch by batch, out of order, equal sessions derived from scratch.
        let snapshot = |db: Db| async move {
            db.read(|tx| {
                let s: Vec<String> = tx
                    .query("SELECT visitor_id, start_ts, start_seq, end_ts, day, events, page_views, product_views, carts, checkouts, purchases, landing_path, source, medium, campaign, device, country FROM an_sessions ORDER BY visitor_id, start_ts, start_seq", &[])?
                    .iter()
                    .map(|r| format!("{:?}", r.values()))
                    .collect();
                let mut p: Vec<String> = tx
                    .query("SELECT seq, order_number, visitor_id, ts, source, medium, campaign, device, country FROM an_purchases ORDER BY seq", &[])?
                    .iter()
                    .map(|r| format!("{:?}", r.values()))
                    .collect();
                for q in [
                    "SELECT * FROM an_session_days ORDER BY day, source, medium, campaign, device, country",
                    "SELECT * FROM an_order_days ORDER BY day, currency, channel, source, medium, campaign, device, country",
                    "SELECT day, kind, members FROM an_day_sets ORDER BY day, kind",
                    "SELECT customer_id, first_order_id, first_day FROM an_customers ORDER BY customer_id",
                ] {
                    let rows = tx.query(q, &[])?;
                    assert!(!rows.is_empty(), "{q}");
                    p.extend(rows.iter().map(|r| format!("{:?}", r.values())));
                }
                Ok((s, p))
            })
            .await
            .unwrap()
        };
        // The rollups say what the raw rows say, for any period, grain and comparison.
        for (from, to, by) in [
            ("2026-10-22", "2026-10-30", Some("day")),
            ("2026-09-01", "2026-12-01", Some("week")),
            ("2026-01-01", "2027-01-01", Some("month")),
            ("2026-10-25", "2026-10-26", None),
        ] {
            let q = q(from, to, by, None);
            let (fast, raw) = db
                .read(move |tx| {
                    let (p, o) = report::Opts::from_query(tx, &q)?;
                    Ok((report::kpis(tx, p, &o)?, report::kpis_raw(tx, p, &o)?))
                })
                .await
                .unwrap();
            assert_eq!(fast, raw, "{name} {from}..{to}");
        }
        let before = snapshot(db.clone()).await;
        assert_eq!(
            before.0.len(),
            sessions.len(),
            "{name}: the same number of sessions as plain loops"
        );
        refresh::rebuild(&db).await.unwrap();
        let after = snapshot(db.clone()).await;
        assert_eq!(before, after, "{name}: incremental equals rebuilt");
        let again = run(q("2026-10-22", "2026-10-30", Some("day"), Some("campaign"))).await;
        assert_eq!(again, r, "{name}");
        // A new time zone re-derives every day.
        db.write(|tx| backroom_core::settings::set(tx, "timezone", "America/New_York"))
            .await
            .unwrap();
        refresh::run(&db).await.unwrap();
        let ny = db
            .read(|tx| {
                Ok(tx
                    .query_one("SELECT COUNT(*) FROM an_sessions", &[])?
                    .unwrap()
                    .i64(0))
            })
            .await
            .unwrap();
        assert_eq!(ny as usize, sessions.len(), "{name}");
        let state = db
            .read(|tx| {
                Ok(tx
                    .query_one("SELECT timezone FROM analytics_state", &[])?
                    .unwrap()
                    .string(0))
            })
            .await
            .unwrap();
        assert_eq!(state, "America/New_York");
    }
}

/// Order rollups kept by difference stay exact when refreshers run while orders are placed and
/// cancelled, and three refreshers race each other (each works from a snapshot and writes only
/// if no other has written since).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollups_stay_exact_under_concurrent_orders_and_refreshers() {
    use backroom_core::analytics::{Zone, refresh, report};
    use backroom_domain::analytics::format_day;
    for (name, db) in backends().await {
        let (a, _, _) = store(&db, &["R-A", "R-B"], &[]).await;
        receive(&db, "R-A", a, 10_000).await;
        receive(&db, "R-B", a, 10_000).await;
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut refreshers = Vec::new();
        for _ in 0..3 {
            let (db, done) = (db.clone(), done.clone());
            refreshers.push(tokio::spawn(async move {
                let mut runs = 0;
                while !done.load(Ordering::SeqCst) {
                    refresh::run(&db).await.unwrap();
                    runs += 1;
                    tokio::task::yield_now().await;
                }
                runs
            }));
        }
        let mut clients = Vec::new();
        for c in 0..8 {
            let db = db.clone();
            clients.push(tokio::spawn(async move {
                for i in 0..25 {
                    // Eight customers' orders interleave; every fifth is cancelled again, so
                    // customers' first orders move while the refreshers run.
                    let mut o = order(&[(if i % 2 == 0 { "R-A" } else { "R-B" }, 1 + i % 3)]);
                    o.customer.email = format!("c{}@example.com", (c + i) % 8);
                    let id = db
                        .write(move |tx| orders::place(tx, &ctx(), &o, None))
                        .await
                        .unwrap()
                        .order
                        .id;
                    if i % 5 == 0 {
                        db.write(move |tx| {
                            orders::cancel(tx, &ctx(), id, &CancelOrder { reason: None })
                        })
                        .await
                        .unwrap();
                    }
                }
            }));
        }
        for c in clients {
            c.await.unwrap();
        }
        done.store(true, Ordering::SeqCst);
        for r in refreshers {
            assert!(r.await.unwrap() > 0, "{name}");
        }
        refresh::run(&db).await.unwrap();
        let today = Zone::get("UTC").unwrap().day_of(ctx().now);
        let q = report::KpiQuery {
            from: format_day(today - 1),
            to: format_day(today + 2),
            by: Some("day".into()),
            breakdown: None,
            currency: None,
            compare: Some(false),
        };
        let (fast, raw) = db
            .read(move |tx| {
                let (p, o) = report::Opts::from_query(tx, &q)?;
                Ok((report::kpis(tx, p, &o)?, report::kpis_raw(tx, p, &o)?))
            })
            .await
            .unwrap();
        assert_eq!(fast, raw, "{name}");
        assert_eq!(fast.totals.orders, 8 * 20, "{name}");
        assert_eq!(fast.totals.new_customers, 8, "{name}");
        let snapshot = |db: Db| async move {
            db.read(|tx| {
                let mut out = Vec::new();
                for q in [
                    "SELECT * FROM an_order_days ORDER BY day, currency, channel, source, medium, campaign, device, country",
                    "SELECT day, kind, members FROM an_day_sets ORDER BY day, kind",
                    "SELECT customer_id, first_order_id, first_day FROM an_customers ORDER BY customer_id",
                    "SELECT * FROM an_order_facts ORDER BY order_id, day",
                ] {
                    out.extend(tx.query(q, &[])?.iter().map(|r| format!("{:?}", r.values())));
                }
                Ok(out)
            })
            .await
            .unwrap()
        };
        let before = snapshot(db.clone()).await;
        refresh::rebuild(&db).await.unwrap();
        assert_eq!(before, snapshot(db.clone()).await, "{name}");
    }
}

/// The race the concurrent test above once caught, made deterministic: a customer's earlier
/// order is visible in a refresher's snapshot while its own change lies past the chunk, and is
/// cancelled before that change is processed. The later order must end up counted as the new
/// customer's first, as the raw report has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_order_stays_exact_when_an_earlier_order_is_seen_before_its_change() {
    use backroom_core::analytics::{Zone, refresh, report, rollup};
    use backroom_domain::analytics::format_day;
    for (name, db) in backends().await {
        let (a, _, _) = store(&db, &["F-A"], &[]).await;
        receive(&db, "F-A", a, 100).await;
        // The refresher's state exists, as on any store that has derived its analytics once.
        refresh::rebuild(&db).await.unwrap();
        let now = backroom_core::util::now_micros();
        let place_at = |at: i64| {
            let db = db.clone();
            async move {
                let mut o = order(&[("F-A", 1)]);
                o.customer.email = "first@example.com".into();
                db.write(move |tx| orders::place(tx, &Ctx::new(Actor::system(), at), &o, None))
                    .await
                    .unwrap()
                    .order
                    .id
            }
        };
        // The later order is placed (and noted) first; then one placed a minute earlier.
        let later = place_at(now).await;
        let earlier = place_at(now - 60_000_000).await;
        // A refresher whose chunk holds only the later order's change, though its snapshot sees
        // both orders.
        let later_seq = db
            .read(move |tx| {
                Ok(tx
                    .query_one(
                        "SELECT MIN(seq) FROM an_dirty_orders WHERE order_id = $1",
                        backroom_core::params![later],
                    )?
                    .unwrap()
                    .i64(0))
            })
            .await
            .unwrap();
        let chunk = db
            .read(move |tx| {
                let zone = Zone::get("UTC")?;
                rollup::read_chunk(tx, &zone, later_seq, 1000)
            })
            .await
            .unwrap()
            .unwrap();
        let chunk = std::sync::Arc::new(chunk);
        let applied = db
            .write(move |tx| rollup::apply_chunk(tx, &chunk))
            .await
            .unwrap();
        assert_eq!(applied, Some(1), "{name}");
        // The earlier order is cancelled before its own change is processed.
        db.write(move |tx| orders::cancel(tx, &ctx(), earlier, &CancelOrder { reason: None }))
            .await
            .unwrap();
        refresh::run(&db).await.unwrap();
        let today = Zone::get("UTC").unwrap().day_of(now);
        let q = report::KpiQuery {
            from: format_day(today - 1),
            to: format_day(today + 1),
            by: None,
            breakdown: None,
            currency: None,
            compare: Some(false),
        };
        let (fast, raw) = db
            .read(move |tx| {
                let (p, o) = report::Opts::from_query(tx, &q)?;
                Ok((report::kpis(tx, p, &o)?, report::kpis_raw(tx, p, &o)?))
            })
            .await
            .unwrap();
        assert_eq!(raw.totals.new_customers, 1, "{name}");
        assert_eq!(
            fast.totals.new_customers, 1,
            "{name}: the later order is the first"
        );
        assert_eq!(fast, raw, "{name}");
        let first = db
            .read(|tx| {
                Ok(tx
                    .query_one("SELECT first_order_id FROM an_customers", &[])?
                    .unwrap()
                    .i64(0))
            })
            .await
            .unwrap();
        assert_eq!(first, later, "{name}");
    }
}

/// Products filter by stock state (available somewhere, nowhere, at or below a reorder point)
/// and orders by the location holding their reservations, as the console's filters use them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_filter_by_stock_state_and_orders_by_location() {
    for (name, db) in backends().await {
        let (a, b, _) = store(&db, &["ST-1"], &[]).await;
        db.write(|tx| {
            catalog::create_product(
                tx,
                &ctx(),
                &NewProduct {
                    title: "Empty shelf".into(),
                    status: Some("active".into()),
                    variants: vec![NewVariant {
                        sku: "ST-2".into(),
                        price: 500,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap();
        receive(&db, "ST-1", a, 5).await;
        let titles = |stock: &'static str| {
            let db = db.clone();
            async move {
                let mut t: Vec<String> = db
                    .read(move |tx| {
                        catalog::list_products(
                            tx,
                            &catalog::ProductQuery {
                                stock: Some(stock.into()),
                                ..Default::default()
                            },
                        )
                    })
                    .await
                    .unwrap()
                    .items
                    .into_iter()
                    .map(|p| p.title)
                    .collect();
                t.sort();
                t
            }
        };
        assert_eq!(titles("in_stock").await, ["Test shirt"], "{name}");
        assert_eq!(titles("out_of_stock").await, ["Empty shelf"], "{name}");
        assert!(titles("low").await.is_empty(), "{name}");
        db.write(move |tx| {
            inventory::set_reorder_point(
                tx,
                &ctx(),
                &SetReorderPoint {
                    sku: "ST-1".into(),
                    location_id: a,
                    reorder_point: Some(5),
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap();
        assert_eq!(titles("low").await, ["Test shirt"], "{name}");
        let bad = db
            .read(|tx| {
                catalog::list_products(
                    tx,
                    &catalog::ProductQuery {
                        stock: Some("plenty".into()),
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap_err();
        assert!(
            matches!(bad, Error::Invalid(ref i) if i.field == "stock"),
            "{name}: {bad}"
        );

        // Orders by the location their units are reserved at; released reservations leave it.
        let placed = place(&db, order(&[("ST-1", 2)]), None).await.unwrap().order;
        let at = |loc: i64| {
            let db = db.clone();
            async move {
                db.read(move |tx| {
                    orders::list(
                        tx,
                        &orders::OrderQuery {
                            location_id: Some(loc),
                            ..Default::default()
                        },
                        ctx().now,
                    )
                })
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|o| o.id)
                .collect::<Vec<_>>()
            }
        };
        assert_eq!(at(a).await, [placed.id], "{name}");
        assert!(at(b).await.is_empty(), "{name}");
        let id = placed.id;
        db.write(move |tx| orders::cancel(tx, &ctx(), id, &CancelOrder { reason: None }))
            .await
            .unwrap();
        assert!(
            at(a).await.is_empty(),
            "{name}: cancelled, nothing reserved there"
        );
    }
}

/// The storage layer itself: values of every kind and size come back as sent, through queued
/// statements, batches and COPY; a failed pipeline rolls back whole and leaves its connection
/// fit for the next unit; and a queued insert that loses a race to a concurrent unit makes its
/// unit run again (PostgreSQL), where it finds the row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_pipelines_copy_and_values_round_trip() {
    use backroom_core::{Val, params};
    let text = |v: &Val| match v {
        Val::Text(t) => Some(t.clone()),
        _ => None,
    };
    let int = |v: &Val| match v {
        Val::Int(i) => Some(*i),
        _ => None,
    };
    let float = |v: &Val| match v {
        Val::Float(f) => Some(*f),
        _ => None,
    };
    for (backend, db) in backends().await {
        db.write(|tx| {
            tx.exec(
                "CREATE TABLE wire_test (k TEXT PRIMARY KEY, n BIGINT, f DOUBLE PRECISION, b BOOLEAN, t TEXT)",
                &[],
            )?;
            Ok(())
        })
        .await
        .unwrap();

        // Values: extremes, NULLs, text that needs escaping, and one value larger than any
        // single read from the socket.
        let big = "é🙂\t\\\n".repeat(400_000);
        let rows: Vec<Vec<Val>> = vec![
            vec![
                "a".into(),
                i64::MAX.into(),
                0.1f64.into(),
                true.into(),
                "plain".into(),
            ],
            vec![
                "b".into(),
                i64::MIN.into(),
                (-2.5e300f64).into(),
                false.into(),
                Val::Null,
            ],
            vec![
                "c".into(),
                Val::Null,
                Val::Null,
                Val::Null,
                big.clone().into(),
            ],
        ];
        let sent = rows.clone();
        db.write(move |tx| {
            for r in &sent {
                tx.exec_deferred(
                    "INSERT INTO wire_test (k, n, f, b, t) VALUES ($1, $2, $3, $4, $5)",
                    r,
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
        let back = db
            .read(|tx| Ok(tx.query("SELECT k, n, f, b, t FROM wire_test ORDER BY k", &[])?))
            .await
            .unwrap();
        assert_eq!(back.len(), 3, "{backend}");
        for (got, want) in back.iter().zip(&rows) {
            assert_eq!(Some(got.string(0)), text(&want[0]), "{backend}");
            assert_eq!(
                got.opt_i64(1),
                int(&want[1]),
                "{backend}: n of {}",
                got.string(0)
            );
            assert_eq!(
                got.f64(2),
                float(&want[2]),
                "{backend}: f of {}",
                got.string(0)
            );
            assert_eq!(
                got.opt_string(4),
                text(&want[4]),
                "{backend}: t of {}",
                got.string(0)
            );
        }
        assert!(back[0].bool(3) && !back[1].bool(3), "{backend}");
        assert_eq!(back[2].values()[3], Val::Null, "{backend}");

        // COPY (or multi-row inserts on SQLite) with the same awkward text, many rows at once.
        let many: Vec<Vec<Val>> = (0..20_000)
            .map(|i| {
                vec![
                    format!("m{i:05}").into(),
                    i.into(),
                    Val::Null,
                    (i % 2 == 0).into(),
                    format!("row\t{i}\n\\ é").into(),
                ]
            })
            .collect();
        db.write(move |tx| {
            tx.copy_rows("wire_test", &["k", "n", "f", "b", "t"], &many)?;
            Ok(())
        })
        .await
        .unwrap();
        let (count, sum, odd) = db
            .read(|tx| {
                let r = tx
                    .query_one(
                        "SELECT COUNT(*), CAST(SUM(n) AS BIGINT), MAX(t) FROM wire_test WHERE k LIKE 'm%'",
                        &[],
                    )?
                    .unwrap();
                Ok((r.i64(0), r.i64(1), r.string(2)))
            })
            .await
            .unwrap();
        assert_eq!((count, sum), (20_000, (0..20_000i64).sum()), "{backend}");
        assert_eq!(odd, "row\t9999\n\\ é", "{backend}");

        // A batch answers each statement in order.
        let batch = db
            .read(|tx| {
                Ok(tx.query_batch(&[
                    ("SELECT n FROM wire_test WHERE k = $1", params!["a"]),
                    ("SELECT COUNT(*) FROM wire_test WHERE b = $1", params![true]),
                    ("SELECT k FROM wire_test WHERE k = $1", params!["nothing"]),
                ])?)
            })
            .await
            .unwrap();
        assert_eq!(batch.len(), 3, "{backend}");
        assert_eq!(batch[0][0].i64(0), i64::MAX, "{backend}");
        assert_eq!(batch[1][0].i64(0), 10_001, "{backend}");
        assert!(batch[2].is_empty(), "{backend}");

        // A failure after queued writes: nothing of the unit stays, and every pooled connection
        // still works afterwards.
        let failed = db
            .write(|tx| {
                tx.exec_deferred("INSERT INTO wire_test (k) VALUES ($1)", params!["ghost"])?;
                tx.exec_deferred("INSERT INTO wire_test (k) VALUES ($1)", params!["a"])?;
                tx.query("SELECT 1", &[])?;
                Ok(())
            })
            .await;
        assert!(
            failed.is_err(),
            "{backend}: a duplicate key must fail the unit"
        );
        let mut checks = Vec::new();
        for _ in 0..24 {
            let db = db.clone();
            checks.push(tokio::spawn(async move {
                db.read(|tx| {
                    Ok(tx
                        .query_one(
                            "SELECT COUNT(*) FROM wire_test WHERE k = $1",
                            params!["ghost"],
                        )?
                        .map_or(-1, |r| r.i64(0)))
                })
                .await
            }));
        }
        for c in checks {
            assert_eq!(c.await.unwrap().unwrap(), 0, "{backend}");
        }

        // The race: A inserts key `r` and holds its transaction open; B reads (no `r`), queues
        // its own insert and flushes, which waits for A. When A commits, B's insert fails on
        // the key; B runs again and finds the row. On SQLite the single writer runs B after A.
        let (tx_started, rx_started) = std::sync::mpsc::channel::<()>();
        let a = {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |tx| {
                    tx.exec("INSERT INTO wire_test (k, n) VALUES ('r', 1)", &[])?;
                    let _ = tx_started.send(());
                    std::thread::sleep(std::time::Duration::from_millis(400));
                    Ok(())
                })
                .await
            })
        };
        tokio::task::spawn_blocking(move || rx_started.recv().unwrap())
            .await
            .unwrap();
        let attempts = std::sync::Arc::new(AtomicU64::new(0));
        let seen = attempts.clone();
        let b = db
            .write(move |tx| {
                seen.fetch_add(1, Ordering::SeqCst);
                let found = tx.query_one("SELECT n FROM wire_test WHERE k = 'r'", &[])?;
                if found.is_none() {
                    tx.exec_deferred("INSERT INTO wire_test (k, n) VALUES ('r', 2)", &[])?;
                    tx.query("SELECT 1", &[])?;
                }
                Ok(found.map(|r| r.i64(0)))
            })
            .await;
        a.await.unwrap().unwrap();
        assert_eq!(b.unwrap(), Some(1), "{backend}: B finds A's row");
        let expected = if backend == "postgres" { 2 } else { 1 };
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            expected,
            "{backend}: B's attempts"
        );
    }
}

/// SQLite's log is rewound after a pause in writing (the checkpointer copies it all back into the
/// database, and the next write starts the log over), so a quiet store's WAL file stays as large
/// as its busiest burst rather than growing with every write: the second burst below reuses the
/// file the first one grew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_is_rewound_after_a_pause() {
    use backroom_core::{Val, params};
    let dir = std::env::temp_dir().join(format!(
        "backroom-wal-{}-{}",
        std::process::id(),
        backroom_core::util::random_hex(3)
    ));
    let path = dir.join("t.db");
    let db = Db::open(path.to_str().unwrap()).await.unwrap();
    db.write(|tx| {
        tx.exec("CREATE TABLE wal_test (k INTEGER PRIMARY KEY, t TEXT)", &[])?;
        Ok(())
    })
    .await
    .unwrap();
    let burst = |from: i64| {
        let db = db.clone();
        async move {
            for chunk in 0..8 {
                db.write(move |tx| {
                    for i in 0..64 {
                        let k = from + chunk * 64 + i;
                        tx.exec(
                            "INSERT INTO wal_test (k, t) VALUES ($1, $2)",
                            params![k, Val::from("x".repeat(16_000))],
                        )?;
                    }
                    Ok(())
                })
                .await
                .unwrap();
            }
        }
    };
    let wal = dir.join("t.db-wal");
    let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    burst(0).await;
    let first = size();
    assert!(
        first > 4_000_000,
        "the first burst grew the log: {first} bytes"
    );
    // A pause: the checkpointer copies the whole log back.
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    burst(1_000_000).await;
    let second = size();
    assert!(
        second < first + first / 4,
        "the second burst reused the log: {first} then {second} bytes"
    );
    let n = db
        .read(|tx| {
            Ok(tx
                .query_one("SELECT COUNT(*) FROM wal_test", &[])?
                .unwrap()
                .i64(0))
        })
        .await
        .unwrap();
    assert_eq!(n, 1024);
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
}

/// The background worker's units run on a connection of their own: with every request
/// connection held (and more requests queued for one), a background read still goes through,
/// while a request read waits its turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_work_does_not_queue_behind_requests() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;
    /// Lets the held units finish however the test ends (the runtime waits for them).
    struct Release(Arc<AtomicBool>);
    impl Drop for Release {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    for (backend, db) in backends().await {
        let release = Arc::new(AtomicBool::new(false));
        let guard = Release(release.clone());
        let started = Arc::new(AtomicU64::new(0));
        // More units than any pool has connections; each holds its own until released.
        let held: Vec<_> = (0..32)
            .map(|_| {
                let (db, release, started) = (db.clone(), release.clone(), started.clone());
                tokio::spawn(async move {
                    db.read(move |tx| {
                        tx.query_one("SELECT 1", &[])?;
                        started.fetch_add(1, Ordering::SeqCst);
                        while !release.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        // Wait until the pool is full: the number of running units has stopped growing for
        // three looks in a row (connections open one by one on a slow machine).
        let (mut last, mut steady) = (0, 0);
        while steady < 3 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = started.load(Ordering::SeqCst);
            steady = if now > 0 && now == last {
                steady + 1
            } else {
                0
            };
            last = now;
        }
        assert!(last < 32, "{backend}: every unit ran at once ({last})");
        let one = |db: Db| async move {
            db.read(|tx| Ok(tx.query_one("SELECT 1", &[])?.unwrap().i64(0)))
                .await
        };
        let request = tokio::time::timeout(Duration::from_millis(300), one(db.clone())).await;
        assert!(
            request.is_err(),
            "{backend}: a request read found a free connection"
        );
        let background = tokio::time::timeout(Duration::from_secs(10), one(db.background()))
            .await
            .unwrap_or_else(|_| panic!("{backend}: the background read waited for requests"));
        assert_eq!(background.unwrap(), 1);
        drop(guard);
        for h in held {
            h.await.unwrap().unwrap();
        }
        // A background write as well (SQLite: through the one writer, like any write).
        db.background()
            .write(|tx| Ok(tx.query_one("SELECT 1", &[])?.unwrap().i64(0)))
            .await
            .unwrap();
    }
}
/// A read that panics is reported as an error, and the lane it ran on serves the next read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_read_leaves_its_lane_working() {
    for (backend, db) in backends().await {
        for lane in [db.clone(), db.background()] {
            for _ in 0..2 {
                let r = lane
                    .read(|tx| {
                        tx.query_one("SELECT 1", &[])?;
                        if std::hint::black_box(true) {
                            panic!("a bug in a read");
                        }
                        Ok(())
                    })
                    .await;
                assert!(r.is_err(), "{backend}: the panic came back as an error");
                let one = lane
                    .read(|tx| Ok(tx.query_one("SELECT 1", &[])?.unwrap().i64(0)))
                    .await;
                assert_eq!(one.unwrap(), 1, "{backend}: the lane still reads");
            }
        }
    }
}

/// A test run removes the databases earlier runs left behind (their processes have ended), and
/// leaves those of running processes alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_runs_sweep_up_what_ended_runs_left() {
    // No process has this id: Linux's largest is 4,194,304.
    let (ended, running) = ("999999999_0_x", format!("{}_0_sweep", std::process::id()));
    let dir = |t: &str| std::env::temp_dir().join(format!("backroom-sweeptest-{t}"));
    for t in [ended, running.as_str()] {
        std::fs::create_dir_all(dir(t)).unwrap();
        std::fs::write(dir(t).join("t.db"), b"x").unwrap();
    }
    let pg = std::env::var("BACKROOM_TEST_PG_URL").ok();
    if let Some(url) = &pg {
        for t in [ended, running.as_str()] {
            let (u, name) = (url.clone(), format!("s_{t}").to_lowercase());
            tokio::task::spawn_blocking(move || {
                backroom_core::db::postgres::fresh_schema_url(&u, &name)
            })
            .await
            .unwrap()
            .unwrap();
        }
    }
    let url = pg.clone();
    tokio::task::spawn_blocking(move || {
        backroom_core::fixtures::sweep_test_leftovers("backroom-sweeptest-", "s_", url.as_deref())
    })
    .await
    .unwrap();
    assert!(!dir(ended).exists(), "an ended run's directory is gone");
    assert!(
        dir(&running).exists(),
        "a running process's directory stays"
    );
    std::fs::remove_dir_all(dir(&running)).unwrap();
    if let Some(url) = pg {
        let left = tokio::task::spawn_blocking(move || {
            let left = backroom_core::db::postgres::schemas_starting_with(&url, "s_").unwrap();
            for n in &left {
                backroom_core::db::postgres::drop_schema(&url, n).unwrap();
            }
            left
        })
        .await
        .unwrap();
        assert_eq!(
            left,
            vec![format!("s_{running}")],
            "only the running process's schema stays"
        );
    }
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

/// The PostgreSQL URL of the tests with a fresh schema, or `None` (and a note) without one.
async fn pg_schema_url(what: &str) -> Option<String> {
    let Ok(url) = std::env::var("BACKROOM_TEST_PG_URL") else {
        eprintln!("{what}: skipped, BACKROOM_TEST_PG_URL is not set");
        return None;
    };
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst),
        backroom_core::util::random_hex(3)
    );
    Some(
        tokio::task::spawn_blocking(move || {
            backroom_core::db::postgres::fresh_schema_url(&url, &name)
        })
        .await
        .unwrap()
        .unwrap(),
    )
}

/// `url` with its host replaced by `host`.
fn with_host(url: &str, host: &str) -> String {
    let at = url
        .rfind('@')
        .map_or(url.find("://").unwrap() + 3, |a| a + 1);
    let end = url[at..]
        .find([':', '/', '?'])
        .map_or(url.len(), |e| at + e);
    format!("{}{host}{}", &url[..at], &url[end..])
}

/// Whether the connection a unit of work runs on is encrypted, as PostgreSQL sees it.
async fn encrypted(db: &Db) -> bool {
    db.read(|tx| {
        Ok(tx
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )?
            .is_some_and(|r| r.bool(0)))
    })
    .await
    .unwrap()
}

/// The root certificate the test server's certificate is checked against, and the DNS names
/// that certificate holds. Debian's cluster serves its self-signed "snakeoil" certificate,
/// made for the machine's name when the package was installed; `.ci/run` makes sure TLS is on.
/// `None` (and a note) when the server offers no TLS, unless `BACKROOM_REQUIRE_PG_TLS` says
/// it must.
async fn pg_tls_root(url: &str) -> Option<(String, Vec<String>)> {
    let plain = Db::open(&format!("{url}&sslmode=disable")).await.unwrap();
    let on = plain
        .read(|tx| Ok(tx.query_one("SHOW ssl", &[])?.unwrap().string(0)))
        .await
        .unwrap();
    if on != "on" {
        assert!(
            std::env::var("BACKROOM_REQUIRE_PG_TLS").is_err(),
            "PostgreSQL has ssl = {on}, and BACKROOM_REQUIRE_PG_TLS says the TLS tests must run"
        );
        eprintln!("TLS tests skipped: PostgreSQL has ssl = {on}");
        return None;
    }
    let root = std::env::var("BACKROOM_TEST_PG_ROOTCERT")
        .unwrap_or_else(|_| "/etc/ssl/certs/ssl-cert-snakeoil.pem".into());
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in", &root])
        .output()
        .expect("openssl reads the root certificate's names");
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split([',', '\n', ' '])
        .filter_map(|p| p.trim().strip_prefix("DNS:").map(str::to_string))
        .collect();
    assert!(!names.is_empty(), "{root} names no DNS host: {out:?}");
    Some((root, names))
}

/// TLS as libpq's `sslmode` means it: `require` (and the default, `prefer`, when the server
/// offers TLS) encrypts, which PostgreSQL itself confirms; `disable` does not; `verify-ca`
/// checks the chain against `sslrootcert` but not the name; `verify-full` also checks the name,
/// refusing 127.0.0.1 (not in the certificate) with a message that says so, and accepting the
/// name the certificate holds (reached at 127.0.0.1 through `hostaddr`, so the test does not
/// depend on that name resolving); a root that did not sign it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tls_encrypts_and_checks_what_sslmode_asks() {
    let Some(url) = pg_schema_url("TLS").await else {
        return;
    };
    let Some((root, names)) = pg_tls_root(&url).await else {
        return;
    };
    for mode in ["require", "prefer"] {
        let db = Db::open(&format!("{url}&sslmode={mode}")).await.unwrap();
        assert!(encrypted(&db).await, "sslmode={mode} must encrypt");
    }
    let db = Db::open(&url).await.unwrap();
    assert!(encrypted(&db).await, "no sslmode is prefer, which encrypts");
    let db = Db::open(&format!("{url}&sslmode=disable")).await.unwrap();
    assert!(!encrypted(&db).await, "sslmode=disable must not encrypt");

    let at_ip = with_host(&url, "127.0.0.1");
    let db = Db::open(&format!("{at_ip}&sslmode=verify-ca&sslrootcert={root}"))
        .await
        .unwrap();
    assert!(encrypted(&db).await, "verify-ca");
    let db = Db::open(&format!("{at_ip}&sslmode=require&sslrootcert={root}"))
        .await
        .unwrap();
    assert!(encrypted(&db).await, "require with a root certificate");

    let refused = Db::open(&format!("{at_ip}&sslmode=verify-full&sslrootcert={root}"))
        .await
        .err()
        .expect("verify-full must refuse a certificate that does not name 127.0.0.1")
        .to_string();
    assert!(
        refused.contains("not valid for the host name 127.0.0.1")
            && refused.contains("sslmode=verify-full"),
        "{refused}"
    );
    let by_name = with_host(&url, &names[0]);
    let db = Db::open(&format!(
        "{by_name}&hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={root}"
    ))
    .await
    .unwrap();
    assert!(encrypted(&db).await, "verify-full as {}", names[0]);

    let missing = Db::open(&format!("{url}&sslmode=verify-full"))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(missing.contains("needs sslrootcert"), "{missing}");
    // A root that did not sign the server's certificate: the system's public roots.
    let public = "/etc/ssl/certs/ca-certificates.crt";
    if std::path::Path::new(public).exists() {
        let e = Db::open(&format!(
            "{by_name}&hostaddr=127.0.0.1&sslmode=verify-ca&sslrootcert={public}"
        ))
        .await
        .err()
        .expect("a certificate no public root signed")
        .to_string();
        assert!(
            e.contains("not signed by a certificate in sslrootcert"),
            "{e}"
        );
    }
}

/// A stand-in server that answers `N` to the SSLRequest (no TLS) and records what it is sent
/// after that, on 127.0.0.1; returns its port and what it got.
fn refusing_tls_server() -> (u16, std::sync::mpsc::Receiver<Vec<u8>>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming().take(1) {
            let mut s = conn.unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut req = [0u8; 8];
            s.read_exact(&mut req).unwrap();
            assert_eq!(req, [0, 0, 0, 8, 4, 210, 22, 47], "an SSLRequest");
            s.write_all(b"N").unwrap();
            // Whatever comes next: nothing (the client gave up) or, with `prefer`, the
            // startup message in cleartext, which is enough to see.
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap_or(0);
            let after = buf[..n].to_vec();
            let _ = tx.send(after);
        }
    });
    (port, rx)
}

/// A server that does not offer TLS is refused when TLS is asked for, before a single byte of
/// cleartext is sent (no password, no startup message); `prefer` goes on without TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_without_tls_is_refused_when_tls_is_required() {
    for mode in ["require", "verify-ca", "verify-full"] {
        let (port, sent) = refusing_tls_server();
        let e = Db::open(&format!(
            "postgres://u:secret@127.0.0.1:{port}/db?sslmode={mode}&sslrootcert=/etc/ssl/certs/ssl-cert-snakeoil.pem"
        ))
        .await
        .err()
        .expect("no TLS, no connection")
        .to_string();
        assert!(
            e.contains("does not offer TLS") && e.contains(&format!("sslmode={mode} forbids")),
            "{mode}: {e}"
        );
        let after = tokio::task::spawn_blocking(move || sent.recv().unwrap())
            .await
            .unwrap();
        assert!(
            after.is_empty(),
            "{mode}: cleartext sent after N: {after:?}"
        );
    }
    let (port, sent) = refusing_tls_server();
    let e = Db::open(&format!(
        "postgres://u:secret@127.0.0.1:{port}/db?sslmode=prefer"
    ))
    .await
    .err()
    .unwrap()
    .to_string();
    let after = tokio::task::spawn_blocking(move || sent.recv().unwrap())
        .await
        .unwrap();
    assert!(
        after.windows(4).any(|w| w == b"user"),
        "prefer goes on in cleartext: {after:?} ({e})"
    );
}

/// A statement that outlives the query timeout is cancelled on the server (a CancelRequest),
/// its connection is dropped, the caller gets a timeout error quickly, and the pool goes on with
/// a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_query_timeout_cancels_the_statement() {
    use backroom_core::DbError;
    use backroom_core::db::{Lane, postgres::PgDb};
    let Some(url) = pg_schema_url("query timeout").await else {
        return;
    };
    for mode in ["disable", "prefer"] {
        let u = format!("{url}&sslmode={mode}");
        let pg = tokio::task::spawn_blocking(move || {
            PgDb::open_with(&u, 2, Some(std::time::Duration::from_millis(200)))
        })
        .await
        .unwrap()
        .unwrap();
        let db = Db::Postgres(std::sync::Arc::new(pg), Lane::Requests);
        let mark = format!("timeout_probe_{}", backroom_core::util::random_hex(4));
        let sql = format!("SELECT CAST(pg_sleep(10) AS TEXT), '{mark}'");
        let started = std::time::Instant::now();
        let r = db.read(move |tx| Ok(tx.query(&sql, &[])?)).await;
        let took = started.elapsed();
        match r {
            Err(Error::Db(DbError::Timeout(m))) => {
                assert!(
                    m.contains("200 ms") && m.contains("cancelled"),
                    "{mode}: {m}"
                )
            }
            other => panic!("{mode}: expected a timeout, got {other:?}"),
        }
        assert!(took < std::time::Duration::from_secs(3), "{mode}: {took:?}");
        // Nothing of it still runs on the server.
        let watcher = Db::open(&url).await.unwrap();
        let mut running = -1;
        for _ in 0..20 {
            let m = mark.clone();
            running = watcher
                .read(move |tx| {
                    Ok(tx
                        .query_one(
                            "SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND strpos(query, $1) > 0",
                            &[m.as_str().into()],
                        )?
                        .unwrap()
                        .i64(0))
                })
                .await
                .unwrap();
            if running == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(running, 0, "{mode}: the statement still runs");
        // The pool dropped the connection and works on.
        let one = db
            .read(|tx| Ok(tx.query_one("SELECT 1", &[])?.unwrap().i64(0)))
            .await
            .unwrap();
        assert_eq!(one, 1, "{mode}");
    }
}

/// Each connection keeps at most `STATEMENT_CACHE` prepared statements (the least recently
/// used ones are closed on the server), and a statement PostgreSQL finds stale after a table
/// changed (`cached plan must not change result type`) is prepared again: the unit of work runs
/// again once and sees the new column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_statement_cache_is_bounded_and_survives_a_table_change() {
    use backroom_core::db::postgres::{PgDb, STATEMENT_CACHE};
    use backroom_core::db::{Lane, Val};
    let Some(url) = pg_schema_url("statement cache").await else {
        return;
    };
    let u = url.clone();
    // One connection, so every unit of work finds the statements the last one prepared.
    let pg = tokio::task::spawn_blocking(move || PgDb::open_with(&u, 1, None))
        .await
        .unwrap()
        .unwrap();
    let db = Db::Postgres(std::sync::Arc::new(pg), Lane::Requests);
    let (held, sum) = db
        .read(|tx| {
            let mut sum = 0;
            for i in 0..(2 * STATEMENT_CACHE as i64 + 100) {
                // One statement used all along stays cached; the others come and go.
                let hot = tx
                    .query_one("SELECT CAST($1 AS BIGINT) * 2", &[Val::Int(i)])?
                    .unwrap();
                assert_eq!(hot.i64(0), 2 * i);
                let r = tx
                    .query_one(&format!("SELECT CAST($1 AS BIGINT) + {i}"), &[Val::Int(i)])?
                    .unwrap();
                sum += r.i64(0);
            }
            let held = tx
                .query_one("SELECT COUNT(*) FROM pg_prepared_statements", &[])?
                .unwrap()
                .i64(0);
            Ok((held, sum))
        })
        .await
        .unwrap();
    let n = 2 * STATEMENT_CACHE as i64 + 100;
    assert_eq!(sum, (0..n).map(|i| 2 * i).sum::<i64>());
    assert!(
        held <= STATEMENT_CACHE as i64 + 1 && held >= STATEMENT_CACHE as i64 - 1,
        "{held} statements prepared on the connection"
    );

    db.write(|tx| {
        tx.exec("CREATE TABLE plan_test (a BIGINT)", &[])?;
        tx.exec("INSERT INTO plan_test (a) VALUES (1)", &[])?;
        Ok(())
    })
    .await
    .unwrap();
    let columns = db
        .read(|tx| Ok(tx.query_one("SELECT * FROM plan_test", &[])?.unwrap().len()))
        .await
        .unwrap();
    assert_eq!(columns, 1);
    // Another connection changes the table, as a migration would.
    let other = Db::open(&url).await.unwrap();
    other
        .write(|tx| {
            tx.exec("ALTER TABLE plan_test ADD COLUMN b BIGINT DEFAULT 7", &[])?;
            Ok(())
        })
        .await
        .unwrap();
    let runs = std::sync::Arc::new(AtomicU64::new(0));
    let seen = runs.clone();
    let row = db
        .read(move |tx| {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok(tx.query_one("SELECT * FROM plan_test", &[])?.unwrap())
        })
        .await
        .unwrap();
    assert_eq!((row.len(), row.i64(1)), (2, 7), "{row:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 2, "the unit ran again once");
}

/// The IN-list policy (`db::in_list`): a list of any length travels in one parameter (an array
/// on PostgreSQL, JSON on SQLite), texts that need quoting in either format match exactly, an
/// empty list matches nothing, and 50,000 ids go in one statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_of_any_length_match_through_one_parameter() {
    use backroom_core::db::{Val, exec_in, in_list};
    let awkward = [
        "a\"b", "c\\d", "e,f", "{g}", "h i", "é🙂", "NULL", "", "'q'",
    ];
    for (backend, db) in backends().await {
        db.write(move |tx| {
            tx.exec(
                "CREATE TABLE list_test (id BIGINT PRIMARY KEY, t TEXT)",
                &[],
            )?;
            let rows: Vec<Vec<Val>> = (1..=60_000i64)
                .map(|i| {
                    let t = awkward
                        .get(i as usize - 1)
                        .map_or(format!("t{i}"), |a| a.to_string());
                    vec![Val::Int(i), Val::Text(t)]
                })
                .collect();
            tx.copy_rows("list_test", &["id", "t"], &rows)?;
            Ok(())
        })
        .await
        .unwrap();
        let matched = |vals: Vec<Val>, expr: &'static str| {
            let db = db.clone();
            async move {
                db.read(move |tx| {
                    let (cond, list) = in_list(tx.dialect(), expr, 1, &vals);
                    Ok(tx
                        .query(
                            &format!("SELECT id FROM list_test WHERE {cond} ORDER BY id"),
                            &[list],
                        )?
                        .iter()
                        .map(|r| r.i64(0))
                        .collect::<Vec<_>>())
                })
                .await
                .unwrap()
            }
        };
        let texts: Vec<Val> = awkward.iter().map(|t| Val::from(*t)).collect();
        assert_eq!(
            matched(texts, "t").await,
            (1..=awkward.len() as i64).collect::<Vec<_>>(),
            "{backend}"
        );
        assert!(matched(Vec::new(), "id").await.is_empty(), "{backend}");
        assert_eq!(
            matched(vec![Val::Int(7), Val::Int(59_999), Val::Int(70_000)], "id").await,
            vec![7, 59_999],
            "{backend}"
        );
        let gone = db
            .write(|tx| {
                let ids: Vec<Val> = (1..=50_000).map(Val::Int).collect();
                Ok(exec_in(tx, "DELETE FROM list_test WHERE {}", "id", &ids)?)
            })
            .await
            .unwrap();
        assert_eq!(gone, 50_000, "{backend}");
    }
}

/// Each table's columns and indexes, described as text.
type Shape = std::collections::BTreeMap<String, (Vec<String>, Vec<String>)>;

/// A schema as both engines can describe it: each table's columns with whether they take NULL,
/// and its indexes (other than the primary key) by columns, uniqueness and partiality. Types
/// are left out: the engines name them differently (`INTEGER` and `BIGINT`) by design.
fn schema_shape(tx: &mut dyn backroom_core::Sql) -> backroom_core::Result<Shape> {
    use backroom_core::Dialect;
    let mut out = std::collections::BTreeMap::new();
    let tables: Vec<String> = match tx.dialect() {
        Dialect::Sqlite => tx.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'", &[])?,
        Dialect::Postgres => tx.query("SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'", &[])?,
    }
    .iter()
    .map(|r| r.string(0))
    .collect();
    for t in tables {
        let p = [backroom_core::Val::from(t.as_str())];
        let (mut cols, mut idx): (Vec<String>, Vec<String>) = match tx.dialect() {
            Dialect::Sqlite => {
                let cols = tx
                    .query(
                        "SELECT name, \"notnull\", pk FROM pragma_table_info($1)",
                        &p,
                    )?
                    .iter()
                    .map(|r| {
                        let nullable = r.i64(1) == 0 && r.i64(2) == 0;
                        format!(
                            "{} {}",
                            r.string(0),
                            if nullable { "null" } else { "not null" }
                        )
                    })
                    .collect();
                let mut idx = Vec::new();
                for r in tx.query(
                    "SELECT name, \"unique\", origin, partial FROM pragma_index_list($1)",
                    &p,
                )? {
                    if r.string(2) == "pk" {
                        continue;
                    }
                    let names: Vec<String> = tx
                        .query(
                            "SELECT name FROM pragma_index_info($1) ORDER BY seqno",
                            &[r.string(0).into()],
                        )?
                        .iter()
                        .map(|c| c.string(0))
                        .collect();
                    idx.push(format!(
                        "({}){}{}",
                        names.join(", "),
                        if r.i64(1) != 0 { " unique" } else { "" },
                        if r.i64(3) != 0 { " partial" } else { "" }
                    ));
                }
                (cols, idx)
            }
            Dialect::Postgres => {
                let cols = tx
                    .query("SELECT CAST(column_name AS TEXT), CAST(is_nullable AS TEXT) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1", &p)?
                    .iter()
                    .map(|r| format!("{} {}", r.string(0), if r.string(1) == "YES" { "null" } else { "not null" }))
                    .collect();
                let idx = tx
                    .query(
                        "SELECT array_to_string(ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, ord) \
                           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord), ', '), \
                           CAST(ix.indisunique AS INT), CAST(ix.indpred IS NOT NULL AS INT) \
                         FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
                         WHERE n.nspname = current_schema() AND t.relname = $1 AND NOT ix.indisprimary",
                        &p,
                    )?
                    .iter()
                    .map(|r| {
                        format!(
                            "({}){}{}",
                            r.string(0),
                            if r.i64(1) != 0 { " unique" } else { "" },
                            if r.i64(2) != 0 { " partial" } else { "" }
                        )
                    })
                    .collect();
                (cols, idx)
            }
        };
        cols.sort();
        idx.sort();
        out.insert(t, (cols, idx));
    }
    Ok(out)
}

/// Schema parity: the SQLite and the PostgreSQL migrations give the same tables, the same
/// columns with the same nullability, and the same indexes (columns, uniqueness, partiality).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_migrate_to_the_same_schema() {
    let dbs = backends().await;
    if dbs.len() < 2 {
        eprintln!("SKIPPED: schema parity needs BACKROOM_TEST_PG_URL");
        return;
    }
    let mut shapes = Vec::new();
    for (_, db) in &dbs {
        shapes.push(db.read(schema_shape).await.unwrap());
    }
    let (lite, pg) = (&shapes[0], &shapes[1]);
    assert!(lite.len() > 30, "{} tables", lite.len());
    let mut diffs = Vec::new();
    for t in lite
        .keys()
        .chain(pg.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        match (lite.get(t), pg.get(t)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => diffs.push(format!("{t}:\n  sqlite:     {a:?}\n  postgresql: {b:?}")),
        }
    }
    assert!(
        diffs.is_empty(),
        "the engines' schemas differ:\n{}",
        diffs.join("\n")
    );
}

/// Every Rust source file under `dir`, with its text.
fn sources(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    out
}

/// Convention: the library crates read no environment; the server's one configuration
/// (`crates/server/src/config.rs`) does, once at start-up. The import crate's `shared_data`
/// (where tests and benchmarks find the real data set) is the one, named, exception.
#[test]
fn library_crates_read_no_environment() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    for krate in ["core", "domain", "import"] {
        for (path, text) in sources(&root.join(krate).join("src")) {
            for (n, line) in text.lines().enumerate() {
                let allowed = krate == "import"
                    && (line.contains("BACKROOM_DATA_DIR")
                        || line.contains("BACKROOM_REQUIRE_DATA"));
                if (line.contains("env::var") || line.contains("env::vars")) && !allowed {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "environment read outside the configuration:\n{}",
        found.join("\n")
    );
}

/// The tables each business area owns. Every table belongs to exactly one area; a new table
/// needs an owner here before anything can use it.
const AREA_TABLES: &[(&str, &[&str])] = &[
    ("auth", &["users", "api_tokens"]),
    ("settings", &["settings", "shipping_rates"]),
    (
        "catalog",
        &[
            "products",
            "variants",
            "locations",
            "channels",
            "channel_locations",
            "channel_buffers",
        ],
    ),
    (
        "inventory",
        &[
            "inventory_levels",
            "inventory_ledger",
            "reservations",
            "transfers",
            "transfer_lines",
        ],
    ),
    ("customers", &["customers"]),
    (
        "orders",
        &[
            "orders",
            "order_lines",
            "order_events",
            "payments",
            "refunds",
            "idempotency_keys",
            "counters",
        ],
    ),
    ("fulfillment", &["fulfillments", "fulfillment_lines"]),
    ("returns", &["returns", "return_lines"]),
    ("imports", &["import_jobs"]),
    (
        "webhooks",
        &[
            "webhook_subscriptions",
            "webhook_events",
            "webhook_deliveries",
        ],
    ),
    (
        "analytics",
        &[
            "events",
            "ad_spend",
            "email_campaigns",
            "email_events",
            "analytics_state",
            "an_customers",
            "an_day_sets",
            "an_dirty_orders",
            "an_order_days",
            "an_order_facts",
            "an_purchases",
            "an_session_days",
            "an_sessions",
            "an_visitors",
        ],
    ),
    ("platform", &["audit_log", "schema_migrations"]),
];

/// Areas that read every area's tables by design: analytics is the read model (reports, the
/// work queue and the exports join across areas and never write another area's tables).
const READ_MODELS: &[&str] = &["analytics"];

/// Where one area still reads another's table directly, each with why. The list only shrinks:
/// an entry that is no longer needed fails the test too, so it is taken off when the code moves
/// behind the owner's functions.
const FOREIGN_READS: &[(&str, &str, &str)] = &[
    (
        "customers",
        "orders",
        "a customer shows their order count and spend",
    ),
    (
        "catalog",
        "inventory_levels",
        "a variant's stock summary on its page",
    ),
    (
        "inventory",
        "variants",
        "the ledger and levels show the SKU",
    ),
    (
        "inventory",
        "locations",
        "levels and transfers lock and show their locations",
    ),
    (
        "inventory",
        "channel_buffers",
        "available-to-sell subtracts the channel's buffer",
    ),
    ("inventory", "orders", "backorders name their order"),
    (
        "orders",
        "products",
        "placement prices the lines in one read",
    ),
    (
        "orders",
        "variants",
        "placement prices the lines in one read",
    ),
    (
        "orders",
        "channels",
        "placement reads its channel in the one context query",
    ),
    (
        "orders",
        "channel_locations",
        "placement locks the channel's levels in one query",
    ),
    (
        "orders",
        "channel_buffers",
        "placement locks the channel's levels in one query",
    ),
    (
        "orders",
        "locations",
        "placement and edits source among locations",
    ),
    (
        "orders",
        "inventory_levels",
        "placement locks the channel's levels in one query",
    ),
    (
        "orders",
        "reservations",
        "edits and the order page read a line's live units",
    ),
    (
        "orders",
        "fulfillments",
        "an order's page lists its shipments",
    ),
    ("orders", "fulfillment_lines", "edits keep shipped units"),
    (
        "orders",
        "customers",
        "an order shows its customer's name and email",
    ),
    (
        "orders",
        "settings",
        "placement reads the store settings in the one context query",
    ),
    (
        "orders",
        "shipping_rates",
        "placement reads the shipping rates in the one context query",
    ),
    (
        "fulfillment",
        "orders",
        "shipping locks and updates the order's state",
    ),
    (
        "fulfillment",
        "order_lines",
        "shipping counts each line's shipped units",
    ),
    (
        "fulfillment",
        "inventory_levels",
        "shipping takes units off hand",
    ),
    (
        "fulfillment",
        "reservations",
        "shipping consumes the line's reservations",
    ),
    ("returns", "orders", "a return locks its order"),
    (
        "returns",
        "order_lines",
        "a return counts each line's returned units",
    ),
    (
        "returns",
        "fulfillment_lines",
        "only shipped units can come back",
    ),
    (
        "imports",
        "products",
        "the bulk loader matches by handle and SKU",
    ),
    (
        "imports",
        "variants",
        "the bulk loader matches by handle and SKU",
    ),
    ("imports", "channels", "imported orders name their channel"),
    ("imports", "locations", "stock imports name their location"),
    (
        "imports",
        "inventory_levels",
        "stock imports compare with the level",
    ),
    (
        "imports",
        "orders",
        "imported orders are matched by their source number",
    ),
    (
        "imports",
        "order_lines",
        "cancellations match the open lines of earlier invoices",
    ),
    (
        "imports",
        "customers",
        "imported orders match their customer",
    ),
    (
        "imports",
        "refunds",
        "cancellations add to the order's refunds",
    ),
];

/// Where one area still writes another's table directly (the worse debt), each with why; this
/// list only shrinks as well.
const FOREIGN_WRITES: &[(&str, &str, &str)] = &[
    (
        "fulfillment",
        "orders",
        "shipping, holds and refunds set the order's state",
    ),
    (
        "fulfillment",
        "order_lines",
        "a refund counts the refunded units",
    ),
    ("fulfillment", "refunds", "a refund is recorded here"),
    (
        "fulfillment",
        "inventory_levels",
        "shipping takes units off hand",
    ),
    (
        "fulfillment",
        "reservations",
        "shipping consumes the line's reservations",
    ),
    (
        "orders",
        "reservations",
        "a short count backorders the last orders' units",
    ),
    ("returns", "orders", "a received return credits the order"),
    (
        "returns",
        "order_lines",
        "a received return counts the returned units",
    ),
    (
        "analytics",
        "order_lines",
        "the roll-up fills a line's unit cost",
    ),
    (
        "imports",
        "products",
        "the bulk loader writes products in batches",
    ),
    (
        "imports",
        "variants",
        "the bulk loader writes variants in batches",
    ),
    (
        "imports",
        "orders",
        "the bulk loader writes historical orders in batches",
    ),
    (
        "imports",
        "order_lines",
        "the bulk loader writes historical orders in batches",
    ),
    (
        "imports",
        "counters",
        "the bulk loader moves the order number on",
    ),
    (
        "imports",
        "customers",
        "the bulk loader writes customers in batches",
    ),
    (
        "imports",
        "returns",
        "the bulk loader records historical returns",
    ),
];

/// The tables a piece of SQL text names after FROM, JOIN, INTO, UPDATE or DELETE FROM, each with
/// whether it is written.
fn named_tables(sql: &str) -> Vec<(String, bool)> {
    let words: Vec<&str> = sql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let Some(next) = words.get(i + 1) else { break };
        let kw = w.to_ascii_uppercase();
        let write = match kw.as_str() {
            "INTO" | "UPDATE" => true,
            "FROM" => i > 0 && words[i - 1].eq_ignore_ascii_case("DELETE"),
            "JOIN" => false,
            _ => continue,
        };
        out.push((next.to_string(), write));
    }
    out
}

/// The string literals of Rust source text (test modules cut off).
fn string_literals(text: &str) -> Vec<String> {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = text.chars().peekable();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        match (&mut cur, c) {
            (None, '"') if prev != '\'' => cur = Some(String::new()),
            (None, '/') if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            (Some(s), '\\') => {
                if let Some(n) = chars.next() {
                    s.push(if n == 'n' { '\n' } else { n });
                }
            }
            (Some(s), '"') => {
                out.push(std::mem::take(s));
                cur = None;
            }
            (Some(s), c) => s.push(c),
            _ => {}
        }
        prev = c;
    }
    out
}

/// Convention: each business area's SQL names only its own tables; another area's data is
/// reached through that area's functions. The read model (analytics) reads across, never
/// writes across. What is still crossed is listed above with its reason, and the lists only
/// shrink. The platform modules (storage, audit, fixtures) are outside the areas.
#[test]
fn each_area_names_only_its_own_tables() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let owner = |t: &str| {
        AREA_TABLES
            .iter()
            .find(|(_, ts)| ts.contains(&t))
            .map(|(a, _)| *a)
    };
    let sql_words = [
        "SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER",
    ];
    let mut found = Vec::new();
    let mut used_reads = std::collections::BTreeSet::new();
    let mut used_writes = std::collections::BTreeSet::new();
    let mut areas_seen = std::collections::BTreeSet::new();
    for (path, text) in sources(&src) {
        let rel = path.strip_prefix(&src).unwrap();
        let Some(area) = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .filter(|_| rel.components().count() > 1)
        else {
            continue; // lib.rs, api.rs, audit.rs, util.rs, ...: the platform
        };
        if area == "db" {
            continue;
        }
        areas_seen.insert(area.to_string());
        assert!(
            AREA_TABLES.iter().any(|(a, _)| *a == area),
            "{}: the area {area} has no entry in AREA_TABLES",
            rel.display()
        );
        for lit in string_literals(&text) {
            let upper = lit.trim_start().to_ascii_uppercase();
            if !sql_words.iter().any(|w| upper.starts_with(w)) && !upper.contains(" FROM ") {
                continue;
            }
            for (table, write) in named_tables(&lit) {
                let Some(o) = owner(&table) else {
                    // A FROM in prose or a CTE's own name: only real tables are checked.
                    continue;
                };
                if o == area {
                    continue;
                }
                if write {
                    if FOREIGN_WRITES
                        .iter()
                        .any(|(a, t, _)| *a == area && *t == table)
                    {
                        used_writes.insert((area.to_string(), table.clone()));
                    } else {
                        found.push(format!(
                            "{}: the {area} area writes {table}, which {o} owns",
                            rel.display()
                        ));
                    }
                } else if READ_MODELS.contains(&area) {
                } else if FOREIGN_READS
                    .iter()
                    .any(|(a, t, _)| *a == area && *t == table)
                {
                    used_reads.insert((area.to_string(), table.clone()));
                } else {
                    found.push(format!(
                        "{}: the {area} area reads {table}, which {o} owns",
                        rel.display()
                    ));
                }
            }
        }
    }
    for (a, t, _) in FOREIGN_READS {
        if !used_reads.contains(&(a.to_string(), t.to_string())) {
            found.push(format!(
                "FOREIGN_READS lists {a} reading {t}, which it no longer does: take it off"
            ));
        }
    }
    for (a, t, _) in FOREIGN_WRITES {
        if !used_writes.contains(&(a.to_string(), t.to_string())) {
            found.push(format!(
                "FOREIGN_WRITES lists {a} writing {t}, which it no longer does: take it off"
            ));
        }
    }
    assert!(areas_seen.len() >= 10, "the scan found only {areas_seen:?}");
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The scanner itself: it sees tables after each keyword and tells writes from reads.
#[test]
fn the_table_scanner_sees_reads_and_writes() {
    assert_eq!(
        named_tables(
            "SELECT a FROM orders o JOIN customers c ON 1 WHERE x IN (SELECT 1 FROM refunds)"
        ),
        vec![
            ("orders".into(), false),
            ("customers".into(), false),
            ("refunds".into(), false)
        ]
    );
    assert_eq!(
        named_tables("UPDATE orders SET x = 1; DELETE FROM reservations; INSERT INTO payments (a)"),
        vec![
            ("orders".into(), true),
            ("reservations".into(), true),
            ("payments".into(), true)
        ]
    );
    assert_eq!(
        string_literals("let a = \"SELECT 1 \\\n FROM x\"; // \"not this\"\nlet c = '\"';"),
        vec!["SELECT 1 \n FROM x".to_string()]
    );
}
