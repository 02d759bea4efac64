//! The shared harness: backend selection, fresh databases, and builders for the data tests need.

pub(crate) use backroom_core::api::*;
pub(crate) use backroom_core::{
    Actor, Ctx, Db, Error, catalog, customers, inventory, inventory::check, orders,
};
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};

/// Numbers the databases a run opens, so each test gets its own.
pub(crate) static SEQ: AtomicU64 = AtomicU64::new(0);

static SWEEP: std::sync::Once = std::sync::Once::new();

pub(crate) async fn backends() -> Vec<(&'static str, Db)> {
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

pub(crate) fn ctx() -> Ctx {
    Ctx::new(Actor::system(), backroom_core::util::now_micros())
}

/// Two warehouses (priorities 1 and 2) and a boutique, an `online` channel over the warehouses,
/// and one active product with the given SKUs (all `deny` unless listed in `backorder`).
pub(crate) async fn store(db: &Db, skus: &[&str], backorder: &[&str]) -> (i64, i64, i64) {
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

pub(crate) async fn receive(db: &Db, sku: &str, loc: i64, q: i64) {
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

pub(crate) fn order(lines: &[(&str, i64)]) -> PlaceOrder {
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
        discount_codes: None,
        skip_invalid_codes: None,
        note: None,
        origin_location_id: None,
    }
}

pub(crate) async fn place(
    db: &Db,
    o: PlaceOrder,
    key: Option<&str>,
) -> Result<orders::Placed, Error> {
    let key = key.map(str::to_string);
    db.write(move |tx| orders::place(tx, &ctx(), &o, key.as_deref()))
        .await
}

pub(crate) async fn cancel(db: &Db, id: i64) -> Result<Order, Error> {
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

pub(crate) async fn stock(db: &Db, sku: &str) -> SkuStock {
    let sku = sku.to_string();
    db.read(move |tx| inventory::sku_stock(tx, &sku))
        .await
        .unwrap()
}

pub(crate) async fn assert_invariants(db: &Db) {
    let r = db.read(check::run).await.unwrap();
    assert!(r.ok, "invariants violated: {:#?}", r.violations);
}

/// Sets a 20% tax rate and a 5.00 standard shipping charge, so values have tax and shipping.
pub(crate) async fn taxed(db: &Db) {
    db.write(|tx| {
        backroom_core::settings::set(tx, "default_tax_rate", "0.2")?;
        backroom_core::settings::set_shipping_rate(tx, "standard", "Standard", 500)
    })
    .await
    .unwrap();
}

pub(crate) async fn write<T: Send + 'static>(
    db: &Db,
    mut f: impl FnMut(&mut dyn backroom_core::Sql, &Ctx) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    db.write(move |tx| f(tx, &ctx())).await
}

pub(crate) fn pay(
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

pub(crate) fn live(o: &Order, line: usize) -> Vec<(i64, i64)> {
    o.lines[line]
        .allocations
        .iter()
        .filter(|a| a.live)
        .map(|a| (a.location_id, a.quantity))
        .collect()
}

/// `a / b` rounded half to even, or `None` when `b` is zero.
pub(crate) fn half_even(a: i64, b: i64) -> Option<i64> {
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

// ----------------------------------------------------------------------------------------------
// Builders: the small store, orders, and the steps tests take on them.

/// One of the small store's three locations, named before the store exists.
#[derive(Clone, Copy, Debug)]
pub(crate) enum At {
    /// Warehouse A (`wh-a`), priority 1.
    A,
    /// Warehouse B (`wh-b`), priority 2.
    B,
    /// The boutique, not on the `online` channel.
    Shop,
}

/// The small store as a test wants it: [`store`]'s locations, channel and product, then the
/// settings and the stock asked for, in that order.
///
/// `let (a, b, _) = Store::new(&db, &["A1", "B1"]).taxed().stock("A1", At::A, 2).build().await;`
pub(crate) struct Store<'a> {
    db: &'a Db,
    skus: Vec<&'a str>,
    backorder: Vec<&'a str>,
    taxed: bool,
    stock: Vec<(&'a str, At, i64)>,
}

impl<'a> Store<'a> {
    /// One active product with these SKUs, every one `deny`.
    pub(crate) fn new(db: &'a Db, skus: &[&'a str]) -> Self {
        Store {
            db,
            skus: skus.to_vec(),
            backorder: Vec::new(),
            taxed: false,
            stock: Vec::new(),
        }
    }

    /// These SKUs sell beyond their stock (`continue`).
    pub(crate) fn backorder(mut self, skus: &[&'a str]) -> Self {
        self.backorder.extend_from_slice(skus);
        self
    }

    /// A 20% tax rate and a 5.00 standard shipping charge (see [`taxed`]).
    pub(crate) fn taxed(mut self) -> Self {
        self.taxed = true;
        self
    }

    /// `quantity` units of `sku` received at `at` (receipts go in the order they are listed).
    pub(crate) fn stock(mut self, sku: &'a str, at: At, quantity: i64) -> Self {
        self.stock.push((sku, at, quantity));
        self
    }

    /// Writes it all; returns the ids of warehouse A, warehouse B and the boutique.
    pub(crate) async fn build(self) -> (i64, i64, i64) {
        let (a, b, shop) = store(self.db, &self.skus, &self.backorder).await;
        if self.taxed {
            taxed(self.db).await;
        }
        for (sku, at, quantity) in self.stock {
            let loc = match at {
                At::A => a,
                At::B => b,
                At::Shop => shop,
            };
            receive(self.db, sku, loc, quantity).await;
        }
        (a, b, shop)
    }
}

/// What [`order`] builds, said differently: `order(&[("N1", 1)]).on("web").by("x@example.com")`.
pub(crate) trait OrderBuilder: Sized {
    /// Placed on the channel with this code (rather than `online`).
    fn on(self, channel: &str) -> Self;
    /// Placed by the customer with this email (rather than Ann).
    fn by(self, email: &str) -> Self;
    /// Collected in store (`pickup`) at this location, or with none named.
    fn pickup_at(self, location: Option<i64>) -> Self;
    /// Sold in store at this location (endless aisle).
    fn sold_at(self, location: i64) -> Self;
}

impl OrderBuilder for PlaceOrder {
    fn on(mut self, channel: &str) -> Self {
        self.channel = channel.into();
        self
    }
    fn by(mut self, email: &str) -> Self {
        self.customer.email = email.into();
        self
    }
    fn pickup_at(mut self, location: Option<i64>) -> Self {
        self.shipping_method = Some("pickup".into());
        self.pickup_location_id = location;
        self
    }
    fn sold_at(mut self, location: i64) -> Self {
        self.origin_location_id = Some(location);
        self
    }
}

/// The order as read now.
pub(crate) async fn get_order(db: &Db, id: i64) -> Order {
    db.read(move |tx| orders::get(tx, id)).await.unwrap()
}

/// The kinds of the order's timeline events, oldest first.
pub(crate) async fn timeline_kinds(db: &Db, id: i64) -> Vec<String> {
    db.read(move |tx| orders::timeline(tx, id))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// The id of the channel with this code.
pub(crate) async fn channel_id(db: &Db, code: &str) -> i64 {
    let code = code.to_string();
    db.read(move |tx| {
        Ok(tx
            .query_one(
                "SELECT id FROM channels WHERE code = $1",
                &[code.as_str().into()],
            )?
            .unwrap()
            .get::<i64>("id")
            .unwrap())
    })
    .await
    .unwrap()
}

/// The one value `sql` gives (a `COUNT(*)`, say), read as the scalar subquery
/// `SELECT (sql) AS n` so that the caller need not name its column.
pub(crate) async fn scalar(db: &Db, sql: &'static str) -> i64 {
    let sql = format!("SELECT ({sql}) AS n");
    db.read(move |tx| Ok(tx.query_one(&sql, &[])?.unwrap().get::<i64>("n").unwrap()))
        .await
        .unwrap()
}

/// The SKU's level at one location.
pub(crate) fn level(s: &SkuStock, location: i64) -> StockLevel {
    s.levels
        .iter()
        .find(|x| x.location_id == location)
        .cloned()
        .unwrap()
}

/// A shipment of everything the order holds at `location`.
pub(crate) fn everything_at(location: i64) -> ShipOrder {
    ShipOrder {
        location_id: location,
        ..Default::default()
    }
}

/// A shipment of these (line, units) from `location`.
pub(crate) fn lines_at(location: i64, lines: &[(i64, i64)]) -> ShipOrder {
    ShipOrder {
        location_id: location,
        lines: Some(
            lines
                .iter()
                .map(|&(line_id, quantity)| ShipLine { line_id, quantity })
                .collect(),
        ),
        ..Default::default()
    }
}

/// Ships the order as `s` says.
pub(crate) async fn ship_order(db: &Db, id: i64, s: ShipOrder) -> Result<Order, Error> {
    write(db, move |tx, c| {
        backroom_core::fulfillment::ship(tx, c, id, &s)
    })
    .await
}

/// Edits the order.
pub(crate) async fn edit_order(db: &Db, id: i64, e: EditOrder) -> Result<Order, Error> {
    write(db, move |tx, c| {
        backroom_core::orders::edits::edit(tx, c, id, &e)
    })
    .await
}

/// Refunds the order.
pub(crate) async fn refund_order(db: &Db, id: i64, r: RefundOrder) -> Result<Order, Error> {
    write(db, move |tx, c| {
        backroom_core::orders::refund(tx, c, id, &r)
    })
    .await
}

/// A return of these (line, units, reason).
pub(crate) fn return_lines(lines: &[(i64, i64, &str)]) -> NewReturn {
    NewReturn {
        lines: lines
            .iter()
            .map(|&(line_id, quantity, reason)| NewReturnLine {
                line_id,
                quantity,
                reason: reason.into(),
            })
            .collect(),
        ..Default::default()
    }
}

/// Opens a return on the order.
pub(crate) async fn open_return(db: &Db, id: i64, r: NewReturn) -> Result<Return, Error> {
    write(db, move |tx, c| {
        backroom_core::returns::create(tx, c, id, &r)
    })
    .await
}

/// A receipt of these (line, units, disposition, location).
pub(crate) fn receipt(lines: &[(i64, i64, &str, Option<i64>)]) -> ReceiveReturn {
    ReceiveReturn {
        lines: lines
            .iter()
            .map(
                |&(line_id, quantity, disposition, location_id)| ReceivedLine {
                    line_id,
                    quantity,
                    disposition: disposition.into(),
                    location_id,
                },
            )
            .collect(),
    }
}

/// Receives units of a return.
pub(crate) async fn receive_return(
    db: &Db,
    return_id: i64,
    r: ReceiveReturn,
) -> Result<Return, Error> {
    write(db, move |tx, c| {
        backroom_core::returns::receive(tx, c, return_id, &r)
    })
    .await
}

/// A context acting as the system at the instant `micros` (for placing or shipping in the past).
pub(crate) fn ctx_at(micros: i64) -> Ctx {
    Ctx::new(Actor::system(), micros)
}

/// Puts the order on hold.
pub(crate) async fn hold_order(
    db: &Db,
    id: i64,
    reason: &str,
    note: Option<&str>,
) -> Result<Order, Error> {
    let h = HoldOrder {
        reason: reason.into(),
        note: note.map(str::to_string),
    };
    write(db, move |tx, c| {
        backroom_core::fulfillment::hold(tx, c, id, &h)
    })
    .await
}

/// Records a click-and-collect order as collected, handed over by `by`.
pub(crate) async fn hand_over(db: &Db, id: i64, by: &str) -> Result<Order, Error> {
    let p = PickedUp {
        handed_over_by: by.into(),
    };
    write(db, move |tx, c| {
        backroom_core::fulfillment::picked_up(tx, c, id, &p)
    })
    .await
}
