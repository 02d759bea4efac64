//! The demo store: a fixed seed, so it is the same every time (for the same moment). About 200
//! products with sizes and colours, 3 locations, 3 channels, 5,000 customers and 90 days of
//! orders lived through as a shop lives them (see `history`), with the storefront's events, ad
//! spend and newsletters of those 90 days.

mod history;
mod promotions;
mod support;

use anyhow::{Result, anyhow};
use backroom_core::analytics::{Zone, ingest, marketing};
use backroom_core::api::{NewChannel, NewLocation, NewProduct, NewUser, NewVariant, ReceiveStock};
use backroom_core::{Actor, Ctx, Db, auth, catalog, customers, inventory, settings};
use backroom_domain::analytics::EventType;

pub struct Login {
    pub email: String,
    pub password: String,
    pub token: String,
}

pub const ADMIN_EMAIL: &str = "admin@demo.backroom.dev";
pub const ADMIN_PASSWORD: &str = "backroom-demo";

/// A small deterministic generator (SplitMix64): the demo must not change between runs.
#[derive(Clone, Debug)]
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo).max(1) as u64) as i64
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// Product types: sizes, base price, and the share of units customers send back (in 100): clothes
/// and shoes that must fit come back most, accessories least.
const TYPES: &[(&str, &[&str], i64, u64)] = &[
    ("T-shirt", &["S", "M", "L", "XL"], 2500, 20),
    ("Hoodie", &["S", "M", "L", "XL"], 6500, 25),
    ("Jeans", &["28", "30", "32", "34", "36"], 8900, 38),
    (
        "Sneakers",
        &["38", "39", "40", "41", "42", "43", "44"],
        11900,
        36,
    ),
    ("Cap", &[], 2900, 5),
    ("Scarf", &[], 3900, 6),
    ("Tote bag", &[], 4500, 4),
    ("Socks", &["S/M", "L/XL"], 1200, 5),
    ("Jacket", &["S", "M", "L", "XL"], 15900, 32),
    ("Dress", &["XS", "S", "M", "L"], 9900, 45),
];
const ADJ: &[&str] = &[
    "Classic",
    "Organic",
    "Vintage",
    "Everyday",
    "Relaxed",
    "Slim",
    "Heritage",
    "Coastal",
    "Urban",
    "Alpine",
    "Linen",
    "Merino",
    "Canvas",
    "Summer",
    "Winter",
    "Studio",
    "Weekend",
    "Essential",
    "Field",
    "Harbour",
];
const COLOURS: &[&str] = &[
    "Black", "White", "Navy", "Olive", "Sand", "Red", "Grey", "Blue",
];
const VENDORS: &[&str] = &[
    "Northwind",
    "Atelier Nord",
    "Maison Lune",
    "Fjord & Co",
    "Pacific Thread",
];
const FIRST: &[&str] = &[
    "Ana", "Ben", "Chloé", "David", "Emma", "Farid", "Giulia", "Hugo", "Inès", "Jonas", "Kenji",
    "Léa", "Marta", "Noah", "Olga", "Paul", "Quentin", "Rosa", "Sofia", "Tom", "Uma", "Victor",
    "Wen", "Yara", "Zoé",
];
const LAST: &[&str] = &[
    "Martin",
    "Bernard",
    "Dubois",
    "Smith",
    "Garcia",
    "Müller",
    "Rossi",
    "Tanaka",
    "Kowalski",
    "Nguyen",
    "Silva",
    "Johansson",
    "Haddad",
    "Moreau",
    "Lopez",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Paris", "75011", "FR"),
    ("Lyon", "69002", "FR"),
    ("Lille", "59000", "FR"),
    ("Berlin", "10115", "DE"),
    ("Madrid", "28001", "ES"),
    ("Milan", "20121", "IT"),
    ("Brussels", "1000", "BE"),
    ("Amsterdam", "1011", "NL"),
];

const DAY: i64 = 86_400_000_000;

fn e(err: backroom_core::Error) -> anyhow::Error {
    anyhow!("{err}")
}

