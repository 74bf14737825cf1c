//! Injected faults: latency, throttling (429), server errors (503), responses dropped
//! after the change was committed, and read-after-create lag; and the documented
//! answer-shape [`Variants`] (byte-order mark, PascalCase keys, the documented
//! subscription, pending and split checkouts, 202 subscription updates).
//!
//! Every random-looking decision comes from [`splitmix64`](crate::ids::splitmix64) over (fault seed, request
//! number, fault kind), so a run with the same seed and the same request sequence
//! fails the same requests. Throttling is the exception: it uses token buckets in
//! real time, because that is what a client's back-off reacts to.

use std::collections::HashMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::ids::splitmix64;

/// Fault configuration for a run; `Default` injects nothing. Also the body of
/// `GET|PUT /_sim/faults`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Added latency in milliseconds: fixed when `latency_max_ms <= latency_min_ms`,
    /// otherwise drawn from `[min, max]`.
    pub latency_min_ms: u64,
    pub latency_max_ms: u64,
    /// Requests per minute per partner tenant before 429 (`None` = unlimited).
    pub partner_requests_per_minute: Option<u32>,
    /// Requests per minute per (partner, customer) before 429 (`None` = unlimited).
    pub customer_requests_per_minute: Option<u32>,
    /// Fraction (0..=1) of `/v1` requests answered 503 before doing anything.
    pub server_error_rate: f64,
    /// Fraction (0..=1) of `/v1` requests answered 429 with `Retry-After: 1`
    /// whatever the buckets say: throttling as a rate, for reliability tests.
    pub throttle_rate: f64,
    /// Fraction (0..=1) of mutating `/v1` requests whose change is committed and
    /// whose connection then closes without an answer.
    pub drop_after_commit_rate: f64,
    /// Seconds after creation during which `GET /v1/customers/{id}` answers 404.
    pub read_after_create_lag_seconds: u64,
    /// Subscriptions still provisioning are left out of `GET …/subscriptions`
    /// (GET by id still finds them): the worst case a client must survive, where a
    /// purchase under way is invisible in the list a plan reads.
    pub pending_subscriptions_unlisted: bool,
    /// Documented answer shapes, each served to a share of the requests.
    pub variants: Variants,
    /// Seed of the decision generator.
    pub seed: u64,
}

/// The answer shapes Partner Center's documentation shows besides the simulator's
/// default one, each as a rate in 0..=1: the share of `/v1` requests answered in that
/// shape (1 = always, 0 = never). Each is drawn per request from its own stream, so
/// turning one on does not move the requests another hits. `docs/simulator.md`
/// lists the documentation page behind each.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Variants {
    /// The JSON body starts with the UTF-8 byte-order mark (EF BB BF).
    pub bom: f64,
    /// Object keys in PascalCase (`Id`, `LineItems`); enum values unchanged.
    pub pascal_case: f64,
    /// Subscriptions carry only the keys of the documented get-a-subscription-by-id
    /// example (no `billingCycle`, `termDuration`, `partnerId`, …).
    pub documented_subscription: f64,
    /// Orders answered while provisioning are `pending` without `subscriptionId`s
    /// (checkout and POST /orders answers always `pending`).
    pub pending_checkout: f64,
    /// Checkout places one order per cart line, listed in reverse line order.
    pub split_checkout: f64,
    /// Subscription PATCH answers 202 with a `Location` header and applies the change
    /// after the provisioning delay.
    pub accepted_patch: f64,
}

/// One answer-shape variant (its kebab-case name is the `--variant` flag's value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Bom,
    PascalCase,
    DocumentedSubscription,
    PendingCheckout,
    SplitCheckout,
    AcceptedPatch,
}

impl Variant {
    pub const ALL: [Variant; 6] = [
        Variant::Bom,
        Variant::PascalCase,
        Variant::DocumentedSubscription,
        Variant::PendingCheckout,
        Variant::SplitCheckout,
        Variant::AcceptedPatch,
    ];

    /// The kebab-case name (`--variant NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Variant::Bom => "bom",
            Variant::PascalCase => "pascal-case",
            Variant::DocumentedSubscription => "documented-subscription",
            Variant::PendingCheckout => "pending-checkout",
            Variant::SplitCheckout => "split-checkout",
            Variant::AcceptedPatch => "accepted-patch",
        }
    }

    /// The camelCase field name in the faults object.
    pub fn field(self) -> &'static str {
        match self {
            Variant::Bom => "bom",
            Variant::PascalCase => "pascalCase",
            Variant::DocumentedSubscription => "documentedSubscription",
            Variant::PendingCheckout => "pendingCheckout",
            Variant::SplitCheckout => "splitCheckout",
            Variant::AcceptedPatch => "acceptedPatch",
        }
    }

    /// Parses a kebab-case name (case-insensitive; `_` taken as `-`).
    pub fn parse(text: &str) -> Option<Variant> {
        let folded = text.trim().to_ascii_lowercase().replace('_', "-");
        Variant::ALL.into_iter().find(|v| v.name() == folded)
    }

    fn draw(self) -> Draw {
        match self {
            Variant::Bom => Draw::Bom,
            Variant::PascalCase => Draw::PascalCase,
            Variant::DocumentedSubscription => Draw::DocumentedSubscription,
            Variant::PendingCheckout => Draw::PendingCheckout,
            Variant::SplitCheckout => Draw::SplitCheckout,
            Variant::AcceptedPatch => Draw::AcceptedPatch,
        }
    }
}

