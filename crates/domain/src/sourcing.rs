//! Sourcing: which location fulfils each order line, and why.
//!
//! The rule here is *location priority, fewest shipments first*: if one location (taken in priority
//! order) can serve every line, it serves them all; otherwise each line is taken from locations in
//! priority order, split where one location is short. A `continue` variant whose stock runs out is
//! backordered at the first location; a `deny` variant is refused, naming what is available.

use std::collections::HashMap;

/// One order line's need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Demand {
    pub variant_id: i64,
    pub sku: String,
    pub quantity: i64,
    /// True for `continue` variants.
    pub allow_backorder: bool,
}

/// A location the channel sells from, with what it has available to that channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub location_id: i64,
    pub name: String,
    pub priority: i64,
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

/// Sources `demands` from `candidates` by priority, preferring a single location.
pub fn source_by_priority(
    demands: &[Demand],
    candidates: &[Candidate],
) -> Result<Decision, SourcingError> {
    if candidates.is_empty() {
        return Err(SourcingError::NoLocations);
    }
    let mut order: Vec<&Candidate> = candidates.iter().collect();
    order.sort_by_key(|c| (c.priority, c.location_id));

    // Total need per variant: two lines of one SKU draw on the same stock.
    let mut need: HashMap<i64, i64> = HashMap::new();
    for d in demands {
        *need.entry(d.variant_id).or_default() += d.quantity;
    }

    if let Some(c) = order.iter().find(|c| {
        need.iter()
            .all(|(v, q)| c.available.get(v).copied().unwrap_or(0) >= *q)
    }) {
        let allocations = demands
            .iter()
            .enumerate()
            .map(|(i, d)| Allocation {
                line_index: i,
                location_id: c.location_id,
                quantity: d.quantity,
                backordered: 0,
            })
            .collect();
        return Ok(Decision {
            strategy: "priority",
            reason: format!(
                "{} (priority {}) is the first location by priority that holds every line",
                c.name, c.priority
            ),
            allocations,
        });
    }

    let mut left: Vec<HashMap<i64, i64>> = order.iter().map(|c| c.available.clone()).collect();
    let mut allocations = Vec::new();
    let mut notes = Vec::new();
    for (i, d) in demands.iter().enumerate() {
        let mut remaining = d.quantity;
        let mut parts = Vec::new();
        for (k, c) in order.iter().enumerate() {
            if remaining == 0 {
                break;
            }
            let avail = left[k].get(&d.variant_id).copied().unwrap_or(0).max(0);
            let take = avail.min(remaining);
            if take > 0 {
                left[k].insert(d.variant_id, avail - take);
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
            if d.allow_backorder {
                let first = order[0];
                allocations.push(Allocation {
                    line_index: i,
                    location_id: first.location_id,
                    quantity: remaining,
                    backordered: remaining,
                });
                parts.push(format!("{remaining} backordered at {}", first.name));
            } else {
                let available: i64 = candidates
                    .iter()
                    .map(|c| c.available.get(&d.variant_id).copied().unwrap_or(0).max(0))
                    .sum();
                return Err(SourcingError::Insufficient {
                    line_index: i,
                    sku: d.sku.clone(),
                    requested: need.get(&d.variant_id).copied().unwrap_or(d.quantity),
                    available,
                });
            }
        }
        notes.push(format!("{}: {}", d.sku, parts.join(", ")));
    }
    Ok(Decision {
        strategy: "priority",
        reason: format!(
            "no single location holds every line; split by priority ({})",
            notes.join("; ")
        ),
        allocations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: i64, prio: i64, stock: &[(i64, i64)]) -> Candidate {
        Candidate {
            location_id: id,
            name: format!("L{id}"),
            priority: prio,
            available: stock.iter().copied().collect(),
        }
    }
    fn dem(v: i64, q: i64, back: bool) -> Demand {
        Demand {
            variant_id: v,
            sku: format!("S{v}"),
            quantity: q,
            allow_backorder: back,
        }
    }

    #[test]
    fn single_location_preferred_even_if_lower_priority() {
        let c = [cand(1, 1, &[(10, 5)]), cand(2, 2, &[(10, 5), (11, 5)])];
        let d = source_by_priority(&[dem(10, 2, false), dem(11, 1, false)], &c).unwrap();
        assert!(d.allocations.iter().all(|a| a.location_id == 2));
        assert!(d.reason.contains("L2"));
    }

    #[test]
    fn priority_wins_ties() {
        let c = [cand(2, 5, &[(10, 5)]), cand(1, 1, &[(10, 5)])];
        let d = source_by_priority(&[dem(10, 2, false)], &c).unwrap();
        assert_eq!(d.allocations[0].location_id, 1);
    }

    #[test]
    fn splits_and_refuses() {
        let c = [cand(1, 1, &[(10, 3)]), cand(2, 2, &[(10, 4)])];
        let d = source_by_priority(&[dem(10, 6, false)], &c).unwrap();
        assert_eq!(d.allocations.len(), 2);
        assert_eq!(d.allocations[0].quantity, 3);
        assert_eq!(d.allocations[1].quantity, 3);
        let e = source_by_priority(&[dem(10, 8, false)], &c).unwrap_err();
        assert_eq!(
            e,
            SourcingError::Insufficient {
                line_index: 0,
                sku: "S10".into(),
                requested: 8,
                available: 7
            }
        );
    }

    #[test]
    fn two_lines_of_one_sku_share_stock() {
        let c = [cand(1, 1, &[(10, 3)])];
        assert!(source_by_priority(&[dem(10, 2, false), dem(10, 1, false)], &c).is_ok());
        let e = source_by_priority(&[dem(10, 2, false), dem(10, 2, false)], &c).unwrap_err();
        assert!(matches!(
            e,
            SourcingError::Insufficient {
                line_index: 1,
                requested: 4,
                available: 3,
                ..
            }
        ));
    }

    #[test]
    fn backorder() {
        let c = [cand(1, 1, &[(10, 1)]), cand(2, 2, &[])];
        let d = source_by_priority(&[dem(10, 3, true)], &c).unwrap();
        assert_eq!(d.allocations.iter().map(|a| a.quantity).sum::<i64>(), 3);
        assert_eq!(d.allocations.iter().map(|a| a.backordered).sum::<i64>(), 2);
        assert_eq!(
            source_by_priority(&[dem(10, 1, false)], &[]),
            Err(SourcingError::NoLocations)
        );
    }
}
