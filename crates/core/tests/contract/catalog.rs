//! Products, variants and their listings.

use crate::support::*;

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
