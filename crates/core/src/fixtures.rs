//! A small store layout for tests, benchmarks and examples: two warehouses and a boutique, and an
//! `online` channel that sells from the two warehouses. Everything is created through the normal
//! services, so it is audited like any other change.

use crate::api::{NewChannel, NewLocation};
use crate::{Ctx, Result, Sql, catalog};

/// The ids of what [`small_store`] created.
#[derive(Clone, Copy, Debug)]
pub struct SmallStore {
    /// Warehouse `wh-a` ("A"), priority 1.
    pub a: i64,
    /// Warehouse `wh-b` ("B"), priority 2.
    pub b: i64,
    /// Boutique `shop` ("Shop"), priority 3, offers pickup; not in the `online` channel.
    pub shop: i64,
    /// The `online` channel.
    pub channel: i64,
}

pub fn small_store(tx: &mut dyn Sql, ctx: &Ctx) -> Result<SmallStore> {
    let location = |code: &str, name: &str, kind: &str, priority: i64| NewLocation {
        code: code.into(),
        name: name.into(),
        kind: kind.into(),
        priority: Some(priority),
        ..Default::default()
    };
    let a = catalog::create_location(tx, ctx, &location("wh-a", "A", "warehouse", 1))?.id;
    let b = catalog::create_location(tx, ctx, &location("wh-b", "B", "warehouse", 2))?.id;
    let shop = catalog::create_location(tx, ctx, &location("shop", "Shop", "boutique", 3))?.id;
    let channel = catalog::create_channel(
        tx,
        ctx,
        &NewChannel {
            code: "online".into(),
            name: "Online".into(),
            kind: "online".into(),
            location_ids: vec![a, b],
            ..Default::default()
        },
    )?
    .id;
    Ok(SmallStore {
        a,
        b,
        shop,
        channel,
    })
}
