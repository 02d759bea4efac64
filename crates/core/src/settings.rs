//! Store-wide settings: name, currency, tax rate, time zone, shipping rates.

use crate::db::Sql;
use crate::{Error, Result, params};
use backroom_domain::Currency;

#[derive(Clone, Debug)]
pub struct Settings {
    pub store_name: String,
    pub currency: Currency,
    /// Tax in basis points on the taxable amount (prices exclude tax).
    pub tax_rate_bp: u32,
    /// IANA zone that defines a business day.
    pub timezone: String,
    /// How far back a purchase looks for the campaign click it is credited to.
    pub attribution_window_days: u32,
}

pub fn load(tx: &mut dyn Sql) -> Result<Settings> {
    from_pairs(
        tx.query("SELECT key, value FROM settings", &[])?
            .iter()
            .map(|r| (r.string(0), r.string(1))),
    )
}

/// Settings from `(key, value)` rows.
pub(crate) fn from_pairs<'a>(
    pairs: impl Iterator<Item = (String, String)> + 'a,
) -> Result<Settings> {
    let map: std::collections::HashMap<String, String> = pairs.collect();
    let get = |k: &str| map.get(k).cloned();
    Ok(Settings {
        store_name: get("store_name").unwrap_or_else(|| "My store".into()),
        currency: Currency::parse(&get("currency").unwrap_or_else(|| "USD".into()))?,
        tax_rate_bp: get("tax_rate_bp").and_then(|v| v.parse().ok()).unwrap_or(0),
        timezone: get("timezone").unwrap_or_else(|| "UTC".into()),
        attribution_window_days: get("attribution_window_days")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30),
    })
}

pub fn set(tx: &mut dyn Sql, key: &str, value: &str) -> Result<()> {
    match key {
        "store_name" => {}
        "timezone" => {
            crate::analytics::Zone::get(value)?;
        }
        "attribution_window_days" => {
            if !value.parse::<u32>().is_ok_and(|d| (1..=365).contains(&d)) {
                return Err(Error::invalid(
                    "attribution_window_days",
                    "must be a whole number of days from 1 to 365",
                ));
            }
        }
        "currency" => {
            Currency::parse(value)?;
        }
        "tax_rate_bp" => {
            let v: u32 = value.parse().map_err(|_| {
                Error::invalid("tax_rate_bp", "must be a whole number of basis points")
            })?;
            if v > 10_000 {
                return Err(Error::invalid(
                    "tax_rate_bp",
                    "must be at most 10000 (100%)",
                ));
            }
        }
        _ => return Err(Error::invalid("key", format!("unknown setting {key}"))),
    }
    tx.exec(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

pub fn set_shipping_rate(tx: &mut dyn Sql, code: &str, name: &str, price_minor: i64) -> Result<()> {
    if price_minor < 0 {
        return Err(Error::invalid("price", "must not be negative"));
    }
    tx.exec(
        "INSERT INTO shipping_rates (code, name, price_minor) VALUES ($1, $2, $3) ON CONFLICT (code) DO UPDATE SET name = excluded.name, price_minor = excluded.price_minor",
        params![code, name, price_minor],
    )?;
    Ok(())
}
