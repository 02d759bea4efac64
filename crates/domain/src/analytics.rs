//! Storefront analytics rules of DOMAIN.md: event types, sessions, attribution, the calendar the
//! reports group by, and the KPI ratios. No I/O: callers pass events sorted and days already made
//! local to the store's time zone (days since 1970-01-01).

use serde::{Deserialize, Serialize};

/// A session ends after 30 minutes without an event (a gap of exactly 30 minutes starts a new one).
pub const SESSION_GAP_MICROS: i64 = 30 * 60 * 1_000_000;
pub const DAY_MICROS: i64 = 86_400 * 1_000_000;
/// The source of a session with no campaign and no outside referrer.
pub const DIRECT: &str = "(direct)";
pub const NONE: &str = "(none)";

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    PageView,
    ProductView,
    Search,
    AddToCart,
    RemoveFromCart,
    CheckoutStarted,
    Purchase,
}

pub const EVENT_TYPES: [EventType; 7] = [
    EventType::PageView,
    EventType::ProductView,
    EventType::Search,
    EventType::AddToCart,
    EventType::RemoveFromCart,
    EventType::CheckoutStarted,
    EventType::Purchase,
];

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PageView => "page_view",
            EventType::ProductView => "product_view",
            EventType::Search => "search",
            EventType::AddToCart => "add_to_cart",
            EventType::RemoveFromCart => "remove_from_cart",
            EventType::CheckoutStarted => "checkout_started",
            EventType::Purchase => "purchase",
        }
    }
    pub fn parse(s: &str) -> Option<EventType> {
        EVENT_TYPES.into_iter().find(|t| t.as_str() == s)
    }
    /// A page view or a product page view: what "one page view" of the bounce rate counts.
    pub fn is_page(self) -> bool {
        matches!(self, EventType::PageView | EventType::ProductView)
    }
}

/// One stored event, as sessions need it. `utm_*` and `referrer_host` are `None` when absent.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub seq: i64,
    pub ts: i64,
    pub kind: EventType,
    pub path: String,
    pub referrer_host: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub device: Option<String>,
    pub country: Option<String>,
}

/// Where a session came from: the UTM tags of its first event, else the outside site that referred
/// it, else direct.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    pub source: String,
    pub medium: String,
    pub campaign: String,
}

impl Source {
    pub fn of(hit: &Hit) -> Source {
        if let Some(s) = &hit.utm_source {
            Source {
                source: s.clone(),
                medium: hit.utm_medium.clone().unwrap_or_else(|| NONE.into()),
                campaign: hit.utm_campaign.clone().unwrap_or_else(|| NONE.into()),
            }
        } else if let Some(c) = &hit.utm_campaign {
            Source {
                source: NONE.into(),
                medium: hit.utm_medium.clone().unwrap_or_else(|| NONE.into()),
                campaign: c.clone(),
            }
        } else if let Some(r) = &hit.referrer_host {
            Source {
                source: r.clone(),
                medium: "referral".into(),
                campaign: NONE.into(),
            }
        } else {
            Source::direct()
        }
    }
    pub fn direct() -> Source {
        Source {
            source: DIRECT.into(),
            medium: NONE.into(),
            campaign: NONE.into(),
        }
    }
    pub fn is_direct(&self) -> bool {
        self.source == DIRECT
    }
}

/// One session: a visitor's events with no gap of 30 minutes or more, cut again where an event
/// carries a UTM campaign other than the session's.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub start_ts: i64,
    pub start_seq: i64,
    pub end_ts: i64,
    /// The sequence number of the last event, which orders events of the same instant.
    pub end_seq: i64,
    pub events: i64,
    pub page_views: i64,
    pub product_views: i64,
    pub carts: i64,
    pub checkouts: i64,
    pub purchases: i64,
    pub landing_path: String,
    pub source: Source,
    /// The UTM campaign the first event carried, if any: an event with another one starts a new
    /// session.
    pub utm_campaign: Option<String>,
    pub device: String,
    pub country: String,
}

