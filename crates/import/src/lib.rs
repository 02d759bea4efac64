//! Backroom's import parsers.
//!
//! Each parser reads CSV rows and turns them into typed records: products with their variants (in
//! Shopify's, WooCommerce's, Magento 2's or Backroom's own layout), stock quantities, and invoices
//! of the UCI Online Retail layout. Every problem is a [`RowError`] with the line, the column and a
//! plain message, so a merchant can fix the file. Nothing here touches storage: the core crate
//! decides what to create, update or skip.

pub mod customers;
pub mod money;
pub mod orders;
pub mod products;
pub mod retail;
pub mod stock;
mod table;
pub mod tickets;

pub use table::Table;

/// One problem in one row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowError {
    /// The file, when an import reads several.
    pub file: Option<String>,
    /// 1-based line of the file where the row starts (the header is line 1).
    pub line: u64,
    /// The column's header name, when one column is at fault.
    pub column: Option<String>,
    pub message: String,
}

impl RowError {
    pub fn new(line: u64, column: Option<&str>, message: impl Into<String>) -> RowError {
        RowError {
            file: None,
            line,
            column: column.map(str::to_string),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        match (&self.column, self.line) {
            (None, 0) => write!(f, "{}", self.message),
            (Some(c), 0) => write!(f, "column {c}: {}", self.message),
            (Some(c), l) => write!(f, "line {l}, column {c}: {}", self.message),
            (None, l) => write!(f, "line {l}: {}", self.message),
        }
    }
}

/// The layouts Backroom reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Shopify's product CSV: one row per variant, continuation rows share the handle.
    Shopify,
    /// WooCommerce's product CSV: simple, variable (variations point at their parent), grouped
    /// and external products.
    WooCommerce,
    /// Magento 2's product CSV: simple products, and configurable ones listing their variations.
    Magento,
    /// Backroom's own product CSV, as `backroom export products` writes it.
    Backroom,
    /// UCI Online Retail: `InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country`.
    OnlineRetail,
    /// Backroom's stock CSV: `sku,location,quantity`.
    Stock,
    /// Shopify's order export: one row per line item, order columns on the first row.
    ShopifyOrders,
    /// Backroom's order CSV, as `backroom export orders` writes it.
    BackroomOrders,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "shopify" => Format::Shopify,
            "woocommerce" => Format::WooCommerce,
            "magento" => Format::Magento,
            "backroom" => Format::Backroom,
            "online_retail" | "uci" => Format::OnlineRetail,
            "stock" => Format::Stock,
            "shopify_orders" => Format::ShopifyOrders,
            "backroom_orders" => Format::BackroomOrders,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Shopify => "shopify",
            Format::WooCommerce => "woocommerce",
            Format::Magento => "magento",
            Format::Backroom => "backroom",
            Format::OnlineRetail => "online_retail",
            Format::Stock => "stock",
            Format::ShopifyOrders => "shopify_orders",
            Format::BackroomOrders => "backroom_orders",
        }
    }

    /// Recognises a layout from a file's first line (a BOM and quotes around names allowed).
    pub fn detect_line(line: &str) -> Option<Format> {
        let header: Vec<String> = line
            .trim_start_matches('\u{feff}')
            .trim()
            .split(',')
            .map(|h| h.trim().trim_matches('"').to_string())
            .collect();
        Format::detect(&header)
    }

    /// Recognises a layout from its header row.
    pub fn detect(header: &[String]) -> Option<Format> {
        let has = |c: &str| header.iter().any(|h| h == c);
        if has("Name") && has("Lineitem sku") && has("Financial Status") {
            Some(Format::ShopifyOrders)
        } else if has("number") && has("placed_at") && has("line_no") {
            Some(Format::BackroomOrders)
        } else if has("Handle") && has("Variant SKU") {
            Some(Format::Shopify)
        } else if has("Type") && has("SKU") && has("Parent") && has("Regular price") {
            Some(Format::WooCommerce)
        } else if has("sku") && has("product_type") && has("attribute_set_code") {
            Some(Format::Magento)
        } else if has("handle") && has("sku") && has("title") {
            Some(Format::Backroom)
        } else if has("InvoiceNo") && has("StockCode") && has("UnitPrice") {
            Some(Format::OnlineRetail)
        } else if has("sku") && has("location") && has("quantity") {
            Some(Format::Stock)
        } else {
            None
        }
    }
}

/// Where the real data set lives for tests and benchmarks: `BACKROOM_DATA_DIR`, or `shared/data`
/// beside the repository (it is never copied into it). `None`, with a message, when `rel` is
/// not there; a panic instead when `BACKROOM_REQUIRE_DATA` is set (`.ci/run` sets it when it
/// finds the data), so a CI run never skips these tests quietly.
pub fn shared_data(rel: &str) -> Option<std::path::PathBuf> {
    let base = std::env::var_os("BACKROOM_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
        });
    let p = base.join(rel);
    if p.exists() {
        Some(p)
    } else if std::env::var_os("BACKROOM_REQUIRE_DATA").is_some() {
        panic!("{} is missing", p.display());
    } else {
        eprintln!("skipped: {} is absent (set BACKROOM_DATA_DIR)", p.display());
        None
    }
}
