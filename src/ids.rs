//! Identifiers and the tiny generators behind them, shared by every part that makes
//! ids: the local tenant and the simulator (reproducible ids from a seed), the
//! partner-center client and apply (fresh `MS-RequestId`s), the fixture generator.
//!
//! No randomness crate is a dependency: seeded ids come from splitmix64, and fresh
//! ids only need to be unique, not unpredictable, so std's randomly keyed SipHash
//! plus a clock and a counter do.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// splitmix64's increment (the golden ratio in 64 bits).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// splitmix64 as a mixing function: the output for state `x`.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// splitmix64 as a generator: the next output, advancing `state`.
pub fn next_splitmix64(state: &mut u64) -> u64 {
    let output = splitmix64(*state);
    *state = state.wrapping_add(GOLDEN);
    output
}

/// A GUID in RFC 4122 layout from 128 bits: the version nibble and the variant bits
/// are set, so servers that validate GUIDs accept it.
pub fn format_guid(high: u64, low: u64, version: u64) -> String {
    let high = (high & !0xf000) | ((version & 0xf) << 12);
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

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 bits that differ on every call (also used for retry jitter).
pub fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// A fresh version-4 GUID (an `MS-RequestId`, an `MS-CorrelationId`).
pub fn random_guid() -> String {
    format_guid(random_u64(), random_u64(), 4)
}

/// Whether `text` has the 8-4-4-4-12 hex shape of a GUID.
pub(crate) fn is_guid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && text.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_have_the_rfc_4122_layout() {
        assert_eq!(
            format_guid(u64::MAX, u64::MAX, 4),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert_eq!(format_guid(0, 0, 5), "00000000-0000-5000-8000-000000000000");
        let (a, b) = (random_guid(), random_guid());
        assert_ne!(a, b);
        assert!(is_guid(&a), "{a}");
    }

    #[test]
    fn the_generator_and_the_mixing_function_agree() {
        let mut state = 7;
        let first = next_splitmix64(&mut state);
        assert_eq!(first, splitmix64(7));
        assert_eq!(
            next_splitmix64(&mut state),
            splitmix64(7u64.wrapping_add(GOLDEN))
        );
        // The reference output of splitmix64 seeded with 0.
        assert_eq!(next_splitmix64(&mut 0), 0xe220_a839_7b1d_cdaf);
    }
}
