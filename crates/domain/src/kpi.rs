//! KPI arithmetic that needs no storage: each function takes the facts and returns the figure, so
//! tests can compare it with a plain computation over the raw rows.

/// One order as the fulfillment-time KPI sees it (times in microseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shipment {
    pub placed_at: i64,
    /// The promised ship-by time.
    pub ship_by: Option<i64>,
    /// When its last unit shipped, if every unit has.
    pub shipped_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FulfillmentStats {
    pub orders: i64,
    pub shipped: i64,
    pub on_time: i64,
    pub late: i64,
    pub pending: i64,
    /// `on_time / (on_time + late)`.
    pub on_time_rate: Option<f64>,
    /// Placed to fully shipped, in hours.
    pub median_hours: Option<f64>,
    /// The 90th percentile by nearest rank.
    pub p90_hours: Option<f64>,
}

const HOUR: f64 = 3_600_000_000.0;

/// The median (mean of the two middle values for an even count) of sorted values.
pub fn median(sorted: &[i64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2] as f64),
        _ => Some((sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0),
    }
}

/// The p-th percentile of sorted values by nearest rank: the value at rank `ceil(p/100 * n)`.
pub fn percentile_nearest_rank(sorted: &[i64], p: u32) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    let rank = (u64::from(p) * n).div_ceil(100).max(1);
    Some(sorted[(rank - 1) as usize] as f64)
}

/// Fulfillment time and on-time rate: an order is on time when fully shipped by its ship-by
/// time; late when shipped after it, or not shipped and past it at `now`; pending otherwise.
/// Orders without a ship-by time count as on time once shipped.
pub fn fulfillment_stats(items: &[Shipment], now: i64) -> FulfillmentStats {
    let mut durations = Vec::new();
    let (mut on_time, mut late, mut pending) = (0, 0, 0);
    for s in items {
        match (s.shipped_at, s.ship_by) {
            (Some(at), by) => {
                durations.push(at - s.placed_at);
                if by.is_none_or(|b| at <= b) {
                    on_time += 1;
                } else {
                    late += 1;
                }
            }
            (None, Some(b)) if b < now => late += 1,
            (None, _) => pending += 1,
        }
    }
    durations.sort_unstable();
    FulfillmentStats {
        orders: items.len() as i64,
        shipped: durations.len() as i64,
        on_time,
        late,
        pending,
        on_time_rate: (on_time + late > 0).then(|| on_time as f64 / (on_time + late) as f64),
        median_hours: median(&durations).map(|d| d / HOUR),
        p90_hours: percentile_nearest_rank(&durations, 90).map(|d| d / HOUR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000;

    #[test]
    fn percentiles() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3]), Some(3.0));
        assert_eq!(median(&[1, 2, 3, 10]), Some(2.5));
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile_nearest_rank(&v, 90), Some(9.0));
        assert_eq!(percentile_nearest_rank(&v, 100), Some(10.0));
        assert_eq!(percentile_nearest_rank(&[5], 90), Some(5.0));
        let v: Vec<i64> = (1..=11).collect();
        assert_eq!(percentile_nearest_rank(&v, 90), Some(10.0));
    }

    #[test]
    fn on_time_late_and_pending() {
        let items = [
            Shipment {
                placed_at: 0,
                ship_by: Some(24 * H),
                shipped_at: Some(10 * H),
            },
            Shipment {
                placed_at: 0,
                ship_by: Some(24 * H),
                shipped_at: Some(30 * H),
            },
            Shipment {
                placed_at: 0,
                ship_by: Some(24 * H),
                shipped_at: None,
            },
            Shipment {
                placed_at: 0,
                ship_by: Some(100 * H),
                shipped_at: None,
            },
            Shipment {
                placed_at: 0,
                ship_by: Some(24 * H),
                shipped_at: Some(24 * H),
            },
        ];
        let s = fulfillment_stats(&items, 50 * H);
        assert_eq!(
            (s.orders, s.shipped, s.on_time, s.late, s.pending),
            (5, 3, 2, 2, 1)
        );
        assert_eq!(s.on_time_rate, Some(0.5));
        assert_eq!(s.median_hours, Some(24.0));
        assert_eq!(s.p90_hours, Some(30.0));
        let empty = fulfillment_stats(&[], 0);
        assert_eq!((empty.on_time_rate, empty.median_hours), (None, None));
    }
}
