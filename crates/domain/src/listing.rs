//! Listing quality: what to fix on a product page for search engines and shoppers.
//!
//! Each rule is one check with a stable code. `Fix` findings hurt the listing now (a missing
//! search snippet, a price below cost); `Consider` findings are improvements. The limits follow
//! what search engines display: titles are cut after about 60 characters in results and about
//! 150 in product feeds, descriptions after about 160.

/// What the checks look at: a product and its variants, as plain values.
#[derive(Clone, Debug, Default)]
pub struct Listing<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub seo_title: Option<&'a str>,
    pub seo_description: Option<&'a str>,
    pub vendor: &'a str,
    pub product_type: &'a str,
    pub tags: usize,
    pub images: usize,
    pub variants: Vec<VariantListing<'a>>,
}

#[derive(Clone, Debug, Default)]
pub struct VariantListing<'a> {
    pub sku: &'a str,
    pub price: i64,
    pub compare_at_price: Option<i64>,
    pub unit_cost: Option<i64>,
    pub barcode: Option<&'a str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Fix,
    Consider,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
}

/// The number of checks [`check`] runs; each gives at most one finding.
pub const CHECKS: usize = 11;

const TITLE_MAX: usize = 150;
const SEO_TITLE_MAX: usize = 60;
const SEO_DESCRIPTION: (usize, usize) = (50, 160);
const DESCRIPTION_MIN_WORDS: usize = 30;

