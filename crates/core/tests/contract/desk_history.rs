//! Ticket histories on both backends: imported with their conversations, statuses, customers,
//! orders and ratings; imported again, nothing changes; bad rows named by line; exported in the
//! same layout, and the export imported into another store gives the same export back.

use crate::support::*;
use backroom_core::analytics::export::{self, Filters, Format, Kind};
use backroom_core::imports::{self, Options, Summary};
use backroom_core::support::report::{SupportReportQuery, report};

const HEAD: &str = "ticket_ref,ticket_created_at,channel,requester_email,subject,priority,status,solved_at,message_at,author_kind,agent_email,public,body,satisfaction\n";

fn admin() -> Actor {
    Actor::system()
}

async fn import(db: &Db, csv: &str) -> Summary {
    let (records, errors, rows) = backroom_import::tickets::read(csv.as_bytes());
    imports::tickets(db, admin(), records, errors, rows, &Options::default())
        .await
        .unwrap()
}

async fn exported(db: &Db) -> String {
    let mut out: Vec<u8> = Vec::new();
    export::write_all(
        db,
        Kind::Tickets,
        Filters::default(),
        Format::Csv,
        2,
        &mut out,
    )
    .await
    .unwrap();
    String::from_utf8(out).unwrap()
}

async fn count(db: &Db, table: &'static str) -> i64 {
    db.read(move |tx| {
        let r = tx.query_one(&format!("SELECT COUNT(*) AS n FROM {table}"), &[])?;
        Ok(r.unwrap().get::<i64>("n")?)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn ticket_histories_import_once_and_export_the_same_way() {
    for (name, db) in backends().await {
        Store::new(&db, &["H-A"])
            .stock("H-A", At::A, 10)
            .build()
            .await;
        let n = place(&db, order(&[("H-A", 1)]), None)
            .await
            .unwrap()
            .order
            .number;
        let file = format!(
            "{HEAD}\
Z-1,2026-11-02T09:00:00Z,email,ann@example.com,Order {n} late,high,solved,2026-11-02T15:00:00Z,2026-11-02T09:00:00Z,customer,,true,Where is it?,good\n\
Z-2,2026-11-03T10:00:00Z,chat,Bob@Example.com,Size,low,open,,2026-11-03T10:00:00Z,customer,,true,\"Which size, M or L?\",\n\
Z-1,2026-11-02T09:00:00Z,email,ann@example.com,Order {n} late,high,solved,2026-11-02T15:00:00Z,2026-11-02T11:00:00Z,agent,cy@shop.example,true,\"On its way.\nSorry!\",good\n\
Z-1,2026-11-02T09:00:00Z,email,ann@example.com,Order {n} late,high,solved,2026-11-02T15:00:00Z,2026-11-02T10:00:00Z,agent,cy@shop.example,false,Checking the carrier,good\n\
Z-3,2026-11-04T10:00:00Z,phone,dee@example.com,Call,normal,closed,2026-11-04T12:00:00Z,2026-11-04T10:00:00Z,customer,,true,Refund?,bad\n\
Z-4,not a time,phone,eve@example.com,Call,normal,open,,2026-11-04T10:00:00Z,customer,,true,Hello,\n\
Z-5,2026-11-04T10:00:00Z,phone,fay@example.com,Call,normal,open,,yesterday,customer,,true,Hello,\n\
Z-6,2026-11-04T10:00:00Z,phone,gus@example.com,Call,urgent,open,,2026-11-04T09:00:00Z,customer,,true,Too early,\n\
Z-7,2026-11-04T10:00:00Z,smoke,hal@example.com,Call,normal,open,,2026-11-04T10:00:00Z,customer,,true,Hello,\n"
        );
        let s = import(&db, &file).await;
        let created: Vec<&str> = s
            .changes
            .iter()
            .filter(|c| c.action == "created")
            .map(|c| c.key.as_str())
            .collect();
        assert_eq!(created, vec!["Z-1", "Z-2", "Z-3"], "{name}: {s:?}");
        let refused: Vec<(u64, Option<&str>)> = s
            .rejected
            .iter()
            .map(|e| (e.line, e.column.as_deref()))
            .collect();
        assert_eq!(
            refused,
            vec![
                // Line 5's body spans two lines.
                (8, Some("ticket_created_at")),
                (9, Some("message_at")),
                (10, Some("message_at")),
                (11, Some("channel")),
            ],
            "{name}: {:?}",
            s.rejected
        );
        let (tickets, messages) = (
            count(&db, "support_tickets").await,
            count(&db, "support_messages").await,
        );
        assert_eq!((tickets, messages), (3, 5), "{name}");
        // Z-1: its conversation in time order, the note kept private, the order linked, the
        // customer found by email, solved with a good rating.
        let q = backroom_core::support::TicketQuery {
            q: Some("ann@example.com".into()),
            ..Default::default()
        };
        let page = db
            .read(move |tx| backroom_core::support::list_tickets(tx, &ctx(), &q))
            .await
            .unwrap();
        let id = page.items[0].id;
        let v = db
            .read(move |tx| backroom_core::support::get_ticket(tx, id))
            .await
            .unwrap();
        assert_eq!(v.ticket.status, "solved", "{name}");
        assert!(v.ticket.customer_id.is_some(), "{name}");
        assert_eq!(
            v.ticket.orders.iter().map(|o| o.number).collect::<Vec<_>>(),
            vec![n],
            "{name}"
        );
        let bodies: Vec<(&str, bool)> = v
            .messages
            .iter()
            .map(|m| (m.body.as_str(), m.public))
            .collect();
        assert_eq!(
            bodies,
            vec![
                ("Where is it?", true),
                ("Checking the carrier", false),
                ("On its way.\nSorry!", true)
            ],
            "{name}"
        );
        assert_eq!(
            v.satisfaction.as_ref().and_then(|s| s.rating.as_deref()),
            Some("good")
        );
        assert_eq!(
            v.ticket.first_reply_at.as_deref(),
            Some("2026-11-02T11:00:00Z")
        );

        // Again: nothing changes.
        let again = import(&db, &file).await;
        assert!(
            again.changes.iter().all(|c| c.action == "unchanged") && again.changes.len() == 3,
            "{name}: {again:?}"
        );
        assert_eq!(
            (
                count(&db, "support_tickets").await,
                count(&db, "support_messages").await
            ),
            (3, 5),
            "{name}"
        );

        // The history counts in the KPIs: Z-1 solved in 6 hours and Z-3 in 2; one good, one bad.
        let q = SupportReportQuery {
            from: "2026-11-01".into(),
            to: "2026-11-08".into(),
            ..Default::default()
        };
        let r = db.read(move |tx| report(tx, &ctx(), &q)).await.unwrap();
        let k = &r.totals;
        assert_eq!((k.created, k.solved, k.backlog), (3, 2, 1), "{name}: {k:?}");
        assert_eq!(k.resolution.median_hours, Some(4.0), "{name}");
        assert_eq!((k.csat_good, k.csat_bad), (1, 1), "{name}");
        assert_eq!(k.first_response.median_hours, Some(2.0), "{name}");

        // The export reads the same layout: every message a row, and read back into another
        // store it gives the same export.
        let out = exported(&db).await;
        assert!(out.starts_with(HEAD), "{name}: {out}");
        assert_eq!(out.matches("Z-1,").count(), 3, "{name}: {out}");
        // Its own references find the same tickets here.
        let back = import(&db, &out).await;
        assert!(
            back.rejected.is_empty() && back.changes.iter().all(|c| c.action == "unchanged"),
            "{name}: {back:?}"
        );
        let (_, other) = backends()
            .await
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap();
        let s = import(&other, &out).await;
        assert!(s.rejected.is_empty(), "{name}: {s:?}");
        assert_eq!(exported(&other).await, out, "{name}: round trip");
        // Staff without the support lead's rights import nothing.
        let (records, errors, rows) = backroom_import::tickets::read(file.as_bytes());
        let agent = Actor {
            user_id: 0,
            name: "agent".into(),
            role: backroom_domain::roles::Role::Support,
        };
        let e = imports::tickets(&db, agent, records, errors, rows, &Options::default()).await;
        assert!(matches!(e, Err(Error::Forbidden { .. })), "{name}: {e:?}");
    }
}