/// Seeds the demo store if the database is empty; always issues a fresh admin API token.
pub async fn ensure(db: &Db) -> Result<Login> {
    let seeded = db
        .read(|tx| backroom_core::fixtures::user_exists(tx, ADMIN_EMAIL))
        .await
        .map_err(e)?;
    if !seeded {
        seed(db, backroom_core::util::now_micros()).await?;
    }
    let token = db
        .write(|tx| auth::issue_api_token(tx, &Ctx::system_now(), ADMIN_EMAIL, "demo"))
        .await
        .map_err(e)?;
    Ok(Login {
        email: ADMIN_EMAIL.into(),
        password: ADMIN_PASSWORD.into(),
        token: token.token,
    })
}

/// Creates the whole demo store as of `now`.
pub async fn seed(db: &Db, now: i64) -> Result<()> {
    let start = now - 90 * DAY;
    seed_setup(db, start).await?;

    // Catalog and opening stock.
    let mut rng = Rng::new(20_261_123);
    let Catalog {
        skus,
        info,
        products,
    } = plan_catalog(&mut rng);
    let backordered_sku = seed_catalog(db, &mut rng, start, &skus, products).await?;

    // Customers: 5,000, created over the 90 days.
    let customers = seed_customers(db, &mut rng, start).await?;
    let promos = promotions::seed(db, start, now).await?;

    // 90 days of orders, lived through in time order up to now.
    let sellable: Vec<&(String, i64)> = skus
        .iter()
        .enumerate()
        .filter(|(i, (sku, _))| *i != 0 && info.get(sku).is_some_and(|x| x.active))
        .map(|(_, s)| s)
        .collect();
    history::run(
        db,
        &mut rng,
        start,
        now,
        &sellable,
        info,
        &backordered_sku,
        customers,
        promos,
    )
    .await?;
    promotions::seed_plans(db, now).await?;
    seed_analytics(db, start, now).await?;
    support::seed(db, &mut rng, now).await
}

/// The settings, the staff accounts, the locations and the channels, as of `start`.
async fn seed_setup(db: &Db, start: i64) -> Result<()> {
    let admin = auth::prepare_user(&NewUser {
        email: ADMIN_EMAIL.into(),
        name: "Demo Admin".into(),
        role: "admin".into(),
        password: Some(ADMIN_PASSWORD.into()),
    })
    .map_err(e)?;
    let staff = [
        ("planner@demo.backroom.dev", "Ines Planner", "inventory"),
        (
            "warehouse@demo.backroom.dev",
            "Walt Warehouse",
            "fulfillment",
        ),
        ("support@demo.backroom.dev", "Sam Support", "support"),
        ("analyst@demo.backroom.dev", "Ada Analyst", "analyst"),
    ]
    .map(|(email, name, role)| {
        auth::prepare_user(&NewUser {
            email: email.into(),
            name: name.into(),
            role: role.into(),
            password: Some(ADMIN_PASSWORD.into()),
        })
    });
    let staff: Vec<_> = staff
        .into_iter()
        .collect::<std::result::Result<_, _>>()
        .map_err(e)?;
    let sys = Ctx::new(Actor::system(), start);
    let admin = std::sync::Arc::new(admin);
    let staff = std::sync::Arc::new(staff);
    db.write(move |tx| {
        settings::set(tx, "store_name", "Northwind Outfitters (demo)")?;
        settings::set(tx, "currency", "EUR")?;
        settings::set(tx, "default_tax_rate", "0.2")?;
        settings::set(tx, "timezone", "Europe/Paris")?;
        settings::set_shipping_rate(tx, "standard", "Standard (3-5 days)", 495)?;
        settings::set_shipping_rate(tx, "express", "Express (next day)", 1295)?;
        auth::create_user(tx, &sys, &admin)?;
        for s in staff.iter() {
            auth::create_user(tx, &sys, s)?;
        }
        create_locations_and_channels(tx, &sys)
    })
    .await
    .map_err(e)?;
    Ok(())
}