impl Session {
    /// Exactly one page view and no other interaction.
    pub fn bounced(&self) -> bool {
        self.events == 1 && self.page_views == 1
    }
    pub fn duration(&self) -> i64 {
        self.end_ts - self.start_ts
    }
    fn start(hit: &Hit) -> Session {
        let mut s = Session {
            start_ts: hit.ts,
            start_seq: hit.seq,
            end_ts: hit.ts,
            end_seq: hit.seq,
            events: 0,
            page_views: 0,
            product_views: 0,
            carts: 0,
            checkouts: 0,
            purchases: 0,
            landing_path: hit.path.clone(),
            source: Source::of(hit),
            utm_campaign: hit.utm_campaign.clone(),
            device: hit.device.clone().unwrap_or_else(|| "unknown".into()),
            country: hit.country.clone().unwrap_or_else(|| "unknown".into()),
        };
        s.add(hit);
        s
    }
    fn add(&mut self, hit: &Hit) {
        self.end_ts = hit.ts;
        self.end_seq = hit.seq;
        self.events += 1;
        match hit.kind {
            EventType::PageView => self.page_views += 1,
            EventType::ProductView => {
                self.page_views += 1;
                self.product_views += 1
            }
            EventType::AddToCart => self.carts += 1,
            EventType::CheckoutStarted => self.checkouts += 1,
            EventType::Purchase => self.purchases += 1,
            EventType::Search | EventType::RemoveFromCart => {}
        }
    }
}

/// Splits one visitor's events, sorted by `(ts, seq)`, into sessions. Returns each session with the
/// index of its first event; a session's events run to the next session's first index.
pub fn sessionize(hits: &[Hit]) -> Vec<(Session, usize)> {
    sessionize_from(None, hits)
}

/// [`sessionize`], continuing the visitor's last session so far. Every hit must come after the
/// session's last event. The open session comes back first (with index 0) whether or not the
/// hits extended it.
pub fn sessionize_from(open: Option<Session>, hits: &[Hit]) -> Vec<(Session, usize)> {
    let mut out: Vec<(Session, usize)> = Vec::new();
    if let Some(s) = open {
        out.push((s, 0));
    }
    for (i, h) in hits.iter().enumerate() {
        let new = match out.last() {
            None => true,
            Some((s, _)) => {
                h.ts - s.end_ts >= SESSION_GAP_MICROS
                    || h.utm_campaign
                        .as_deref()
                        .is_some_and(|c| Some(c) != s.utm_campaign.as_deref())
            }
        };
        if new {
            out.push((Session::start(h), i));
        } else if let Some((s, _)) = out.last_mut() {
            s.add(h);
        }
    }
    out
}

/// The session a purchase at `ts` is credited to: the visitor's last non-direct session that
/// started within `window_micros` before it (inclusive), if any. `sessions` may be in any order.
pub fn attribute<S: AsRef<Source> + Starts>(
    ts: i64,
    window_micros: i64,
    sessions: &[S],
) -> Option<&S> {
    sessions
        .iter()
        .filter(|s| {
            let st = s.start_ts();
            st <= ts && st >= ts - window_micros && !s.as_ref().is_direct()
        })
        .max_by_key(|s| (s.start_ts(), s.start_seq()))
}

/// What [`attribute`] needs of a session.
pub trait Starts {
    fn start_ts(&self) -> i64;
    fn start_seq(&self) -> i64;
}

impl AsRef<Source> for Session {
    fn as_ref(&self) -> &Source {
        &self.source
    }
}
impl Starts for Session {
    fn start_ts(&self) -> i64 {
        self.start_ts
    }
    fn start_seq(&self) -> i64 {
        self.start_seq
    }
}

/// `num / den` as a decimal, or `None` when there is nothing to divide by.
pub fn ratio(num: i64, den: i64) -> Option<f64> {
    (den != 0).then(|| num as f64 / den as f64)
}

