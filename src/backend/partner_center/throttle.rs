//! Client-side pacing that adapts to Partner Center's rate limits.
//!
//! Partner Center limits requests per partner tenant and, for some APIs, per
//! (partner, customer) pair, and answers 429 with `Retry-After` when a limit is
//! exceeded (partner-center-api.md §4). The numbers are not published, and the
//! partner's limit is shared with every other application of the partner, so they
//! are learned here, not configured. Sleeping `Retry-After` per request alone keeps
//! the server at its limit but gets about a quarter of all requests answered 429:
//! every refused request comes back at once and empties the bucket again. This
//! module paces requests so that 429s are rare and throughput stays near the limit.
//! It decides when a request may go; it sends nothing and knows nothing of retries
//! (that is `http`).
//!
//! # Keys
//!
//! One state per key, as Partner Center keys its limits: the partner tenant (one
//! per client, which has one set of credentials), and (partner, customer) for a
//! request whose path is `/customers/{id}/…` ([`Scope::of_path`]). A customer
//! request waits for its customer key, then for the partner key.
//!
//! # Algorithm, per key
//!
//! - **Unlimited until the first 429.** Most runs never meet a limit, and a token
//!   bucket's burst is free throughput.
//! - **A 429 starts an episode**: the key is paused until `Retry-After` (every
//!   request of the key waits, which replaces the per-request sleep) and its pace is
//!   cut to `decrease` (0.9) × the rate the server admitted. The requests in flight
//!   when a limit is hit are all refused together: a 429 on a request sent *before*
//!   the current episode began belongs to that episode, so it may extend the pause
//!   but does not cut again (one signal per episode, as TCP cuts once per window).
//! - **The admitted rate is measured between episodes.** The server's bucket is
//!   empty at both ends (it answered 429), so all it admitted in between was
//!   refill: `admitted / elapsed` *is* its rate, whatever our pace was, provided the
//!   bucket did not fill up in between. That is assumed within `measure_window` (a
//!   minute: a per-minute limit refills in a minute). On a key's first episode, or
//!   after a longer gap, a decaying average of the admitted rate over about
//!   `rate_window` stands in (an overestimate during a burst, which the next episode
//!   corrects); with fewer than four samples there is no estimate and the episode
//!   only pauses. Cutting the *observed* rate by a factor instead takes a dozen
//!   episodes (at ×0.7) to come down from a burst to a 10/s limit; measuring takes
//!   two.
//! - **Growth while requests flow.** Each admitted request adds `increase` (0.01)
//!   requests per second to the pace: at r requests a second that is 1 % per
//!   second, and nothing while the key is idle (an idle key does not drift to a
//!   rate it never tried). This probes back above the limit, so a limit that rose
//!   is found again.
//! - **A floor for the partner**: its pace never drops below half the highest rate
//!   measured at one of its episodes in the last `forget_after`, nor below
//!   Partner Center's documented 500 requests a minute. Partner Center also
//!   answers 429 at random, at any rate; each such 429 looks like an empty bucket,
//!   and the rate measured since the previous one includes our own pause and is
//!   capped by our own pace, so without a floor every one cut further (a request a
//!   second in a CI run with 5 % random 429s). Below the floor, requests still wait
//!   each `Retry-After`.
//! - **Pacing**: requests of a key are spaced `1 / rate` apart (next slot, GCRA
//!   without burst tolerance), reserved before each attempt.
//! - **Forgetting**: a key with no new episode for `forget_after` is unlimited
//!   again (by then a key in use has grown far past its limit anyway).
//!
//! Why this keeps throughput: a token bucket stores the tokens we leave while below
//! its rate and gives them back when we go above, so oscillating around the limit
//! averages the limit; only the tokens stored when a run ends are lost (about 1.5 s
//! of the limit: the `Retry-After` pause and the 10 s below the limit). Why 429s
//! are rare: an episode costs about the requests in flight (one or two once
//! paced), and a cycle is long: from 0.9 × the limit, 1 %/s takes 10 s to reach it
//! while the bucket fills, then about 17 s above it to drain the bucket. Deeper
//! cuts make fewer 429s on a long-running key but leave more tokens unused at the
//! end of a short run and slow down a customer's last few requests; the defaults
//! were chosen with the simulation in the tests (`report`): about 1 % of requests
//! answered 429 at 97 to 99 % of the bound for a plan under the partner's limit,
//! 2 to 2.5 % for one customer kept at its own limit for ten minutes.
//!
//! # Whose limit: partner or customer
//!
//! A 429 does not say which bucket was empty. A 429 on a partner-level request is
//! the partner's. For one on customer C, in this order:
//! 1. the request was in flight when an episode of the partner, or of C, began:
//!    part of that episode;
//! 2. C is *hot* (throttled recently and not known to be below its limit): C;
//! 3. the partner is *probing* (paced at or above the rate measured at its last
//!    episode, so draining its bucket): the partner;
//! 4. C had fewer than four requests admitted in the last `measure_window` (so it
//!    cannot be over a plausible limit of its own), and the last *unexplained* 429
//!    (one blamed by 6) was on another customer, within `blame_window`, with at
//!    most two requests admitted in between: the partner, and that customer's
//!    provisional blame is withdrawn. Different keys refused back to back is how an
//!    empty shared bucket looks; customers over their own limits leave other
//!    customers' requests admitted in between, and a 429 that rule 2 explains is no
//!    evidence about the partner;
//! 5. C is paced below the rate its bucket admitted at its last episode: noise
//!    ([`Blame::Noise`]), only that request waits, unless it happens twice;
//! 6. otherwise C, provisionally.
//!
//! A partner episode is checked against the answers to the requests that were in
//! flight when it began: with an empty partner bucket they are refused too; if at
//! least three are admitted, and more than are refused, the bucket was not empty
//! (customers' limits, or a 429 of Partner Center's own) and the episode is
//! withdrawn (the partner's state before it is restored). One inferred by 4 must
//! also be *confirmed*, by a refusal among them, before the next episode measures
//! from it: the time since an unconfirmed one may be our own pause, and measuring
//! it would collapse the pace to whatever trickle that pause let through.
//!
//! The partner is not blamed merely for having been throttled once (rule 3 needs a
//! measurement), and rule 4 ignores 429s explained by hot customers and customers
//! that used their own burst: otherwise, when many customers exceed small limits
//! at once (admissions are then sparse, so their 429s look back to back), a partner
//! that took the blame would be paused for the customers' `Retry-After`s (everyone
//! waits) and measured at the rate its own pauses allowed, slowing everyone down
//! (4× slower than sleeping per request in the simulation, 1.5× in the benchmark
//! at 6 requests/minute per customer, before these rules). A wrong blame costs one
//! episode: a customer blamed for the partner's limit is paused, and the next
//! back-to-back 429 moves the blame (4); a partner blamed for customers' limits is
//! paused once, and withdrawn when requests in flight get through. The limits of
//! this guess: a per-customer limit below four requests a minute defeats rule 4's
//! first condition, and customers exceeding their own limits all at once can still
//! look like the partner now and then.
//!
//! # Memory
//!
//! The partner key is one value. Customer keys are created on first use and swept
//! (at most every second) once they are neither paused nor within `forget_after` of
//! an episode and have been idle for `measure_window` (a minute: what rule 4 needs
//! to know of their use): the map holds the customers used in the last minute plus
//! those throttled in the last `forget_after`, whatever the tenant's size (a
//! hundred bytes each).
//!
//! The core, [`Limiter`], is synchronous and takes the time as an argument, so it is
//! tested with an injected clock; [`Throttle`] wraps it for tasks that sleep.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Path segments after `/customers/` that are partner-level resources, not a
/// customer id (the simulator keys them the same way).
const PARTNER_LEVEL: &[&str] = &["relationshiprequests"];
/// Fewer admitted requests than this within `rate_window` is no rate estimate.
const MIN_SAMPLES: f64 = 4.0;
/// The partner's pace never drops below this share of the highest rate measured at
/// one of its episodes in the last `forget_after`. Partner Center also answers 429
/// for reasons of its own, at any rate: each such 429 looks like an empty bucket,
/// and the rate measured since the last one includes our own `Retry-After` pause,
/// so without a floor every one cuts the pace further. With few requests in flight
/// none is left to refute the episode, and the pace collapsed to a request a second
/// (in one CI run, 296 requests in 300 s). A real limit is measured again at every
/// episode, so the floor sits at half of it and never binds; if the limit falls
/// below the floor (another application of the partner using its share), requests
/// still wait each `Retry-After`.
const PARTNER_FLOOR_SHARE: f64 = 0.5;
/// Nor below Partner Center's documented limit of 500 requests a minute per tenant
/// (partner-center-api.md §4): the peak itself is measured at whatever pace the work
/// allowed, which on a busy machine may be a few requests a second, and a client
/// that keeps to the documented limit has no reason to go slower. A partner whose
/// share is smaller (other applications use the same limit) gets `Retry-After`
/// pauses instead of a slower pace.
const PARTNER_FLOOR_RATE: f64 = 500.0 / 60.0;
/// Two 429s on different keys with at most this many requests admitted in between
/// are "back to back": answers of requests in flight together arrive in any order.
const BACK_TO_BACK: u64 = 2;
/// A partner episode inferred from back-to-back 429s is withdrawn when at least
/// this many requests in flight when it began are admitted (and more than are
/// refused): the partner's bucket was not empty.
const LATE_ADMITTED: u32 = 3;
/// Customer keys are swept at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// The longest spacing pacing ever asks for.
const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// Which limits a request counts against, besides the partner's.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The partner tenant's limit only.
    Partner,
    /// The partner's and this customer's (id lowercased).
    Customer(String),
}

