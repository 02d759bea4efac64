//! Sourcing: which location fulfils each order line, and why.
//!
//! A channel chooses one [`Strategy`]:
//! - `priority`: each line is taken from locations in priority order, split where one is short;
//! - `fewest_shipments` (the default): one location that holds every line if there is one (the
//!   first by priority), else the location that can send the most units, then the next, and so on;
//! - `nearest`: locations by distance to the shipping address (coordinates when both sides have
//!   them, else the same country and the longest shared postal-code prefix), then priority;
//! - `highest_stock`: for each line, the location with the most available units of its SKU first.
//!
//! Every decision carries its reason in words, with the facts it used. A `continue` variant whose
//! stock runs out is backordered at the first location of its order; a `deny` variant is refused,
//! naming what is available. Two lines of one SKU draw on the same stock.

use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Priority,
    FewestShipments,
    Nearest,
    HighestStock,
}

impl Strategy {
    pub const ALL: [Strategy; 4] = [
        Strategy::Priority,
        Strategy::FewestShipments,
        Strategy::Nearest,
        Strategy::HighestStock,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Priority => "priority",
            Strategy::FewestShipments => "fewest_shipments",
            Strategy::Nearest => "nearest",
            Strategy::HighestStock => "highest_stock",
        }
    }

    pub fn parse(s: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// One order line's need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Demand {
    pub variant_id: i64,
    pub sku: String,
    pub quantity: i64,
    /// True for `continue` variants.
    pub allow_backorder: bool,
}

/// Where a location or an address is: coordinates and/or a postal region.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Place {
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

/// A location the channel sells from, with what it has available to that channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub location_id: i64,
    pub name: String,
    pub priority: i64,
    pub place: Place,
    /// Available units by variant id (already less any channel safety buffer).
    pub available: HashMap<i64, i64>,
}

/// Units of one line taken from one location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub line_index: usize,
    pub location_id: i64,
    pub quantity: i64,
    /// Units promised beyond what the location holds (`continue` variants only).
    pub backordered: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub strategy: &'static str,
    pub reason: String,
    pub allocations: Vec<Allocation>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourcingError {
    #[error("no location sells for this channel")]
    NoLocations,
    #[error("not enough stock for {sku}: {requested} requested, {available} available")]
    Insufficient {
        line_index: usize,
        sku: String,
        requested: i64,
        available: i64,
    },
}

/// Great-circle distance in kilometres.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

/// How far a location is from the destination, as a sortable key and a phrase for the reason:
/// kilometres when both have coordinates; else a postal-region closeness; else unknown (last).
fn proximity(from: &Place, to: &Place) -> (u8, f64, String) {
    if let (Some(a), Some(b), Some(c), Some(d)) =
        (from.latitude, from.longitude, to.latitude, to.longitude)
    {
        let km = distance_km((a, b), (c, d));
        return (0, km, format!("{km:.0} km"));
    }
    match (
        &from.country,
        &to.country,
        &from.postal_code,
        &to.postal_code,
    ) {
        (Some(c1), Some(c2), p1, p2) if c1.eq_ignore_ascii_case(c2) => {
            let shared = match (p1, p2) {
                (Some(a), Some(b)) => a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count(),
                _ => 0,
            };
            (
                1,
                -(shared as f64),
                format!("same country, {shared} postal-code characters shared"),
            )
        }
        (Some(_), Some(_), _, _) => (2, 0.0, "another country".into()),
        _ => (3, 0.0, "position unknown".into()),
    }
}

