//! A sales channel as sourcing sees it: its strategy, handling time and active locations with
//! where they are. Placement sends the statement in its one batch (by the channel's code);
//! order edits and re-sourcing read it by the channel's id.

use crate::db::{Row, Sql};
use crate::{Error, Result, params};
use backroom_domain::sourcing::{Candidate, Place};
use std::collections::HashMap;

/// The statement, matching the channel on `key` (`ch.code` or `ch.id`) = `$1`: one row per
/// active location of the channel, or one row with no location when it has none.
macro_rules! channel_sourcing_sql {
    ($key:literal) => {
        concat!(
            "SELECT ch.id, ch.code, ch.active, ch.sourcing_strategy, ch.handling_hours, loc.id AS location_id, loc.name, loc.priority, \
             loc.latitude, loc.longitude, loc.postal_code, loc.country FROM channels ch \
             LEFT JOIN channel_locations cl ON cl.channel_id = ch.id LEFT JOIN locations loc ON loc.id = cl.location_id AND loc.active = TRUE \
             WHERE ",
            $key,
            " = $1"
        )
    };
}

/// A channel by its code (`$1`), as [`channel_sourcing_from`] reads it.
pub(crate) const CHANNEL_SOURCING_BY_CODE_SQL: &str = channel_sourcing_sql!("ch.code");
/// A channel by its id (`$1`), as [`channel_sourcing_from`] reads it.
const CHANNEL_SOURCING_BY_ID_SQL: &str = channel_sourcing_sql!("ch.id");

/// A channel as sourcing sees it.
pub struct ChannelSourcing {
    pub id: i64,
    pub code: String,
    pub active: bool,
    /// The channel's sourcing strategy, as stored.
    pub strategy: String,
    pub handling_hours: i64,
    /// Its active locations in id order, stock not yet filled in.
    pub candidates: Vec<Candidate>,
}

/// Reads the rows of the channel statement; `None` when no channel matched.
pub(crate) fn channel_sourcing_from(rows: &[Row]) -> Result<Option<ChannelSourcing>> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut candidates = Vec::with_capacity(rows.len());
    for r in rows {
        // No location (the LEFT JOIN found none): the channel's own row only.
        let Some(location_id) = r.get::<Option<i64>>("location_id")? else {
            continue;
        };
        candidates.push(Candidate {
            location_id,
            name: r.get("name")?,
            priority: r.get("priority")?,
            place: Place {
                latitude: r.get("latitude")?,
                longitude: r.get("longitude")?,
                postal_code: r.get("postal_code")?,
                country: r.get("country")?,
            },
            available: HashMap::new(),
        });
    }
    candidates.sort_by_key(|c| c.location_id);
    Ok(Some(ChannelSourcing {
        id: first.get("id")?,
        code: first.get("code")?,
        active: first.get("active")?,
        strategy: first.get("sourcing_strategy")?,
        handling_hours: first.get("handling_hours")?,
        candidates,
    }))
}

/// The channel whose id is `id`, as sourcing sees it.
pub fn channel_sourcing(tx: &mut dyn Sql, id: i64) -> Result<ChannelSourcing> {
    let rows = tx.query(CHANNEL_SOURCING_BY_ID_SQL, params![id])?;
    channel_sourcing_from(&rows)?.ok_or(Error::NotFound { entity: "channel" })
}
