//! Request ids that are not random: a purchase's, derived from what it buys, and
//! the ids of the later steps of any operation, derived from the operation's.
//!
//! - [`purchase_request_id`]: a purchase's `MS-RequestId` is a function of the
//!   provider tenant, the customer, the manifest object (its friendly name) and a
//!   purchase generation the purchase journal keeps (see
//!   [`journal`](super::journal)). So a retried purchase, the same purchase settled
//!   by the next apply, or the same purchase sent by another runner with its own
//!   journal carries the same id, and Partner Center's idempotency by
//!   `MS-RequestId` makes the repeats no-ops; a deliberate second subscription
//!   (another friendly name) or a re-purchase after an answer (the generation
//!   advanced) carries a new one, as the headers page asks.
//! - [`derive_request_id`]: a logical operation that needs several mutating
//!   requests (cart then checkout, purchase then auto-renew off, …) gets a
//!   deterministic id for each step from the operation's request id, so a retry of
//!   the whole operation replays exactly the same requests.
//!
//! Other operations' ids are fresh ([`crate::ids::random_guid`], given by apply).

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

/// The `MS-RequestId` of generation `generation` of the purchase of the
/// subscription named `friendly_name` for customer `customer_id` by provider
/// `tenant_id`: the first 128 bits of a SHA-256 over the four, laid out as a
/// name-based GUID. Unlike [`derive_request_id`], ids of *different* purchases
/// must never collide (a collision would answer one purchase with another's
/// order), hence a cryptographic hash. The three names are compared without
/// ASCII case, as Partner Center compares ids and cspctl compares friendly names;
/// each is length-prefixed, so no two inputs share an encoding.
pub fn purchase_request_id(
    tenant_id: &str,
    customer_id: &str,
    friendly_name: &str,
    generation: u64,
) -> String {
    let mut input = b"cspctl purchase request id v1".to_vec();
    for part in [tenant_id, customer_id, friendly_name] {
        let part = part.to_ascii_lowercase();
        input.extend_from_slice(&(part.len() as u64).to_be_bytes());
        input.extend_from_slice(part.as_bytes());
    }
    input.extend_from_slice(&generation.to_be_bytes());
    let hash = ring::digest::digest(&ring::digest::SHA256, &input);
    let bytes = hash.as_ref();
    let word = |at: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        u64::from_be_bytes(word)
    };
    format_guid(word(0), word(8), 5)
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

    #[test]
    fn purchase_ids_follow_the_intent_and_its_generation() {
        let id = |tenant: &str, customer: &str, name: &str, generation| {
            purchase_request_id(tenant, customer, name, generation)
        };
        let first = id("t", "c", "Office", 0);
        assert!(is_guid(&first), "{first}");
        // Pinned: runners of different releases must agree on it.
        assert_eq!(first, "d5b06114-30a4-5190-b072-8a8041a46186");
        assert_eq!(first, id("T", "C", "office", 0), "case does not matter");
        assert_ne!(first, id("t", "c", "Office", 1), "a new generation");
        assert_ne!(first, id("t", "c", "Office 2", 0), "another subscription");
        assert_ne!(first, id("t", "c2", "Office", 0), "another customer");
        assert_ne!(first, id("t2", "c", "Office", 0), "another provider");
        // Length prefixes: moving a character from one part to the next changes it.
        assert_ne!(id("ab", "c", "x", 0), id("a", "bc", "x", 0));
    }
}