/// The two warehouses and the Paris boutique, and the three channels that sell from them.
fn create_locations_and_channels(
    tx: &mut dyn backroom_core::Sql,
    sys: &Ctx,
) -> backroom_core::Result<()> {
    let main = catalog::create_location(
        tx,
        sys,
        &NewLocation {
            code: "main-wh".into(),
            name: "Main warehouse (Lyon)".into(),
            kind: "warehouse".into(),
            priority: Some(1),
            latitude: Some(45.76),
            longitude: Some(4.84),
            postal_code: Some("69007".into()),
            country: Some("FR".into()),
            ..Default::default()
        },
    )?;
    let east = catalog::create_location(
        tx,
        sys,
        &NewLocation {
            code: "east-wh".into(),
            name: "East warehouse (Strasbourg)".into(),
            kind: "warehouse".into(),
            priority: Some(2),
            latitude: Some(48.57),
            longitude: Some(7.75),
            postal_code: Some("67000".into()),
            country: Some("FR".into()),
            ..Default::default()
        },
    )?;
    let shop = catalog::create_location(
        tx,
        sys,
        &NewLocation {
            code: "paris-shop".into(),
            name: "Paris boutique".into(),
            kind: "boutique".into(),
            priority: Some(3),
            ships_online: Some(true),
            latitude: Some(48.86),
            longitude: Some(2.36),
            postal_code: Some("75003".into()),
            country: Some("FR".into()),
            ..Default::default()
        },
    )?;
    catalog::create_channel(
        tx,
        sys,
        &NewChannel {
            code: "online".into(),
            name: "Online store".into(),
            kind: "online".into(),
            location_ids: vec![main.id, east.id, shop.id],
            sourcing_strategy: None,
            handling_hours: Some(history::HANDLING_HOURS),
            pickup_hold_hours: Some(history::PICKUP_HOLD_HOURS),
        },
    )?;
    catalog::create_channel(
        tx,
        sys,
        &NewChannel {
            code: "marketplace".into(),
            name: "Marketplace".into(),
            kind: "marketplace".into(),
            location_ids: vec![main.id, east.id],
            sourcing_strategy: Some("highest_stock".into()),
            handling_hours: Some(history::HANDLING_HOURS),
            pickup_hold_hours: None,
        },
    )?;
    catalog::create_channel(
        tx,
        sys,
        &NewChannel {
            code: "boutique".into(),
            name: "Paris boutique POS".into(),
            kind: "pos".into(),
            // Endless aisle: the nearest location that holds it ships (the boutique itself for
            // its Paris customers; the main warehouse for what it lacks and for the rest).
            location_ids: vec![shop.id, main.id],
            sourcing_strategy: Some("nearest".into()),
            handling_hours: Some(history::HANDLING_HOURS),
            pickup_hold_hours: None,
        },
    )?;
    Ok(())
}

/// The catalog before it is stored: SKUs and prices, what the history knows of them, products.
struct Catalog {
    skus: Vec<(String, i64)>,
    info: std::collections::HashMap<String, history::SkuInfo>,
    products: Vec<NewProduct>,
}

