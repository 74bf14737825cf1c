//! The adaptive limiter's decisions, pure (the time is an argument): which key a
//! request waits for, whom a 429 is blamed on, when an episode begins and is
//! measured, when a customer key is forgotten. See the parent module for the
//! algorithm.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::key::Key;
use super::{Scope, ThrottleTuning};

/// Fewer admitted requests than this within `rate_window` is no rate estimate.
pub(super) const MIN_SAMPLES: f64 = 4.0;
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
pub(super) const PARTNER_FLOOR_SHARE: f64 = 0.5;
/// Nor below Partner Center's documented limit of 500 requests a minute per tenant
/// (partner-center-api.md §4): the peak itself is measured at whatever pace the work
/// allowed, which on a busy machine may be a few requests a second, and a client
/// that keeps to the documented limit has no reason to go slower. A partner whose
/// share is smaller (other applications use the same limit) gets `Retry-After`
/// pauses instead of a slower pace.
pub(super) const PARTNER_FLOOR_RATE: f64 = 500.0 / 60.0;
/// Two 429s on different keys with at most this many requests admitted in between
/// are "back to back": answers of requests in flight together arrive in any order.
pub(super) const BACK_TO_BACK: u64 = 2;
/// A partner episode inferred from back-to-back 429s is withdrawn when at least
/// this many requests in flight when it began are admitted (and more than are
/// refused): the partner's bucket was not empty.
pub(super) const LATE_ADMITTED: u32 = 3;
/// Customer keys are swept at most this often.
pub(super) const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// The longest spacing pacing ever asks for.
pub(super) const MAX_INTERVAL: Duration = Duration::from_secs(3600);

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

/// The adaptive limiter of one client (one partner tenant): pure, the time is an
/// argument.
#[derive(Debug)]
pub struct Limiter {
    pub(super) tuning: ThrottleTuning,
    pub(super) partner: Key,
    pub(super) customers: HashMap<String, Key>,
    /// The last unexplained 429 (a provisional blame): when, on which customer, and
    /// `admitted_total` at that moment.
    pub(super) unexplained: Option<(Instant, String, u64)>,
    /// Requests admitted on any key.
    pub(super) admitted_total: u64,
    pub(super) epochs: u64,
    pub(super) swept_at: Instant,
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
                let key = customer_key(&mut self.customers, id, now);
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
            customer_key(&mut self.customers, id, now).admit(now, &tuning);
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
                self.partner
                    .begin_provisional_episode(now, until, &tuning, epoch);
                return Blame::Partner;
            }
            Scope::Customer(id) => id,
        };
        let customer = customer_key(&mut self.customers, id, now);
        customer.forget_if_stale(now, &tuning);
        if customer.episode.is_some_and(|start| sent_at < start) {
            customer.extend_pause(until, epoch);
            return Blame::SameEpisode;
        }
        if customer.hot() {
            customer.begin_episode(now, until, &tuning, epoch);
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
            self.partner
                .begin_provisional_episode(now, until, &tuning, epoch);
            self.partner.confirmed = spill.is_none();
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
        customer.begin_provisional_episode(now, until, &tuning, epoch);
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

/// The key of customer `id`, made on first use.
fn customer_key<'a>(
    customers: &'a mut HashMap<String, Key>,
    id: &str,
    now: Instant,
) -> &'a mut Key {
    customers
        .entry(id.to_owned())
        .or_insert_with(|| Key::new(now))
}
