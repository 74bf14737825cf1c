//! The hash maps and sets of cspctl's in-memory indexes (names, ids, graph nodes):
//! std's, with foldhash instead of SipHash. A plan of 20,000 customers hashes
//! millions of short keys, and SipHash was a few percent of its time. The seed is
//! still random per process, and nothing cspctl prints depends on the order of a
//! hash map.

/// [`std::collections::HashMap`] with foldhash.
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// [`std::collections::HashSet`] with foldhash.
pub type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// An empty [`HashMap`] with room for `capacity` entries.
pub fn map_with_capacity<K, V>(capacity: usize) -> HashMap<K, V> {
    HashMap::with_capacity_and_hasher(capacity, Default::default())
}