/// About 200 products in sizes and colours, drawn from `rng`.
fn plan_catalog(rng: &mut Rng) -> Catalog {
    let mut skus: Vec<(String, i64)> = Vec::new();
    let mut info = std::collections::HashMap::new();
    let mut products = Vec::new();
    for i in 0..200 {
        let (kind, sizes, base, _) = TYPES[i % TYPES.len()];
        let adj = ADJ[(i / TYPES.len()) % ADJ.len()];
        let title = format!("{adj} {kind}");
        let n_col = rng.range(1, 4) as usize;
        let first = rng.range(0, COLOURS.len() as i64) as usize;
        let colours: Vec<&str> = (0..n_col)
            .map(|k| COLOURS[(first + k) % COLOURS.len()])
            .collect();
        let price = base + rng.range(-5, 6) * 100;
        let code = format!(
            "{}{:03}",
            kind.chars()
                .filter(|c| c.is_ascii_alphabetic())
                .take(3)
                .collect::<String>()
                .to_uppercase(),
            i + 1
        );
        let mut variants = Vec::new();
        let options = if sizes.is_empty() {
            vec!["Colour".to_string()]
        } else {
            vec!["Size".to_string(), "Colour".to_string()]
        };
        for c in &colours {
            let sz: Vec<Option<&str>> = if sizes.is_empty() {
                vec![None]
            } else {
                sizes.iter().map(|s| Some(*s)).collect()
            };
            let first_size = skus.len();
            for s in sz {
                let sku = match s {
                    Some(s) => format!("{code}-{}-{}", &c[..3].to_uppercase(), s.replace('/', "")),
                    None => format!("{code}-{}", &c[..3].to_uppercase()),
                };
                let opts = match s {
                    Some(s) => vec![s.to_string(), c.to_string()],
                    None => vec![c.to_string()],
                };
                variants.push(NewVariant {
                    sku: sku.clone(),
                    options: Some(opts),
                    price,
                    compare_at_price: if rng.chance(15) {
                        Some(price + 1000)
                    } else {
                        None
                    },
                    unit_cost: Some(price * rng.range(35, 56) / 100),
                    weight_grams: Some(rng.range(80, 1500)),
                    barcode: Some(format!("40{:011}", rng.range(0, 99_999_999_999))),
                    inventory_policy: Some(if i % 25 == 0 {
                        "continue".into()
                    } else {
                        "deny".into()
                    }),
                    ..Default::default()
                });
                skus.push((sku, price));
            }
            // An exchange for a wrong size sends the next size up (the largest, the one below).
            let sized: Vec<String> = skus[first_size..].iter().map(|s| s.0.clone()).collect();
            for (k, sku) in sized.iter().enumerate() {
                let sibling = if sizes.is_empty() {
                    None
                } else {
                    sized
                        .get(k + 1)
                        .or(k.checked_sub(1).and_then(|k| sized.get(k)))
                        .cloned()
                };
                info.insert(
                    sku.clone(),
                    history::SkuInfo {
                        kind: i % TYPES.len(),
                        sibling,
                        active: i % 40 != 39,
                    },
                );
            }
        }
        let described = rng.chance(80);
        products.push(NewProduct {
            title: if i >= TYPES.len() * ADJ.len() { format!("{title} {}", i) } else { title.clone() },
            handle: Some(format!("{}-{}", title.to_lowercase().replace(' ', "-"), i + 1)),
            description: if described { Some(format!("The {} {} from our {} collection: durable, comfortable, made to last. Machine washable at 30°C.", adj.to_lowercase(), kind.to_lowercase(), VENDORS[i % VENDORS.len()])) } else { None },
            vendor: Some(VENDORS[i % VENDORS.len()].into()),
            product_type: Some(kind.into()),
            tags: Some(vec![kind.to_lowercase(), adj.to_lowercase()]),
            options: Some(options),
            image_urls: if described { Some(vec![format!("https://img.example.com/{code}.jpg")]) } else { None },
            status: Some(if i % 40 == 39 { "draft".into() } else { "active".into() }),
            seo_title: if rng.chance(60) { Some(format!("{title} | Northwind Outfitters")) } else { None },
            seo_description: None,
            variants,
        });
    }
    Catalog {
        skus,
        info,
        products,
    }
}

