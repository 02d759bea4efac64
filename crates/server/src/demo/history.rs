//! The demo's 90 days of orders, lived through in time order. Each order is placed, paid, held,
//! shipped, delivered, returned, received and refunded by the service functions the API calls,
//! each step as the person who does it and at the moment it happens (a `Ctx` whose `now` is that
//! moment). Steps due after now do not happen: what is left when the clock reaches now is the
//! shop's open work (orders to ship, pickups waiting, returns on their way, orders on hold).
//!
//! The rhythm is a shop's: the warehouses ship Monday to Friday and the boutique Tuesday to
//! Saturday, each with a daily cutoff and some backlog (the East warehouse and the boutique more
//! than the main warehouse), so weekend orders wait until Monday; staff ship what is due first, so
//! an order misses its ship-by time only when it waits for something (payment, a hold, stock).
//! The carrier delivers Monday to Saturday. Customers send back a fifth to nearly half of what
//! must fit (dresses most) and few accessories, wrong sizes above all; returns are received,
//! mostly restocked, and refunded within days; a few wrong sizes are exchanged.
//!
//! A few things are set up so that now always shows them: two orders wait for a backordered
//! T-shirt (the older one past its ship-by time), three recent orders are on hold for review, and
//! three pickups wait for their customers.

use super::{CITIES, DAY, Rng, TYPES, e};
use anyhow::Result;
use backroom_core::analytics::Zone;
use backroom_core::api::{
    Address, CancelOrder, CustomerInput, EditOrder, HoldOrder, LineQuantity, NewReturn,
    NewReturnLine, PickedUp, PlaceOrder, ReceiveReturn, ReceiveStock, ReceivedLine, RecordPayment,
    RefundLine, RefundOrder, ShipOrder, SkuQuantity,
};
use backroom_core::{Actor, Ctx, Db, Sql, fulfillment, inventory, orders, returns};
use backroom_domain::roles::Role;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;

const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;
/// The channels' promise: every order ships within three days (`handling_hours`).
pub const HANDLING_HOURS: i64 = 72;
/// Click and collect: five days to collect an order (`pickup_hold_hours` of the online store).
pub const PICKUP_HOLD_HOURS: i64 = 120;
/// Steps per unit of work.
const STEPS_PER_WRITE: usize = 4000;

/// Local days of the store's time zone, from the first day of the history to well after now.
struct Cal {
    /// The local day number (days since 1970-01-01) of index 0.
    first: i32,
    midnights: Vec<i64>,
}

impl Cal {
    fn new(zone: &Zone, from: i64, to: i64) -> Cal {
        let first = zone.day_of(from);
        let last = zone.day_of(to) + 60;
        Cal {
            first,
            midnights: (first..=last).map(|d| zone.start_of(d)).collect(),
        }
    }
    fn day(&self, t: i64) -> usize {
        self.midnights
            .partition_point(|m| *m <= t)
            .saturating_sub(1)
    }
    fn midnight(&self, d: usize) -> i64 {
        match self.midnights.get(d) {
            Some(m) => *m,
            None => {
                self.midnights.last().copied().unwrap_or(0)
                    + (d + 1 - self.midnights.len()) as i64 * DAY
            }
        }
    }
    fn minute(&self, t: i64) -> i64 {
        (t - self.midnight(self.day(t))) / MINUTE
    }
    fn at(&self, d: usize, minute: i64) -> i64 {
        self.midnight(d) + minute * MINUTE
    }
    /// 0 is Monday, 6 Sunday.
    fn weekday(&self, d: usize) -> usize {
        (i64::from(self.first) + d as i64 + 3).rem_euclid(7) as usize
    }
}

/// Who works when: the days of the week (Monday first), opening hours in minutes after local
/// midnight, the cutoff for same-day work, and the chance in 100 that work waits one or two more
/// working days.
#[derive(Clone, Copy)]
struct Shift {
    days: [bool; 7],
    open: i64,
    close: i64,
    cutoff: i64,
    backlog: [u64; 2],
}

const MON_FRI: [bool; 7] = [true, true, true, true, true, false, false];
const TUE_SAT: [bool; 7] = [false, true, true, true, true, true, false];
const MON_SAT: [bool; 7] = [true, true, true, true, true, true, false];
const MAIN_WH: Shift = Shift {
    days: MON_FRI,
    open: 8 * 60,
    close: 17 * 60 + 30,
    cutoff: 13 * 60,
    backlog: [22, 6],
};
const EAST_WH: Shift = Shift {
    days: MON_FRI,
    open: 8 * 60,
    close: 16 * 60 + 30,
    cutoff: 11 * 60,
    backlog: [40, 15],
};
const BOUTIQUE: Shift = Shift {
    days: TUE_SAT,
    open: 10 * 60,
    close: 19 * 60,
    cutoff: 12 * 60,
    backlog: [40, 15],
};
const SUPPORT: Shift = Shift {
    days: MON_SAT,
    open: 9 * 60,
    close: 18 * 60,
    cutoff: 17 * 60,
    backlog: [0, 0],
};
const CARRIER: Shift = Shift {
    days: MON_SAT,
    open: 9 * 60,
    close: 19 * 60,
    cutoff: 19 * 60,
    backlog: [0, 0],
};

impl Shift {
    fn works(&self, cal: &Cal, d: usize) -> bool {
        self.days[cal.weekday(d)]
    }
    fn next_day(&self, cal: &Cal, d: usize) -> usize {
        let mut d = d + 1;
        while !self.works(cal, d) {
            d += 1;
        }
        d
    }
    /// The working day that takes work arriving at `t`: that day when it arrives before the
    /// cutoff, else the next working day; then `skip` working days more.
    fn day_for(&self, cal: &Cal, t: i64, cutoff: i64, skip: u64) -> usize {
        let mut d = cal.day(t);
        if !(self.works(cal, d) && cal.minute(t) < cutoff) {
            d = self.next_day(cal, d);
        }
        for _ in 0..skip {
            d = self.next_day(cal, d);
        }
        d
    }
    /// A moment of day `d`'s working hours at least `gap` minutes after `t`, and before
    /// `until` minutes when given.
    fn moment(
        &self,
        cal: &Cal,
        d: usize,
        t: i64,
        gap: i64,
        until: Option<i64>,
        rng: &mut Rng,
    ) -> i64 {
        let lo = if cal.day(t) == d {
            (cal.minute(t) + gap).max(self.open)
        } else {
            self.open + 15
        };
        let hi = until.unwrap_or(self.close).min(self.close).max(lo + 1);
        cal.at(d, rng.range(lo, hi))
    }
    /// The first working moment after `t` (plus `gap` minutes), within the day's hours.
    fn next(&self, cal: &Cal, t: i64, gap: i64, rng: &mut Rng) -> i64 {
        let t = t + gap * MINUTE;
        let d = self.day_for(cal, t, self.close - 30, 0);
        self.moment(cal, d, t, 0, None, rng)
    }
}

