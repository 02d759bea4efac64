//! Business hours: how many working minutes lie between two instants, and when a number of
//! working minutes after an instant runs out, under a calendar (weekly working hours in local
//! wall-clock time, holidays, a time zone) or in calendar hours. Service-level targets and the
//! support KPIs count time with it; the clock stops while a ticket waits on the customer (the
//! caller passes only the segments it runs).
//!
//! Time is counted in whole minutes since 1970-01-01 UTC. The zone enters only through an offset
//! function (local = UTC + offset, in minutes), so the rules here know no time-zone database: a
//! minute is working when its local wall-clock time falls in that weekday's hours on a day that
//! is not a holiday. Across a daylight-saving change that means what a wall clock says: an hour
//! that repeats counts twice when it falls in working hours, one that is skipped does not count.

use crate::Invalid;
use std::collections::BTreeSet;

const DAY: i64 = 1440;

/// Weekly working hours and holidays, in local time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hours {
    /// Per weekday (0 = Monday ... 6 = Sunday), sorted, disjoint intervals of minutes since
    /// local midnight, `[start, end)` with `end` at most 1440.
    pub week: [Vec<(i64, i64)>; 7],
    /// Local days off (days since 1970-01-01).
    pub holidays: BTreeSet<i64>,
}

impl Hours {
    /// Checks and normalizes intervals: within a day, start before end, sorted; overlapping or
    /// touching intervals merge.
    pub fn new(week: [Vec<(i64, i64)>; 7], holidays: BTreeSet<i64>) -> Result<Hours, Invalid> {
        let mut out: [Vec<(i64, i64)>; 7] = Default::default();
        for (d, intervals) in week.into_iter().enumerate() {
            let mut v = intervals;
            for (s, e) in &v {
                if !(0..DAY).contains(s) || *e > DAY || s >= e {
                    return Err(Invalid::new(
                        format!("week[{d}]"),
                        "each interval is a start before an end within the day (00:00 to 24:00)",
                    ));
                }
            }
            v.sort_unstable();
            for (s, e) in v {
                match out[d].last_mut() {
                    Some(last) if s <= last.1 => last.1 = last.1.max(e),
                    _ => out[d].push((s, e)),
                }
            }
        }
        if out.iter().all(Vec::is_empty) {
            return Err(Invalid::new("week", "must have some working hours"));
        }
        Ok(Hours {
            week: out,
            holidays,
        })
    }

    /// Monday to Friday, `start` to `end` (minutes since midnight).
    pub fn weekdays(start: i64, end: i64) -> Result<Hours, Invalid> {
        let mut week: [Vec<(i64, i64)>; 7] = Default::default();
        for d in week.iter_mut().take(5) {
            d.push((start, end));
        }
        Hours::new(week, BTreeSet::new())
    }
}

/// The weekday of a local day (0 = Monday): 1970-01-01 was a Thursday.
pub fn weekday(day: i64) -> usize {
    (day + 3).rem_euclid(7) as usize
}

/// How time is counted: every minute, or the working minutes of some hours in a zone whose
/// offset at each UTC minute `offset` gives.
pub enum Clock<'a> {
    Calendar,
    Business {
        hours: &'a Hours,
        offset: &'a dyn Fn(i64) -> i64,
    },
}

