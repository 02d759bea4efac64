//! Product files: Shopify, WooCommerce, Magento 2 and Backroom layouts to one product record.
//!
//! A catalog is read whole (it is small next to order histories): WooCommerce variations and
//! Magento's simple products may come before or after the product they belong to.

use crate::money::{parse_int, parse_minor};
use crate::table::{Row, Table};
use crate::{Format, RowError};
use std::collections::HashMap;
use std::io::Read;

/// A product as a file describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProductRecord {
    /// The natural key: the URL handle.
    pub handle: String,
    pub title: String,
    pub description: Option<String>,
    pub vendor: Option<String>,
    pub product_type: Option<String>,
    pub tags: Vec<String>,
    /// `active`, `draft` or `archived`.
    pub status: String,
    pub seo_title: Option<String>,
    pub seo_description: Option<String>,
    pub image_urls: Vec<String>,
    /// Option names, like `["Size", "Colour"]`.
    pub options: Vec<String>,
    pub variants: Vec<VariantRecord>,
    /// The line the product starts on.
    pub line: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct VariantRecord {
    /// The natural key.
    pub sku: String,
    /// One value per product option.
    pub options: Vec<String>,
    pub price: i64,
    pub compare_at_price: Option<i64>,
    pub unit_cost: Option<i64>,
    pub weight_grams: Option<i64>,
    pub barcode: Option<String>,
    /// `deny` or `continue`.
    pub inventory_policy: String,
    /// Units on hand, when the file says.
    pub inventory_quantity: Option<i64>,
    pub line: u64,
}

/// What reading a product file gave: the products, the rows that could not be used (with why),
/// rows deliberately skipped (with why), and notes on what was filled in.
#[derive(Debug, Default)]
pub struct ProductFile {
    pub format: Option<Format>,
    pub products: Vec<ProductRecord>,
    pub errors: Vec<RowError>,
    pub skipped: Vec<RowError>,
    pub notes: Vec<RowError>,
    /// Rows read (not counting the header).
    pub rows: u64,
}

/// Reads a product file in `format` (detected from the header when `None`). `exponent` is the
/// number of decimals of the store currency.
pub fn read<R: Read>(input: R, format: Option<Format>, exponent: u32) -> ProductFile {
    let mut out = ProductFile::default();
    let mut table = match Table::new(input) {
        Ok(t) => t,
        Err(e) => {
            out.errors.push(e);
            return out;
        }
    };
    let format = match format.or_else(|| Format::detect(table.header())) {
        Some(f) => f,
        None => {
            out.errors.push(RowError::new(
                1,
                None,
                "the columns match no known product layout (Shopify, WooCommerce, Magento or Backroom); name it with --format",
            ));
            return out;
        }
    };
    out.format = Some(format);
    let required: &[&str] = match format {
        Format::Shopify => &["Handle", "Title", "Variant Price"],
        Format::WooCommerce => &["Type", "Name", "Regular price"],
        Format::Magento => &["sku", "product_type", "name", "price"],
        Format::Backroom => &["handle", "title", "sku", "price"],
        _ => &[],
    };
    let missing: Vec<&&str> = required
        .iter()
        .filter(|c| !table.header().iter().any(|h| h.eq_ignore_ascii_case(c)))
        .collect();
    if !missing.is_empty() {
        for c in missing {
            out.errors.push(RowError::new(1, Some(c), "missing column"));
        }
        return out;
    }
    let mut b = Builder::new(exponent);
    let mut seen: HashMap<u64, u64> = HashMap::new();
    while let Some(row) = table.next_row() {
        out.rows += 1;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                out.errors.push(e);
                continue;
            }
        };
        // Some exports repeat whole rows; a repeat adds nothing.
        let key = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            row.fields().hash(&mut h);
            h.finish()
        };
        if let Some(first) = seen.insert(key, row.line) {
            out.skipped
                .push(row.error(None, format!("repeats line {first} exactly")));
            continue;
        }
        let r = match format {
            Format::Shopify => b.shopify(&row),
            Format::WooCommerce => b.woo(&row),
            Format::Magento => b.magento(&row),
            Format::Backroom => b.backroom(&row),
            _ => Err(row.error(None, "not a product layout")),
        };
        if let Err(e) = r {
            out.errors.push(e);
        }
    }
    b.finish(&mut out);
    out
}

