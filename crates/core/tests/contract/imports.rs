//! Imports and exports: catalogs, stock, orders and customers, against real files.

use crate::support::*;

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
                    .get::<i64>("id")?;
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
                    .query_one("SELECT COUNT(*) AS n FROM products", &[])?
                    .unwrap()
                    .get::<i64>("n")?)
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
                    .get::<i64>("id")?;
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
            .get::<i64>("price_minor")?)
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
                        "SELECT COUNT(*) AS n FROM return_lines rl JOIN returns r ON r.id = rl.return_id JOIN order_lines l ON l.id = rl.order_line_id \
                         JOIN orders o ON o.id = l.order_id WHERE o.placed_at > r.created_at OR l.returned_quantity > l.quantity",
                        &[],
                    )?
                    .unwrap()
                    .get::<i64>("n")?
                    + tx.query_one("SELECT COUNT(*) AS n FROM orders WHERE refunded_minor > paid_minor", &[])?.unwrap().get::<i64>("n")?)
            })
            .await
            .unwrap();
        assert_eq!(bad, 0, "{name}");
        let units = db
            .read(|tx| {
                Ok(tx
                    .query_one(
                        "SELECT CAST(SUM(quantity) AS BIGINT) AS n FROM return_lines",
                        &[],
                    )?
                    .unwrap()
                    .get::<Option<i64>>("n")?
                    .unwrap_or(0))
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