/// Every finding for a listing, the ones to fix first.
pub fn check(l: &Listing<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut add = |code, severity, message: String| {
        out.push(Finding {
            code,
            severity,
            message,
        })
    };
    let chars = |s: &str| s.trim().chars().count();
    let title = chars(l.title);
    if title < 10 {
        add(
            "title_short",
            Severity::Fix,
            format!("The title has {title} characters: say what the product is in at least 10."),
        );
    } else if title > TITLE_MAX {
        add(
            "title_long",
            Severity::Fix,
            format!("The title has {title} characters: feeds cut it after {TITLE_MAX}."),
        );
    }
    let words = l.description.split_whitespace().count();
    if words < DESCRIPTION_MIN_WORDS {
        add(
            "description_thin",
            Severity::Fix,
            format!(
                "The description has {words} words: describe the product in at least {DESCRIPTION_MIN_WORDS} (materials, fit, care)."
            ),
        );
    }
    match l.seo_title.map(chars) {
        None | Some(0) => add(
            "seo_title_missing",
            Severity::Consider,
            "No search title: search engines will show the product title.".into(),
        ),
        Some(n) if n > SEO_TITLE_MAX => add(
            "seo_title_long",
            Severity::Fix,
            format!("The search title has {n} characters: results cut it after {SEO_TITLE_MAX}."),
        ),
        Some(_) => {}
    }
    match l.seo_description.map(chars) {
        None | Some(0) => add(
            "seo_description_missing",
            Severity::Fix,
            "No search description: search engines will pick a snippet themselves.".into(),
        ),
        Some(n) if n < SEO_DESCRIPTION.0 || n > SEO_DESCRIPTION.1 => add(
            "seo_description_length",
            Severity::Fix,
            format!(
                "The search description has {n} characters: aim for {} to {}.",
                SEO_DESCRIPTION.0, SEO_DESCRIPTION.1
            ),
        ),
        Some(_) => {}
    }
    match l.images {
        0 => add(
            "no_image",
            Severity::Fix,
            "No image: shoppers and shopping feeds need at least one.".into(),
        ),
        1 => add(
            "one_image",
            Severity::Consider,
            "One image: add views from other angles or in use.".into(),
        ),
        _ => {}
    }
    if l.vendor.trim().is_empty() {
        add(
            "no_vendor",
            Severity::Consider,
            "No vendor: shopping feeds ask for the brand.".into(),
        );
    }
    if l.product_type.trim().is_empty() {
        add(
            "no_type",
            Severity::Consider,
            "No product type: it files the product in collections and feeds.".into(),
        );
    }
    if l.tags == 0 {
        add(
            "no_tags",
            Severity::Consider,
            "No tags: they drive search and filters on the storefront.".into(),
        );
    }
    let skus = |f: &dyn Fn(&VariantListing<'_>) -> bool| {
        l.variants
            .iter()
            .filter(|v| f(v))
            .map(|v| v.sku)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let no_barcode = skus(&|v| v.barcode.is_none_or(|b| b.trim().is_empty()));
    if !no_barcode.is_empty() {
        add(
            "no_barcode",
            Severity::Consider,
            format!("No barcode (GTIN) on {no_barcode}: shopping feeds match products by it."),
        );
    }
    let bad_compare = skus(&|v| v.compare_at_price.is_some_and(|c| c <= v.price));
    if !bad_compare.is_empty() {
        add(
            "compare_at_not_above_price",
            Severity::Fix,
            format!(
                "The compare-at price of {bad_compare} is not above the price: shoppers see no saving."
            ),
        );
    }
    let below_cost = skus(&|v| v.unit_cost.is_some_and(|c| c > v.price) || v.price <= 0);
    if !below_cost.is_empty() {
        add(
            "price_below_cost",
            Severity::Fix,
            format!("{below_cost} sells at no price or below its unit cost."),
        );
    }
    out.sort_by_key(|f| f.severity != Severity::Fix);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Listing<'static> {
        Listing {
            title: "Merino crew-neck sweater",
            description: "A soft merino sweater knitted in Portugal from fine wool that keeps you warm without bulk. \
                 Ribbed cuffs and hem, a relaxed fit that layers over a shirt, and a yarn that resists pilling. \
                 Machine wash cold on the wool cycle and dry flat.",
            seo_title: Some("Merino crew-neck sweater | Knitted in Portugal"),
            seo_description: Some(
                "A soft merino crew-neck knitted in Portugal: warm without bulk, ribbed cuffs, machine washable.",
            ),
            vendor: "Northwind",
            product_type: "Sweaters",
            tags: 2,
            images: 3,
            variants: vec![VariantListing {
                sku: "MER-S",
                price: 8900,
                compare_at_price: Some(9900),
                unit_cost: Some(3100),
                barcode: Some("4006381333931"),
            }],
        }
    }

    #[test]
    fn a_complete_listing_passes() {
        assert_eq!(check(&good()), vec![]);
    }

    #[test]
    fn each_rule_fires_on_its_own_and_fixes_come_first() {
        let codes = |l: &Listing<'_>| check(l).into_iter().map(|f| f.code).collect::<Vec<_>>();
        let mut l = good();
        l.title = "Sweater";
        assert_eq!(codes(&l), ["title_short"]);
        let long = "x".repeat(151);
        let mut l = good();
        l.title = &long;
        assert_eq!(codes(&l), ["title_long"]);
        let mut l = good();
        l.description = "Warm.";
        assert_eq!(codes(&l), ["description_thin"]);
        let mut l = good();
        l.seo_title = None;
        assert_eq!(codes(&l), ["seo_title_missing"]);
        let mut l = good();
        l.seo_title = Some(&long);
        assert_eq!(codes(&l), ["seo_title_long"]);
        let mut l = good();
        l.seo_description = Some("  ");
        assert_eq!(codes(&l), ["seo_description_missing"]);
        let mut l = good();
        l.seo_description = Some("Too short.");
        assert_eq!(codes(&l), ["seo_description_length"]);
        let mut l = good();
        l.images = 0;
        assert_eq!(codes(&l), ["no_image"]);
        let mut l = good();
        l.images = 1;
        assert_eq!(codes(&l), ["one_image"]);
        let mut l = good();
        l.vendor = " ";
        l.product_type = "";
        l.tags = 0;
        assert_eq!(codes(&l), ["no_vendor", "no_type", "no_tags"]);
        let mut l = good();
        l.variants[0].barcode = None;
        l.variants[0].compare_at_price = Some(8900);
        l.variants[0].unit_cost = Some(9000);
        // Fixes first, in rule order; then what to consider.
        assert_eq!(
            codes(&l),
            [
                "compare_at_not_above_price",
                "price_below_cost",
                "no_barcode"
            ]
        );
        assert!(check(&l)[2].message.contains("MER-S"));
    }

    #[test]
    fn every_rule_is_counted() {
        let empty = Listing {
            variants: vec![VariantListing {
                sku: "A",
                price: 0,
                compare_at_price: Some(0),
                ..Default::default()
            }],
            ..Default::default()
        };
        // An empty listing fails every check once (a title too short, not too long; search
        // fields missing, not of the wrong length; no image, not one).
        assert_eq!(check(&empty).len(), CHECKS);
    }
}