/// Attribute name and value pairs, as files list them.
type Attributes = Vec<(String, String)>;

/// A WooCommerce variation waiting for its parent: the reference, the variant, its attributes,
/// and whether the row had a SKU.
type PendingVariation = (String, VariantRecord, Attributes, bool);

struct Builder {
    exponent: u32,
    products: Vec<ProductRecord>,
    by_handle: HashMap<String, usize>,
    /// WooCommerce: parent reference (`id:741` or a SKU) to the product's index.
    woo_parents: HashMap<String, usize>,
    /// WooCommerce variations: (parent reference, variant, its attributes, whether it had a SKU).
    woo_variations: Vec<PendingVariation>,
    /// Magento: simple products by SKU, and configurables' children to claim them.
    magento_simple: Vec<(ProductRecord, Vec<(String, String)>)>,
    magento_children: HashMap<String, (usize, Vec<(String, String)>)>,
    skipped: Vec<RowError>,
    notes: Vec<RowError>,
    errors: Vec<RowError>,
}

fn money(row: &Row, column: &str, exponent: u32) -> Result<Option<i64>, RowError> {
    match row.get(column) {
        None => Ok(None),
        Some(v) => parse_minor(v, exponent)
            .map(Some)
            .map_err(|m| row.error(Some(column), m)),
    }
}

fn whole(row: &Row, column: &str) -> Result<Option<i64>, RowError> {
    match row.get(column) {
        None => Ok(None),
        Some(v) => parse_int(v)
            .map(Some)
            .map_err(|m| row.error(Some(column), m)),
    }
}

