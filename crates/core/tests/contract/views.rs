//! Saved views: each staff member's own named filters of a console list.

use crate::support::*;
use backroom_core::auth::{self, views};
use backroom_domain::roles::Role;

async fn member(db: &Db, email: &str) -> Ctx {
    let u = auth::prepare_user(&NewUser {
        email: email.into(),
        name: email.into(),
        role: "operations".into(),
        password: None,
    })
    .unwrap();
    let user = db
        .write(move |tx| auth::create_user(tx, &Ctx::new(Actor::system(), 1), &u))
        .await
        .unwrap();
    Ctx::new(
        Actor {
            user_id: user.id,
            name: user.name,
            role: Role::Operations,
        },
        2,
    )
}

/// A view saved again under its name replaces its filters; a member sees and deletes only their
/// own; bad input changes nothing; each save and delete is audited.
#[tokio::test]
async fn views_are_each_members_own() {
    for (name, db) in backends().await {
        let (ann, bob) = (
            member(&db, "ann@example.com").await,
            member(&db, "bob@example.com").await,
        );
        let save = |c: &Ctx, view: &'static str, q: &'static str| {
            let c = c.clone();
            let db = db.clone();
            async move {
                db.write(move |tx| views::save_view(tx, &c, "/console/orders", view, q))
                    .await
            }
        };
        let late = save(&ann, "Late", "?late=yes").await.unwrap();
        assert_eq!(late.query, "late=yes", "{name}: stored without the ?");
        let again = save(&ann, "Late", "late=yes&channel_id=2").await.unwrap();
        assert_eq!(
            (again.id, again.query.as_str()),
            (late.id, "late=yes&channel_id=2"),
            "{name}"
        );
        save(&bob, "Late", "late=yes").await.unwrap();
        let list = |c: &Ctx| {
            let c = c.clone();
            let db = db.clone();
            async move {
                db.read(move |tx| views::list_views(tx, &c, "/console/orders"))
                    .await
                    .unwrap()
            }
        };
        assert_eq!(list(&ann).await, vec![again.clone()], "{name}");
        assert_eq!(list(&bob).await.len(), 1, "{name}");

        let e = save(&ann, "  ", "a=1").await.unwrap_err();
        assert!(
            matches!(&e, Error::Invalid(i) if i.field == "name"),
            "{name}: {e:?}"
        );
        let c = ann.clone();
        let e = db
            .write(move |tx| views::save_view(tx, &c, "https://elsewhere", "x", "a=1"))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Invalid(i) if i.field == "list"),
            "{name}: {e:?}"
        );

        let (c, id) = (bob.clone(), again.id);
        let e = db
            .write(move |tx| views::delete_view(tx, &c, id))
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::NotFound { .. }),
            "{name}: not Bob's to delete"
        );
        let c = ann.clone();
        db.write(move |tx| views::delete_view(tx, &c, id))
            .await
            .unwrap();
        assert!(list(&ann).await.is_empty(), "{name}");
        let audited = scalar(
            &db,
            "SELECT COUNT(*) FROM audit_log WHERE action IN ('view.saved', 'view.deleted')",
        )
        .await;
        assert_eq!(audited, 4, "{name}: three saves and a delete");
    }
}