impl Scope {
    /// The scope of a path under `/v1` (`/customers/{id}/subscriptions?x=y` is
    /// customer `{id}`; `/customers?size=500` and `/customers/relationshiprequests`
    /// are the partner's).
    pub fn of_path(path: &str) -> Scope {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        match (segments.next(), segments.next()) {
            (Some(first), Some(id))
                if first.eq_ignore_ascii_case("customers")
                    && !PARTNER_LEVEL.iter().any(|p| id.eq_ignore_ascii_case(p)) =>
            {
                Scope::Customer(id.to_ascii_lowercase())
            }
            _ => Scope::Partner,
        }
    }
}

/// The limiter's knobs (tests shorten them).
#[derive(Clone, Copy, Debug)]
pub struct ThrottleTuning {
    /// The pace after an episode, as a fraction of the admitted rate measured.
    pub decrease: f64,
    /// Requests per second added to a paced key's rate per admitted request: a
    /// growth of `increase` (as a fraction) per second while requests flow.
    pub increase: f64,
    /// Two keys refused back to back within this window blame the partner.
    pub blame_window: Duration,
    /// The admitted rate between two episodes is trusted as the limit when they are
    /// at most this far apart (the time a per-minute bucket takes to refill).
    pub measure_window: Duration,
    /// Time constant of the admitted-rate average used on a first episode.
    pub rate_window: Duration,
    /// A key with no new episode for this long is unlimited again.
    pub forget_after: Duration,
    /// The slowest pace, in requests per second.
    pub min_rate: f64,
    /// The partner's slowest pace, in requests per second (see
    /// [`PARTNER_FLOOR_RATE`], the default).
    pub partner_floor: f64,
    /// Whether customer keys are paced (cut on their 429s) or only paused for
    /// `Retry-After`. Off by default: per-customer limits are not published, and
    /// in the reliability tests a 429 on one customer that had nothing to do with
    /// its rate (Partner Center throttling for reasons of its own) cut customers
    /// again and again, to a fraction of a request a second, stalling the apply.
    /// A customer still waits out every `Retry-After`.
    pub pace_customers: bool,
}

impl Default for ThrottleTuning {
    fn default() -> Self {
        ThrottleTuning {
            decrease: 0.9,
            increase: 0.01,
            blame_window: Duration::from_secs(2),
            measure_window: Duration::from_secs(60),
            rate_window: Duration::from_secs(2),
            forget_after: Duration::from_secs(300),
            min_rate: 1.0 / 60.0,
            partner_floor: PARTNER_FLOOR_RATE,
            pace_customers: false,
        }
    }
}

/// Who a 429 was blamed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blame {
    /// The request was in flight when an episode began: part of it, no new cut.
    SameEpisode,
    /// A new episode of the partner key.
    Partner,
    /// A new episode of the customer key; `provisional` until another key's 429
    /// shows it was the partner's.
    Customer { provisional: bool },
    /// Not a limit of ours: the customer is paced below the rate its server-side
    /// bucket admitted at its last episode, so the bucket cannot be empty. Only
    /// the refused request waits its `Retry-After`.
    Noise,
}

/// What a request may do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go at `grant.at` (now or later); if later, [`Limiter::confirm`] then.
    Send(Grant),
    /// Nothing reserved: ask again at this instant (the customer key is paused or
    /// paced; the partner's slot is reserved only once the customer's is due, so a
    /// slow customer never holds up the partner's other requests).
    Wait(Instant),
}

/// A reserved slot, valid while neither key was paused or cut since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    pub at: Instant,
    partner_epoch: u64,
    customer_epoch: Option<u64>,
}

/// One key's state.
#[derive(Clone, Debug)]
struct Key {
    /// Pace in requests per second; `None`: not paced.
    rate: Option<f64>,
    /// The rate the server admitted between the last two episodes.
    measured: Option<f64>,
    /// The earliest the next request may go.
    next_slot: Instant,
    paused_until: Instant,
    /// When the current episode began; `None`: never throttled (or forgotten).
    episode: Option<Instant>,
    /// Whether the server's bucket is known to have been empty when `episode`
    /// began, so that the next episode may measure from it. A partner episode
    /// inferred from customers' 429s is confirmed by a refused request that was in
    /// flight when it began; otherwise it may have been the customers' limits, and
    /// the time since then is our own pause, not the server's rate.
    confirmed: bool,
    /// Requests admitted since `episode`.
    admitted: u64,
    /// Decaying averages of the admitted rate, over about `rate_window` and over
    /// about `measure_window` (requests per second), as of `recent_at`.
    recent: f64,
    minute: f64,
    recent_at: Instant,
    last_used: Instant,
    /// Changed whenever the pause or the pace changes, so that a grant made before
    /// is checked again.
    epoch: u64,
    /// The state before a provisional blame, restored if the blame turns out wrong.
    provisional: Option<Box<Key>>,
    /// Answers since `episode` began to requests sent before it: admitted, refused.
    late: (u32, u32),
    /// The last 429 taken for noise (see [`Blame::Noise`]).
    noise_at: Option<Instant>,
    /// The partner's key: its measurements need [`MIN_SAMPLES`] admitted requests,
    /// and its pace has a floor ([`PARTNER_FLOOR_SHARE`], `partner_floor`).
    is_partner: bool,
    /// The highest rate measured at an episode (bucket empty at both ends), and
    /// when: what the server has been seen to sustain.
    peak: Option<(f64, Instant)>,
}

