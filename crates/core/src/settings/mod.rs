//! Store-wide settings: name, currency, time zone, attribution window, taxes per destination and
//! shipping rates. One validated type ([`StoreSettings`]) is what the API, the CLI and the console
//! show and change; [`Settings`] is what the services read.
//!
//! Settings are `(key, value)` rows, shipping rates rows of their own. A change ([`update`]) is
//! checked whole before anything is written, and is audited with what changed.

use crate::db::{DbError, Sql};
use crate::{Ctx, Error, Result, audit, params};
use backroom_domain::Currency;
use backroom_domain::pricing::{TaxPolicy, format_rate, parse_rate};
use backroom_domain::roles::Permission;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What the services read.
#[derive(Clone, Debug)]
pub struct Settings {
    pub store_name: String,
    pub currency: Currency,
    /// IANA zone that defines a business day.
    pub timezone: String,
    /// How far back a purchase looks for the campaign click it is credited to.
    pub attribution_window_days: u32,
    pub prices_include_tax: bool,
    /// The rate for destinations no entry of `tax_rates` names, in millionths.
    pub default_tax_ppm: u32,
    /// `(country, region, rate in millionths)`; a region entry wins over its country's.
    pub tax_rates: Vec<(String, Option<String>, u32)>,
    pub shipping_taxed: bool,
}

impl Settings {
    /// The rate for a destination: its region's entry, else its country's, else the default.
    pub fn tax_for(&self, country: &str, region: Option<&str>) -> TaxPolicy {
        let country = country.trim();
        let region = region.map(str::trim).filter(|r| !r.is_empty());
        let by_region = region.and_then(|reg| {
            self.tax_rates.iter().find(|(c, r, _)| {
                c.eq_ignore_ascii_case(country)
                    && r.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(reg))
            })
        });
        let by_country = || {
            self.tax_rates
                .iter()
                .find(|(c, r, _)| c.eq_ignore_ascii_case(country) && r.is_none())
        };
        TaxPolicy {
            rate_ppm: by_region
                .or_else(by_country)
                .map_or(self.default_tax_ppm, |(_, _, ppm)| *ppm),
            shipping_taxed: self.shipping_taxed,
            included: self.prices_include_tax,
        }
    }
}

/// A tax rate for a destination country, or for one region of it.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TaxRate {
    /// ISO 3166-1 alpha-2, e.g. `IT`.
    pub country: String,
    /// A region (state, province) of the country; absent for the whole country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A decimal fraction: `"0.22"` is 22%.
    pub rate: String,
}

/// A shipping method and what it costs.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShippingRate {
    /// The code orders name in `shipping_method`, e.g. `standard`.
    pub method: String,
    /// What customers and staff see, e.g. `Standard (3-5 days)`.
    pub name: String,
    /// Destination countries (ISO 3166-1 alpha-2) it ships to; empty for everywhere.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Minor units of the store's currency.
    pub price: i64,
    /// Free when the order's merchandise (after discounts) comes to at least this, in minor units.
    #[serde(default)]
    pub free_above: Option<i64>,
}

/// The store's settings, as shown and changed.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct StoreSettings {
    pub store_name: String,
    /// ISO 4217; fixed once the store has orders.
    pub currency: String,
    /// IANA time zone, e.g. `Europe/Paris`: reports group by its calendar days.
    pub timezone: String,
    /// Days a purchase looks back for the campaign click it is credited to (1 to 365).
    pub attribution_window_days: u32,
    /// Whether catalog and shipping prices include tax: the tax is then extracted from the price
    /// and the customer pays the shown price; otherwise it is added on top at checkout.
    pub prices_include_tax: bool,
    /// The rate for destinations `tax_rates` does not name, e.g. `"0.2"`.
    pub default_tax_rate: String,
    /// Rates per destination country, optionally per region.
    pub tax_rates: Vec<TaxRate>,
    /// Whether shipping charges are taxed (at the destination's rate).
    pub shipping_taxed: bool,
    pub shipping_rates: Vec<ShippingRate>,
}

/// A change to the settings: only the fields given change; a list given replaces the whole list.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub store_name: Option<String>,
    pub currency: Option<String>,
    pub timezone: Option<String>,
    pub attribution_window_days: Option<u32>,
    pub prices_include_tax: Option<bool>,
    pub default_tax_rate: Option<String>,
    pub tax_rates: Option<Vec<TaxRate>>,
    pub shipping_taxed: Option<bool>,
    pub shipping_rates: Option<Vec<ShippingRate>>,
}

pub fn load(tx: &mut dyn Sql) -> Result<Settings> {
    let pairs = tx
        .query("SELECT key, value FROM settings", &[])?
        .iter()
        .map(|r| Ok((r.get("key")?, r.get("value")?)))
        .collect::<std::result::Result<Vec<(String, String)>, DbError>>()?;
    from_pairs(pairs.into_iter())
}