/// A money amount divided by a count, rounded half-to-even to the minor unit; `None` for 0.
pub fn per(amount: i64, count: i64) -> Option<i64> {
    (count != 0)
        .then(|| crate::money::div_round_half_even(i128::from(amount), i128::from(count)) as i64)
}

/// The grain of a time series.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grain {
    Day,
    Week,
    Month,
}

impl Grain {
    pub fn parse(s: &str) -> Option<Grain> {
        match s {
            "day" => Some(Grain::Day),
            "week" => Some(Grain::Week),
            "month" => Some(Grain::Month),
            _ => None,
        }
    }
    /// The first day of the bucket holding `day`: the day itself, its ISO week's Monday, or the
    /// first of its month.
    pub fn bucket(self, day: i32) -> i32 {
        match self {
            Grain::Day => day,
            // 1970-01-01 was a Thursday.
            Grain::Week => day - (day + 3).rem_euclid(7),
            Grain::Month => {
                let (y, m, _) = civil_from_days(day);
                days_from_civil(y, m, 1)
            }
        }
    }
}

/// The civil date `(year, month, day)` of a day number (days since 1970-01-01), proleptic
/// Gregorian (H. Hinnant's algorithm).
pub fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = i64::from(z) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

/// The day number of a civil date.
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = i64::from(if m <= 2 { y - 1 } else { y });
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as i32
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i32) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day number of `YYYY-MM-DD`.
pub fn parse_day(s: &str) -> Option<i32> {
    let mut it = s.split('-');
    let y: i32 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if it.next().is_some() || s.len() != 10 || !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let day = days_from_civil(y, m, d);
    (civil_from_days(day) == (y, m, d)).then_some(day)
}