impl Key {
    fn new(now: Instant) -> Key {
        Key {
            rate: None,
            measured: None,
            next_slot: now,
            paused_until: now,
            episode: None,
            confirmed: false,
            admitted: 0,
            recent: 0.0,
            minute: 0.0,
            recent_at: now,
            last_used: now,
            epoch: 0,
            provisional: None,
            late: (0, 0),
            noise_at: None,
            is_partner: false,
            peak: None,
        }
    }

    fn ready(&self) -> Instant {
        self.next_slot.max(self.paused_until)
    }

    fn take_slot(&mut self, at: Instant) {
        if let Some(rate) = self.rate {
            let interval = Duration::try_from_secs_f64(1.0 / rate)
                .unwrap_or(MAX_INTERVAL)
                .min(MAX_INTERVAL);
            self.next_slot = at + interval;
        }
    }

    fn recent_rate(&self, now: Instant, tuning: &ThrottleTuning) -> f64 {
        decayed(self.recent, self.recent_at, now, tuning.rate_window)
    }

    /// About the requests admitted in the last `measure_window`.
    fn used(&self, now: Instant, tuning: &ThrottleTuning) -> f64 {
        let window = tuning.measure_window.as_secs_f64().max(1e-3);
        decayed(self.minute, self.recent_at, now, tuning.measure_window) * window
    }

    /// Throttled recently and not known to be below its limit.
    fn hot(&self) -> bool {
        self.episode.is_some() && !matches!((self.rate, self.measured), (Some(r), Some(m)) if r < m)
    }

    /// Paced below the limit measured at the last episode.
    fn below_measured(&self) -> bool {
        self.episode.is_some() && matches!((self.rate, self.measured), (Some(r), Some(m)) if r < m)
    }

    /// Paced at or above the limit measured at the last episode.
    fn probing(&self) -> bool {
        self.episode.is_some() && matches!((self.rate, self.measured), (Some(r), Some(m)) if r >= m)
    }

    fn admit(&mut self, now: Instant, tuning: &ThrottleTuning) {
        self.recent =
            self.recent_rate(now, tuning) + 1.0 / tuning.rate_window.as_secs_f64().max(1e-3);
        self.minute = decayed(self.minute, self.recent_at, now, tuning.measure_window)
            + 1.0 / tuning.measure_window.as_secs_f64().max(1e-3);
        self.recent_at = now;
        self.admitted += 1;
        self.last_used = now;
        if now >= self.paused_until
            && let Some(rate) = self.rate
        {
            self.rate = Some(rate + tuning.increase);
        }
    }

    fn forget_if_stale(&mut self, now: Instant, tuning: &ThrottleTuning) {
        let Some(episode) = self.episode else {
            return;
        };
        let age = now.saturating_duration_since(episode);
        if age >= tuning.forget_after && now >= self.paused_until {
            *self = Key {
                recent: self.recent,
                minute: self.minute,
                recent_at: self.recent_at,
                last_used: self.last_used,
                epoch: self.epoch,
                is_partner: self.is_partner,
                ..Key::new(now)
            };
        } else if age > tuning.blame_window {
            self.provisional = None;
        }
    }

    fn extend_pause(&mut self, until: Instant, epoch: u64) {
        if until > self.paused_until {
            self.paused_until = until;
            self.next_slot = self.next_slot.max(until);
            self.epoch = epoch;
        }
    }

    /// The highest rate measured in the last `forget_after`.
    fn recent_peak(&self, now: Instant, tuning: &ThrottleTuning) -> Option<f64> {
        self.peak
            .filter(|(_, at)| now.saturating_duration_since(*at) <= tuning.forget_after)
            .map(|(peak, _)| peak)
    }

    fn begin_episode(&mut self, now: Instant, until: Instant, tuning: &ThrottleTuning, epoch: u64) {
        let observed = match self.episode {
            // The time since an unconfirmed episode may be our own pause: the pace
            // is cut from what it was, and the last measurement stands.
            Some(_) if !self.confirmed => None,
            Some(start) if now > start && now - start <= tuning.measure_window => {
                let measured = self.admitted as f64 / (now - start).as_secs_f64();
                // Too few admitted is no measurement (the server may not have been
                // asked, or the 429s were not a bucket's): then the pace is cut
                // from what it was.
                let enough = if self.is_partner {
                    MIN_SAMPLES as u64
                } else {
                    1
                };
                self.measured = (self.admitted >= enough).then_some(measured);
                self.measured
            }
            _ => {
                self.measured = None;
                let recent = self.recent_rate(now, tuning);
                (recent * tuning.rate_window.as_secs_f64() >= MIN_SAMPLES).then_some(recent)
            }
        };
        let base = match (observed, self.rate) {
            (Some(observed), Some(rate)) => Some(observed.min(rate)),
            (observed, rate) => observed.or(rate),
        };
        if let Some(measured) = self.measured
            && self
                .recent_peak(now, tuning)
                .is_none_or(|peak| measured >= peak)
        {
            self.peak = Some((measured, now));
        }
        let floor = if self.is_partner {
            let peak = self.recent_peak(now, tuning).unwrap_or(0.0);
            (peak * PARTNER_FLOOR_SHARE).max(tuning.partner_floor)
        } else {
            0.0
        };
        self.rate = base.map(|base| {
            (base * tuning.decrease)
                .max(floor)
                .max(tuning.min_rate.max(1e-6))
        });
        self.episode = Some(now);
        self.confirmed = true;
        self.admitted = 0;
        self.provisional = None;
        self.late = (0, 0);
        self.paused_until = self.paused_until.max(until);
        self.next_slot = self.paused_until;
        self.epoch = epoch;
    }
}

/// `value` (a rate) at `at`, decayed to `now` with time constant `window`.
fn decayed(value: f64, at: Instant, now: Instant, window: Duration) -> f64 {
    let age = now.saturating_duration_since(at).as_secs_f64();
    value * (-age / window.as_secs_f64().max(1e-3)).exp()
}

/// The adaptive limiter of one client (one partner tenant): pure, the time is an
/// argument.
#[derive(Debug)]
pub struct Limiter {
    tuning: ThrottleTuning,
    partner: Key,
    customers: HashMap<String, Key>,
    /// The last unexplained 429 (a provisional blame): when, on which customer, and
    /// `admitted_total` at that moment.
    unexplained: Option<(Instant, String, u64)>,
    /// Requests admitted on any key.
    admitted_total: u64,
    epochs: u64,
    swept_at: Instant,
}

impl Limiter {
    pub fn new(tuning: ThrottleTuning, now: Instant) -> Limiter {
        Limiter {
            tuning,
            // A partner's limit is hundreds a minute: a `Retry-After` refills
            // several requests' worth, so fewer than a handful admitted between two
            // episodes means 429s that were not its bucket's (Partner Center also
            // refuses at random), and measuring our own trickle would collapse the
            // pace. Customers' limits may be that small.
            partner: Key {
                is_partner: true,
                ..Key::new(now)
            },
            customers: HashMap::new(),
            unexplained: None,
            admitted_total: 0,
            epochs: 0,
            swept_at: now,
        }
    }

