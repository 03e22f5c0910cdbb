//! Hash maps for upkeep's own bookkeeping (offsets, ids, directive names
//! of the file being read): foldhash with a fixed seed instead of the
//! standard library's SipHash, whose resistance to chosen keys buys
//! nothing here and whose cost showed in profiles (2–3 % of a run on a
//! 3 MB config). The seed is fixed so that runs are reproducible; nothing
//! may depend on the iteration order of these maps (nor did it with the
//! standard library's random seed).

/// A `HashMap` with the fast, fixed-seed hasher; make one with `default()`.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
