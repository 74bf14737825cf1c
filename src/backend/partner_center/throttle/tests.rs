//! The limiter's tests: its rules on an injected clock, then simulated servers
//! with token buckets to check that pacing holds the limits with few 429s.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

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