impl Variants {
    /// Every variant at `rate` (`--documented` is `every(1.0)`).
    pub fn every(rate: f64) -> Variants {
        let mut v = Variants::default();
        for variant in Variant::ALL {
            v.set(variant, rate);
        }
        v
    }

    pub fn rate(&self, variant: Variant) -> f64 {
        match variant {
            Variant::Bom => self.bom,
            Variant::PascalCase => self.pascal_case,
            Variant::DocumentedSubscription => self.documented_subscription,
            Variant::PendingCheckout => self.pending_checkout,
            Variant::SplitCheckout => self.split_checkout,
            Variant::AcceptedPatch => self.accepted_patch,
        }
    }

    pub fn set(&mut self, variant: Variant, rate: f64) {
        let slot = match variant {
            Variant::Bom => &mut self.bom,
            Variant::PascalCase => &mut self.pascal_case,
            Variant::DocumentedSubscription => &mut self.documented_subscription,
            Variant::PendingCheckout => &mut self.pending_checkout,
            Variant::SplitCheckout => &mut self.split_checkout,
            Variant::AcceptedPatch => &mut self.accepted_patch,
        };
        *slot = rate;
    }
}

/// Which variants request number `n` is answered in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    pub bom: bool,
    pub pascal_case: bool,
    pub pending_checkout: bool,
    pub split_checkout: bool,
    pub accepted_patch: bool,
}

/// Which decision a draw is for (separate streams, so enabling one fault does not
/// shift the requests another fault hits).
#[derive(Clone, Copy, Debug)]
pub enum Draw {
    Latency = 1,
    ServerError = 2,
    Drop = 3,
    Throttle = 4,
    Bom = 8,
    PascalCase = 9,
    DocumentedSubscription = 10,
    PendingCheckout = 11,
    SplitCheckout = 12,
    AcceptedPatch = 13,
}

impl Faults {
    /// A uniform draw in [0, 1) for request number `n`.
    pub fn draw(&self, n: u64, kind: Draw) -> f64 {
        let kind = kind as u64;
        // The first kinds keep their original streams (so existing seeds fail the
        // same requests); the variants, numbered from 8, hash the kind separately so
        // that no stream repeats another one shifted by a request.
        let key = if kind < 8 {
            n.wrapping_mul(8).wrapping_add(kind)
        } else {
            splitmix64(n ^ kind.rotate_right(8)) ^ 0x5641_5249_414e_5453
        };
        let mixed = splitmix64(self.seed ^ splitmix64(key));
        // 53 high bits → an exact f64 in [0, 1).
        (mixed >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether request `n` hits a fault of the given rate.
    pub fn hits(&self, n: u64, kind: Draw, rate: f64) -> bool {
        rate > 0.0 && self.draw(n, kind) < rate
    }

    /// The answer shape of request `n`: one draw per variant.
    pub fn shape(&self, n: u64) -> Shape {
        let hit = |v: Variant| self.hits(n, v.draw(), self.variants.rate(v));
        Shape {
            bom: hit(Variant::Bom),
            pascal_case: hit(Variant::PascalCase),
            pending_checkout: hit(Variant::PendingCheckout),
            split_checkout: hit(Variant::SplitCheckout),
            accepted_patch: hit(Variant::AcceptedPatch),
        }
    }

    /// Whether the subscription with this id is answered in the documented shape
    /// (the `documented-subscription` variant). Decided per subscription, not per
    /// request: Partner Center answers one subscription in one shape, and a
    /// subscription whose term or reseller of record shows in one read and not in
    /// the next would make a client plan a change it already made.
    pub fn documented_subscription(&self, subscription_id: &str) -> bool {
        let rate = self.variants.documented_subscription;
        if rate <= 0.0 {
            return false;
        }
        // FNV-1a of the lowercase id: a stable number per subscription.
        let key = subscription_id
            .bytes()
            .map(|b| b.to_ascii_lowercase())
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            });
        self.draw(key, Variant::DocumentedSubscription.draw()) < rate
    }

    /// Latency to add to request `n`, in milliseconds.
    pub fn latency_ms(&self, n: u64) -> u64 {
        if self.latency_max_ms <= self.latency_min_ms {
            return self.latency_min_ms;
        }
        let span = self.latency_max_ms - self.latency_min_ms + 1;
        let offset = (self.draw(n, Draw::Latency) * span as f64) as u64;
        self.latency_min_ms + offset.min(span - 1)
    }

