//! Request ids derived per step: a logical operation that needs several mutating
//! requests gets a deterministic id for each step from the operation's request id,
//! so a retry of the whole operation replays exactly the same requests and Partner
//! Center's idempotency (by `MS-RequestId`) holds across runs. Fresh ids come from
//! [`crate::ids`].

use crate::ids::format_guid;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::is_guid;

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
}
