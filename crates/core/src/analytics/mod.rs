//! Storefront analytics and the KPI engine.
//!
//! Raw events are the truth: [`ingest`] validates and stores them (deduplicated by event id, durable
//! before the answer). [`refresh`] derives sessions and purchase attribution from them, a chunk at a
//! time, re-sessionizing only each visitor's latest sessions; [`refresh::rebuild`] throws the
//! derived tables away and derives them again from scratch, and a test proves both give the same
//! rows. [`report`] computes every KPI of DOMAIN.md for a period of local days, from sessions, orders,
//! refunds, ad spend and email events. [`marketing`] holds ad spend and email campaigns.

pub mod export;
pub mod ingest;
pub mod marketing;
pub mod operations;
pub mod promotions;
pub mod queue;
pub mod refresh;
pub mod report;
pub mod rollup;

use crate::{Error, Result};
use backroom_domain::analytics::{DAY_MICROS, format_day};

/// The store's time zone, which decides what a business day is.
#[derive(Clone, Debug)]
pub struct Zone {
    pub name: String,
    tz: jiff::tz::TimeZone,
}

impl Zone {
    pub fn get(name: &str) -> Result<Zone> {
        let tz = jiff::tz::TimeZone::get(name).map_err(|_| {
            Error::invalid(
                "timezone",
                format!("{name} is not an IANA time zone such as Europe/Paris"),
            )
        })?;
        Ok(Zone {
            name: name.into(),
            tz,
        })
    }

    /// The local day (days since 1970-01-01) that the instant `ts` (microseconds, UTC) falls in.
    pub fn day_of(&self, ts: i64) -> i32 {
        match jiff::Timestamp::from_microsecond(ts) {
            Ok(t) => {
                let d = t.to_zoned(self.tz.clone()).date();
                backroom_domain::analytics::days_from_civil(
                    i32::from(d.year()),
                    d.month() as u32,
                    d.day() as u32,
                )
            }
            Err(_) => ts.div_euclid(DAY_MICROS) as i32,
        }
    }

    /// The instant (microseconds, UTC) a local day starts: 23 or 25 hours before the next one
    /// across a daylight-saving change.
    pub fn start_of(&self, day: i32) -> i64 {
        let utc_guess = i64::from(day) * DAY_MICROS;
        format_day(day)
            .parse::<jiff::civil::Date>()
            .ok()
            .and_then(|d| d.to_zoned(self.tz.clone()).ok())
            .map(|z| z.timestamp().as_microsecond())
            .unwrap_or(utc_guess)
    }
}