/// The store's settings and one shipping rate by code (`$1`), in one statement for placement's
/// batch. Each row's `kind` says which: a setting (`key`, `value`) or the rate (`key` its code,
/// `value` its price, `countries`, `free_above`).
pub(crate) const STORE_AND_RATE_SQL: &str = "SELECT 'setting' AS kind, key, value, CAST(NULL AS TEXT) AS countries, CAST(NULL AS BIGINT) AS free_above FROM settings \
     UNION ALL SELECT 'shipping', code, CAST(price_minor AS TEXT), countries, free_above_minor FROM shipping_rates WHERE code = $1";

/// Settings from `(key, value)` rows. A store made before tax rates per destination keeps its one
/// rate (`tax_rate_bp`) as the default.
pub(crate) fn from_pairs<'a>(
    pairs: impl Iterator<Item = (String, String)> + 'a,
) -> Result<Settings> {
    let map: std::collections::HashMap<String, String> = pairs.collect();
    let get = |k: &str| map.get(k).cloned();
    let flag = |k: &str, default: bool| get(k).map_or(default, |v| v == "true");
    let default_tax_ppm = match get("default_tax_rate") {
        Some(r) => parse_rate("default_tax_rate", &r)?,
        None => get("tax_rate_bp")
            .and_then(|v| v.parse::<u32>().ok())
            .map_or(0, |bp| bp.min(9_999) * 100),
    };
    let tax_rates = match get("tax_rates") {
        Some(j) => serde_json::from_str::<Vec<TaxRate>>(&j)
            .map_err(|e| {
                Error::invalid("tax_rates", format!("stored tax rates are unreadable: {e}"))
            })?
            .iter()
            .map(|t| {
                Ok((
                    t.country.clone(),
                    t.region.clone(),
                    parse_rate("tax_rates", &t.rate)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    Ok(Settings {
        store_name: get("store_name").unwrap_or_else(|| "My store".into()),
        currency: Currency::parse(&get("currency").unwrap_or_else(|| "USD".into()))?,
        timezone: get("timezone").unwrap_or_else(|| "UTC".into()),
        attribution_window_days: get("attribution_window_days")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30),
        prices_include_tax: flag("prices_include_tax", false),
        default_tax_ppm,
        tax_rates,
        shipping_taxed: flag("shipping_taxed", true),
    })
}

/// The settings as shown, without a permission check (callers check it).
pub fn current(tx: &mut dyn Sql) -> Result<StoreSettings> {
    let s = load(tx)?;
    let rates = tx.query(
        "SELECT code, name, countries, price_minor, free_above_minor FROM shipping_rates ORDER BY code",
        &[],
    )?;
    Ok(StoreSettings {
        store_name: s.store_name,
        currency: s.currency.as_str().into(),
        timezone: s.timezone,
        attribution_window_days: s.attribution_window_days,
        prices_include_tax: s.prices_include_tax,
        default_tax_rate: format_rate(s.default_tax_ppm),
        tax_rates: s
            .tax_rates
            .into_iter()
            .map(|(country, region, ppm)| TaxRate {
                country,
                region,
                rate: format_rate(ppm),
            })
            .collect(),
        shipping_taxed: s.shipping_taxed,
        shipping_rates: rates
            .iter()
            .map(|r| {
                Ok(ShippingRate {
                    method: r.get("code")?,
                    name: r.get("name")?,
                    countries: crate::util::from_json(&r.get::<String>("countries")?),
                    price: r.get("price_minor")?,
                    free_above: r.get("free_above_minor")?,
                })
            })
            .collect::<std::result::Result<_, DbError>>()?,
    })
}

fn country_code(field: &str, c: &str) -> Result<String> {
    let c = c.trim();
    if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(c.to_ascii_uppercase())
    } else {
        Err(Error::invalid(
            field,
            format!("{c:?} is not a country: use its ISO 3166-1 two-letter code, such as IT"),
        ))
    }
}

fn text(field: &str, v: &str, max: usize) -> Result<String> {
    let t = v.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("must be 1 to {max} characters, without control characters"),
        ));
    }
    Ok(t.to_string())
}