    /// Rejects nonsense (rates outside 0..=1, NaN) so a bad PUT cannot wedge the run.
    pub fn check(&self) -> Result<(), String> {
        for (name, rate) in [
            ("serverErrorRate", self.server_error_rate),
            ("dropAfterCommitRate", self.drop_after_commit_rate),
            ("throttleRate", self.throttle_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        for variant in Variant::ALL {
            if !(0.0..=1.0).contains(&self.variants.rate(variant)) {
                return Err(format!(
                    "variants.{} must be between 0 and 1",
                    variant.field()
                ));
            }
        }
        if self.latency_max_ms > 600_000 || self.latency_min_ms > 600_000 {
            return Err("latency must not exceed 600000 ms".to_owned());
        }
        if self.partner_requests_per_minute == Some(0)
            || self.customer_requests_per_minute == Some(0)
        {
            return Err("a requests-per-minute limit must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// Token buckets keyed by partner tenant or (partner, customer), refilled in real
/// time at `limit / 60` tokens per second up to `limit`.
#[derive(Debug, Default)]
pub struct Buckets {
    buckets: HashMap<String, (f64, Instant)>,
}

impl Buckets {
    /// Takes one token for `key`; `Err(retry_after_seconds)` when the bucket is empty.
    pub fn take(&mut self, key: &str, limit: u32, now: Instant) -> Result<(), u64> {
        let capacity = f64::from(limit);
        let rate = capacity / 60.0;
        let entry = self
            .buckets
            .entry(key.to_owned())
            .or_insert((capacity, now));
        let elapsed = now.saturating_duration_since(entry.1).as_secs_f64();
        entry.0 = (entry.0 + elapsed * rate).min(capacity);
        entry.1 = now;
        if entry.0 >= 1.0 {
            entry.0 -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - entry.0) / rate).ceil().max(1.0);
            Err(wait as u64)
        }
    }

    /// Forgets all buckets (after the limits change).
    pub fn clear(&mut self) {
        self.buckets.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_deterministic_and_seed_dependent() {
        let a = Faults {
            seed: 7,
            ..Faults::default()
        };
        let b = Faults {
            seed: 8,
            ..Faults::default()
        };
        let seq = |f: &Faults| {
            (0..64)
                .map(|n| f.hits(n, Draw::ServerError, 0.5))
                .collect::<Vec<_>>()
        };
        assert_eq!(seq(&a), seq(&a));
        assert_ne!(seq(&a), seq(&b));
        assert!(!a.hits(3, Draw::ServerError, 0.0));
        assert!(a.hits(3, Draw::ServerError, 1.0));
    }

    #[test]
    fn variant_streams_are_independent_and_rates_checked() {
        let one = Faults {
            seed: 3,
            variants: Variants {
                bom: 0.5,
                ..Variants::default()
            },
            ..Faults::default()
        };
        let both = Faults {
            variants: Variants {
                bom: 0.5,
                pascal_case: 0.5,
                ..Variants::default()
            },
            ..one.clone()
        };
        let boms = |f: &Faults| (0..200).map(|n| f.shape(n).bom).collect::<Vec<_>>();
        assert_eq!(boms(&one), boms(&both));
        assert!(boms(&one).iter().any(|b| *b) && boms(&one).iter().any(|b| !*b));
        // Existing streams keep their values.
        assert_eq!(
            one.draw(5, Draw::ServerError),
            Faults {
                seed: 3,
                ..Faults::default()
            }
            .draw(5, Draw::ServerError)
        );
        let all = Faults {
            variants: Variants::every(1.0),
            ..Faults::default()
        };
        assert!(all.shape(9).accepted_patch && all.shape(9).bom);
        assert_eq!(Faults::default().shape(9), Shape::default());
        for bad in [f64::NAN, -0.1, 1.5] {
            let mut f = Faults::default();
            f.variants.set(Variant::SplitCheckout, bad);
            assert!(f.check().is_err(), "{bad}");
        }
        assert_eq!(Variant::parse("Pascal_Case"), Some(Variant::PascalCase));
        assert_eq!(Variant::parse("nope"), None);
    }

    #[test]
    fn bucket_refuses_after_limit() {
        let mut buckets = Buckets::default();
        let now = Instant::now();
        assert!(buckets.take("p", 2, now).is_ok());
        assert!(buckets.take("p", 2, now).is_ok());
        let wait = buckets.take("p", 2, now).expect_err("empty");
        assert!((1..=30).contains(&wait));
        assert!(buckets.take("other", 2, now).is_ok());
    }

    #[test]
    fn latency_range_stays_inside() {
        let f = Faults {
            latency_min_ms: 5,
            latency_max_ms: 9,
            ..Faults::default()
        };
        assert!((0..100).all(|n| (5..=9).contains(&f.latency_ms(n))));
    }
}
