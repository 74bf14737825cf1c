//! One key's state (the partner, or one customer): its pace, its pause, and the
//! measurements of what the server admitted, with the rules that move them.

use std::time::Duration;

use tokio::time::Instant;

use super::ThrottleTuning;
use super::limiter::{MAX_INTERVAL, MIN_SAMPLES, PARTNER_FLOOR_SHARE};

/// One key's state.
#[derive(Clone, Debug)]
pub(super) struct Key {
    /// Pace in requests per second; `None`: not paced.
    pub(super) rate: Option<f64>,
    /// The rate the server admitted between the last two episodes.
    pub(super) measured: Option<f64>,
    /// The earliest the next request may go.
    pub(super) next_slot: Instant,
    pub(super) paused_until: Instant,
    /// When the current episode began; `None`: never throttled (or forgotten).
    pub(super) episode: Option<Instant>,
    /// Whether the server's bucket is known to have been empty when `episode`
    /// began, so that the next episode may measure from it. A partner episode
    /// inferred from customers' 429s is confirmed by a refused request that was in
    /// flight when it began; otherwise it may have been the customers' limits, and
    /// the time since then is our own pause, not the server's rate.
    pub(super) confirmed: bool,
    /// Requests admitted since `episode`.
    pub(super) admitted: u64,
    /// Decaying averages of the admitted rate, over about `rate_window` and over
    /// about `measure_window` (requests per second), as of `recent_at`.
    pub(super) recent: f64,
    pub(super) minute: f64,
    pub(super) recent_at: Instant,
    pub(super) last_used: Instant,
    /// Changed whenever the pause or the pace changes, so that a grant made before
    /// is checked again.
    pub(super) epoch: u64,
    /// The state before a provisional blame, restored if the blame turns out wrong.
    pub(super) provisional: Option<Box<Key>>,
    /// Answers since `episode` began to requests sent before it: admitted, refused.
    pub(super) late: (u32, u32),
    /// The last 429 taken for noise (see [`Blame::Noise`]).
    pub(super) noise_at: Option<Instant>,
    /// The partner's key: its measurements need [`MIN_SAMPLES`] admitted requests,
    /// and its pace has a floor ([`PARTNER_FLOOR_SHARE`], `partner_floor`).
    pub(super) is_partner: bool,
    /// The highest rate measured at an episode (bucket empty at both ends), and
    /// when: what the server has been seen to sustain.
    pub(super) peak: Option<(f64, Instant)>,
}

impl Key {
    pub(super) fn new(now: Instant) -> Key {
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

    pub(super) fn ready(&self) -> Instant {
        self.next_slot.max(self.paused_until)
    }

    pub(super) fn take_slot(&mut self, at: Instant) {
        if let Some(rate) = self.rate {
            let interval = Duration::try_from_secs_f64(1.0 / rate)
                .unwrap_or(MAX_INTERVAL)
                .min(MAX_INTERVAL);
            self.next_slot = at + interval;
        }
    }

    pub(super) fn recent_rate(&self, now: Instant, tuning: &ThrottleTuning) -> f64 {
        decayed(self.recent, self.recent_at, now, tuning.rate_window)
    }

    /// About the requests admitted in the last `measure_window`.
    pub(super) fn used(&self, now: Instant, tuning: &ThrottleTuning) -> f64 {
        let window = tuning.measure_window.as_secs_f64().max(1e-3);
        decayed(self.minute, self.recent_at, now, tuning.measure_window) * window
    }

    /// Throttled recently and not known to be below its limit.
    pub(super) fn hot(&self) -> bool {
        self.episode.is_some() && !matches!((self.rate, self.measured), (Some(r), Some(m)) if r < m)
    }

    /// Paced below the limit measured at the last episode.
    pub(super) fn below_measured(&self) -> bool {
        self.episode.is_some() && matches!((self.rate, self.measured), (Some(r), Some(m)) if r < m)
    }

    /// Paced at or above the limit measured at the last episode.
    pub(super) fn probing(&self) -> bool {
        self.episode.is_some() && matches!((self.rate, self.measured), (Some(r), Some(m)) if r >= m)
    }

    pub(super) fn admit(&mut self, now: Instant, tuning: &ThrottleTuning) {
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

    pub(super) fn forget_if_stale(&mut self, now: Instant, tuning: &ThrottleTuning) {
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

    pub(super) fn extend_pause(&mut self, until: Instant, epoch: u64) {
        if until > self.paused_until {
            self.paused_until = until;
            self.next_slot = self.next_slot.max(until);
            self.epoch = epoch;
        }
    }

    /// The highest rate measured in the last `forget_after`.
    pub(super) fn recent_peak(&self, now: Instant, tuning: &ThrottleTuning) -> Option<f64> {
        self.peak
            .filter(|(_, at)| now.saturating_duration_since(*at) <= tuning.forget_after)
            .map(|(peak, _)| peak)
    }

    /// [`Key::begin_episode`], keeping the state before it to restore if the blame
    /// turns out wrong.
    pub(super) fn begin_provisional_episode(
        &mut self,
        now: Instant,
        until: Instant,
        tuning: &ThrottleTuning,
        epoch: u64,
    ) {
        let before = Box::new(self.clone());
        self.begin_episode(now, until, tuning, epoch);
        self.provisional = Some(before);
    }

    /// A 429 begins an episode: the key is paused until `until` and, unless it is
    /// a customer's and customers are not paced, its pace is cut.
    pub(super) fn begin_episode(
        &mut self,
        now: Instant,
        until: Instant,
        tuning: &ThrottleTuning,
        epoch: u64,
    ) {
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
        if self.is_partner || tuning.pace_customers {
            self.rate = base.map(|base| {
                (base * tuning.decrease)
                    .max(floor)
                    .max(tuning.min_rate.max(1e-6))
            });
        }
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
pub(super) fn decayed(value: f64, at: Instant, now: Instant, window: Duration) -> f64 {
    let age = now.saturating_duration_since(at).as_secs_f64();
    value * (-age / window.as_secs_f64().max(1e-3)).exp()
}