/// Checks a whole settings value; returns it normalised (codes upper-case, text trimmed).
fn validate(s: &StoreSettings) -> Result<StoreSettings> {
    let mut out = s.clone();
    out.store_name = text("store_name", &s.store_name, 200)?;
    Currency::parse(&s.currency)?;
    crate::analytics::Zone::get(&s.timezone)?;
    if !(1..=365).contains(&s.attribution_window_days) {
        return Err(Error::invalid(
            "attribution_window_days",
            "must be a whole number of days from 1 to 365",
        ));
    }
    out.default_tax_rate = format_rate(parse_rate("default_tax_rate", &s.default_tax_rate)?);
    let mut seen = std::collections::HashSet::new();
    for (i, t) in s.tax_rates.iter().enumerate() {
        let f = |k: &str| format!("tax_rates[{i}].{k}");
        let country = country_code(&f("country"), &t.country)?;
        let region = match t.region.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(r) => Some(text(&f("region"), r, 100)?),
        };
        let ppm = parse_rate(&f("rate"), &t.rate)?;
        if !seen.insert((country.clone(), region.as_ref().map(|r| r.to_lowercase()))) {
            return Err(Error::invalid(
                f("country"),
                "this destination already has a rate in the list",
            ));
        }
        out.tax_rates[i] = TaxRate {
            country,
            region,
            rate: format_rate(ppm),
        };
    }
    let mut methods = std::collections::HashSet::new();
    for (i, r) in s.shipping_rates.iter().enumerate() {
        let f = |k: &str| format!("shipping_rates[{i}].{k}");
        let method = r.method.trim();
        if method.is_empty()
            || method.len() > 50
            || !method
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Error::invalid(
                f("method"),
                "must be 1 to 50 letters, digits, '-' or '_'",
            ));
        }
        if !methods.insert(method.to_string()) {
            return Err(Error::invalid(f("method"), "two rates have this method"));
        }
        if r.price < 0 {
            return Err(Error::invalid(f("price"), "must not be negative"));
        }
        if method == "pickup" && (!r.countries.is_empty() || r.free_above.is_some()) {
            return Err(Error::invalid(
                f("countries"),
                "pickup is collected at a location: it has no destination countries and no free-above amount",
            ));
        }
        if r.free_above.is_some_and(|v| v < 0) {
            return Err(Error::invalid(f("free_above"), "must not be negative"));
        }
        let countries = r
            .countries
            .iter()
            .enumerate()
            .map(|(j, c)| country_code(&format!("{}[{j}]", f("countries")), c))
            .collect::<Result<Vec<_>>>()?;
        out.shipping_rates[i] = ShippingRate {
            method: method.to_string(),
            name: text(&f("name"), &r.name, 200)?,
            countries,
            price: r.price,
            free_above: r.free_above,
        };
    }
    Ok(out)
}

/// Applies a change, all or nothing: every field is checked before anything is written, the
/// currency of a store that has orders is refused, and what changed is audited.
pub fn update(tx: &mut dyn Sql, ctx: &Ctx, patch: &SettingsPatch) -> Result<StoreSettings> {
    ctx.actor.require(Permission::SettingsWrite)?;
    let before = current(tx)?;
    let mut next = before.clone();
    let p = patch.clone();
    if let Some(v) = p.store_name {
        next.store_name = v;
    }
    if let Some(v) = p.currency {
        next.currency = v;
    }
    if let Some(v) = p.timezone {
        next.timezone = v;
    }
    if let Some(v) = p.attribution_window_days {
        next.attribution_window_days = v;
    }
    if let Some(v) = p.prices_include_tax {
        next.prices_include_tax = v;
    }
    if let Some(v) = p.default_tax_rate {
        next.default_tax_rate = v;
    }
    if let Some(v) = p.tax_rates {
        next.tax_rates = v;
    }
    if let Some(v) = p.shipping_taxed {
        next.shipping_taxed = v;
    }
    if let Some(v) = p.shipping_rates {
        next.shipping_rates = v;
    }
    let next = validate(&next)?;
    if next.currency != before.currency {
        let orders = crate::orders::count(tx)?;
        if orders > 0 {
            return Err(Error::conflict(
                "currency_locked",
                format!(
                    "the store has {orders} orders in {}; their amounts cannot change currency, so the store's currency is fixed once it has orders",
                    before.currency
                ),
            ));
        }
    }
    write(tx, &next)?;
    let (b, n) = (
        serde_json::to_value(&before).unwrap_or_default(),
        serde_json::to_value(&next).unwrap_or_default(),
    );
    let mut changes = serde_json::Map::new();
    if let (Some(b), Some(n)) = (b.as_object(), n.as_object()) {
        for (k, v) in n {
            if b.get(k) != Some(v) {
                changes.insert(k.clone(), serde_json::json!({"from": b.get(k), "to": v}));
            }
        }
    }
    if !changes.is_empty() {
        audit::record(
            tx,
            ctx,
            "settings.updated",
            "settings",
            "store",
            changes.into(),
        )?;
    }
    current(tx)
}

