//! Request ids (`MS-RequestId`, `MS-CorrelationId`): fresh ones for reads, and
//! deterministic per-step ids derived from an operation's request id, so that a
//! retry of a whole operation replays exactly the same mutating requests and
//! Partner Center's idempotency (by request id) holds across runs.
//!
//! No randomness crate is a dependency: fresh ids only need to be unique, not
//! unpredictable, so std's randomly keyed SipHash plus a clock and a counter do.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 unpredictable-enough bits (also used for retry jitter).
pub(crate) fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// A fresh version-4-shaped GUID.
pub fn new_guid() -> String {
    format_guid(random_u64(), random_u64(), 4)
}

/// The id of step `step` of the logical operation `request_id`: distinct per step,
/// always the same for the same inputs (so a retried operation reuses it). The
/// request id is compared case-insensitively, as Partner Center compares GUIDs.
pub fn derive_request_id(request_id: &str, step: &str) -> String {
    let input = format!("{}\u{0}{step}", request_id.to_ascii_lowercase());
    // Two FNV-1a passes with different offsets give 128 bits; collisions between
    // the few steps of one operation are what matters, and FNV spreads them well.
    let fnv = |offset: u64| {
        input.bytes().fold(offset, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    format_guid(fnv(0xcbf2_9ce4_8422_2325), fnv(0x84222325cbf29ce4), 5)
}

fn format_guid(high: u64, low: u64, version: u64) -> String {
    // RFC 4122 layout: version nibble and variant bits set so servers that
    // validate GUIDs accept it.
    let high = (high & !0xf000) | (version << 12);
    let low = (low & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xffff,
        low >> 48,
        low & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_guid(text: &str) -> bool {
        let parts: Vec<&str> = text.split('-').collect();
        parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
            && text.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
    }

    #[test]
    fn derived_ids_are_deterministic_and_distinct_per_step() {
        let id = "9F1C2A3B-0000-4000-8000-000000000001";
        let cart = derive_request_id(id, "cart");
        assert_eq!(cart, derive_request_id(id, "cart"));
        assert_eq!(cart, derive_request_id(&id.to_lowercase(), "cart"));
        assert_ne!(cart, derive_request_id(id, "checkout"));
        assert_ne!(cart, derive_request_id("another", "cart"));
        assert!(is_guid(&cart), "{cart}");
    }

    #[test]
    fn fresh_ids_differ() {
        let a = new_guid();
        let b = new_guid();
        assert_ne!(a, b);
        assert!(is_guid(&a), "{a}");
    }
}