fn list(v: Option<&str>, sep: char) -> Vec<String> {
    v.map(|s| {
        s.split(sep)
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

/// A URL handle from a title: lowercase letters and digits joined by single dashes.
pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

fn truthy(v: Option<&str>) -> Option<bool> {
    v.map(|s| matches!(s.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "y"))
}

/// The last segment of the first category path (`Clothing > Tshirts, Music` gives `Tshirts`).
fn category_type(categories: &[String], sep: &str) -> Option<String> {
    categories
        .first()
        .and_then(|c| c.rsplit(sep).next())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl Builder {
    fn new(exponent: u32) -> Builder {
        Builder {
            exponent,
            products: Vec::new(),
            by_handle: HashMap::new(),
            woo_parents: HashMap::new(),
            woo_variations: Vec::new(),
            magento_simple: Vec::new(),
            magento_children: HashMap::new(),
            skipped: Vec::new(),
            notes: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn push(&mut self, p: ProductRecord) -> Result<usize, RowError> {
        if let Some(&i) = self.by_handle.get(&p.handle) {
            return Err(RowError::new(
                p.line,
                Some("handle"),
                format!(
                    "duplicate handle {}: already used by the product on line {}",
                    p.handle, self.products[i].line
                ),
            ));
        }
        self.by_handle.insert(p.handle.clone(), self.products.len());
        self.products.push(p);
        Ok(self.products.len() - 1)
    }

    fn sku_or_generated(&mut self, row: &Row, column: &str, base: &str, n: usize) -> String {
        match row.get(column) {
            Some(s) => s.to_string(),
            None => {
                let sku = format!("{base}-{n}");
                self.notes.push(row.error(
                    Some(column),
                    format!(
                        "no SKU: {sku} was generated (the same every time this file is imported)"
                    ),
                ));
                sku
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Shopify: one row per variant; rows of one product share the handle and follow each other.

    fn shopify(&mut self, row: &Row) -> Result<(), RowError> {
        let handle = row.require("Handle")?.to_string();
        let opt = |i: u8| {
            (
                row.get(&format!("Option{i} Name")).map(str::to_string),
                row.get(&format!("Option{i} Value")).map(str::to_string),
            )
        };
        let options = [opt(1), opt(2), opt(3)];
        let idx = match self.by_handle.get(&handle) {
            Some(&i) => {
                if i + 1 != self.products.len() {
                    return Err(row.error(
                        Some("Handle"),
                        format!(
                            "rows of {handle} are not together: they continue from line {}",
                            self.products[i].line
                        ),
                    ));
                }
                i
            }
            None => {
                let title = row.require("Title")?.to_string();
                let status = match row.get("Status") {
                    Some(s) => s.to_ascii_lowercase(),
                    None => match truthy(row.get("Published")) {
                        Some(false) => "draft".into(),
                        _ => "active".into(),
                    },
                };
                if !matches!(status.as_str(), "active" | "draft" | "archived") {
                    return Err(row.error(Some("Status"), "must be active, draft or archived"));
                }
                let names: Vec<String> = options
                    .iter()
                    .filter_map(|(n, _)| n.clone())
                    .filter(|n| n != "Title" || options[0].1.as_deref() != Some("Default Title"))
                    .collect();
                self.push(ProductRecord {
                    handle: handle.clone(),
                    title,
                    description: row.get("Body (HTML)").map(str::to_string),
                    vendor: row.get("Vendor").map(str::to_string),
                    product_type: row.get("Type").map(str::to_string),
                    tags: list(row.get("Tags"), ','),
                    status,
                    seo_title: row.get("SEO Title").map(str::to_string),
                    seo_description: row.get("SEO Description").map(str::to_string),
                    image_urls: Vec::new(),
                    options: names,
                    variants: Vec::new(),
                    line: row.line,
                })?
            }
        };
        if let Some(img) = row.get("Image Src")
            && !self.products[idx].image_urls.iter().any(|u| u == img)
        {
            self.products[idx].image_urls.push(img.to_string());
        }
        // An image-only continuation row has no variant fields.
        let has_variant = row.get("Variant SKU").is_some()
            || row.get("Variant Price").is_some()
            || options.iter().any(|(_, v)| v.is_some());
        if !has_variant {
            return Ok(());
        }
        let n_options = self.products[idx].options.len();
        let values: Vec<String> = options
            .iter()
            .take(n_options)
            .enumerate()
            .map(|(i, (_, v))| {
                v.clone().ok_or_else(|| {
                    row.error(
                        Some(&format!("Option{} Value", i + 1)),
                        format!("the product has {n_options} options; this variant gives no value for option {}", i + 1),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let price = money(row, "Variant Price", self.exponent)?
            .ok_or_else(|| row.error(Some("Variant Price"), "is required"))?;
        let policy = row
            .get("Variant Inventory Policy")
            .unwrap_or("deny")
            .to_ascii_lowercase();
        if !matches!(policy.as_str(), "deny" | "continue") {
            return Err(row.error(Some("Variant Inventory Policy"), "must be deny or continue"));
        }
        let n = self.products[idx].variants.len() + 1;
        let sku = self.sku_or_generated(row, "Variant SKU", &handle, n);
        let v = VariantRecord {
            sku,
            options: values,
            price,
            compare_at_price: money(row, "Variant Compare At Price", self.exponent)?,
            unit_cost: money(row, "Cost per item", self.exponent)?,
            weight_grams: whole(row, "Variant Grams")?,
            barcode: row.get("Variant Barcode").map(str::to_string),
            inventory_policy: policy,
            inventory_quantity: whole(row, "Variant Inventory Qty")?,
            line: row.line,
        };
        self.products[idx].variants.push(v);
        Ok(())
    }

    // ------------------------------------------------------------------------------------------
    // WooCommerce: a row per product; variations point at their parent by `id:N` or SKU.

    fn woo_attributes(row: &Row) -> Vec<(String, String)> {
        (1..=6)
            .filter_map(|i| {
                let name = row.get(&format!("Attribute {i} name"))?;
                let value = row.get(&format!("Attribute {i} value(s)")).unwrap_or("");
                Some((name.to_string(), value.to_string()))
            })
            .collect()
    }

    fn woo_variant(&mut self, row: &Row, base: &str) -> Result<VariantRecord, RowError> {
        let regular = money(row, "Regular price", self.exponent)?;
        let sale = money(row, "Sale price", self.exponent)?;
        let price = sale.or(regular).ok_or_else(|| {
            row.error(
                Some("Regular price"),
                "is required (a product needs a price)",
            )
        })?;
        let weight = match row.get("Weight (kg)") {
            Some(w) => Some(parse_minor(w, 3).map_err(|m| row.error(Some("Weight (kg)"), m))?),
            None => None,
        };
        let sku = match row.get("SKU") {
            Some(s) => s.to_string(),
            None => {
                let id = row.get("ID").unwrap_or(base);
                let sku = format!("{base}-{id}");
                self.notes
                    .push(row.error(Some("SKU"), format!("no SKU: {sku} was generated")));
                sku
            }
        };
        Ok(VariantRecord {
            sku,
            options: Vec::new(),
            price,
            compare_at_price: if sale.is_some() { regular } else { None },
            unit_cost: None,
            weight_grams: weight,
            barcode: None,
            inventory_policy: match row.get("Backorders allowed?") {
                Some("1") | Some("notify") => "continue".into(),
                _ => "deny".into(),
            },
            inventory_quantity: whole(row, "Stock")?,
            line: row.line,
        })
    }

    fn woo(&mut self, row: &Row) -> Result<(), RowError> {
        let kind = row.require("Type")?.to_ascii_lowercase();
        let kinds: Vec<&str> = kind.split(',').map(str::trim).collect();
        let name = row.get("Name");
        if kinds.contains(&"grouped") || kinds.contains(&"external") {
            self.skipped.push(row.error(
                Some("Type"),
                format!(
                    "{} products are not sold from stock here: {} skipped",
                    kinds[0],
                    name.unwrap_or("")
                ),
            ));
            return Ok(());
        }
        if kinds.contains(&"variation") {
            let parent = row.require("Parent")?.to_string();
            let had_sku = row.get("SKU").is_some();
            let v = self.woo_variant(row, &slug(&parent))?;
            let attrs = Self::woo_attributes(row);
            self.woo_variations.push((parent, v, attrs, had_sku));
            return Ok(());
        }
        if !(kinds.contains(&"simple") || kinds.contains(&"variable")) {
            return Err(row.error(
                Some("Type"),
                format!("{kind:?} is not a WooCommerce product type (simple, variable, variation, grouped, external)"),
            ));
        }
        let title = row.require("Name")?.to_string();
        let handle = slug(row.get("SKU").unwrap_or(&title));
        if handle.is_empty() {
            return Err(row.error(Some("Name"), "gives no usable handle"));
        }
        let categories = list(row.get("Categories"), ',');
        let mut tags = list(row.get("Tags"), ',');
        tags.extend(categories.iter().cloned());
        let status = match row.get("Published") {
            Some("1") => "active",
            _ => "draft",
        };
        let attrs = Self::woo_attributes(row);
        let variable = kinds.contains(&"variable");
        let mut p = ProductRecord {
            handle: handle.clone(),
            title,
            description: row
                .get("Description")
                .or_else(|| row.get("Short description"))
                .map(str::to_string),
            vendor: None,
            product_type: category_type(&categories, ">"),
            tags,
            status: status.into(),
            seo_title: None,
            seo_description: row.get("Short description").map(str::to_string),
            image_urls: list(row.get("Images"), ','),
            options: if variable {
                attrs.iter().map(|(n, _)| n.clone()).collect()
            } else {
                Vec::new()
            },
            variants: Vec::new(),
            line: row.line,
        };
        if !variable {
            p.variants.push(self.woo_variant(row, &handle)?);
        }
        let i = self.push(p)?;
        if let Some(id) = row.get("ID") {
            self.woo_parents.insert(format!("id:{id}"), i);
        }
        if let Some(sku) = row.get("SKU") {
            self.woo_parents.insert(sku.to_string(), i);
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------------------
    // Magento 2: simple products, and configurable ones listing their variations by SKU.

    fn pairs(s: Option<&str>, sep: char) -> Vec<(String, String)> {
        s.map(|s| {
            s.split(sep)
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect()
        })
        .unwrap_or_default()
    }

    fn magento(&mut self, row: &Row) -> Result<(), RowError> {
        if row.get("store_view_code").is_some() {
            self.skipped.push(row.error(
                Some("store_view_code"),
                "a store-view translation row: the default store view is imported",
            ));
            return Ok(());
        }
        let sku = row.require("sku")?.to_string();
        let kind = row.require("product_type")?.to_string();
        let title = row.require("name")?.to_string();
        let categories = list(row.get("categories"), ',');
        let status = match row.get("product_online") {
            Some("0") => "draft",
            _ => "active",
        };
        let p = ProductRecord {
            handle: row.get("url_key").map_or_else(|| slug(&sku), slug),
            title,
            description: row.get("description").map(str::to_string),
            vendor: None,
            product_type: category_type(&categories, "/"),
            tags: categories,
            status: status.into(),
            seo_title: row.get("meta_title").map(str::to_string),
            seo_description: row.get("meta_description").map(str::to_string),
            image_urls: row
                .get("base_image")
                .map(|s| vec![s.to_string()])
                .unwrap_or_default(),
            options: Vec::new(),
            variants: Vec::new(),
            line: row.line,
        };
        match kind.as_str() {
            "simple" | "virtual" => {
                let price = money(row, "price", self.exponent)?
                    .ok_or_else(|| row.error(Some("price"), "is required"))?;
                let special = money(row, "special_price", self.exponent)?;
                let mut p = p;
                p.variants.push(VariantRecord {
                    sku,
                    options: Vec::new(),
                    price: special.unwrap_or(price),
                    compare_at_price: special.map(|_| price),
                    unit_cost: None,
                    weight_grams: None,
                    barcode: None,
                    inventory_policy: match row.get("allow_backorders") {
                        Some("1") | Some("2") => "continue".into(),
                        _ => "deny".into(),
                    },
                    inventory_quantity: match row.get("qty") {
                        Some(q) => Some(parse_minor(q, 0).map_err(|m| row.error(Some("qty"), m))?),
                        None => None,
                    },
                    line: row.line,
                });
                let attrs = Self::pairs(row.get("additional_attributes"), ',');
                self.magento_simple.push((p, attrs));
                Ok(())
            }
            "configurable" => {
                let labels = Self::pairs(row.get("configurable_variation_labels"), ',');
                let variations: Vec<Vec<(String, String)>> = row
                    .get("configurable_variations")
                    .map(|s| s.split('|').map(|v| Self::pairs(Some(v), ',')).collect())
                    .unwrap_or_default();
                if variations.is_empty() {
                    return Err(row.error(
                        Some("configurable_variations"),
                        "a configurable product lists its variations",
                    ));
                }
                // Option codes in the order of the first variation (after its sku).
                let codes: Vec<String> = variations[0]
                    .iter()
                    .filter(|(k, _)| k != "sku")
                    .map(|(k, _)| k.clone())
                    .collect();
                let mut p = p;
                p.options = codes
                    .iter()
                    .map(|c| {
                        labels.iter().find(|(k, _)| k == c).map_or_else(
                            || {
                                let mut l = c.replace('_', " ");
                                if let Some(f) = l.get_mut(0..1) {
                                    f.make_ascii_uppercase();
                                }
                                l
                            },
                            |(_, l)| l.clone(),
                        )
                    })
                    .collect();
                let i = self.push(p)?;
                for v in variations {
                    let child = v
                        .iter()
                        .find(|(k, _)| k == "sku")
                        .map(|(_, s)| s.clone())
                        .ok_or_else(|| {
                            row.error(Some("configurable_variations"), "a variation has no sku=")
                        })?;
                    let values: Vec<(String, String)> = codes
                        .iter()
                        .map(|c| {
                            (
                                c.clone(),
                                v.iter()
                                    .find(|(k, _)| k == c)
                                    .map(|(_, x)| x.clone())
                                    .unwrap_or_default(),
                            )
                        })
                        .collect();
                    self.magento_children.insert(child, (i, values));
                }
                Ok(())
            }
            other => {
                self.skipped.push(row.error(
                    Some("product_type"),
                    format!("{other} products are not imported: {sku} skipped"),
                ));
                Ok(())
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Backroom: one row per variant, product columns repeated on every row.

    fn backroom(&mut self, row: &Row) -> Result<(), RowError> {
        let handle = row.require("handle")?.to_string();
        let idx = match self.by_handle.get(&handle) {
            Some(&i) => i,
            None => {
                let status = row.get("status").unwrap_or("draft").to_string();
                if !matches!(status.as_str(), "active" | "draft" | "archived") {
                    return Err(row.error(Some("status"), "must be active, draft or archived"));
                }
                self.push(ProductRecord {
                    handle: handle.clone(),
                    title: row.require("title")?.to_string(),
                    description: row.get("description").map(str::to_string),
                    vendor: row.get("vendor").map(str::to_string),
                    product_type: row.get("product_type").map(str::to_string),
                    tags: list(row.get("tags"), ','),
                    status,
                    seo_title: row.get("seo_title").map(str::to_string),
                    seo_description: row.get("seo_description").map(str::to_string),
                    image_urls: list(row.get("image_urls"), ' '),
                    options: (1..=3)
                        .filter_map(|i| row.get(&format!("option{i}_name")).map(str::to_string))
                        .collect(),
                    variants: Vec::new(),
                    line: row.line,
                })?
            }
        };
        let n = self.products[idx].options.len();
        let options: Vec<String> = (1..=n)
            .map(|i| {
                row.get(&format!("option{i}"))
                    .map(str::to_string)
                    .ok_or_else(|| {
                        row.error(
                            Some(&format!("option{i}")),
                            format!("the product has {n} options; this variant gives no value for option {i}"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        let policy = row.get("inventory_policy").unwrap_or("deny").to_string();
        if !matches!(policy.as_str(), "deny" | "continue") {
            return Err(row.error(Some("inventory_policy"), "must be deny or continue"));
        }
        let v = VariantRecord {
            sku: row.require("sku")?.to_string(),
            options,
            price: money(row, "price", self.exponent)?
                .ok_or_else(|| row.error(Some("price"), "is required"))?,
            compare_at_price: money(row, "compare_at_price", self.exponent)?,
            unit_cost: money(row, "unit_cost", self.exponent)?,
            weight_grams: whole(row, "weight_grams")?,
            barcode: row.get("barcode").map(str::to_string),
            inventory_policy: policy,
            inventory_quantity: None,
            line: row.line,
        };
        self.products[idx].variants.push(v);
        Ok(())
    }

    fn finish(mut self, out: &mut ProductFile) {
        // WooCommerce variations, wherever they came in the file. A variable product's options
        // are its attributes that its variations set (the others only describe it).
        let mut by_parent: HashMap<usize, Vec<(VariantRecord, Attributes, bool)>> = HashMap::new();
        for (parent, v, attrs, had_sku) in std::mem::take(&mut self.woo_variations) {
            match self.woo_parents.get(&parent).copied() {
                Some(i) => by_parent.entry(i).or_default().push((v, attrs, had_sku)),
                None => self.errors.push(RowError::new(
                    v.line,
                    Some("Parent"),
                    format!("no variable product {parent} in the file"),
                )),
            }
        }
        let mut parents: Vec<usize> = by_parent.keys().copied().collect();
        parents.sort_unstable();
        for i in parents {
            let vars = by_parent.remove(&i).unwrap_or_default();
            let names: Vec<String> = self.products[i]
                .options
                .iter()
                .filter(|n| {
                    vars.iter().any(|(_, a, _)| {
                        a.iter()
                            .any(|(k, v)| k.eq_ignore_ascii_case(n) && !v.is_empty())
                    })
                })
                .cloned()
                .collect();
            self.products[i].options = names.clone();
            for (mut v, attrs, had_sku) in vars {
                let values: Option<Vec<String>> = names
                    .iter()
                    .map(|n| {
                        attrs
                            .iter()
                            .find(|(k, x)| k.eq_ignore_ascii_case(n) && !x.is_empty())
                            .map(|(_, x)| x.clone())
                    })
                    .collect();
                let Some(values) = values else {
                    self.errors.push(RowError::new(
                        v.line,
                        Some("Attribute 1 value(s)"),
                        format!(
                            "this variation does not give a value for every option of its product ({})",
                            names.join(", ")
                        ),
                    ));
                    continue;
                };
                if !had_sku {
                    v.sku = slug(&format!("{} {}", self.products[i].handle, values.join(" ")));
                    self.notes.push(RowError::new(
                        v.line,
                        Some("SKU"),
                        format!("no SKU: {} was generated", v.sku),
                    ));
                }
                v.options = values;
                self.products[i].variants.push(v);
            }
        }
        // Magento simple products: a configurable's variation, or a product of their own.
        for (p, attrs) in std::mem::take(&mut self.magento_simple) {
            let sku = p.variants[0].sku.clone();
            match self.magento_children.get(&sku).cloned() {
                Some((i, values)) => {
                    let mut v = p.variants[0].clone();
                    v.options = values
                        .iter()
                        .map(|(code, value)| {
                            if value.is_empty() {
                                attrs
                                    .iter()
                                    .find(|(k, _)| k == code)
                                    .map(|(_, x)| x.clone())
                                    .unwrap_or_default()
                            } else {
                                value.clone()
                            }
                        })
                        .collect();
                    if let Some(pos) = v.options.iter().position(String::is_empty) {
                        self.errors.push(RowError::new(
                            v.line,
                            Some("additional_attributes"),
                            format!("no value for option {}", self.products[i].options[pos]),
                        ));
                        continue;
                    }
                    self.products[i].variants.push(v);
                }
                None => {
                    if let Err(e) = self.push(p) {
                        self.errors.push(e);
                    }
                }
            }
        }
        // Every product needs a variant; SKUs and option combinations are unique.
        let mut skus: HashMap<String, u64> = HashMap::new();
        let mut keep = Vec::with_capacity(self.products.len());
        for p in std::mem::take(&mut self.products) {
            if p.variants.is_empty() {
                self.errors.push(RowError::new(
                    p.line,
                    None,
                    format!("product {} has no variants", p.handle),
                ));
                continue;
            }
            let mut bad = false;
            let mut combos: Vec<&Vec<String>> = Vec::new();
            for v in &p.variants {
                if let Some(first) = skus.insert(v.sku.clone(), v.line) {
                    self.errors.push(RowError::new(
                        v.line,
                        Some("sku"),
                        format!("duplicate SKU {}: already on line {first}", v.sku),
                    ));
                    bad = true;
                }
                if combos.contains(&&v.options) {
                    self.errors.push(RowError::new(
                        v.line,
                        None,
                        format!(
                            "inconsistent variant options: {} repeats {:?} in {}",
                            v.sku, v.options, p.handle
                        ),
                    ));
                    bad = true;
                }
                combos.push(&v.options);
            }
            if !bad {
                keep.push(p);
            }
        }
        out.products = keep;
        out.errors.extend(self.errors);
        out.errors.sort_by_key(|e| e.line);
        out.skipped.extend(self.skipped);
        out.skipped.sort_by_key(|e| e.line);
        out.notes = self.notes;
    }
}