/// Stores the products with their opening stock and reorder points; returns the backordered SKU.
async fn seed_catalog(
    db: &Db,
    rng: &mut Rng,
    start: i64,
    skus: &[(String, i64)],
    products: Vec<NewProduct>,
) -> Result<String> {
    let mut stock: Vec<(String, i64, i64, i64)> = skus
        .iter()
        .map(|(s, _)| {
            (
                s.clone(),
                rng.range(20, 160),
                rng.range(0, 80),
                rng.range(0, 12),
            )
        })
        .collect();
    // The first T-shirt's first variant sells beyond stock (`continue`) and its supplier is late:
    // there is none, and the few orders for it wait.
    let backordered_sku = skus[0].0.clone();
    stock[0] = (backordered_sku.clone(), 0, 0, 0);
    let products = std::sync::Arc::new(products);
    let stock = std::sync::Arc::new(stock);
    db.write(move |tx| {
        let ctx = Ctx::new(Actor::system(), start);
        for p in products.iter() {
            catalog::create_product(tx, &ctx, p)?;
        }
        let locs = catalog::list_locations(tx)?;
        for (sku, a, b, c) in stock.iter() {
            for (loc, q) in locs.iter().zip([*a, *b, *c]) {
                if q > 0 {
                    inventory::receive(
                        tx,
                        &ctx,
                        &ReceiveStock {
                            sku: sku.clone(),
                            location_id: loc.id,
                            quantity: q,
                            note: Some("opening stock".into()),
                        },
                    )?;
                }
            }
        }
        // Reorder points at the main warehouse for a quarter of the SKUs, so the planner's
        // low-stock list has work by the end of the 90 days.
        if let Some(main) = locs.first() {
            for (i, (sku, ..)) in stock.iter().enumerate().filter(|(i, _)| i % 4 == 0) {
                inventory::set_reorder_point(
                    tx,
                    &ctx,
                    &backroom_core::api::SetReorderPoint {
                        sku: sku.clone(),
                        location_id: main.id,
                        reorder_point: Some(15 + (i as i64 % 3) * 5),
                        reorder_quantity: Some(40),
                        lead_time_days: Some(7),
                    },
                )?;
            }
        }
        Ok(())
    })
    .await
    .map_err(e)?;
    Ok(backordered_sku)
}

/// Creates the 5,000 customers over the 90 days; returns their emails and names.
async fn seed_customers(
    db: &Db,
    rng: &mut Rng,
    start: i64,
) -> Result<std::sync::Arc<Vec<history::Customer>>> {
    let mut customers = Vec::with_capacity(5000);
    for i in 0..5000 {
        let f = *rng.pick(FIRST);
        let l = *rng.pick(LAST);
        let ascii = |s: &str| {
            s.chars()
                .filter(|c| c.is_ascii_alphabetic())
                .collect::<String>()
                .to_lowercase()
        };
        customers.push((
            format!("{}.{}{}@example.com", ascii(f), ascii(l), i),
            f.to_string(),
            l.to_string(),
            rng.chance(45),
            start + rng.range(0, 90 * DAY),
        ));
    }
    let customers = std::sync::Arc::new(customers);
    let cs = customers.clone();
    db.write(move |tx| {
        for (email, f, l, consent, at) in cs.iter() {
            let ctx = Ctx::new(Actor::system(), *at);
            let email = backroom_domain::Email::parse(email)?;
            customers::upsert_customer(
                tx,
                &ctx,
                &email,
                &customers::CustomerInput {
                    first: Some(f),
                    last: Some(l),
                    phone: None,
                    accepts_marketing: Some(*consent),
                    channel: "online",
                    address: None,
                },
            )?;
        }
        Ok(())
    })
    .await
    .map_err(e)?;
    Ok(std::sync::Arc::new(
        customers
            .iter()
            .map(|(email, f, l, _, _)| (email.clone(), f.clone(), l.clone()))
            .collect::<Vec<_>>(),
    ))
}

/// Where a demo session comes from: utm source, medium, campaign, referrer host, weight in 100.
type DemoSource = (
    Option<&'static str>,
    &'static str,
    &'static str,
    Option<&'static str>,
    u64,
);

const SOURCES: &[DemoSource] = &[
    (Some("google"), "cpc", "autumn-sale", None, 22),
    (Some("meta"), "paid_social", "new-arrivals", None, 14),
    (Some("newsletter"), "email", "weekly-news", None, 8),
    (None, "", "", Some("google.com"), 20),
    (None, "", "", Some("style-blog.example"), 6),
    (None, "", "", None, 30),
];