    /// Reserves the next slot for a request of `scope`.
    pub fn reserve(&mut self, scope: &Scope, now: Instant) -> Admission {
        self.sweep(now);
        let tuning = self.tuning;
        let mut customer = match scope {
            Scope::Partner => None,
            Scope::Customer(id) => {
                let key = self
                    .customers
                    .entry(id.clone())
                    .or_insert_with(|| Key::new(now));
                key.forget_if_stale(now, &tuning);
                key.last_used = now;
                let ready = key.ready();
                if ready > now {
                    return Admission::Wait(ready);
                }
                Some(key)
            }
        };
        let partner = &mut self.partner;
        partner.forget_if_stale(now, &tuning);
        partner.last_used = now;
        let at = partner.ready().max(now);
        partner.take_slot(at);
        if let Some(key) = customer.as_mut() {
            key.take_slot(at);
        }
        Admission::Send(Grant {
            at,
            partner_epoch: partner.epoch,
            customer_epoch: customer.map(|key| key.epoch),
        })
    }

    /// Whether a grant still holds when its time comes (no pause or cut since).
    pub fn confirm(&self, scope: &Scope, grant: &Grant) -> bool {
        let customer_epoch = match scope {
            Scope::Partner => None,
            Scope::Customer(id) => self.customers.get(id).map(|key| key.epoch),
        };
        self.partner.epoch == grant.partner_epoch && customer_epoch == grant.customer_epoch
    }

    /// The server let a request of `scope` sent at `sent_at` through (any answer but
    /// 429).
    pub fn admitted(&mut self, scope: &Scope, sent_at: Instant, now: Instant) {
        let tuning = self.tuning;
        self.admitted_total += 1;
        let partner = &mut self.partner;
        if partner.episode.is_some_and(|start| sent_at < start) {
            partner.late.0 += 1;
            let (admitted, refused) = partner.late;
            if admitted >= LATE_ADMITTED
                && admitted > refused
                && let Some(before) = partner.provisional.take()
            {
                self.epochs += 1;
                *partner = *before;
                partner.epoch = self.epochs;
            }
        }
        partner.admit(now, &tuning);
        if let Scope::Customer(id) = scope {
            self.customers
                .entry(id.clone())
                .or_insert_with(|| Key::new(now))
                .admit(now, &tuning);
        }
    }

    /// A request of `scope` sent at `sent_at` was answered 429 at `now`; `pause` is
    /// how long Partner Center asked to wait. Returns who was blamed (see the
    /// module documentation).
    pub fn throttled(
        &mut self,
        scope: &Scope,
        sent_at: Instant,
        pause: Duration,
        now: Instant,
    ) -> Blame {
        let tuning = self.tuning;
        let until = now + pause;
        self.epochs += 1;
        let epoch = self.epochs;
        self.partner.forget_if_stale(now, &tuning);
        if self.partner.episode.is_some_and(|start| sent_at < start) {
            self.partner.late.1 += 1;
            self.partner.confirmed = true;
            self.partner.extend_pause(until, epoch);
            return Blame::SameEpisode;
        }
        let id = match scope {
            Scope::Partner => {
                let before = Box::new(self.partner.clone());
                self.partner.begin_episode(now, until, &tuning, epoch);
                self.partner.provisional = Some(before);
                return Blame::Partner;
            }
            Scope::Customer(id) => id,
        };
        let customer = self
            .customers
            .entry(id.clone())
            .or_insert_with(|| Key::new(now));
        customer.forget_if_stale(now, &tuning);
        if customer.episode.is_some_and(|start| sent_at < start) {
            customer.extend_pause(until, epoch);
            return Blame::SameEpisode;
        }
        if customer.hot() {
            let rate = customer.rate;
            customer.begin_episode(now, until, &tuning, epoch);
            if !tuning.pace_customers {
                customer.rate = rate;
            }
            return Blame::Customer { provisional: false };
        }
        // Refused before a handful of its requests got through in the last minute:
        // not over any plausible limit of its own.
        let fresh = customer.used(now, &tuning) < MIN_SAMPLES;
        let spill = self.unexplained.take_if(|(at, other, admitted)| {
            fresh
                && other != id
                && self.admitted_total - *admitted <= BACK_TO_BACK
                && now.saturating_duration_since(*at) <= tuning.blame_window
        });
        if let Some((_, other, _)) = &spill
            && let Some(key) = self.customers.get_mut(other)
            && let Some(before) = key.provisional.take()
        {
            *key = *before;
            key.epoch = epoch;
        }
        if self.partner.probing() || spill.is_some() {
            // Always provisional: a 429 that does not come from an empty bucket (a
            // throttle of Partner Center's own, unrelated to our rate) is followed
            // by the admission of the requests in flight with it, which withdraws
            // the episode (see `admitted`). Without this, such 429s each cut a
            // probing partner again and the pace collapses to a request a second.
            let before = Box::new(self.partner.clone());
            self.partner.begin_episode(now, until, &tuning, epoch);
            self.partner.confirmed = spill.is_none();
            self.partner.provisional = Some(before);
            return Blame::Partner;
        }
        let customer = self.customers.get_mut(id).expect("inserted above");
        // A 429 that is not the partner's, on a customer paced below what its
        // bucket admitted last time, is not its limit either (Partner Center also
        // throttles for reasons of its own). Cutting again would compound: each
        // such 429 would measure the customer at its own reduced pace and cut it
        // further, down to a request every few seconds.
        // A second one soon after is the customer's limit after all (the last
        // measurement overestimated it).
        if customer.below_measured() {
            let repeated = customer
                .noise_at
                .is_some_and(|at| now.saturating_duration_since(at) <= pause * 2);
            customer.noise_at = Some(now);
            if !repeated {
                return Blame::Noise;
            }
        }
        customer.noise_at = None;
        let before = Box::new(customer.clone());
        customer.begin_episode(now, until, &tuning, epoch);
        if !tuning.pace_customers {
            customer.rate = before.rate;
        }
        customer.provisional = Some(before);
        self.unexplained = Some((now, id.clone(), self.admitted_total));
        Blame::Customer { provisional: true }
    }

    /// Drops customer keys that hold nothing worth keeping.
    fn sweep(&mut self, now: Instant) {
        if now.saturating_duration_since(self.swept_at) < SWEEP_EVERY {
            return;
        }
        self.swept_at = now;
        let tuning = self.tuning;
        let idle = tuning.measure_window;
        self.customers.retain(|_, key| {
            key.forget_if_stale(now, &tuning);
            key.episode.is_some()
                || key.paused_until > now
                || now.saturating_duration_since(key.last_used) < idle
        });
    }
}

/// [`Limiter`] for concurrent tasks: `acquire` sleeps until a request may go.
#[derive(Debug)]
pub struct Throttle {
    limiter: Mutex<Limiter>,
}