/// The same period a year earlier: each end moved to the same date last year (29 February to
/// 28 February).
pub fn year_earlier(day: i32) -> i32 {
    let (y, m, d) = civil_from_days(day);
    let d = if m == 2 && d == 29 { 28 } else { d };
    days_from_civil(y - 1, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hit(seq: i64, min: i64, kind: EventType, campaign: Option<&str>) -> Hit {
        Hit {
            seq,
            ts: min * 60_000_000,
            kind,
            path: format!("/p{seq}"),
            referrer_host: None,
            utm_source: campaign.map(|_| "google".into()),
            utm_medium: campaign.map(|_| "cpc".into()),
            utm_campaign: campaign.map(String::from),
            device: None,
            country: None,
        }
    }

    #[test]
    fn sessions_split_on_gap_and_campaign() {
        use EventType::*;
        let hits = vec![
            hit(1, 0, PageView, None),
            hit(2, 29, ProductView, None),
            hit(3, 59, AddToCart, None), // 30 minutes after the last: new session
            hit(4, 60, PageView, Some("spring")), // a campaign: new session
            hit(5, 61, PageView, Some("spring")), // same campaign: same session
            hit(6, 62, Purchase, None),
            hit(7, 63, PageView, Some("autumn")),
        ];
        let s = sessionize(&hits);
        assert_eq!(
            s.iter().map(|(_, i)| *i).collect::<Vec<_>>(),
            vec![0, 2, 3, 6]
        );
        assert_eq!(s[0].0.page_views, 2);
        assert_eq!(s[0].0.duration(), 29 * 60_000_000);
        assert!(!s[0].0.bounced());
        assert_eq!(s[1].0.carts, 1);
        assert!(!s[1].0.bounced());
        assert_eq!(s[2].0.source.campaign, "spring");
        assert_eq!(s[2].0.purchases, 1);
        assert!(s[3].0.bounced());
        assert_eq!(s[0].0.source, Source::direct());
    }

    #[test]
    fn attribution_takes_last_non_direct_click_in_window() {
        use EventType::*;
        let hits = vec![
            hit(1, 0, PageView, Some("a")),
            hit(2, 100, PageView, Some("b")),
            hit(3, 200, PageView, None),
        ];
        let sessions: Vec<Session> = sessionize(&hits).into_iter().map(|s| s.0).collect();
        let at = |ts_min: i64, window_min: i64| {
            attribute(ts_min * 60_000_000, window_min * 60_000_000, &sessions)
                .map(|s| s.source.campaign.clone())
        };
        assert_eq!(at(201, 1000), Some("b".into()));
        assert_eq!(at(201, 101), Some("b".into()));
        assert_eq!(at(201, 100), None);
        assert_eq!(at(50, 1000), Some("a".into()));
    }

    #[test]
    fn calendar() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(
            parse_day("2024-02-29").map(format_day),
            Some("2024-02-29".into())
        );
        assert_eq!(parse_day("2023-02-29"), None);
        assert_eq!(parse_day("2023-2-01"), None);
        let d = parse_day("2026-11-25").unwrap_or_default(); // a Wednesday
        assert_eq!(format_day(Grain::Week.bucket(d)), "2026-11-23");
        assert_eq!(format_day(Grain::Month.bucket(d)), "2026-11-01");
        assert_eq!(
            format_day(year_earlier(parse_day("2024-02-29").unwrap_or_default())),
            "2023-02-28"
        );
        assert_eq!(per(5, 2), Some(2));
        assert_eq!(per(7, 2), Some(4));
        assert_eq!(per(7, 0), None);
        assert_eq!(ratio(1, 4), Some(0.25));
    }

    /// Hits from (minutes since the last, campaign choice, event type) triples.
    fn generated(gaps: &[(i64, u8, u8)]) -> Vec<Hit> {
        let mut t = 0;
        gaps.iter()
            .enumerate()
            .map(|(i, (g, c, k))| {
                t += g;
                let campaign = match c {
                    0 => Some("x"),
                    1 => Some("y"),
                    _ => None,
                };
                hit(i as i64, t, EVENT_TYPES[*k as usize], campaign)
            })
            .collect()
    }

    proptest! {
        /// Sessionizing a prefix, then continuing from its last session with the rest, gives
        /// the same sessions as sessionizing everything at once.
        #[test]
        fn resuming_matches(gaps in proptest::collection::vec((0i64..70, 0u8..4, 0u8..7), 2..40), cut in 1usize..39) {
            let hits = generated(&gaps);
            let cut = cut.min(hits.len() - 1);
            let all: Vec<Session> = sessionize(&hits).into_iter().map(|s| s.0).collect();
            let head = sessionize(&hits[..cut]);
            let (last, _) = head.last().cloned().unwrap_or_else(|| unreachable!());
            let mut resumed: Vec<Session> = head[..head.len() - 1].iter().map(|s| s.0.clone()).collect();
            resumed.extend(sessionize_from(Some(last), &hits[cut..]).into_iter().map(|s| s.0));
            prop_assert_eq!(resumed, all);
        }

        #[test]
        fn civil_round_trip(day in -1_000_000i32..1_000_000) {
            let (y, m, d) = civil_from_days(day);
            prop_assert_eq!(days_from_civil(y, m, d), day);
            prop_assert!(Grain::Week.bucket(day) <= day && day - Grain::Week.bucket(day) < 7);
        }

        /// Sessionizing any suffix that starts at a session boundary gives the same sessions as
        /// the whole list: what lets the refresher recompute only a visitor's latest sessions.
        #[test]
        fn sessions_from_a_boundary_match(gaps in proptest::collection::vec((0i64..70, 0u8..4, 0u8..7), 1..40)) {
            let hits = generated(&gaps);
            let all = sessionize(&hits);
            for (k, (_, start)) in all.iter().enumerate() {
                let tail = sessionize(&hits[*start..]);
                prop_assert_eq!(tail.len(), all.len() - k);
                for (a, b) in tail.iter().zip(&all[k..]) {
                    prop_assert_eq!(&a.0, &b.0);
                }
            }
        }
    }
}