const PAGES: &[&str] = &[
    "/",
    "/collections/new",
    "/collections/sale",
    "/pages/about",
    "/search",
];

/// 90 days of storefront events consistent with the orders: every online order has a visit that
/// ends in its purchase (often after an earlier campaign visit), around 25 other visits per order
/// that browse, bounce or leave a cart, with weekend peaks; daily ad spend for the paid
/// campaigns (and one test campaign that brought no traffic, which reconciliation flags), and a
/// weekly newsletter to customers who accept marketing.
async fn seed_analytics(db: &Db, start: i64, now: i64) -> Result<()> {
    use backroom_core::analytics::refresh;
    let mut rng = Rng::new(0xA11A_17C5);
    let (orders, consenting) = db
        .read(|tx| {
            let o = backroom_core::fixtures::online_orders(tx)?
                .into_iter()
                .map(|o| {
                    (
                        o.number,
                        o.placed_at,
                        o.email,
                        o.first_sku,
                        o.shipping_address,
                    )
                })
                .collect::<Vec<_>>();
            Ok((o, backroom_core::fixtures::marketing_emails(tx)?))
        })
        .await
        .map_err(e)?;
    let skus: Vec<String> = db.read(catalog::all_skus).await.map_err(e)?;
    let mut events = Events::default();
    buyer_visits(&mut rng, &mut events, &orders);
    let days = (now - start) / DAY;
    let zone = Zone::get("Europe/Paris").map_err(e)?;
    other_visits(
        &mut rng,
        &mut events,
        &skus,
        &zone,
        start,
        days,
        orders.len(),
    );
    store_events(db, events.list, now).await?;
    seed_ad_spend(db, &mut rng, &zone, start, days).await?;
    seed_newsletter(db, &mut rng, start, now, days, &consenting).await?;
    refresh::run(db).await.map_err(e)?;
    Ok(())
}

/// An online order as the storefront saw it: number, placed at, email, first SKU, address.
type OnlineOrder = (i64, i64, String, String, String);

/// The storefront events drawn so far, and how many were numbered.
#[derive(Default)]
struct Events {
    list: Vec<ingest::NewEvent>,
    n: u64,
}

impl Events {
    /// One visit: a landing page, then browsing; `steps` ends with the last step reached.
    #[allow(clippy::too_many_arguments)]
    fn visit(
        &mut self,
        rng: &mut Rng,
        visitor: &str,
        at: i64,
        src: DemoSource,
        device: &str,
        country: &str,
        steps: &[(EventType, Option<String>)],
    ) {
        let mut t = at;
        for (i, (kind, sku)) in steps.iter().enumerate() {
            self.n += 1;
            let first = i == 0;
            self.list.push(ingest::NewEvent {
                event_id: format!("demo-{}", self.n),
                kind: *kind,
                visitor_id: visitor.to_string(),
                ts: t,
                path: match (kind, sku) {
                    (EventType::ProductView | EventType::AddToCart, Some(s)) => {
                        format!("/products/{}", s.to_lowercase())
                    }
                    (EventType::CheckoutStarted, _) => "/checkout".into(),
                    (EventType::Purchase, _) => "/checkout/thank-you".into(),
                    _ => PAGES[(t as usize / 7) % PAGES.len()].into(),
                },
                referrer_host: if first { src.3.map(String::from) } else { None },
                utm_source: if first { src.0.map(String::from) } else { None },
                utm_medium: if first && src.0.is_some() {
                    Some(src.1.to_string())
                } else {
                    None
                },
                utm_campaign: if first && src.0.is_some() {
                    Some(src.2.to_string())
                } else {
                    None
                },
                device: Some(device.to_string()),
                country: Some(country.to_string()),
                order_number: None,
                sku: sku.clone(),
                query: None,
            });
            t += rng.range(15, 240) * 1_000_000;
        }
    }
}