impl Throttle {
    pub fn new(tuning: ThrottleTuning) -> Throttle {
        Throttle {
            limiter: Mutex::new(Limiter::new(tuning, Instant::now())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Limiter> {
        // The limiter's state stays consistent between calls; a panic elsewhere
        // while holding the lock is no reason to stop pacing.
        self.limiter.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until a request of `scope` may be sent; returns the time it goes (to
    /// give back to [`Throttle::throttled`]).
    pub async fn acquire(&self, scope: &Scope) -> Instant {
        loop {
            let now = Instant::now();
            let admission = self.lock().reserve(scope, now);
            match admission {
                Admission::Send(grant) if grant.at <= now => return now,
                Admission::Send(grant) => {
                    tokio::time::sleep_until(grant.at).await;
                    let confirmed = self.lock().confirm(scope, &grant);
                    if confirmed {
                        return Instant::now();
                    }
                }
                Admission::Wait(at) => tokio::time::sleep_until(at).await,
            }
        }
    }

    /// See [`Limiter::admitted`].
    pub fn admitted(&self, scope: &Scope, sent_at: Instant) {
        self.lock().admitted(scope, sent_at, Instant::now());
    }

    /// See [`Limiter::throttled`].
    pub fn throttled(&self, scope: &Scope, sent_at: Instant, pause: Duration) -> Blame {
        self.lock().throttled(scope, sent_at, pause, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    use super::*;

    /// The defaults with customer pacing on, the mode most of these tests examine,
    /// and no absolute floor under the partner, so its logic can be examined at a
    /// few requests a second.
    fn pacing_customers() -> ThrottleTuning {
        ThrottleTuning {
            pace_customers: true,
            partner_floor: 0.0,
            ..ThrottleTuning::default()
        }
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn customer(id: &str) -> Scope {
        Scope::Customer(id.to_owned())
    }

    /// Reserves at `now` and expects to go at once; returns the send time.
    fn go(limiter: &mut Limiter, scope: &Scope, now: Instant) -> Instant {
        match limiter.reserve(scope, now) {
            Admission::Send(grant) if grant.at == now => now,
            other => panic!("expected to go at once, got {other:?}"),
        }
    }

    /// `n` requests admitted evenly over `over` from `start`; returns the end.
    fn traffic(limiter: &mut Limiter, scope: &Scope, start: Instant, n: u32, over: f64) -> Instant {
        for i in 0..n {
            let at = start + secs(over * f64::from(i) / f64::from(n));
            limiter.admitted(scope, at, at);
        }
        start + secs(over)
    }

    #[test]
    fn scope_follows_the_path() {
        let c = "cccccccc-0000-0000-0000-000000000001";
        for (path, scope) in [
            (
                "/customers/CCCCCCCC-0000-0000-0000-000000000001/subscriptions",
                customer(c),
            ),
            (&format!("/customers/{c}"), customer(c)),
            (&format!("/customers/{c}?x=1"), customer(c)),
            (
                &format!("/customers/{c}/agreements?agreementType=MicrosoftCustomerAgreement"),
                customer(c),
            ),
            (
                &format!("/customers/{c}/subscriptions/s1/supportcontact"),
                customer(c),
            ),
            ("/customers?size=500", Scope::Partner),
            ("/customers?size=500&seekOperation=Next", Scope::Partner),
            ("/customers", Scope::Partner),
            ("/customers/", Scope::Partner),
            ("/customers/relationshiprequests", Scope::Partner),
            (
                "/relationships?relationship_type=IsIndirectCloudSolutionProviderOf",
                Scope::Partner,
            ),
            ("/profiles/mpn", Scope::Partner),
            ("/agreements?agreementType=x", Scope::Partner),
        ] {
            assert_eq!(Scope::of_path(path), scope, "{path}");
        }
    }

    #[test]
    fn starts_unlimited() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(pacing_customers(), t0);
        for i in 0..1000 {
            go(&mut limiter, &customer(&format!("c{}", i % 7)), t0);
            go(&mut limiter, &Scope::Partner, t0);
        }
    }

    #[test]
    fn a_429_pauses_the_key_and_cuts_once_per_episode() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(pacing_customers(), t0);
        let p = Scope::Partner;
        // 100 requests a second for a while, eight in flight at the 429.
        let t1 = traffic(&mut limiter, &p, t0, 500, 5.0);
        let blame = limiter.throttled(&p, t1 - secs(0.01), secs(3.0), t1);
        assert_eq!(blame, Blame::Partner);
        let rate = limiter.partner.rate.expect("paced after a 429");
        // `decrease` × the recent admitted rate (about 100/s).
        let decrease = pacing_customers().decrease;
        assert!((rate / decrease - 95.0).abs() < 5.0, "{rate}");
        // Every request waits for Retry-After.
        match limiter.reserve(&p, t1 + secs(1.0)) {
            Admission::Send(grant) => assert_eq!(grant.at, t1 + secs(3.0)),
            other => panic!("{other:?}"),
        }
        match limiter.reserve(&customer("c"), t1 + secs(1.0)) {
            Admission::Send(grant) => assert!(grant.at > t1 + secs(3.0), "paced after it"),
            other => panic!("{other:?}"),
        }
        // The other requests in flight are the same episode: no further cut, but a
        // later Retry-After extends the pause.
        for i in 0..7 {
            let sent = t1 - secs(0.01 * f64::from(i + 1));
            let blame = limiter.throttled(&customer(&format!("c{i}")), sent, secs(4.0), t1);
            assert_eq!(blame, Blame::SameEpisode);
        }
        assert_eq!(limiter.partner.rate, Some(rate));
        assert_eq!(limiter.partner.paused_until, t1 + secs(4.0));
        // After the pause, requests are spaced 1/rate apart.
        let t2 = t1 + secs(4.0);
        let interval = Duration::from_secs_f64(1.0 / rate);
        for i in 0..5 {
            match limiter.reserve(&p, t2) {
                Admission::Send(grant) => assert_eq!(grant.at, t2 + interval * i),
                other => panic!("{other:?}"),
            }
        }
        // A request sent after the cut and refused starts a new episode, measured:
        // 100 admitted in the 5 s since the last one began.
        let t3 = traffic(&mut limiter, &p, t2, 100, 1.0);
        let blame = limiter.throttled(&p, t3 - secs(0.01), secs(1.0), t3);
        assert_eq!(blame, Blame::Partner);
        let measured = limiter.partner.measured.expect("measured");
        assert!((measured - 20.0).abs() < 1e-9, "{measured}");
        let cut = limiter.partner.rate.unwrap();
        assert!((cut - 20.0 * decrease).abs() < 1e-9, "{cut}");
        // A limit measured below half the peak is paced at that floor: requests
        // beyond it wait their Retry-After.
        let t4 = traffic(&mut limiter, &p, t3 + secs(1.0), 4, 1.0);
        limiter.throttled(&p, t4 - secs(0.01), secs(1.0), t4);
        assert!((limiter.partner.measured.unwrap() - 4.0 / 2.0).abs() < 1e-9);
        assert_eq!(
            limiter.partner.rate,
            Some(PARTNER_FLOOR_RATE.max(20.0 * 0.5))
        );
    }

    #[test]
    fn a_grant_made_before_a_pause_is_not_honoured() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(pacing_customers(), t0);
        let p = Scope::Partner;
        let t1 = traffic(&mut limiter, &p, t0, 50, 1.0);
        limiter.throttled(&p, t1, secs(1.0), t1);
        let grant = match limiter.reserve(&p, t1) {
            Admission::Send(grant) => grant,
            other => panic!("{other:?}"),
        };
        assert!(limiter.confirm(&p, &grant));
        // An in-flight request's later Retry-After extends the pause.
        limiter.throttled(&customer("c"), t1 - secs(0.1), secs(2.0), t1);
        assert!(!limiter.confirm(&p, &grant));
    }

    #[test]
    fn the_rate_recovers_with_traffic_and_is_forgotten() {
        let tuning = pacing_customers();
        let t0 = Instant::now();
        let mut limiter = Limiter::new(tuning, t0);
        let p = Scope::Partner;
        let t1 = traffic(&mut limiter, &p, t0, 40, 2.0);
        limiter.throttled(&p, t1, secs(1.0), t1);
        let t2 = traffic(&mut limiter, &p, t1 + secs(1.0), 10, 1.0);
        limiter.throttled(&p, t2, secs(1.0), t2);
        let cut = limiter.partner.rate.unwrap();
        assert!(!limiter.partner.probing(), "below the measured limit");
        // No growth while idle.
        limiter.reserve(&p, t2 + secs(30.0));
        assert_eq!(limiter.partner.rate, Some(cut));
        // +2 % of the rate per second of traffic at that rate: 100 admitted requests
        // add 2/s.
        let t3 = traffic(&mut limiter, &p, t2 + secs(30.0), 100, 20.0);
        let grown = limiter.partner.rate.unwrap();
        assert!((grown - cut - 100.0 * tuning.increase).abs() < 1e-9);
        assert!(
            limiter.partner.probing(),
            "{grown} vs {:?}",
            limiter.partner.measured
        );
        // Five minutes without a 429: unlimited again.
        let t4 = t2 + tuning.forget_after;
        assert!(t4 > t3);
        go(&mut limiter, &p, t4);
        go(&mut limiter, &p, t4);
        assert_eq!(limiter.partner.rate, None);
        assert_eq!(limiter.partner.episode, None);
    }

    #[test]
    fn a_lone_customer_429_is_the_customers() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(pacing_customers(), t0);
        let (a, b) = (customer("a"), customer("b"));
        let t1 = traffic(&mut limiter, &a, t0, 20, 1.0);
        let blame = limiter.throttled(&a, t1, secs(5.0), t1);
        assert_eq!(blame, Blame::Customer { provisional: true });
        // The customer waits; the partner and other customers do not.
        assert_eq!(
            limiter.reserve(&a, t1 + secs(1.0)),
            Admission::Wait(t1 + secs(5.0))
        );
        go(&mut limiter, &Scope::Partner, t1 + secs(1.0));
        go(&mut limiter, &b, t1 + secs(1.0));
        assert_eq!(limiter.partner.rate, None);
        // Customers over their own limits, with other requests admitted in between,
        // stay the customers'.
        traffic(&mut limiter, &b, t1 + secs(1.0), 5, 0.1);
        let blame = limiter.throttled(&b, t1 + secs(1.15), secs(5.0), t1 + secs(1.2));
        assert_eq!(blame, Blame::Customer { provisional: true });
        assert_eq!(limiter.partner.episode, None);
        // A hot customer takes the blame for its next 429, measured.
        let t2 = traffic(&mut limiter, &a, t1 + secs(5.0), 2, 5.0);
        let blame = limiter.throttled(&a, t2, secs(5.0), t2);
        assert_eq!(blame, Blame::Customer { provisional: false });
        let measured = limiter.customers["a"].measured.unwrap();
        assert!((measured - 0.2).abs() < 1e-9, "{measured}");
    }

    #[test]
    fn two_customers_refused_back_to_back_blame_the_partner() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(pacing_customers(), t0);
        let (a, b) = (customer("a"), customer("b"));
        let t1 = traffic(&mut limiter, &Scope::Partner, t0, 200, 1.0);
        let t1 = traffic(&mut limiter, &a, t1, 3, 0.01);
        let blame = limiter.throttled(&a, t1 - secs(0.002), secs(1.0), t1);
        assert_eq!(blame, Blame::Customer { provisional: true });
        let blame = limiter.throttled(&b, t1 - secs(0.001), secs(1.0), t1 + secs(0.001));
        assert_eq!(blame, Blame::Partner);
        // Customer a's provisional blame is withdrawn; the partner is paced.
        assert_eq!(limiter.customers["a"].episode, None);
        assert!(limiter.partner.rate.is_some());
        // A partner-scoped 429 is always the partner's.
        let t2 = t1 + secs(2.0);
        assert_eq!(
            limiter.throttled(&Scope::Partner, t2, secs(1.0), t2),
            Blame::Partner
        );
    }

    #[test]
    fn a_probing_partner_takes_the_blame() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(pacing_customers(), t0);
        let p = Scope::Partner;
        let t1 = traffic(&mut limiter, &p, t0, 50, 1.0);
        limiter.throttled(&p, t1, secs(1.0), t1);
        let t2 = traffic(&mut limiter, &p, t1 + secs(1.0), 10, 1.0);
        limiter.throttled(&p, t2, secs(1.0), t2);
        // Below its measured limit: a lone customer 429 is the customer's.
        let c = customer("c");
        let t3 = traffic(&mut limiter, &c, t2 + secs(1.0), 5, 1.0);
        assert_eq!(
            limiter.throttled(&c, t3, secs(1.0), t3),
            Blame::Customer { provisional: true }
        );
        // Above it (after growth), the partner's bucket is the one being drained.
        let d = customer("d");
        let t4 = traffic(&mut limiter, &d, t3 + secs(3.0), 200, 20.0);
        assert!(limiter.partner.probing());
        assert_eq!(limiter.throttled(&d, t4, secs(1.0), t4), Blame::Partner);
    }

    #[test]
    fn idle_customer_keys_are_swept() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(pacing_customers(), t0);
        for i in 0..5000 {
            let c = customer(&format!("c{i}"));
            go(&mut limiter, &c, t0);
            limiter.admitted(&c, t0, t0);
        }
        let throttled = customer("c42");
        limiter.throttled(&throttled, t0, secs(1.0), t0);
        assert_eq!(limiter.customers.len(), 5000);
        go(&mut limiter, &customer("new"), t0 + secs(60.0));
        // The throttled customer is kept (until `forget_after`), the new one too.
        assert_eq!(limiter.customers.len(), 2);
        assert!(limiter.customers.contains_key("c42"));
        go(&mut limiter, &customer("new"), t0 + secs(400.0));
        assert_eq!(limiter.customers.len(), 1);
    }

    #[test]
    fn customers_that_used_their_own_burst_do_not_blame_the_partner() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(pacing_customers(), t0);
        let (a, b) = (customer("a"), customer("b"));
        traffic(&mut limiter, &a, t0, 6, 0.01);
        let t1 = traffic(&mut limiter, &b, t0, 6, 0.01);
        let blame = limiter.throttled(&a, t1, secs(10.0), t1);
        assert_eq!(blame, Blame::Customer { provisional: true });
        // Back to back, nothing admitted in between, but b has had six requests
        // through: its own limit is as likely.
        let blame = limiter.throttled(&b, t1, secs(10.0), t1 + secs(0.001));
        assert_eq!(blame, Blame::Customer { provisional: true });
        assert_eq!(limiter.partner.episode, None);
    }