/// Sources `demands` from `candidates` with `strategy`, shipping to `destination`.
pub fn source(
    strategy: Strategy,
    demands: &[Demand],
    candidates: &[Candidate],
    destination: &Place,
) -> Result<Decision, SourcingError> {
    if candidates.is_empty() {
        return Err(SourcingError::NoLocations);
    }
    let mut by_priority: Vec<&Candidate> = candidates.iter().collect();
    by_priority.sort_by_key(|c| (c.priority, c.location_id));
    let mut need: HashMap<i64, i64> = HashMap::new();
    for d in demands {
        *need.entry(d.variant_id).or_default() += d.quantity;
    }
    let holds_all = |c: &Candidate| {
        need.iter()
            .all(|(v, q)| c.available.get(v).copied().unwrap_or(0) >= *q)
    };

    match strategy {
        Strategy::Priority => {
            let order = by_priority.clone();
            let names: Vec<String> = order
                .iter()
                .map(|c| format!("{} ({})", c.name, c.priority))
                .collect();
            let (allocations, notes) = take_in_order(demands, candidates, |_| order.clone())?;
            Ok(Decision {
                strategy: strategy.as_str(),
                reason: format!(
                    "by location priority: {}; {}",
                    names.join(", "),
                    notes.join("; ")
                ),
                allocations,
            })
        }
        Strategy::FewestShipments => {
            if let Some(c) = by_priority.iter().find(|c| holds_all(c)) {
                return Ok(Decision {
                    strategy: strategy.as_str(),
                    reason: format!(
                        "{} (priority {}) is the first location by priority that holds every line: one shipment",
                        c.name, c.priority
                    ),
                    allocations: demands
                        .iter()
                        .enumerate()
                        .map(|(i, d)| Allocation {
                            line_index: i,
                            location_id: c.location_id,
                            quantity: d.quantity,
                            backordered: 0,
                        })
                        .collect(),
                });
            }
            let order = largest_share_first(&by_priority, candidates, &need);
            let names: Vec<&str> = order.iter().map(|c| c.name.as_str()).collect();
            let (allocations, notes) = take_in_order(demands, candidates, |_| order.clone())?;
            let shipments = allocations
                .iter()
                .map(|a| a.location_id)
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            Ok(Decision {
                strategy: strategy.as_str(),
                reason: format!(
                    "no single location holds every line; {shipments} shipments, largest share first ({}); {}",
                    names.join(", "),
                    notes.join("; ")
                ),
                allocations,
            })
        }
        Strategy::Nearest => {
            let mut ranked: Vec<(&Candidate, (u8, f64, String))> = by_priority
                .iter()
                .map(|c| (*c, proximity(&c.place, destination)))
                .collect();
            ranked.sort_by(|a, b| {
                (a.1.0, a.1.1)
                    .partial_cmp(&(b.1.0, b.1.1))
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then((a.0.priority, a.0.location_id).cmp(&(b.0.priority, b.0.location_id)))
            });
            let facts: Vec<String> = ranked
                .iter()
                .map(|(c, p)| format!("{} {}", c.name, p.2))
                .collect();
            let order: Vec<&Candidate> = ranked.iter().map(|(c, _)| *c).collect();
            let (allocations, notes) = take_in_order(demands, candidates, |_| order.clone())?;
            Ok(Decision {
                strategy: strategy.as_str(),
                reason: format!("nearest first: {}; {}", facts.join(", "), notes.join("; ")),
                allocations,
            })
        }
        Strategy::HighestStock => {
            let mut facts = Vec::new();
            for (v, _) in need.iter() {
                if let Some(d) = demands.iter().find(|d| d.variant_id == *v) {
                    let mut s: Vec<String> = by_priority
                        .iter()
                        .map(|c| format!("{} {}", c.name, c.available.get(v).copied().unwrap_or(0)))
                        .collect();
                    s.sort();
                    facts.push(format!("{}: {}", d.sku, s.join(", ")));
                }
            }
            facts.sort();
            let (allocations, notes) = take_in_order(demands, candidates, |d| {
                let mut o = by_priority.clone();
                o.sort_by_key(|c| {
                    (
                        -c.available.get(&d.variant_id).copied().unwrap_or(0),
                        c.priority,
                        c.location_id,
                    )
                });
                o
            })?;
            Ok(Decision {
                strategy: strategy.as_str(),
                reason: format!(
                    "most stock first ({}); {}",
                    facts.join("; "),
                    notes.join("; ")
                ),
                allocations,
            })
        }
    }
}