/// Where a visit comes from, by the sources' weights.
fn source(rng: &mut Rng) -> DemoSource {
    let mut roll = rng.range(0, 100) as u64;
    for s in SOURCES {
        if roll < s.4 {
            return *s;
        }
        roll -= s.4;
    }
    SOURCES[SOURCES.len() - 1]
}

/// The visitor's device: mostly mobile, a third desktop, a few tablets.
fn device(rng: &mut Rng) -> &'static str {
    match rng.range(0, 20) {
        0 => "tablet",
        1..=7 => "desktop",
        _ => "mobile",
    }
}

/// Monday 0 to Sunday 6, in the store's time zone.
fn weekday(zone: &Zone, t: i64) -> i64 {
    (i64::from(zone.day_of(t)) + 3).rem_euclid(7)
}

/// Buyers: a visit that ends in the purchase; a third came from a campaign days before.
fn buyer_visits(rng: &mut Rng, events: &mut Events, orders: &[OnlineOrder]) {
    for (number, at, email, sku, address) in orders {
        let visitor = format!(
            "cust-{}",
            backroom_core::util::sha256_hex(email)
                .get(..12)
                .unwrap_or("")
        );
        let country = serde_json::from_str::<serde_json::Value>(address)
            .ok()
            .and_then(|a| a["country"].as_str().map(String::from))
            .unwrap_or_else(|| "FR".into());
        let dev = device(rng);
        if rng.chance(33) {
            let earlier = at - rng.range(1, 10) * DAY;
            let src = SOURCES[rng.range(0, 2) as usize];
            events.visit(
                rng,
                &visitor,
                earlier,
                src,
                dev,
                &country,
                &[
                    (EventType::PageView, None),
                    (EventType::ProductView, Some(sku.clone())),
                ],
            );
        }
        let src = source(rng);
        let steps = [
            (EventType::PageView, None),
            (EventType::ProductView, Some(sku.clone())),
            (EventType::AddToCart, Some(sku.clone())),
            (EventType::CheckoutStarted, None),
            (EventType::Purchase, None),
        ];
        // Every step before the purchase happens before the order's time.
        let start_at = at - (5 * 240 + rng.range(60, 600)) * 1_000_000;
        events.visit(rng, &visitor, start_at, src, dev, &country, &steps);
        if let Some(p) = events.list.last_mut() {
            p.ts = *at;
            p.order_number = Some(*number);
        }
    }
}

/// Everyone else: about 25 visits per online order, more at weekends.
fn other_visits(
    rng: &mut Rng,
    events: &mut Events,
    skus: &[String],
    zone: &Zone,
    start: i64,
    days: i64,
    orders: usize,
) {
    let countries = ["FR", "FR", "FR", "DE", "BE", "ES", "IT", "NL", "GB"];
    let per_day = (orders as i64 * 25 / days.max(1)).max(50);
    for day in 0..days {
        let weekday = weekday(zone, start + day * DAY);
        let count =
            per_day * if weekday >= 5 { 13 } else { 9 } / 10 + rng.range(0, per_day / 5 + 1);
        for _ in 0..count {
            let at = start + day * DAY + rng.range(6 * 3600, 24 * 3600) * 1_000_000;
            let visitor = format!("anon-{}", rng.range(0, 60_000));
            let src = source(rng);
            let sku = rng.pick(skus).clone();
            let mut steps = vec![(EventType::PageView, None)];
            match rng.range(0, 100) {
                0..=41 => {}
                42..=80 => {
                    for _ in 0..rng.range(1, 4) {
                        steps.push((EventType::ProductView, Some(rng.pick(skus).clone())));
                    }
                }
                81..=88 => {
                    steps.push((EventType::Search, None));
                    steps.push((EventType::ProductView, Some(sku.clone())));
                }
                89..=95 => {
                    steps.push((EventType::ProductView, Some(sku.clone())));
                    steps.push((EventType::AddToCart, Some(sku.clone())));
                    if rng.chance(30) {
                        steps.push((EventType::RemoveFromCart, Some(sku.clone())));
                    }
                }
                _ => {
                    steps.push((EventType::ProductView, Some(sku.clone())));
                    steps.push((EventType::AddToCart, Some(sku.clone())));
                    steps.push((EventType::CheckoutStarted, None));
                }
            }
            let dev = device(rng);
            let country = *rng.pick(&countries);
            events.visit(rng, &visitor, at, src, dev, country, &steps);
        }
    }
}

