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
//!
//! Layout: [`Scope`] and [`ThrottleTuning`] here, with [`Throttle`], the limiter for
//! tasks that sleep; `limiter` holds the decisions ([`Limiter`]: keys, blame,
//! episodes), `key` one key's pace and measurements.

mod key;
mod limiter;
#[cfg(test)]
mod tests;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use self::limiter::PARTNER_FLOOR_RATE;
pub use self::limiter::{Admission, Blame, Grant, Limiter};

/// Path segments after `/customers/` that are partner-level resources, not a
/// customer id (the simulator keys them the same way).
const PARTNER_LEVEL: &[&str] = &["relationshiprequests"];

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
