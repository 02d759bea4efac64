//! On stable, in every test run: the row parsers take arbitrary bytes, and CSV-shaped input built
//! from the real headers, without panicking. (`fuzz/` has cargo-fuzz targets for longer runs.)

use backroom_import::{Format, products, retail, stock};
use proptest::prelude::*;

const HEADERS: [&str; 5] = [
    "Handle,Title,Option1 Name,Option1 Value,Variant SKU,Variant Price,Variant Inventory Qty\n",
    "ID,Type,SKU,Name,Parent,Regular price,Sale price,Attribute 1 name,Attribute 1 value(s)\n",
    "sku,product_type,attribute_set_code,name,price,configurable_variations,additional_attributes\n",
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n",
    "sku,location,quantity\n",
];

fn all(data: &[u8]) {
    for f in [
        None,
        Some(Format::Shopify),
        Some(Format::WooCommerce),
        Some(Format::Magento),
        Some(Format::Backroom),
    ] {
        let _ = products::read(data, f, 2);
    }
    if let Ok(r) = retail::InvoiceReader::new(data, 2) {
        for _ in r {}
    }
    let _ = stock::read(data);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        all(&data);
    }

    #[test]
    fn csv_shaped(h in 0usize..5, rows in proptest::collection::vec("[-a-zA-Z0-9 ,.=|\"\r\n:/C]{0,60}", 0..12)) {
        let mut s = HEADERS[h].to_string();
        for r in rows {
            s.push_str(&r);
            s.push('\n');
        }
        all(s.as_bytes());
    }
}