/// When a location ships units that became shippable at `ready`: its cutoff, its backlog, and
/// what is due first (backlog never pushes an order past its ship-by time).
fn ship_time(
    cal: &Cal,
    shift: &Shift,
    ready: i64,
    ship_by: i64,
    express: bool,
    rng: &mut Rng,
) -> i64 {
    let cutoff = if express {
        shift.cutoff + 120
    } else {
        shift.cutoff
    };
    let roll = rng.range(0, 100) as u64;
    let mut skip = if express {
        0
    } else if roll < shift.backlog[1] {
        2
    } else if roll < shift.backlog[0] + shift.backlog[1] {
        1
    } else {
        0
    };
    let due = ship_by - 30 * MINUTE;
    loop {
        let d = shift.day_for(cal, ready, cutoff, skip);
        let t = shift.moment(cal, d, ready, 40, None, rng);
        if t <= due {
            return t;
        }
        if skip == 0 {
            // Late unless the day's work can still meet the ship-by time.
            if cal.day(due) == d {
                let t = shift.moment(cal, d, ready, 40, Some(cal.minute(due)), rng);
                if t <= due {
                    return t;
                }
            }
            return t;
        }
        skip -= 1;
    }
}

/// When the carrier delivers a parcel handed over at `shipped`.
fn delivery_time(cal: &Cal, shipped: i64, express: bool, abroad: bool, rng: &mut Rng) -> i64 {
    let days = if express {
        1
    } else {
        match rng.range(0, 100) {
            0..=34 => 1,
            35..=79 => 2,
            _ => 3,
        }
    } + usize::from(abroad);
    let mut d = cal.day(shipped);
    for _ in 0..days {
        d = CARRIER.next_day(cal, d);
    }
    CARRIER.moment(cal, d, shipped, 0, None, rng)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pay {
    /// Captured at checkout.
    Card,
    /// Authorized at checkout, captured when the order ships (or is collected).
    Authorized,
    /// A bank transfer: paid some hours later, or never (then cancelled).
    Transfer,
}

/// One order as the plan has it, before anything happens.
struct Planned {
    at: i64,
    customer: usize,
    lines: Vec<SkuQuantity>,
    /// Units that will come back: (line index, units, reason).
    back: Vec<(usize, i64, &'static str)>,
    /// The wrong sizes come back as an exchange for the next size.
    exchange: bool,
    channel: &'static str,
    city: usize,
    express: bool,
    pickup: bool,
    pay: Pay,
    /// A bank transfer arrives this long after placement; never when `None`.
    transfer_after: Option<i64>,
    /// The customer cancels this long after placement.
    cancel_after: Option<i64>,
    edit: bool,
    hold: Option<&'static str>,
    /// The hold is still under review now.
    hold_open: bool,
    /// Waits for a supplier delivery that has not come yet.
    waits_for_supplier: bool,
    /// Click and collect: the customer has not come yet.
    collect_late: bool,
    seed: u64,
}

/// Customer email, first and last name.
pub type Customer = (String, String, String);

/// What the seeder knows of a SKU: its product type (an index in `TYPES`), the next size of the
/// same colour (for exchanges), and whether it is for sale.
pub struct SkuInfo {
    pub kind: usize,
    pub sibling: Option<String>,
    /// Its product is active (drafts are not for sale).
    pub active: bool,
}

/// Reasons for returning sized items and accessories, with weights.
const SIZED_REASONS: &[(&str, u64)] = &[
    ("wrong_size", 52),
    ("changed_mind", 18),
    ("not_as_described", 12),
    ("damaged", 6),
    ("defective", 5),
    ("wrong_item", 4),
    ("late", 3),
];
const OTHER_REASONS: &[(&str, u64)] = &[
    ("changed_mind", 45),
    ("not_as_described", 22),
    ("damaged", 15),
    ("defective", 12),
    ("wrong_item", 6),
];

fn weighted<T: Copy>(rng: &mut Rng, xs: &[(T, u64)]) -> T {
    let total: u64 = xs.iter().map(|x| x.1).sum();
    let mut roll = rng.next() % total.max(1);
    for (x, w) in xs {
        if roll < *w {
            return *x;
        }
        roll -= w;
    }
    xs[xs.len() - 1].0
}

/// Orders placed in each hour of the day (local time), relative weights.
const HOURS: [u64; 24] = [
    1, 1, 0, 0, 0, 0, 1, 2, 4, 5, 6, 6, 7, 6, 6, 6, 6, 6, 7, 8, 9, 9, 7, 4,
];

/// Plans 90 days of orders: more at weekends and in the evening, a fifth of the customers
/// placing most of them.
#[allow(clippy::too_many_arguments)]
fn plan(
    rng: &mut Rng,
    cal: &Cal,
    start: i64,
    now: i64,
    sellable: &[&(String, i64)],
    info: &HashMap<String, SkuInfo>,
    backordered_sku: &str,
) -> Vec<Planned> {
    let mut plan = Vec::new();
    let hours: Vec<(i64, u64)> = HOURS
        .iter()
        .enumerate()
        .map(|(h, w)| (h as i64, *w))
        .collect();
    for d in cal.day(start)..=cal.day(now) {
        let n = match cal.weekday(d) {
            4 => 44,
            5 => 56,
            6 => 54,
            _ => 40,
        } + rng.range(0, 14);
        for _ in 0..n {
            if let Some(p) = plan_order(rng, cal, d, &hours, start, now, sellable, info) {
                plan.push(p);
            }
        }
    }
    // Now: two orders wait on a T-shirt the supplier has not delivered (the older one past its
    // ship-by time), and three recent orders are on hold for review.
    let today = cal.day(now);
    plan.extend(waiting_for_supplier(cal, today, backordered_sku));
    plan.sort_by_key(|p| p.at);
    leave_pickups_waiting(&mut plan, cal, today, now);
    hold_for_review(&mut plan, now);
    plan
}

/// One order of day `d`, drawn whole; `None` when it falls outside the history.
#[allow(clippy::too_many_arguments)]
fn plan_order(
    rng: &mut Rng,
    cal: &Cal,
    d: usize,
    hours: &[(i64, u64)],
    start: i64,
    now: i64,
    sellable: &[&(String, i64)],
    info: &HashMap<String, SkuInfo>,
) -> Option<Planned> {
    let minute = weighted(rng, hours) * 60 + rng.range(0, 60);
    let at = cal.at(d, minute) + rng.range(0, 60) * 1_000_000;
    let customer = if rng.chance(60) {
        rng.range(0, 1000)
    } else {
        rng.range(0, 5000)
    } as usize;
    let mut lines: Vec<SkuQuantity> = Vec::new();
    for _ in 0..rng.range(1, 4) {
        let sku = rng.pick(sellable).0.clone();
        let quantity = if rng.chance(80) { 1 } else { 2 };
        match lines.iter_mut().find(|l| l.sku == sku) {
            Some(l) => l.quantity += quantity,
            None => lines.push(SkuQuantity { sku, quantity }),
        }
    }
    let channel = match rng.range(0, 10) {
        0..=5 => "online",
        6..=7 => "marketplace",
        _ => "boutique",
    };
    let express = channel != "boutique" && rng.chance(20);
    // One online order in eight is click and collect at the boutique.
    let pickup = channel == "online" && !express && rng.chance(14);
    let pay = match (channel, rng.range(0, 100)) {
        ("boutique", _) => Pay::Card,
        (_, 0..=75) => Pay::Card,
        (_, 76..=92) => Pay::Authorized,
        _ if pickup => Pay::Card,
        _ => Pay::Transfer,
    };
    let transfer_after = match rng.range(0, 100) {
        0..=59 => Some(rng.range(2 * 60, 20 * 60) * MINUTE),
        60..=84 => Some(rng.range(20 * 60, 44 * 60) * MINUTE),
        _ => None,
    };
    let cancel_after = rng.chance(3).then(|| rng.range(10, 180) * MINUTE);
    let edit = pay == Pay::Transfer && rng.chance(30);
    let hold = (!pickup && rng.chance(2))
        .then(|| *rng.pick(&["fraud_review", "address_problem", "payment_issue"]));
    let (mut back, exchange) = returns_of(rng, &lines, info);
    // The boutique's customers mostly live in Paris.
    let city = if channel == "boutique" && rng.chance(75) {
        0
    } else {
        rng.range(0, CITIES.len() as i64) as usize
    };
    let seed = rng.next();
    if at < start || at >= now {
        return None;
    }
    if cancel_after.is_some() {
        back.clear();
    }
    Some(Planned {
        at,
        customer,
        lines,
        back,
        exchange,
        channel,
        city,
        express,
        pickup,
        pay,
        transfer_after,
        cancel_after,
        edit,
        hold,
        hold_open: false,
        waits_for_supplier: false,
        collect_late: false,
        seed,
    })
}

/// What comes back, by product type: each unit on its own; and whether it is an exchange.
fn returns_of(
    rng: &mut Rng,
    lines: &[SkuQuantity],
    info: &HashMap<String, SkuInfo>,
) -> (Vec<(usize, i64, &'static str)>, bool) {
    let mut back = Vec::new();
    for (k, l) in lines.iter().enumerate() {
        let kind = info.get(&l.sku).map_or(0, |i| i.kind);
        let (_, sizes, _, rate) = TYPES[kind];
        let units = (0..l.quantity).filter(|_| rng.chance(rate)).count() as i64;
        let reason = weighted(
            rng,
            if sizes.is_empty() {
                OTHER_REASONS
            } else {
                SIZED_REASONS
            },
        );
        if units > 0 {
            back.push((k, units, reason));
        }
    }
    let exchange = !back.is_empty()
        && back.iter().all(|(k, _, r)| {
            *r == "wrong_size"
                && info
                    .get(&lines[*k].sku)
                    .is_some_and(|i| i.sibling.is_some())
        })
        && rng.chance(10);
    (back, exchange)
}

/// The two orders that wait on the T-shirt the supplier has not delivered (the older one late).
fn waiting_for_supplier(cal: &Cal, today: usize, backordered_sku: &str) -> Vec<Planned> {
    let mut plan = Vec::new();
    for (k, (days, minute)) in [(4, 11 * 60 + 20), (1, 10 * 60 + 40)]
        .into_iter()
        .enumerate()
    {
        plan.push(Planned {
            at: cal.at(today - days, minute),
            customer: 17 + 25 * k,
            lines: vec![SkuQuantity {
                sku: backordered_sku.to_string(),
                quantity: 1,
            }],
            back: Vec::new(),
            exchange: false,
            channel: "online",
            city: k,
            express: false,
            pickup: false,
            pay: Pay::Card,
            transfer_after: None,
            cancel_after: None,
            edit: false,
            hold: None,
            hold_open: false,
            waits_for_supplier: true,
            collect_late: false,
            seed: 0xB0 + k as u64,
        });
    }
    plan
}

/// Three pickups readied on the boutique's last full day wait for their customers.
fn leave_pickups_waiting(plan: &mut [Planned], cal: &Cal, today: usize, now: i64) {
    let mut last = today;
    while !(BOUTIQUE.works(cal, last) && cal.at(last, 19 * 60 + 30) < now) && last > 0 {
        last -= 1;
    }
    let readied_by = cal.at(last, BOUTIQUE.open);
    for p in plan
        .iter_mut()
        .rev()
        .filter(|p| p.pickup && p.cancel_after.is_none() && p.at < readied_by)
        .take(3)
    {
        p.collect_late = true;
    }
}

/// Three recent orders are on hold for review now.
fn hold_for_review(plan: &mut [Planned], now: i64) {
    let mut rank = 0;
    for p in plan.iter_mut().rev() {
        if p.at < now - HOUR
            && !p.pickup
            && p.hold.is_none()
            && p.cancel_after.is_none()
            && p.pay == Pay::Card
            && !p.waits_for_supplier
        {
            if [2, 7, 15].contains(&rank) {
                p.hold = Some(if rank == 7 {
                    "address_problem"
                } else {
                    "fraud_review"
                });
                p.hold_open = true;
            }
            rank += 1;
            if rank > 15 {
                break;
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Step {
    Place,
    Pay,
    Edit,
    Cancel,
    Hold,
    Release,
    Restock(i64),
    Ship(i64),
    Deliver(i64),
    Ready,
    Collect,
    Expire,
    Return,
    Exchange,
    Receive,
    Refund,
    Goodwill,
}

#[derive(Clone)]
struct LiveLine {
    id: i64,
    sku: String,
    /// Where its units left from, and so come back to.
    home: i64,
}

/// What the simulation knows of a placed order.
#[derive(Clone, Default)]
struct Live {
    id: i64,
    ship_by: i64,
    /// When it last became shippable.
    ready_at: i64,
    /// What it still waits for before it can ship: payment, a hold, stock.
    gates: u32,
    /// Click and collect (a pickup the boutique could not serve ships instead).
    pickup: bool,
    unpaid: bool,
    captured: bool,
    cancelled: bool,
    lines: Vec<LiveLine>,
    /// Locations still to ship from.
    to_ship: Vec<i64>,
    /// Backordered units: (location, line, sku, units).
    backorders: Vec<(i64, i64, String, i64)>,
    in_transit: u32,
    first_shipped: i64,
    returns_started: bool,
    return_id: i64,
    rng: Option<Rng>,
}

#[derive(Clone, Copy)]
struct Locations {
    main: i64,
    east: i64,
    shop: i64,
}

#[derive(Clone)]
struct Sim {
    plan: Arc<Vec<Planned>>,
    customers: Arc<Vec<Customer>>,
    info: Arc<HashMap<String, SkuInfo>>,
    cal: Arc<Cal>,
    now: i64,
    locs: Locations,
    queue: BinaryHeap<Reverse<(i64, u64, usize, Step)>>,
    seq: u64,
    live: Vec<Live>,
    /// Steps the services refused, by kind (an order that found no stock is not placed).
    refused: BTreeMap<&'static str, u32>,
    done: u64,
    /// The promotions' codes: the Black Friday batch (each used once) and its days.
    promos: Arc<super::promotions::Seeded>,
    next_bf: usize,
}

fn actor(name: &str, role: Role) -> Actor {
    Actor {
        user_id: 0,
        name: name.into(),
        role,
    }
}

fn at(actor: &Actor, t: i64) -> Ctx {
    Ctx::new(actor.clone(), t)
}

struct Staff {
    storefront: Actor,
    gateway: Actor,
    support: Actor,
    warehouse: Actor,
    east: Actor,
    boutique: Actor,
    planner: Actor,
    carrier: Actor,
    worker: Actor,
}

impl Staff {
    fn new() -> Staff {
        Staff {
            storefront: actor("storefront", Role::Storefront),
            gateway: actor("payment gateway", Role::Support),
            support: actor("Sam Support", Role::Support),
            warehouse: actor("Walt Warehouse", Role::Fulfillment),
            east: actor("Erin East", Role::Fulfillment),
            boutique: actor("Bea Boutique", Role::Fulfillment),
            planner: actor("Ines Planner", Role::Inventory),
            carrier: actor("carrier tracking", Role::Fulfillment),
            worker: Actor::system(),
        }
    }
}

impl Sim {
    /// Queues a step; steps due from now on are the future and do not happen.
    fn at(&mut self, t: i64, i: usize, step: Step) {
        if t < self.now {
            self.seq += 1;
            self.queue.push(Reverse((t, self.seq, i, step)));
        }
    }
    fn refused(&mut self, what: &'static str) {
        *self.refused.entry(what).or_default() += 1;
    }
    fn shift(&self, location: i64) -> &'static Shift {
        if location == self.locs.shop {
            &BOUTIQUE
        } else if location == self.locs.east {
            &EAST_WH
        } else {
            &MAIN_WH
        }
    }
    fn packer<'a>(&self, staff: &'a Staff, location: i64) -> &'a Actor {
        if location == self.locs.shop {
            &staff.boutique
        } else if location == self.locs.east {
            &staff.east
        } else {
            &staff.warehouse
        }
    }
    fn rng(&mut self, i: usize) -> Rng {
        self.live[i]
            .rng
            .take()
            .unwrap_or_else(|| Rng::new(self.plan[i].seed))
    }

    /// Runs up to `budget` steps in time order; false once nothing is left.
    fn run(&mut self, tx: &mut dyn Sql, budget: usize) -> backroom_core::Result<bool> {
        let staff = Staff::new();
        for _ in 0..budget {
            let Some(Reverse((t, _, i, step))) = self.queue.pop() else {
                return Ok(false);
            };
            let mut rng = self.rng(i);
            self.step(tx, &staff, t, i, step, &mut rng)?;
            self.live[i].rng = Some(rng);
            self.done += 1;
        }
        Ok(!self.queue.is_empty())
    }

    /// The order can ship once nothing holds it back.
    fn release(&mut self, i: usize, t: i64, rng: &mut Rng) {
        let live = &mut self.live[i];
        let plan = &self.plan[i];
        live.ready_at = live.ready_at.max(t);
        if live.gates > 0 || live.cancelled || plan.cancel_after.is_some() {
            return;
        }
        let (ready, ship_by, express, pickup) =
            (live.ready_at, live.ship_by, plan.express, live.pickup);
        let to_ship = live.to_ship.clone();
        if pickup {
            let t = BOUTIQUE.next(&self.cal, ready, rng.range(60, 240), rng);
            self.at(t, i, Step::Ready);
            return;
        }
        for loc in to_ship {
            let t = ship_time(&self.cal, self.shift(loc), ready, ship_by, express, rng);
            self.at(t, i, Step::Ship(loc));
        }
    }

    /// The parcel arrived (or was collected): some of it will come back.
    fn arrived(&mut self, i: usize, t: i64, rng: &mut Rng) {
        let live = &mut self.live[i];
        if live.returns_started || !live.to_ship.is_empty() || live.in_transit > 0 {
            return;
        }
        live.returns_started = true;
        let plan = &self.plan[i];
        let Some((first, ..)) = plan.back.first() else {
            return;
        };
        let home = live.lines.get(*first).map_or(self.locs.main, |l| l.home);
        let exchange = plan.exchange;
        // Asked for within a week, most in the first few days.
        let asked = t + (rng.range(6, 36) + rng.range(0, 120)) * HOUR;
        if exchange {
            let arrives = asked + rng.range(2, 5) * DAY;
            let t = self.shift(home).next(&self.cal, arrives, 0, rng);
            self.at(t, i, Step::Exchange);
        } else {
            self.at(asked, i, Step::Return);
        }
    }

    fn step(
        &mut self,
        tx: &mut dyn Sql,
        staff: &Staff,
        t: i64,
        i: usize,
        step: Step,
        rng: &mut Rng,
    ) -> backroom_core::Result<()> {
        let id = self.live[i].id;
        match step {
            Step::Place => self.place(tx, staff, t, i, rng)?,
            Step::Pay => self.transfer_paid(tx, staff, t, i, rng)?,
            Step::Edit => self.edit(tx, staff, t, i),
            Step::Cancel => self.cancel(tx, staff, t, i)?,
            Step::Hold => self.hold(tx, staff, t, i, rng)?,
            Step::Release => {
                fulfillment::release_hold(tx, &at(&staff.support, t), id)?;
                self.live[i].gates -= 1;
                self.release(i, t, rng);
            }
            Step::Restock(loc) => self.restock(tx, staff, t, i, loc, rng)?,
            Step::Ship(loc) => self.ship(tx, staff, t, i, loc, rng)?,
            Step::Deliver(fid) => self.deliver(tx, staff, t, i, fid, rng)?,
            Step::Ready => self.ready(tx, staff, t, i, rng)?,
            Step::Collect => self.collect(tx, staff, t, i, rng)?,
            Step::Expire => {
                // The worker's sweep: a pickup not collected by its deadline is cancelled.
                fulfillment::expire_pickups(tx, &at(&staff.worker, t))?;
                self.live[i].cancelled = true;
            }
            Step::Return => self.start_return(tx, staff, t, i, rng),
            Step::Exchange => self.exchange(tx, staff, t, i, rng)?,
            Step::Receive => self.receive(tx, staff, t, i, rng)?,
            Step::Refund => self.refund_return(tx, staff, t, i),
            Step::Goodwill => self.goodwill(tx, staff, t, i),
        }
        Ok(())
    }

    /// The bank transfer arrives: the order is paid, and ships once nothing else holds it.
    fn transfer_paid(
        &mut self,
        tx: &mut dyn Sql,
        staff: &Staff,
        t: i64,
        i: usize,
        rng: &mut Rng,
    ) -> backroom_core::Result<()> {
        let id = self.live[i].id;
        if self.live[i].cancelled || !self.live[i].unpaid {
            return Ok(());
        }
        orders::record_payment(tx, &at(&staff.gateway, t), id, &paid(id, "tr"))?;
        let live = &mut self.live[i];
        live.unpaid = false;
        live.captured = true;
        live.gates -= 1;
        self.release(i, t, rng);
        Ok(())
    }

    /// The customer asks support for one more of the first line (refused when it cannot be).
    fn edit(&mut self, tx: &mut dyn Sql, staff: &Staff, t: i64, i: usize) {
        let plan = self.plan.clone();
        let p = &plan[i];
        let id = self.live[i].id;
        if self.live[i].cancelled {
            return;
        }
        let Some(first) = self.live[i].lines.first().map(|l| l.id) else {
            return;
        };
        let quantity = p.lines[0].quantity + 1;
        let edit = EditOrder {
            change: vec![LineQuantity {
                line_id: first,
                quantity,
            }],
            reason: Some("customer asked for one more".into()),
            ..Default::default()
        };
        match in_savepoint(tx, |tx| {
            backroom_core::orders::edits::edit(tx, &at(&staff.support, t), id, &edit)
        }) {
            Some(o) => {
                let live = &mut self.live[i];
                live.to_ship = locations_of(&o);
                live.backorders.clear();
            }
            None => self.refused("edit"),
        }
    }

    /// Support cancels the order and refunds what was captured: on request, or unpaid.
    fn cancel(
        &mut self,
        tx: &mut dyn Sql,
        staff: &Staff,
        t: i64,
        i: usize,
    ) -> backroom_core::Result<()> {
        let plan = self.plan.clone();
        let p = &plan[i];
        let id = self.live[i].id;
        let live = &self.live[i];
        if live.cancelled || live.first_shipped != 0 {
            return Ok(());
        }
        // An unpaid transfer is cancelled only if it is still unpaid.
        if p.cancel_after.is_none() && !live.unpaid {
            return Ok(());
        }
        let captured = live.captured;
        let ctx = at(&staff.support, t);
        let reason = if p.cancel_after.is_some() {
            "customer changed their mind"
        } else {
            "bank transfer not received"
        };
        let done = in_savepoint(tx, |tx| {
            if captured {
                let o = orders::get(tx, id)?;
                orders::refund(
                    tx,
                    &ctx,
                    id,
                    &RefundOrder {
                        amount: Some(o.paid.amount - o.refunded.amount),
                        lines: None,
                        shipping: None,
                        reason: "cancelled".into(),
                        note: Some(reason.into()),
                    },
                )?;
            }
            orders::cancel(
                tx,
                &ctx,
                id,
                &CancelOrder {
                    reason: Some(reason.into()),
                },
            )
        });
        match done {
            Some(_) => self.live[i].cancelled = true,
            None => self.refused("cancel"),
        }
        Ok(())
    }

    /// Support holds the order for review and releases it later, unless the review is open.
    fn hold(
        &mut self,
        tx: &mut dyn Sql,
        staff: &Staff,
        t: i64,
        i: usize,
        rng: &mut Rng,
    ) -> backroom_core::Result<()> {
        let plan = self.plan.clone();
        let p = &plan[i];
        let id = self.live[i].id;
        let reason = p.hold.unwrap_or("fraud_review");
        fulfillment::hold(
            tx,
            &at(&staff.support, t),
            id,
            &HoldOrder {
                reason: reason.into(),
                note: Some(
                    match reason {
                        "address_problem" => "the street number is missing",
                        "payment_issue" => "card holder name differs",
                        _ => "new customer, large basket, express",
                    }
                    .into(),
                ),
            },
        )?;
        if !p.hold_open {
            let t = SUPPORT.next(&self.cal, t, rng.range(20, 240), rng);
            self.at(t, i, Step::Release);
        }
        Ok(())
    }

    /// The supplier delivers the units backordered at `loc`, and they are reserved again.
    fn restock(
        &mut self,
        tx: &mut dyn Sql,
        staff: &Staff,
        t: i64,
        i: usize,
        loc: i64,
        rng: &mut Rng,
    ) -> backroom_core::Result<()> {
        let id = self.live[i].id;
        let ctx = at(&staff.planner, t);
        let wanted: Vec<(i64, String, i64)> = self.live[i]
            .backorders
            .iter()
            .filter(|(l, ..)| *l == loc)
            .map(|(_, line, s, q)| (*line, s.clone(), *q))
            .collect();
        for (line, sku, q) in wanted {
            inventory::receive(
                tx,
                &ctx,
                &ReceiveStock {
                    sku,
                    location_id: loc,
                    quantity: q + 24,
                    note: Some("supplier delivery for backorders".into()),
                },
            )?;
            // The backordered units are reserved again from the stock that came in.
            backroom_core::orders::edits::resource_line(
                tx,
                &at(&staff.support, t + MINUTE),
                id,
                line,
                &backroom_core::api::ResourceLine {
                    location_id: Some(loc),
                },
            )?;
        }
        self.live[i].gates -= 1;
        self.release(i, t, rng);
        Ok(())
    }

    /// `loc` packs and ships its part (capturing an authorized payment); the carrier takes it.
    fn ship(
        &mut self,
        tx: &mut dyn Sql,
        staff: &Staff,
        t: i64,
        i: usize,
        loc: i64,
        rng: &mut Rng,
    ) -> backroom_core::Result<()> {
        let plan = self.plan.clone();
        let p = &plan[i];
        let id = self.live[i].id;
        let live = &self.live[i];
        if live.cancelled || !live.to_ship.contains(&loc) {
            return Ok(());
        }
        let capture = p.pay == Pay::Authorized && !live.captured;
        let packer = self.packer(staff, loc).clone();
        let ctx = at(&packer, t);
        let carrier = if loc == self.locs.shop {
            "La Poste"
        } else if p.express {
            "DHL Express"
        } else {
            "Colissimo"
        };
        let shipped = in_savepoint(tx, |tx| {
            if capture {
                orders::record_payment(tx, &at(&staff.gateway, t), id, &paid(id, "cap"))?;
            }
            fulfillment::ship(
                tx,
                &ctx,
                id,
                &ShipOrder {
                    location_id: loc,
                    carrier: Some(carrier.into()),
                    tracking_number: Some(format!("TRK{id:08}{loc}")),
                    ..Default::default()
                },
            )
        });
        let Some(o) = shipped else {
            self.refused("ship");
            return Ok(());
        };
        let live = &mut self.live[i];
        live.captured |= capture;
        live.to_ship.retain(|l| *l != loc);
        if live.first_shipped == 0 {
            live.first_shipped = t;
        }
        live.in_transit += 1;
        if let Some(f) = o
            .fulfillments
            .iter()
            .filter(|f| f.location_id == loc)
            .max_by_key(|f| f.id)
        {
            let abroad = CITIES[p.city].2 != "FR";
            let when = delivery_time(&self.cal, t, p.express, abroad, rng);
            self.at(when, i, Step::Deliver(f.id));
        }
        Ok(())
    }

    /// The carrier delivers parcel `fid`; a late one now and then earns a goodwill gesture.
    fn deliver(
        &mut self,
        tx: &mut dyn Sql,
        staff: &Staff,
        t: i64,
        i: usize,
        fid: i64,
        rng: &mut Rng,
    ) -> backroom_core::Result<()> {
        let plan = self.plan.clone();
        let p = &plan[i];
        fulfillment::deliver(tx, &at(&staff.carrier, t), fid)?;
        self.live[i].in_transit -= 1;
        // A parcel that took long gets a goodwill gesture now and then.
        if t - self.live[i].first_shipped > 5 * DAY && p.back.is_empty() && rng.chance(10) {
            let t = SUPPORT.next(&self.cal, t, 60, rng);
            self.at(t, i, Step::Goodwill);
        }
        self.arrived(i, t, rng);
        Ok(())
    }

    /// The boutique readies the pickup; the customer comes for it, or it expires.
    fn ready(
        &mut self,
        tx: &mut dyn Sql,
        staff: &Staff,
        t: i64,
        i: usize,
        rng: &mut Rng,
    ) -> backroom_core::Result<()> {
        let plan = self.plan.clone();
        let p = &plan[i];
        let id = self.live[i].id;
        fulfillment::ready_for_pickup(tx, &at(&staff.boutique, t), id)?;
        let deadline = t + PICKUP_HOLD_HOURS * HOUR;
        // Most customers come the same day or within two; a few never do.
        let collect = match rng.range(0, 100) {
            0..=34 => Some(BOUTIQUE.next(&self.cal, t, rng.range(60, 600), rng)),
            35..=89 => Some(BOUTIQUE.next(&self.cal, t, rng.range(20 * 60, 60 * 60), rng)),
            _ => None,
        };
        match collect.filter(|c| *c < deadline - HOUR && !p.collect_late) {
            Some(c) => self.at(c, i, Step::Collect),
            None => self.at(deadline + rng.range(1, 3) * MINUTE, i, Step::Expire),
        }
        Ok(())
    }

    /// The customer collects the pickup (capturing an authorized payment).
    fn collect(
        &mut self,
        tx: &mut dyn Sql,
        staff: &Staff,
        t: i64,
        i: usize,
        rng: &mut Rng,
    ) -> backroom_core::Result<()> {
        let plan = self.plan.clone();
        let p = &plan[i];
        let id = self.live[i].id;
        let capture = p.pay == Pay::Authorized && !self.live[i].captured;
        if capture {
            orders::record_payment(tx, &at(&staff.gateway, t), id, &paid(id, "cap"))?;
        }
        fulfillment::picked_up(
            tx,
            &at(&staff.boutique, t),
            id,
            &PickedUp {
                handed_over_by: "Bea Boutique".into(),
            },
        )?;
        let live = &mut self.live[i];
        live.captured = true;
        live.to_ship.clear();
        self.arrived(i, t, rng);
        Ok(())
    }

    /// The customer asks to send units back; the parcel reaches its location days later.
    fn start_return(&mut self, tx: &mut dyn Sql, staff: &Staff, t: i64, i: usize, rng: &mut Rng) {
        let id = self.live[i].id;
        let n = NewReturn {
            lines: self.return_lines(i),
            label_carrier: Some("Colissimo".into()),
            ..Default::default()
        };
        match in_savepoint(tx, |tx| returns::create(tx, &at(&staff.support, t), id, &n)) {
            Some(r) => {
                self.live[i].return_id = r.id;
                let home = self.home_of_return(i);
                let arrives = t + rng.range(2, 4) * DAY + rng.range(0, 12) * HOUR;
                let t = self.shift(home).next(&self.cal, arrives, 0, rng);
                self.at(t, i, Step::Receive);
            }
            None => self.refused("return"),
        }
    }

    /// The returns bench receives and inspects the parcel; support refunds it later.
    fn receive(
        &mut self,
        tx: &mut dyn Sql,
        staff: &Staff,
        t: i64,
        i: usize,
        rng: &mut Rng,
    ) -> backroom_core::Result<()> {
        let home = self.home_of_return(i);
        let lines = self.received_lines(i, rng);
        let packer = self.packer(staff, home).clone();
        returns::receive(
            tx,
            &at(&packer, t),
            self.live[i].return_id,
            &ReceiveReturn { lines },
        )?;
        let t = SUPPORT.next(&self.cal, t, rng.range(30, 20 * 60), rng);
        self.at(t, i, Step::Refund);
        Ok(())
    }

    /// Support refunds the returned units.
    fn refund_return(&mut self, tx: &mut dyn Sql, staff: &Staff, t: i64, i: usize) {
        let id = self.live[i].id;
        let lines: Vec<RefundLine> = self
            .return_lines(i)
            .iter()
            .map(|l| RefundLine {
                line_id: l.line_id,
                quantity: l.quantity,
            })
            .collect();
        let r = RefundOrder {
            amount: None,
            lines: Some(lines),
            shipping: None,
            reason: "return".into(),
            note: None,
        };
        if in_savepoint(tx, |tx| orders::refund(tx, &at(&staff.support, t), id, &r)).is_none() {
            self.refused("refund");
        }
    }

    /// Support refunds 10.00 as a goodwill gesture for a late delivery.
    fn goodwill(&mut self, tx: &mut dyn Sql, staff: &Staff, t: i64, i: usize) {
        let id = self.live[i].id;
        let r = RefundOrder {
            amount: Some(1000),
            lines: None,
            shipping: None,
            reason: "goodwill".into(),
            note: Some("late delivery".into()),
        };
        if in_savepoint(tx, |tx| orders::refund(tx, &at(&staff.support, t), id, &r)).is_none() {
            self.refused("goodwill");
        }
    }

    /// The code an order carries, if any: a Black Friday code for a fifth of the orders of
    /// its days (each code once), a welcome code for one in twelve others.
    fn code_for(&mut self, t: i64, rng: &mut Rng) -> Option<Vec<String>> {
        let bf = &self.promos;
        if (bf.bf_from..bf.bf_to).contains(&t) && rng.chance(20) {
            let code = bf.black_friday.get(self.next_bf).cloned();
            self.next_bf += 1;
            return code.map(|c| vec![c]);
        }
        rng.chance(8).then(|| vec!["WELCOME10".to_string()])
    }

    fn place(
        &mut self,
        tx: &mut dyn Sql,
        staff: &Staff,
        t: i64,
        i: usize,
        rng: &mut Rng,
    ) -> backroom_core::Result<()> {
        let plan = self.plan.clone();
        let p = &plan[i];
        let (email, first, last) = &self.customers[p.customer];
        let (city, zip, country) = CITIES[p.city];
        let shop = self.locs.shop;
        let mut order = PlaceOrder {
            channel: p.channel.to_string(),
            customer: CustomerInput {
                email: email.clone(),
                first_name: Some(first.clone()),
                last_name: Some(last.clone()),
                ..Default::default()
            },
            shipping_address: Address {
                name: format!("{first} {last}"),
                line1: format!("{} rue de la Demo", (t / DAY) % 120 + 1),
                city: city.to_string(),
                postal_code: zip.to_string(),
                country: country.to_string(),
                ..Default::default()
            },
            shipping_method: Some(
                if p.pickup {
                    "pickup"
                } else if p.express {
                    "express"
                } else {
                    "standard"
                }
                .into(),
            ),
            pickup_location_id: p.pickup.then_some(shop),
            lines: p.lines.clone(),
            discount_codes: self.code_for(t, rng),
            // A code that does not apply (a welcome code on a second order) is left out, as a
            // storefront that shows the reason would.
            skip_invalid_codes: Some(true),
            note: None,
            origin_location_id: (p.channel == "boutique").then_some(shop),
        };
        let ctx = at(&staff.storefront, t);
        // An order that finds no stock is simply not placed, as on a real storefront (a pickup
        // the boutique cannot serve is shipped instead).
        let placed = match in_savepoint(tx, |tx| orders::place(tx, &ctx, &order, None)) {
            Some(o) => Some(o.order),
            None if p.pickup => {
                order.shipping_method = Some("standard".into());
                order.pickup_location_id = None;
                in_savepoint(tx, |tx| orders::place(tx, &ctx, &order, None)).map(|o| o.order)
            }
            None => None,
        };
        let Some(o) = placed else {
            self.refused("place");
            return Ok(());
        };
        let id = o.id;
        let pickup = o.pickup.is_some();
        let mut live = Live {
            id,
            ship_by: t + HANDLING_HOURS * HOUR,
            ready_at: t,
            pickup,
            lines: o
                .lines
                .iter()
                .map(|l| LiveLine {
                    id: l.id,
                    sku: l.sku.clone(),
                    home: l.allocations.first().map_or(shop, |a| a.location_id),
                })
                .collect(),
            to_ship: if pickup { Vec::new() } else { locations_of(&o) },
            ..Default::default()
        };
        for l in &o.lines {
            for a in l.allocations.iter().filter(|a| a.backordered > 0) {
                live.backorders
                    .push((a.location_id, l.id, l.sku.clone(), a.backordered));
            }
        }
        let later = t + rng.range(5, 60) * 1_000_000;
        match p.pay {
            Pay::Card => {
                orders::record_payment(tx, &at(&staff.gateway, later), id, &paid(id, "ch"))?;
                live.captured = true;
            }
            Pay::Authorized => {
                orders::record_payment(
                    tx,
                    &at(&staff.gateway, later),
                    id,
                    &RecordPayment {
                        status: "authorized".into(),
                        amount: None,
                        reference: Some(format!("auth_{id}")),
                    },
                )?;
            }
            Pay::Transfer => {
                live.unpaid = true;
                live.gates += 1;
            }
        }
        let mut locations: Vec<i64> = live.backorders.iter().map(|b| b.0).collect();
        locations.sort_unstable();
        locations.dedup();
        live.gates += locations.len() as u32 + u32::from(p.hold.is_some());
        self.live[i] = live;
        if p.pay == Pay::Transfer {
            match p.transfer_after {
                Some(after) => self.at(t + after, i, Step::Pay),
                None => self.at(t + 60 * HOUR, i, Step::Cancel),
            }
            if p.edit {
                self.at(t + rng.range(10, 50) * MINUTE, i, Step::Edit);
            }
        }
        if let Some(after) = p.cancel_after {
            self.at(t + after, i, Step::Cancel);
            return Ok(());
        }
        if p.hold.is_some() {
            self.at(t + rng.range(1, 5) * MINUTE, i, Step::Hold);
        }
        if !p.waits_for_supplier {
            // The planner orders what is missing; the supplier delivers in three to five days.
            for loc in locations {
                let arrives = t + rng.range(3, 6) * DAY;
                let t = MAIN_WH.next(&self.cal, arrives, 0, rng);
                self.at(t, i, Step::Restock(loc));
            }
        }
        self.release(i, t, rng);
        Ok(())
    }

    /// The returned units of the plan, by order line.
    fn return_lines(&self, i: usize) -> Vec<NewReturnLine> {
        let live = &self.live[i];
        self.plan[i]
            .back
            .iter()
            .filter_map(|(k, units, reason)| {
                live.lines.get(*k).map(|l| NewReturnLine {
                    line_id: l.id,
                    quantity: *units,
                    reason: (*reason).into(),
                })
            })
            .collect()
    }

    fn home_of_return(&self, i: usize) -> i64 {
        let (plan, live) = (&self.plan[i], &self.live[i]);
        plan.back
            .first()
            .and_then(|(k, ..)| live.lines.get(*k))
            .map_or(self.locs.main, |l| l.home)
    }

    /// What inspection finds: most units go back on the shelf; damaged and defective ones do not.
    fn received_lines(&self, i: usize, rng: &mut Rng) -> Vec<ReceivedLine> {
        let home = self.home_of_return(i);
        self.return_lines(i)
            .into_iter()
            .map(|l| {
                let disposition = match (l.reason.as_str(), rng.range(0, 100)) {
                    ("damaged" | "defective", 0..=39) => "write_off",
                    ("damaged" | "defective", _) => "unavailable",
                    (_, 0..=2) => "unavailable",
                    _ => "restock",
                };
                ReceivedLine {
                    line_id: l.line_id,
                    quantity: l.quantity,
                    disposition: disposition.into(),
                    location_id: (disposition != "write_off").then_some(home),
                }
            })
            .collect()
    }

    /// At the returns bench: the wrong sizes are received and the next size goes out at once
    /// (a plain return and a refund when that size is out of stock).
    fn exchange(
        &mut self,
        tx: &mut dyn Sql,
        staff: &Staff,
        t: i64,
        i: usize,
        rng: &mut Rng,
    ) -> backroom_core::Result<()> {
        let id = self.live[i].id;
        let lines = self.return_lines(i);
        let swaps: Vec<SkuQuantity> = lines
            .iter()
            .filter_map(|l| {
                let sku = &self.live[i].lines.iter().find(|x| x.id == l.line_id)?.sku;
                Some(SkuQuantity {
                    sku: self.info.get(sku)?.sibling.clone()?,
                    quantity: l.quantity,
                })
            })
            .collect();
        let ex = NewReturn {
            lines: lines.clone(),
            exchange_lines: Some(swaps),
            note: Some("exchange for the next size".into()),
            ..Default::default()
        };
        let support = at(&staff.support, t);
        let received = self.received_lines(i, rng);
        let home = self.home_of_return(i);
        let bench = at(self.packer(staff, home), t + 2 * MINUTE);
        let done = in_savepoint(tx, |tx| {
            let r = returns::create(tx, &support, id, &ex)?;
            returns::receive(
                tx,
                &bench,
                r.id,
                &ReceiveReturn {
                    lines: received.clone(),
                },
            )?;
            Ok(r)
        });
        let Some(r) = done else {
            // No next size in stock: a plain return, received now and refunded.
            let n = NewReturn {
                lines,
                ..Default::default()
            };
            let r = returns::create(tx, &support, id, &n)?;
            returns::receive(tx, &bench, r.id, &ReceiveReturn { lines: received })?;
            self.live[i].return_id = r.id;
            let t = SUPPORT.next(&self.cal, t, rng.range(30, 20 * 60), rng);
            self.at(t, i, Step::Refund);
            return Ok(());
        };
        self.live[i].return_id = r.id;
        // The replacement ships from wherever it was reserved, in the same hour.
        let o = orders::get(tx, id)?;
        let mut from: Vec<i64> = o
            .lines
            .iter()
            .filter(|l| r.exchange_line_ids.contains(&l.id))
            .flat_map(|l| {
                l.allocations
                    .iter()
                    .filter(|a| a.live)
                    .map(|a| a.location_id)
            })
            .collect();
        from.sort_unstable();
        from.dedup();
        let p = &self.plan[i];
        let abroad = CITIES[p.city].2 != "FR";
        for loc in from {
            let ship_at = t + rng.range(15, 50) * MINUTE;
            let ctx = at(self.packer(staff, loc), ship_at);
            let shipped = in_savepoint(tx, |tx| {
                fulfillment::ship(
                    tx,
                    &ctx,
                    id,
                    &ShipOrder {
                        location_id: loc,
                        carrier: Some("Colissimo".into()),
                        tracking_number: Some(format!("TRK{id:08}{loc}X")),
                        ..Default::default()
                    },
                )
            });
            match shipped.and_then(|o| o.fulfillments.into_iter().max_by_key(|f| f.id)) {
                Some(f) => {
                    self.live[i].in_transit += 1;
                    let when = delivery_time(&self.cal, ship_at, false, abroad, rng);
                    self.at(when, i, Step::Deliver(f.id));
                }
                None => self.refused("ship exchange"),
            }
        }
        Ok(())
    }
}

/// Every location an order's live reservations are at.
fn locations_of(o: &backroom_core::api::Order) -> Vec<i64> {
    let mut locs: Vec<i64> = o
        .lines
        .iter()
        .flat_map(|l| {
            l.allocations
                .iter()
                .filter(|a| a.live)
                .map(|a| a.location_id)
        })
        .collect();
    locs.sort_unstable();
    locs.dedup();
    locs
}

fn paid(id: i64, prefix: &str) -> RecordPayment {
    RecordPayment {
        status: "paid".into(),
        amount: None,
        reference: Some(format!("{prefix}_{id}")),
    }
}

/// Plans and lives through 90 days of orders up to `now`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    db: &Db,
    rng: &mut Rng,
    start: i64,
    now: i64,
    sellable: &[&(String, i64)],
    info: HashMap<String, SkuInfo>,
    backordered_sku: &str,
    customers: Arc<Vec<Customer>>,
    promos: super::promotions::Seeded,
) -> Result<()> {
    let zone = Zone::get("Europe/Paris").map_err(e)?;
    let cal = Cal::new(&zone, start, now);
    let plan = plan(rng, &cal, start, now, sellable, &info, backordered_sku);
    let locs = db
        .read(|tx| {
            let id = |tx: &mut dyn Sql, code: &str| -> backroom_core::Result<i64> {
                Ok(backroom_core::catalog::active_location_id(tx, code)?.unwrap_or(0))
            };
            Ok(Locations {
                main: id(tx, "main-wh")?,
                east: id(tx, "east-wh")?,
                shop: id(tx, "paris-shop")?,
            })
        })
        .await
        .map_err(e)?;
    let mut sim = Sim {
        live: vec![Live::default(); plan.len()],
        plan: Arc::new(plan),
        customers,
        info: Arc::new(info),
        cal: Arc::new(cal),
        now,
        locs,
        queue: BinaryHeap::new(),
        seq: 0,
        refused: BTreeMap::new(),
        done: 0,
        promos: Arc::new(promos),
        next_bf: 0,
    };
    for i in 0..sim.plan.len() {
        let t = sim.plan[i].at;
        sim.at(t, i, Step::Place);
    }
    loop {
        let before = Arc::new(sim);
        let (after, more) = db
            .write(move |tx| {
                let mut s = (*before).clone();
                let more = s.run(tx, STEPS_PER_WRITE)?;
                Ok((s, more))
            })
            .await
            .map_err(e)?;
        sim = after;
        if !more {
            break;
        }
    }
    tracing::debug!(steps = sim.done, refused = ?sim.refused, "demo history");
    Ok(())
}

/// Runs a step inside a savepoint, so one that is refused (no stock, say) leaves nothing behind.
fn in_savepoint<T>(
    tx: &mut dyn Sql,
    f: impl FnOnce(&mut dyn Sql) -> backroom_core::Result<T>,
) -> Option<T> {
    match backroom_core::db::savepoint(tx, f) {
        Ok(v) => Some(v),
        Err(err) => {
            tracing::debug!(%err, "demo step refused");
            None
        }
    }
}