/// Stores the events before now, 20,000 to a transaction.
async fn store_events(db: &Db, mut events: Vec<ingest::NewEvent>, now: i64) -> Result<()> {
    events.retain(|ev| ev.ts < now);
    let events = std::sync::Arc::new(events);
    for chunk in 0..events.len().div_ceil(20_000) {
        let events = events.clone();
        db.write(move |tx| {
            let part = &events[chunk * 20_000..((chunk + 1) * 20_000).min(events.len())];
            ingest::store(tx, part, now)
        })
        .await
        .map_err(e)?;
    }
    Ok(())
}

/// Ad spend: the paid campaigns every day, and a test campaign with no traffic.
async fn seed_ad_spend(db: &Db, rng: &mut Rng, zone: &Zone, start: i64, days: i64) -> Result<()> {
    let mut spend = Vec::new();
    for day in 0..days {
        let date = backroom_domain::analytics::format_day(((start + day * DAY) / DAY) as i32);
        let weekend = weekday(zone, start + day * DAY) >= 5;
        for (src, medium, campaign, base) in [
            ("google", "cpc", "autumn-sale", 9_000),
            ("meta", "paid_social", "new-arrivals", 5_500),
        ] {
            spend.push(marketing::SpendIn {
                date: date.clone(),
                source: src.into(),
                medium: Some(medium.into()),
                campaign: campaign.into(),
                amount: base + if weekend { 2_500 } else { 0 } + rng.range(0, 1_500),
                currency: None,
            });
        }
        if day >= days - 14 {
            spend.push(marketing::SpendIn {
                date,
                source: "tiktok".into(),
                medium: Some("paid_social".into()),
                campaign: "tiktok-test".into(),
                amount: 2_000,
                currency: None,
            });
        }
    }
    db.write(move |tx| marketing::put_spend(tx, &Ctx::system_now(), &spend))
        .await
        .map_err(e)?;
    Ok(())
}

/// The weekly newsletter, every Tuesday at 09:00 UTC, to customers who accept marketing.
async fn seed_newsletter(
    db: &Db,
    rng: &mut Rng,
    start: i64,
    now: i64,
    days: i64,
    consenting: &[String],
) -> Result<()> {
    let mut mail = Vec::new();
    let mut k = 0;
    for week in 0..(days / 7) {
        let sent_at = start + (week * 7 + 4) * DAY + 9 * 3_600_000_000;
        if sent_at >= now {
            break;
        }
        for email in consenting {
            k += 1;
            let ev = |id: String, kind: &str, t: i64| serde_json::json!({"id": id, "campaign": "weekly-news", "recipient": email, "type": kind, "timestamp": backroom_core::util::rfc3339(t)});
            mail.push(ev(format!("mail-{k}-s"), "sent", sent_at));
            match rng.range(0, 100) {
                0..=1 => mail.push(ev(format!("mail-{k}-b"), "bounced", sent_at + 60_000_000)),
                2..=36 => {
                    let opened = sent_at + rng.range(5, 2_000) * 60_000_000;
                    if opened < now {
                        mail.push(ev(format!("mail-{k}-o"), "opened", opened));
                        if rng.chance(25) {
                            mail.push(ev(format!("mail-{k}-c"), "clicked", opened + 30_000_000));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    for part in mail.chunks(10_000) {
        let items: std::sync::Arc<ingest::Items> = std::sync::Arc::new(
            part.iter()
                .cloned()
                .enumerate()
                .map(|(i, v)| (i, Ok(v)))
                .collect(),
        );
        db.write(move |tx| marketing::ingest_email(tx, now, &items))
            .await
            .map_err(e)?;
    }
    Ok(())
}
