//! A small store layout for tests, benchmarks and examples: two warehouses and a boutique, and an
//! `online` channel that sells from the two warehouses. Everything is created through the normal
//! services, so it is audited like any other change.

use crate::api::{NewChannel, NewLocation};
use crate::{Ctx, Result, Sql, catalog, params};

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

/// Removes what earlier test runs left behind: temporary directories named `{dir_prefix}{pid}...`
/// and, with a PostgreSQL URL, schemas named `{schema_prefix}{pid}...`, for every `pid` that is
/// no longer a running process. Test binaries give each test a fresh database named after their
/// own process and cannot tell when the last test is done with it, so they call this once when
/// they start: a run leaves its databases behind only until the next one. Where there is no
/// `/proc` to ask whether a process runs, or with an empty directory prefix, nothing is removed.
pub fn sweep_test_leftovers(dir_prefix: &str, schema_prefix: &str, pg_url: Option<&str>) {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() || dir_prefix.is_empty() {
        return;
    }
    let ended = |name: &str, prefix: &str| {
        let digits: String = name
            .strip_prefix(prefix)
            .unwrap_or_default()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        !digits.is_empty() && !proc.join(&digits).exists()
    };
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if ended(&name, dir_prefix) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    if let Some(url) = pg_url
        && !schema_prefix.is_empty()
        && let Ok(names) = crate::db::postgres::schemas_starting_with(url, schema_prefix)
    {
        for name in names.iter().filter(|n| ended(n, schema_prefix)) {
            let _ = crate::db::postgres::drop_schema(url, name);
        }
    }
}

/// Whether a user with this email exists (the demo seeds once).
pub fn user_exists(tx: &mut dyn Sql, email: &str) -> Result<bool> {
    Ok(tx
        .query_one(
            "SELECT id FROM users WHERE email_key = $1",
            params![email.to_lowercase()],
        )?
        .is_some())
}

/// An online order as the demo's storefront history replays it.
#[derive(Clone, Debug)]
pub struct OnlineOrder {
    pub number: i64,
    pub placed_at: i64,
    pub email: String,
    /// The SKU of its first line.
    pub first_sku: String,
    /// The shipping address as stored (JSON).
    pub shipping_address: String,
}

/// Every order of the `online` channel, oldest first, with what the demo's storefront events
/// need.
pub fn online_orders(tx: &mut dyn Sql) -> Result<Vec<OnlineOrder>> {
    let rows = tx.query(
        "SELECT o.number, o.placed_at, c.email, \
           (SELECT l.sku FROM order_lines l WHERE l.order_id = o.id ORDER BY l.id LIMIT 1) AS first_sku, \
           o.shipping_address \
         FROM orders o JOIN channels ch ON ch.id = o.channel_id JOIN customers c ON c.id = o.customer_id \
         WHERE ch.code = 'online' ORDER BY o.id",
        &[],
    )?;
    rows.iter()
        .map(|r| {
            Ok(OnlineOrder {
                number: r.get("number")?,
                placed_at: r.get("placed_at")?,
                email: r.get("email")?,
                first_sku: r.get::<Option<String>>("first_sku")?.unwrap_or_default(),
                shipping_address: r.get("shipping_address")?,
            })
        })
        .collect()
}

/// The emails of customers who accept marketing, oldest customer first.
pub fn marketing_emails(tx: &mut dyn Sql) -> Result<Vec<String>> {
    Ok(tx
        .query(
            "SELECT email FROM customers WHERE accepts_marketing = TRUE ORDER BY id",
            &[],
        )?
        .iter()
        .map(|r| r.get("email"))
        .collect::<std::result::Result<_, _>>()?)
}
