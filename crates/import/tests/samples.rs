//! The real sample files in `../shared/data/formats/` parse into the catalog they describe.
//! Skipped with a message when the data folder is absent, unless `BACKROOM_REQUIRE_DATA` is set (`.ci/run` sets it when it finds the data).

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use backroom_import::products::{self, ProductFile};
use backroom_import::{Format, retail};

fn data(rel: &str) -> Option<std::path::PathBuf> {
    backroom_import::shared_data(rel)
}

fn read(rel: &str) -> Option<ProductFile> {
    let p = data(rel)?;
    Some(products::read(std::fs::File::open(p).unwrap(), None, 2))
}

fn variants(f: &ProductFile, handle: &str) -> Vec<(String, Vec<String>, i64, Option<i64>)> {
    f.products
        .iter()
        .find(|p| p.handle == handle)
        .unwrap_or_else(|| panic!("no product {handle}"))
        .variants
        .iter()
        .map(|v| {
            (
                v.sku.clone(),
                v.options.clone(),
                v.price,
                v.compare_at_price,
            )
        })
        .collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn shopify_template() {
    let Some(f) = read("formats/shopify/product_template.csv") else {
        return;
    };
    assert_eq!(f.format, Some(Format::Shopify));
    assert!(f.errors.is_empty(), "{:?}", f.errors);
    assert_eq!(f.products.len(), 1);
    let p = &f.products[0];
    assert_eq!(
        (p.title.as_str(), p.vendor.as_deref(), p.status.as_str()),
        ("Example T-Shirt", Some("Acme"), "active")
    );
    assert_eq!(p.options, s(&["Title"]));
    assert_eq!(p.image_urls.len(), 1);
    assert_eq!(
        variants(&f, "example-t-shirt"),
        vec![
            (
                "example-t-shirt-1".into(),
                s(&["Lithograph - Height: 9\" x Width: 12\""]),
                2500,
                None
            ),
            ("example-shirt-s".into(), s(&["Small"]), 1999, Some(2499)),
            ("example-shirt-m".into(), s(&["Medium"]), 1999, Some(2499)),
        ]
    );
    assert_eq!(
        p.variants
            .iter()
            .map(|v| v.weight_grams)
            .collect::<Vec<_>>(),
        vec![Some(3629), Some(200), Some(200)]
    );
    // The generated SKU is said, with the line.
    assert_eq!(f.notes.len(), 1);
    assert_eq!(f.notes[0].line, 2);
}

#[test]
fn woocommerce_samples() {
    let Some(f) = read("formats/woocommerce/sample_products.csv") else {
        return;
    };
    assert!(f.errors.is_empty(), "{:?}", f.errors);
    assert_eq!(
        (
            f.products.len(),
            f.products.iter().map(|p| p.variants.len()).sum::<usize>()
        ),
        (13, 20)
    );
    assert_eq!(f.skipped.len(), 2, "grouped and external: {:?}", f.skipped);
    let hoodie = f.products.iter().find(|p| p.handle == "cc-hoodie").unwrap();
    assert_eq!(hoodie.options, s(&["Color", "Logo"]));
    assert_eq!(
        variants(&f, "cc-hoodie")[0],
        ("cc-hoodie-red".into(), s(&["Red", "No"]), 4200, Some(4500))
    );
    assert_eq!(variants(&f, "cc-tee").len(), 3);
    assert_eq!(
        variants(&f, "cc-beanie"),
        vec![("cc-beanie".into(), vec![], 1800, Some(2000))]
    );
    assert_eq!(hoodie.product_type.as_deref(), Some("Hoodies"));

    // The 400-row export repeats its 25 rows 16 times: each repeat is skipped and said.
    let Some(f) = read("formats/woocommerce/sample_products_400.csv") else {
        return;
    };
    assert!(f.errors.is_empty(), "{:?}", f.errors);
    assert_eq!(
        (
            f.products.len(),
            f.products.iter().map(|p| p.variants.len()).sum::<usize>(),
            f.skipped.len()
        ),
        (16, 21, 377)
    );

    // Mixed-case headers, variations without SKUs (generated from the options), stock, weight.
    let Some(f) = read("formats/woocommerce/importer_sample.csv") else {
        return;
    };
    assert!(f.errors.is_empty(), "{:?}", f.errors);
    assert_eq!(
        variants(&f, "wooidea"),
        vec![
            ("wooidea-black-m".into(), s(&["Black", "M"]), 2000, None),
            (
                "wooidea-green-l".into(),
                s(&["Green", "L"]),
                1799,
                Some(2000)
            ),
        ]
    );
    let logo = &f
        .products
        .iter()
        .find(|p| p.handle == "woologo")
        .unwrap()
        .variants[0];
    assert_eq!(
        (
            logo.inventory_quantity,
            logo.weight_grams,
            logo.inventory_policy.as_str()
        ),
        (Some(5), Some(1000), "continue")
    );
}

#[test]
fn magento_configurables() {
    let Some(f) = read("formats/magento/configurable_products.csv") else {
        return;
    };
    assert_eq!(f.format, Some(Format::Magento));
    assert!(
        f.errors.is_empty(),
        "{:?}",
        f.errors.iter().take(3).collect::<Vec<_>>()
    );
    assert_eq!(
        (
            f.rows,
            f.products.len(),
            f.products.iter().map(|p| p.variants.len()).sum::<usize>()
        ),
        (1994, 147, 1847)
    );
    let p = f.products.iter().find(|p| p.handle == "mh01").unwrap();
    assert_eq!(p.options, s(&["Size", "Color"]));
    assert_eq!(p.variants.len(), 15);
    assert_eq!(
        (
            p.variants[0].sku.as_str(),
            p.variants[0].price,
            p.variants[0].inventory_quantity
        ),
        ("MH01-XS-Black", 5200, Some(100))
    );
}

#[test]
fn online_retail_first_day() {
    let Some(p) = data("online-retail/by-day/2010-12-01.csv") else {
        return;
    };
    let mut invoices = 0;
    let mut lines = 0;
    let mut rejected = 0;
    for item in retail::InvoiceReader::new(std::fs::File::open(p).unwrap(), 2).unwrap() {
        match item {
            retail::Item::Invoice(i) => {
                invoices += 1;
                lines += i.lines.len();
            }
            retail::Item::Rejected(..) => rejected += 1,
        }
    }
    // Straight from the file: every row is a line or a rejection; invoices are the distinct
    // numbers among rows that are sales (positive quantity) or cancellations (C, negative).
    let rows: Vec<Vec<String>> =
        csv::Reader::from_path(data("online-retail/by-day/2010-12-01.csv").unwrap())
            .unwrap()
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
    let good: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| {
            let q: i64 = r[3].parse().unwrap();
            (r[0].starts_with('C') && q < 0) || (r[0].bytes().all(|b| b.is_ascii_digit()) && q > 0)
        })
        .collect();
    let mut numbers: Vec<&str> = good.iter().map(|r| r[0].as_str()).collect();
    numbers.dedup();
    assert_eq!((lines, rejected), (good.len(), rows.len() - good.len()));
    assert_eq!(invoices, numbers.len());
}

#[test]
#[ignore = "a timing aid, run by hand"]
fn parse_speed() {
    let Some(dir) = data("online-retail/by-day") else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let t = std::time::Instant::now();
    let mut lines = 0;
    for f in files {
        for item in
            retail::InvoiceReader::new(std::io::BufReader::new(std::fs::File::open(f).unwrap()), 2)
                .unwrap()
        {
            if let retail::Item::Invoice(i) = item {
                lines += i.lines.len();
            }
        }
    }
    eprintln!("{lines} lines parsed in {:?}", t.elapsed());
}