fn write(tx: &mut dyn Sql, s: &StoreSettings) -> Result<()> {
    let pairs = [
        ("store_name", s.store_name.clone()),
        ("currency", s.currency.clone()),
        ("timezone", s.timezone.clone()),
        (
            "attribution_window_days",
            s.attribution_window_days.to_string(),
        ),
        ("prices_include_tax", s.prices_include_tax.to_string()),
        ("default_tax_rate", s.default_tax_rate.clone()),
        ("tax_rates", crate::util::to_json(&s.tax_rates)),
        ("shipping_taxed", s.shipping_taxed.to_string()),
    ];
    for (k, v) in pairs {
        tx.exec(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![k, v.as_str()],
        )?;
    }
    tx.exec("DELETE FROM settings WHERE key = 'tax_rate_bp'", &[])?;
    tx.exec("DELETE FROM shipping_rates", &[])?;
    // Click and collect always has its free `pickup` method.
    let pickup = ShippingRate {
        method: "pickup".into(),
        name: "Pickup in store".into(),
        countries: Vec::new(),
        price: 0,
        free_above: None,
    };
    let keep_pickup = (!s.shipping_rates.iter().any(|r| r.method == "pickup")).then_some(&pickup);
    for r in s.shipping_rates.iter().chain(keep_pickup) {
        tx.exec(
            "INSERT INTO shipping_rates (code, name, price_minor, countries, free_above_minor) VALUES ($1, $2, $3, $4, $5)",
            params![r.method.as_str(), r.name.as_str(), r.price, crate::util::to_json(&r.countries), r.free_above],
        )?;
    }
    Ok(())
}

/// Sets one setting by key, checked as [`update`] checks it (the CLI's `settings set`, the demo,
/// tests). `value` is text; lists are JSON.
pub fn set(tx: &mut dyn Sql, key: &str, value: &str) -> Result<()> {
    let ctx = Ctx::system_now();
    set_as(tx, &ctx, &[(key.to_string(), value.to_string())]).map(|_| ())
}

/// Sets several `key=value` settings at once, all or nothing, audited as `ctx`.
pub fn set_as(tx: &mut dyn Sql, ctx: &Ctx, pairs: &[(String, String)]) -> Result<StoreSettings> {
    let mut p = SettingsPatch::default();
    for (key, value) in pairs {
        let json = |field: &str| -> Result<serde_json::Value> {
            serde_json::from_str(value)
                .map_err(|e| Error::invalid(field, format!("must be JSON: {e}")))
        };
        let flag = |field: &str| match value.as_str() {
            "true" | "yes" | "on" => Ok(true),
            "false" | "no" | "off" => Ok(false),
            _ => Err(Error::invalid(field, "must be true or false")),
        };
        match key.as_str() {
            "store_name" => p.store_name = Some(value.clone()),
            "currency" => p.currency = Some(value.clone()),
            "timezone" => p.timezone = Some(value.clone()),
            "attribution_window_days" => {
                p.attribution_window_days = Some(value.parse().map_err(|_| {
                    Error::invalid(
                        "attribution_window_days",
                        "must be a whole number of days from 1 to 365",
                    )
                })?)
            }
            "prices_include_tax" => p.prices_include_tax = Some(flag(key)?),
            "shipping_taxed" => p.shipping_taxed = Some(flag(key)?),
            "default_tax_rate" => p.default_tax_rate = Some(value.clone()),
            "tax_rates" => {
                p.tax_rates = Some(
                    serde_json::from_value(json(key)?)
                        .map_err(|e| Error::invalid(key.as_str(), e.to_string()))?,
                )
            }
            "shipping_rates" => {
                p.shipping_rates = Some(
                    serde_json::from_value(json(key)?)
                        .map_err(|e| Error::invalid(key.as_str(), e.to_string()))?,
                )
            }
            _ => {
                return Err(Error::invalid(
                    "key",
                    format!(
                        "unknown setting {key}; the settings are store_name, currency, timezone, attribution_window_days, prices_include_tax, default_tax_rate, tax_rates, shipping_taxed, shipping_rates"
                    ),
                ));
            }
        }
    }
    update(tx, ctx, &p)
}

/// Adds or replaces one shipping rate (shipping everywhere, never free).
pub fn set_shipping_rate(tx: &mut dyn Sql, code: &str, name: &str, price_minor: i64) -> Result<()> {
    let mut rates = current(tx)?.shipping_rates;
    rates.retain(|r| r.method != code);
    rates.push(ShippingRate {
        method: code.into(),
        name: name.into(),
        countries: Vec::new(),
        price: price_minor,
        free_above: None,
    });
    update(
        tx,
        &Ctx::system_now(),
        &SettingsPatch {
            shipping_rates: Some(rates),
            ..Default::default()
        },
    )
    .map(|_| ())
}