/// The UTC minutes from `t` on over which the offset stays what it is at `t`, up to `limit`:
/// offsets change rarely, so whole days are probed and a change is found by bisection.
fn same_offset_until(offset: &dyn Fn(i64) -> i64, t: i64, limit: i64) -> i64 {
    let o = offset(t);
    let mut lo = t;
    let mut hi = t;
    while hi < limit {
        let probe = (hi + DAY).min(limit);
        if offset(probe) != o {
            hi = probe;
            // offset(lo) == o, offset(hi) != o: the change is in (lo, hi].
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if offset(mid) == o {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            return hi;
        }
        lo = probe;
        hi = probe;
    }
    limit
}

/// Calls `f(from, to)` with each run of working UTC minutes in `[a, b)`, in order; stops when
/// `f` says so.
fn working_runs(
    hours: &Hours,
    offset: &dyn Fn(i64) -> i64,
    a: i64,
    b: i64,
    mut f: impl FnMut(i64, i64) -> bool,
) {
    let mut t = a;
    while t < b {
        let end = same_offset_until(offset, t, b);
        let off = offset(t);
        // In [t, end) local time is UTC + off.
        let (l0, l1) = (t + off, end + off);
        let mut day = l0.div_euclid(DAY);
        while day * DAY < l1 {
            if !hours.holidays.contains(&day) {
                for (s, e) in &hours.week[weekday(day)] {
                    let (from, to) = ((day * DAY + s).max(l0), (day * DAY + e).min(l1));
                    if from < to && !f(from - off, to - off) {
                        return;
                    }
                }
            }
            day += 1;
        }
        t = end;
    }
}

/// The minutes of `[a, b)` that count under `clock`.
pub fn between(clock: &Clock, a: i64, b: i64) -> i64 {
    if a >= b {
        return 0;
    }
    match clock {
        Clock::Calendar => b - a,
        Clock::Business { hours, offset } => {
            let mut sum = 0;
            working_runs(hours, *offset, a, b, |from, to| {
                sum += to - from;
                true
            });
            sum
        }
    }
}

/// The instant at which `minutes` counted minutes have passed since `start`: the end of the
/// minute that completes them. `None` if they do not pass within `horizon` minutes (hours that
/// never come).
pub fn after(clock: &Clock, start: i64, minutes: i64, horizon: i64) -> Option<i64> {
    if minutes <= 0 {
        return Some(start);
    }
    match clock {
        Clock::Calendar => Some(start + minutes),
        Clock::Business { hours, offset } => {
            let (mut left, mut due) = (minutes, None);
            working_runs(hours, *offset, start, start + horizon, |from, to| {
                if to - from >= left {
                    due = Some(from + left);
                    false
                } else {
                    left -= to - from;
                    true
                }
            });
            due
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A Paris-like zone: UTC+1, UTC+2 from the last Sunday of March 01:00 UTC to the last
    /// Sunday of October 01:00 UTC (2026: March 29 and October 25).
    fn paris(t: i64) -> i64 {
        let spring = (crate::analytics::days_from_civil(2026, 3, 29) as i64) * DAY + 60;
        let autumn = (crate::analytics::days_from_civil(2026, 10, 25) as i64) * DAY + 60;
        if (spring..autumn).contains(&t) {
            120
        } else {
            60
        }
    }

    /// The plain definition: a minute counts when its local wall-clock time is in its weekday's
    /// hours on a day that is not a holiday.
    fn working_minute(hours: &Hours, offset: &dyn Fn(i64) -> i64, m: i64) -> bool {
        let local = m + offset(m);
        let (day, minute) = (local.div_euclid(DAY), local.rem_euclid(DAY));
        !hours.holidays.contains(&day)
            && hours.week[weekday(day)]
                .iter()
                .any(|(s, e)| (*s..*e).contains(&minute))
    }

    fn day(y: i32, m: u32, d: u32) -> i64 {
        crate::analytics::days_from_civil(y, m, d) as i64
    }

    #[test]
    fn a_working_week_across_a_weekend_and_a_holiday() {
        let mut h = Hours::weekdays(9 * 60, 17 * 60).unwrap();
        // Friday 2026-12-04 16:00 Paris (15:00 UTC) to Tuesday 2026-12-08 10:00 Paris.
        let a = day(2026, 12, 4) * DAY + 15 * 60;
        let b = day(2026, 12, 8) * DAY + 9 * 60;
        let clock = Clock::Business {
            hours: &h,
            offset: &paris,
        };
        // 1 h on Friday, 8 h on Monday, 1 h on Tuesday.
        assert_eq!(between(&clock, a, b), 10 * 60);
        h.holidays.insert(day(2026, 12, 7));
        let clock = Clock::Business {
            hours: &h,
            offset: &paris,
        };
        assert_eq!(between(&clock, a, b), 2 * 60);
        // Four working hours after Friday 16:00, with Monday off: Tuesday 12:00 Paris.
        assert_eq!(
            after(&clock, a, 4 * 60, 30 * DAY),
            Some(day(2026, 12, 8) * DAY + 11 * 60)
        );
        assert_eq!(between(&Clock::Calendar, a, b), b - a);
    }

    #[test]
    fn round_the_clock_hours_follow_the_wall_clock_across_daylight_saving() {
        let mut week: [Vec<(i64, i64)>; 7] = Default::default();
        for d in &mut week {
            d.push((0, DAY));
        }
        let h = Hours::new(week, BTreeSet::new()).unwrap();
        let clock = Clock::Business {
            hours: &h,
            offset: &paris,
        };
        // The local day of the autumn change has 25 hours, the spring one 23.
        let autumn = day(2026, 10, 25);
        let start = autumn * DAY - 120; // local midnight, UTC+2
        let end = (autumn + 1) * DAY - 60; // the next local midnight, UTC+1
        assert_eq!(between(&clock, start, end), 25 * 60);
        let spring = day(2026, 3, 29);
        assert_eq!(
            between(&clock, spring * DAY - 60, (spring + 1) * DAY - 120),
            23 * 60
        );
    }

    #[test]
    fn hours_are_checked() {
        assert!(Hours::weekdays(17 * 60, 9 * 60).is_err());
        assert!(Hours::new(Default::default(), BTreeSet::new()).is_err());
        let mut week: [Vec<(i64, i64)>; 7] = Default::default();
        week[0] = vec![(600, 720), (540, 660), (780, 1020)];
        let h = Hours::new(week, BTreeSet::new()).unwrap();
        assert_eq!(h.week[0], vec![(540, 720), (780, 1020)]);
    }

    /// Weekly hours (up to three intervals a day) and holidays among the 8 days from `start`.
    fn hours_strategy() -> impl Strategy<Value = ([Vec<(i64, i64)>; 7], BTreeSet<i64>)> {
        let day = prop::collection::vec((0i64..DAY, 1i64..600), 0..3);
        (
            prop::array::uniform7(day),
            prop::collection::btree_set(0i64..8, 0..3),
        )
            .prop_map(|(week, holidays)| {
                let week = week.map(|d| {
                    d.into_iter()
                        .map(|(s, len)| (s, (s + len).min(DAY)))
                        .collect()
                });
                (week, holidays)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Working minutes and due times agree with a minute-by-minute loop, across weekends,
        /// holidays and both daylight-saving changes of a Paris-like zone.
        #[test]
        fn business_time_is_the_minute_by_minute_count(
            (week, off_days) in hours_strategy(),
            start in prop::sample::select(vec![day(2026, 3, 25), day(2026, 10, 21), day(2026, 12, 20)]),
            a_off in 0i64..(6 * DAY),
            len in 0i64..(5 * DAY),
            need in 1i64..(3 * 600),
        ) {
            let Ok(hours) = Hours::new(week, off_days.iter().map(|d| start + d).collect()) else {
                return Ok(());
            };
            let a = start * DAY + a_off;
            let b = a + len;
            let clock = Clock::Business { hours: &hours, offset: &paris };
            let plain = (a..b).filter(|m| working_minute(&hours, &paris, *m)).count() as i64;
            prop_assert_eq!(between(&clock, a, b), plain);
            // The due time: the end of the minute that completes `need` working minutes.
            let mut count = 0;
            let mut want = None;
            for m in a..a + 40 * DAY {
                if working_minute(&hours, &paris, m) {
                    count += 1;
                    if count == need {
                        want = Some(m + 1);
                        break;
                    }
                }
            }
            prop_assert_eq!(after(&clock, a, need, 40 * DAY), want);
        }
    }
}