/// Greedy cover: the locations in the order that sends the most of what is still `need`ed
/// first (ties by priority), then those that hold none of it, by priority.
fn largest_share_first<'a>(
    by_priority: &[&'a Candidate],
    candidates: &[Candidate],
    need: &HashMap<i64, i64>,
) -> Vec<&'a Candidate> {
    let mut left: HashMap<i64, HashMap<i64, i64>> = candidates
        .iter()
        .map(|c| (c.location_id, c.available.clone()))
        .collect();
    let mut remaining: HashMap<i64, i64> = need.clone();
    let mut order: Vec<&Candidate> = Vec::new();
    loop {
        let best = by_priority
            .iter()
            .filter(|c| !order.iter().any(|o| o.location_id == c.location_id))
            .map(|c| {
                let units: i64 = remaining
                    .iter()
                    .map(|(v, q)| {
                        (*q).min(left[&c.location_id].get(v).copied().unwrap_or(0).max(0))
                    })
                    .sum();
                (units, *c)
            })
            .filter(|(u, _)| *u > 0)
            .max_by(|a, b| {
                a.0.cmp(&b.0)
                    .then((b.1.priority, b.1.location_id).cmp(&(a.1.priority, a.1.location_id)))
            });
        let Some((_, c)) = best else { break };
        for (v, q) in remaining.iter_mut() {
            let avail = left.get_mut(&c.location_id).and_then(|m| m.get_mut(v));
            if let Some(a) = avail {
                let take = (*q).min((*a).max(0));
                *q -= take;
                *a -= take;
            }
        }
        order.push(c);
    }
    for c in by_priority {
        if !order.iter().any(|o| o.location_id == c.location_id) {
            order.push(c);
        }
    }
    order
}