    /// Two fresh customers refused back to back blame the partner; the answers to
    /// the requests in flight then tell whether its bucket was empty.
    fn inferred_partner_episode(limiter: &mut Limiter, t0: Instant) -> Instant {
        let (a, b) = (customer("a"), customer("b"));
        let t1 = traffic(limiter, &Scope::Partner, t0, 100, 1.0);
        assert_eq!(
            limiter.throttled(&a, t1 - secs(0.002), secs(1.0), t1),
            Blame::Customer { provisional: true }
        );
        let t2 = t1 + secs(0.001);
        assert_eq!(
            limiter.throttled(&b, t1 - secs(0.001), secs(1.0), t2),
            Blame::Partner
        );
        t2
    }

    #[test]
    fn a_partner_episode_refuted_by_requests_in_flight_is_withdrawn() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(pacing_customers(), t0);
        let t2 = inferred_partner_episode(&mut limiter, t0);
        assert!(limiter.partner.rate.is_some());
        // Three requests sent before the episode began are admitted after it: the
        // partner's bucket was not empty.
        for i in 1..=3 {
            let c = customer(&format!("other{i}"));
            limiter.admitted(&c, t2 - secs(0.001), t2 + secs(0.001 * f64::from(i)));
        }
        assert_eq!(limiter.partner.episode, None);
        assert_eq!(limiter.partner.rate, None);
        go(&mut limiter, &customer("c"), t2 + secs(0.01));
    }

    /// Partner Center answering a share of requests 429 whatever the rate: every
    /// one looks like an empty bucket, and the rate measured since the previous one
    /// includes our own pause. Without a floor each cut the pace further (20/s to
    /// under 1/s in 20 episodes); with it the pace stays at half the peak.
    #[test]
    fn random_partner_429s_do_not_collapse_the_pace() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(ThrottleTuning::default(), t0);
        let partner = Scope::Partner;
        // Unlimited at 20/s until the first 429, then one every 20 requests, each
        // followed by a one-second pause, at whatever pace the limiter sets.
        let mut now = traffic(&mut limiter, &partner, t0, 40, 2.0);
        limiter.throttled(&partner, now, secs(1.0), now);
        let mut peak: f64 = 0.0;
        for _ in 0..40 {
            now += secs(1.0);
            let rate = limiter.partner.rate.expect("paced after a 429");
            now = traffic(&mut limiter, &partner, now, 20, 20.0 / rate);
            limiter.throttled(&partner, now, secs(1.0), now);
            peak = peak.max(limiter.partner.peak.map_or(0.0, |(p, _)| p));
        }
        let rate = limiter.partner.rate.expect("paced");
        assert!(
            peak > 5.0,
            "a first measurement near the server's rate: {peak}"
        );
        assert!(
            rate >= peak * 0.5,
            "the pace {rate}/s fell under half the peak {peak}/s"
        );
        assert!(
            rate >= 500.0 / 60.0,
            "the pace {rate}/s fell under the documented 500 a minute"
        );
    }

    #[test]
    fn an_unconfirmed_partner_episode_is_not_measured_from() {
        for confirm in [false, true] {
            let t0 = Instant::now();
            let mut limiter = Limiter::new(pacing_customers(), t0);
            let t2 = inferred_partner_episode(&mut limiter, t0);
            if confirm {
                // A request in flight on another customer is refused too.
                let blame = limiter.throttled(&customer("x"), t2 - secs(0.001), secs(1.0), t2);
                assert_eq!(blame, Blame::SameEpisode);
            }
            let rate = limiter.partner.rate.unwrap();
            // After the pause, ten requests through, then two more fresh customers
            // refused back to back.
            let t3 = traffic(&mut limiter, &Scope::Partner, t2 + secs(1.0), 10, 0.05);
            limiter.throttled(&customer("d"), t3, secs(1.0), t3);
            let blame = limiter.throttled(&customer("e"), t3, secs(1.0), t3 + secs(0.001));
            assert_eq!(blame, Blame::Partner);
            let decrease = pacing_customers().decrease;
            if confirm {
                let measured = limiter.partner.measured.expect("measured");
                assert!((measured - 10.0 / 1.051).abs() < 0.01, "{measured}");
            } else {
                assert_eq!(limiter.partner.measured, None);
                let cut = limiter.partner.rate.unwrap();
                // Cut from the pace (grown by the ten admitted), not measured.
                assert!((cut - (rate + 0.1) * decrease).abs() < 1e-9, "{cut}");
            }
        }
    }

    /// A token bucket as `cspctl sim serve` keeps one (src/sim/faults.rs).
    struct Bucket {
        tokens: f64,
        at: Instant,
        per_minute: f64,
    }

    impl Bucket {
        fn new(per_minute: f64, now: Instant) -> Bucket {
            Bucket {
                tokens: per_minute,
                at: now,
                per_minute,
            }
        }
        fn take(&mut self, now: Instant) -> Result<(), Duration> {
            let rate = self.per_minute / 60.0;
            let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
            self.tokens = (self.tokens + elapsed * rate).min(self.per_minute);
            self.at = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                Ok(())
            } else {
                Err(Duration::from_secs(
                    ((1.0 - self.tokens) / rate).ceil().max(1.0) as u64,
                ))
            }
        }
    }

    struct Outcome {
        elapsed: f64,
        sent: u32,
        throttled: u32,
    }

    /// What a simulated worker does next.
    enum Step {
        Acquire,
        Confirm(Grant),
        Answer {
            sent_at: Instant,
            verdict: Result<(), Duration>,
        },
    }

    /// The event queue: each worker has one step pending.
    struct Events {
        queue: BinaryHeap<Reverse<(Instant, u64, usize)>>,
        steps: Vec<Option<Step>>,
        sequence: u64,
    }

    impl Events {
        fn at(&mut self, at: Instant, worker: usize, step: Step) {
            self.steps[worker] = Some(step);
            self.queue.push(Reverse((at, self.sequence, worker)));
            self.sequence += 1;
        }
        fn pop(&mut self) -> Option<(Instant, usize, Step)> {
            let Reverse((at, _, worker)) = self.queue.pop()?;
            Some((at, worker, self.steps[worker].take()?))
        }
    }

    /// Discrete-event simulation: `concurrency` workers send `requests` in order
    /// through the limiter to a server with the given limits and latency (the server
    /// decides halfway, the partner's bucket first, as the simulator does). Without
    /// `adaptive`, no limiter: each refused request sleeps its `Retry-After` (as
    /// cspctl did before).
    fn simulate(
        requests: &[Scope],
        concurrency: usize,
        latency: Duration,
        (partner_rpm, customer_rpm): (Option<f64>, Option<f64>),
        adaptive: bool,
    ) -> Outcome {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(pacing_customers(), t0);
        let mut partner = partner_rpm.map(|rpm| Bucket::new(rpm, t0));
        let mut customers: HashMap<String, Bucket> = HashMap::new();
        let workers = concurrency.min(requests.len());
        let mut events = Events {
            queue: BinaryHeap::new(),
            steps: (0..workers).map(|_| None).collect(),
            sequence: 0,
        };
        let mut current: Vec<usize> = (0..workers).collect();
        let mut next = workers;
        for worker in 0..workers {
            events.at(t0, worker, Step::Acquire);
        }
        let (mut sent, mut throttled, mut end) = (0, 0, t0);
        while let Some((now, worker, step)) = events.pop() {
            let scope = &requests[current[worker]];
            let go = match step {
                Step::Acquire if !adaptive => true,
                Step::Acquire => match limiter.reserve(scope, now) {
                    Admission::Send(grant) if grant.at <= now => true,
                    Admission::Send(grant) => {
                        events.at(grant.at, worker, Step::Confirm(grant));
                        false
                    }
                    Admission::Wait(at) => {
                        events.at(at, worker, Step::Acquire);
                        false
                    }
                },
                Step::Confirm(grant) if limiter.confirm(scope, &grant) => true,
                Step::Confirm(_) => {
                    events.at(now, worker, Step::Acquire);
                    false
                }
                Step::Answer {
                    sent_at,
                    verdict: Ok(()),
                } => {
                    if adaptive {
                        limiter.admitted(scope, sent_at, now);
                    }
                    end = now;
                    if next < requests.len() {
                        current[worker] = next;
                        next += 1;
                        events.at(now, worker, Step::Acquire);
                    }
                    false
                }
                Step::Answer {
                    sent_at,
                    verdict: Err(retry_after),
                } => {
                    if adaptive {
                        limiter.throttled(scope, sent_at, retry_after, now);
                        events.at(now, worker, Step::Acquire);
                    } else {
                        events.at(now + retry_after, worker, Step::Acquire);
                    }
                    false
                }
            };
            if go {
                sent += 1;
                let at = now + latency / 2;
                let mut verdict = partner.as_mut().map_or(Ok(()), |bucket| bucket.take(at));
                if verdict.is_ok()
                    && let (Some(rpm), Scope::Customer(id)) = (customer_rpm, scope)
                {
                    verdict = customers
                        .entry(id.clone())
                        .or_insert_with(|| Bucket::new(rpm, at))
                        .take(at);
                }
                if verdict.is_err() {
                    throttled += 1;
                }
                let answer = Step::Answer {
                    sent_at: now,
                    verdict,
                };
                events.at(now + latency, worker, answer);
            }
        }
        Outcome {
            elapsed: (end - t0).as_secs_f64(),
            sent,
            throttled,
        }
    }

    /// Like a plan's read: a few partner requests, then six per customer.
    fn plan_like(customers: usize) -> Vec<Scope> {
        let mut requests = vec![Scope::Partner; 2];
        for i in 0..customers {
            requests.extend(std::iter::repeat_n(customer(&format!("c{i}")), 6));
        }
        requests
    }

    #[test]
    fn holds_a_token_bucket_near_its_rate_with_few_429s() {
        let requests = plan_like(200);
        let ok = requests.len() as f64;
        // The benchmark's case: 600/min, eight concurrent requests, fast server.
        for latency in [0.002, 0.05, 0.2] {
            let run = simulate(&requests, 8, secs(latency), (Some(600.0), None), true);
            let bound = (ok - 600.0) / 10.0;
            let share = f64::from(run.throttled) / f64::from(run.sent);
            assert!(
                run.elapsed <= bound / 0.9 && share < 0.02,
                "latency {latency}: {:.1} s (bound {bound:.1} s), {} of {} answered 429",
                run.elapsed,
                run.throttled,
                run.sent
            );
        }
    }

    /// One customer with many requests (support contacts of a large tenant) is paced
    /// at its own limit, alone or among others under the partner's limit.
    #[test]
    fn a_large_customer_is_paced_at_its_own_limit() {
        let mut big = vec![Scope::Partner; 2];
        big.extend(std::iter::repeat_n(customer("big"), 1200));
        let run = simulate(&big, 8, secs(0.05), (None, Some(120.0)), true);
        let bound = (1200.0 - 120.0) / 2.0;
        assert!(
            run.elapsed <= bound / 0.95 && run.throttled * 20 < run.sent,
            "{:.1} s (bound {bound} s), {} of {} answered 429",
            run.elapsed,
            run.throttled,
            run.sent
        );
        let mixed = [plan_like(100), big, plan_like(100)].concat();
        let limits = (Some(600.0), Some(120.0));
        let run = simulate(&mixed, 8, secs(0.05), limits, true);
        let sleeping = simulate(&mixed, 8, secs(0.05), limits, false);
        assert!(
            run.elapsed <= sleeping.elapsed && run.throttled * 50 < run.sent,
            "{:.1} s ({:.1} s sleeping only), {} of {} answered 429",
            run.elapsed,
            sleeping.elapsed,
            run.throttled,
            run.sent
        );
    }

    /// Many customers over their own (tiny) limits at once look like the partner's
    /// limit at first; the partner must not end up throttled below what sleeping
    /// `Retry-After` per request achieves.
    #[test]
    fn customers_over_their_own_limits_do_not_stall_everyone() {
        let requests = plan_like(200);
        let limits = (None, Some(3.0));
        let run = simulate(&requests, 8, secs(0.002), limits, true);
        let sleeping = simulate(&requests, 8, secs(0.002), limits, false);
        assert!(
            run.elapsed <= sleeping.elapsed * 1.05 && run.throttled < sleeping.throttled,
            "{:.1} s, {} answered 429 ({:.1} s, {} sleeping only)",
            run.elapsed,
            run.throttled,
            sleeping.elapsed,
            sleeping.throttled
        );
    }

    /// The numbers in the report: `cargo test --lib throttle::tests::report --
    /// --ignored --nocapture`.
    #[test]
    #[ignore]
    fn report() {
        let mut big = vec![Scope::Partner; 2];
        big.extend(std::iter::repeat_n(customer("big"), 1200));
        for (requests, latency, limits) in [
            (big.clone(), 0.002, (None, Some(120.0))),
            (big.clone(), 0.2, (None, Some(120.0))),
            (big.clone(), 0.002, (Some(600.0), Some(120.0))),
            (
                [plan_like(100), big.clone(), plan_like(100)].concat(),
                0.002,
                (Some(600.0), Some(120.0)),
            ),
        ] {
            for adaptive in [false, true] {
                let run = simulate(&requests, 8, secs(latency), limits, adaptive);
                println!(
                    "{} requests (one large customer), latency {latency} s, limits {limits:?}/min, {}: {:.1} s, {} sent, {} answered 429 ({:.2} %)",
                    requests.len(),
                    if adaptive { "adaptive" } else { "sleep only" },
                    run.elapsed,
                    run.sent,
                    run.throttled,
                    100.0 * f64::from(run.throttled) / f64::from(run.sent)
                );
            }
        }
        for (customers, latency, limits) in [
            (200, 0.002, (Some(600.0), None)),
            (200, 0.2, (Some(600.0), None)),
            (2000, 0.2, (Some(500.0), None)),
            (200, 0.002, (None, Some(30.0))),
            (200, 0.002, (None, Some(3.0))),
            (200, 0.002, (Some(600.0), Some(3.0))),
        ] {
            let requests = plan_like(customers);
            for adaptive in [false, true] {
                let run = simulate(&requests, 8, secs(latency), limits, adaptive);
                println!(
                    "{customers} customers, latency {latency} s, limits {limits:?}/min, {}: {:.1} s, {} sent, {} answered 429 ({:.2} %)",
                    if adaptive { "adaptive" } else { "sleep only" },
                    run.elapsed,
                    run.sent,
                    run.throttled,
                    100.0 * f64::from(run.throttled) / f64::from(run.sent)
                );
            }
        }
    }
}
