//! Returns: requested, received and inspected.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_received_and_inspected() {
    for (name, db) in backends().await {
        let (a, b, _) = Store::new(&db, &["RT1", "RT2"])
            .stock("RT1", At::A, 10)
            .stock("RT2", At::A, 10)
            .build()
            .await;
        let o = place(&db, order(&[("RT1", 3), ("RT2", 1)]), None)
            .await
            .unwrap()
            .order;
        let (id, l1, l2) = (o.id, o.lines[0].id, o.lines[1].id);
        // Nothing shipped yet: nothing to return.
        let early = open_return(&db, id, return_lines(&[(l1, 1, "damaged")])).await;
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
        ship_order(&db, id, everything_at(a)).await.unwrap();
        let too_many = open_return(&db, id, return_lines(&[(l1, 4, "damaged")])).await;
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
        let bad_reason = open_return(&db, id, return_lines(&[(l1, 1, "meh")])).await;
        assert!(
            matches!(bad_reason, Err(Error::Invalid(ref i)) if i.field == "lines[0].reason"),
            "{name}"
        );
        let rma = NewReturn {
            label_tracking: Some("RET1".into()),
            ..return_lines(&[(l1, 2, "damaged"), (l2, 1, "wrong_size")])
        };
        let rma = open_return(&db, id, rma).await.unwrap();
        assert_eq!(rma.status, "requested");
        // The same units cannot be returned twice.
        let twice = open_return(&db, id, return_lines(&[(l1, 2, "damaged")])).await;
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
        let got = receipt(&[(l1, 1, "restock", Some(a)), (l1, 1, "unavailable", Some(b))]);
        let got = receive_return(&db, rid, got).await.unwrap();
        assert_eq!(got.status, "partially_received", "{name}");
        let st = stock(&db, "RT1").await;
        let at = |l: i64| level(&st, l);
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
        let over = receive_return(&db, rid, receipt(&[(l1, 1, "restock", Some(a))])).await;
        assert!(matches!(over, Err(Error::Invalid(_))), "{name}: {over:?}");
        let done = receive_return(&db, rid, receipt(&[(l2, 1, "write_off", None)]))
            .await
            .unwrap();
        assert_eq!(done.status, "received");
        assert_eq!(
            stock(&db, "RT2").await.totals.on_hand,
            9,
            "{name}: a write-off changes no stock"
        );
        let order_now = get_order(&db, id).await;
        assert_eq!(order_now.fulfillment_status, "partially_returned", "{name}");
        let cancel = db
            .write(move |tx| backroom_core::returns::cancel(tx, &ctx(), rid))
            .await;
        assert!(matches!(cancel, Err(Error::Conflict { .. })), "{name}");
        // Return rate: computed here from what the test did, against the report.
        let rates = db
            .read(|tx| backroom_core::analytics::operations::return_rates(tx, &Default::default()))
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