/// Takes each line from locations in the order `order_for` gives, splitting where one is short;
/// backorders the rest of a `continue` line at its first location, refuses a `deny` line.
fn take_in_order<'a>(
    demands: &[Demand],
    candidates: &'a [Candidate],
    order_for: impl Fn(&Demand) -> Vec<&'a Candidate>,
) -> Result<(Vec<Allocation>, Vec<String>), SourcingError> {
    let mut left: HashMap<i64, HashMap<i64, i64>> = candidates
        .iter()
        .map(|c| (c.location_id, c.available.clone()))
        .collect();
    let mut allocations = Vec::new();
    let mut notes = Vec::new();
    for (i, d) in demands.iter().enumerate() {
        let order = order_for(d);
        let mut remaining = d.quantity;
        let mut parts = Vec::new();
        for c in &order {
            if remaining == 0 {
                break;
            }
            let Some(stock) = left.get_mut(&c.location_id) else {
                continue;
            };
            let avail = stock.get(&d.variant_id).copied().unwrap_or(0).max(0);
            let take = avail.min(remaining);
            if take > 0 {
                stock.insert(d.variant_id, avail - take);
                allocations.push(Allocation {
                    line_index: i,
                    location_id: c.location_id,
                    quantity: take,
                    backordered: 0,
                });
                parts.push(format!("{take} from {}", c.name));
                remaining -= take;
            }
        }
        if remaining > 0 {
            match (d.allow_backorder, order.first()) {
                (true, Some(first)) => {
                    allocations.push(Allocation {
                        line_index: i,
                        location_id: first.location_id,
                        quantity: remaining,
                        backordered: remaining,
                    });
                    parts.push(format!("{remaining} backordered at {}", first.name));
                }
                _ => {
                    let requested: i64 = demands
                        .iter()
                        .filter(|x| x.variant_id == d.variant_id)
                        .map(|x| x.quantity)
                        .sum();
                    let available: i64 = candidates
                        .iter()
                        .map(|c| c.available.get(&d.variant_id).copied().unwrap_or(0).max(0))
                        .sum();
                    return Err(SourcingError::Insufficient {
                        line_index: i,
                        sku: d.sku.clone(),
                        requested,
                        available,
                    });
                }
            }
        }
        notes.push(format!("{}: {}", d.sku, parts.join(", ")));
    }
    Ok((allocations, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: i64, prio: i64, stock: &[(i64, i64)]) -> Candidate {
        Candidate {
            location_id: id,
            name: format!("L{id}"),
            priority: prio,
            place: Place::default(),
            available: stock.iter().copied().collect(),
        }
    }
    fn at(mut c: Candidate, lat: f64, lon: f64) -> Candidate {
        c.place = Place {
            latitude: Some(lat),
            longitude: Some(lon),
            postal_code: None,
            country: Some("FR".into()),
        };
        c
    }
    fn dem(v: i64, q: i64, back: bool) -> Demand {
        Demand {
            variant_id: v,
            sku: format!("S{v}"),
            quantity: q,
            allow_backorder: back,
        }
    }
    fn split(d: &Decision) -> Vec<(usize, i64, i64)> {
        d.allocations
            .iter()
            .map(|a| (a.line_index, a.location_id, a.quantity))
            .collect()
    }
    const NOWHERE: Place = Place {
        latitude: None,
        longitude: None,
        postal_code: None,
        country: None,
    };

    #[test]
    fn fewest_shipments_prefers_one_location_even_of_lower_priority() {
        let c = [cand(1, 1, &[(10, 5)]), cand(2, 2, &[(10, 5), (11, 5)])];
        let d = source(
            Strategy::FewestShipments,
            &[dem(10, 2, false), dem(11, 1, false)],
            &c,
            &NOWHERE,
        )
        .unwrap();
        assert_eq!(split(&d), vec![(0, 2, 2), (1, 2, 1)]);
        assert!(
            d.reason.contains("L2") && d.reason.contains("one shipment"),
            "{}",
            d.reason
        );
        // Priority alone would split them.
        let p = source(
            Strategy::Priority,
            &[dem(10, 2, false), dem(11, 1, false)],
            &c,
            &NOWHERE,
        )
        .unwrap();
        assert_eq!(split(&p), vec![(0, 1, 2), (1, 2, 1)]);
    }

    #[test]
    fn fewest_shipments_covers_greedily() {
        // L1 has a little of everything, L3 has most: L3 first, then L1 for the rest.
        let c = [
            cand(1, 1, &[(10, 1), (11, 1)]),
            cand(2, 2, &[(10, 1)]),
            cand(3, 3, &[(10, 4), (11, 2)]),
        ];
        let d = source(
            Strategy::FewestShipments,
            &[dem(10, 5, false), dem(11, 3, false)],
            &c,
            &NOWHERE,
        )
        .unwrap();
        assert_eq!(split(&d), vec![(0, 3, 4), (0, 1, 1), (1, 3, 2), (1, 1, 1)]);
        assert!(d.reason.contains("2 shipments"), "{}", d.reason);
    }

    #[test]
    fn ties_go_to_priority() {
        let c = [cand(2, 5, &[(10, 5)]), cand(1, 1, &[(10, 5)])];
        for s in Strategy::ALL {
            let d = source(s, &[dem(10, 2, false)], &c, &NOWHERE).unwrap();
            assert_eq!(d.allocations[0].location_id, 1, "{s:?}");
            assert_eq!(d.strategy, s.as_str());
        }
    }

    #[test]
    fn nearest_by_coordinates_then_postal_region() {
        let paris = Place {
            latitude: Some(48.85),
            longitude: Some(2.35),
            postal_code: Some("75011".into()),
            country: Some("FR".into()),
        };
        let c = [
            at(cand(1, 1, &[(10, 5)]), 45.76, 4.84),
            at(cand(2, 2, &[(10, 5)]), 48.86, 2.36),
        ];
        let d = source(Strategy::Nearest, &[dem(10, 2, false)], &c, &paris).unwrap();
        assert_eq!(d.allocations[0].location_id, 2);
        assert!(
            d.reason.contains("L2 1 km") && d.reason.contains("L1 391 km"),
            "{}",
            d.reason
        );
        // No coordinates on the address: the location sharing more of the postal code wins.
        let by_zip = Place {
            latitude: None,
            longitude: None,
            postal_code: Some("69003".into()),
            country: Some("FR".into()),
        };
        let mut c2 = c.clone();
        c2[0].place.postal_code = Some("69007".into());
        c2[1].place.postal_code = Some("75003".into());
        let d = source(Strategy::Nearest, &[dem(10, 2, false)], &c2, &by_zip).unwrap();
        assert_eq!(d.allocations[0].location_id, 1, "{}", d.reason);
        // Short at the nearest: the rest comes from the next nearest.
        let c3 = [
            at(cand(1, 1, &[(10, 5)]), 45.76, 4.84),
            at(cand(2, 2, &[(10, 1)]), 48.86, 2.36),
        ];
        let d = source(Strategy::Nearest, &[dem(10, 3, false)], &c3, &paris).unwrap();
        assert_eq!(split(&d), vec![(0, 2, 1), (0, 1, 2)]);
    }

    #[test]
    fn highest_stock_per_line() {
        let c = [
            cand(1, 1, &[(10, 2), (11, 9)]),
            cand(2, 2, &[(10, 8), (11, 1)]),
        ];
        let d = source(
            Strategy::HighestStock,
            &[dem(10, 1, false), dem(11, 1, false)],
            &c,
            &NOWHERE,
        )
        .unwrap();
        assert_eq!(split(&d), vec![(0, 2, 1), (1, 1, 1)]);
        assert!(d.reason.contains("S10: L1 2, L2 8"), "{}", d.reason);
    }

    #[test]
    fn refusals_and_backorders_under_every_strategy() {
        let c = [cand(1, 1, &[(10, 3)]), cand(2, 2, &[(10, 4)])];
        for s in Strategy::ALL {
            let d = source(s, &[dem(10, 6, false)], &c, &NOWHERE).unwrap();
            assert_eq!(
                d.allocations.iter().map(|a| a.quantity).sum::<i64>(),
                6,
                "{s:?}"
            );
            let e = source(s, &[dem(10, 8, false)], &c, &NOWHERE).unwrap_err();
            assert_eq!(
                e,
                SourcingError::Insufficient {
                    line_index: 0,
                    sku: "S10".into(),
                    requested: 8,
                    available: 7
                },
                "{s:?}"
            );
            // Two lines of one SKU share the stock.
            let e = source(s, &[dem(10, 4, false), dem(10, 4, false)], &c, &NOWHERE).unwrap_err();
            assert!(
                matches!(
                    e,
                    SourcingError::Insufficient {
                        line_index: 1,
                        requested: 8,
                        available: 7,
                        ..
                    }
                ),
                "{s:?}: {e:?}"
            );
            let d = source(s, &[dem(10, 9, true)], &c, &NOWHERE).unwrap();
            assert_eq!(
                d.allocations.iter().map(|a| a.backordered).sum::<i64>(),
                2,
                "{s:?}"
            );
            assert_eq!(
                source(s, &[dem(10, 1, false)], &[], &NOWHERE),
                Err(SourcingError::NoLocations)
            );
        }
    }

    proptest::proptest! {
        /// Whatever the strategy and stock, a decision never takes more than a location has for a
        /// deny SKU, and every line gets exactly its quantity.
        #[test]
        fn decisions_respect_stock(stock in proptest::collection::vec((0i64..6, 0i64..6), 1..5), lines in proptest::collection::vec((0i64..2, 1i64..6), 1..5), s in 0usize..4) {
            let cands: Vec<Candidate> = stock.iter().enumerate().map(|(i, (a, b))| cand(i as i64 + 1, (i as i64 * 7) % 3, &[(10, *a), (11, *b)])).collect();
            let demands: Vec<Demand> = lines.iter().map(|(v, q)| dem(10 + v, *q, false)).collect();
            if let Ok(d) = source(Strategy::ALL[s], &demands, &cands, &NOWHERE) {
                for (i, dm) in demands.iter().enumerate() {
                    proptest::prop_assert_eq!(d.allocations.iter().filter(|a| a.line_index == i).map(|a| a.quantity).sum::<i64>(), dm.quantity);
                }
                for c in &cands {
                    for v in [10i64, 11] {
                        let taken: i64 = d.allocations.iter().filter(|a| a.location_id == c.location_id && demands[a.line_index].variant_id == v).map(|a| a.quantity).sum();
                        proptest::prop_assert!(taken <= c.available[&v]);
                    }
                }
            } else {
                // Refused only when the total really falls short for some SKU.
                let short = [10i64, 11].iter().any(|v| demands.iter().filter(|d| d.variant_id == *v).map(|d| d.quantity).sum::<i64>() > cands.iter().map(|c| c.available[v]).sum::<i64>());
                proptest::prop_assert!(short);
            }
        }
    }
}
