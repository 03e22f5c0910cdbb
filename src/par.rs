//! Work spread over the cores only where there is enough of it. rayon's
//! pool starts its threads on first use, and the work is then handed
//! between them: on a small config (the motivating fixture, 1.5 KB) that
//! cost more than the run's own work (`--diff` 4.0 ms where `nginx -t`
//! takes 2.6 ms, most of the difference in thread start-up, futex waits
//! and yields). Below [`WORTH_SPLITTING`] bytes of text, or with fewer
//! than two items, a stage runs on the calling thread, and a run that
//! never splits never starts the pool. What is computed is the same
//! either way: only where it runs differs.

use rayon::prelude::*;

/// Bytes of config text from which a stage is split between cores: at
/// about 25 MB/s through parse, model and plan, 64 KiB is some 2.5 ms of
/// work, well above what starting the pool and handing work over costs
/// (a few hundred microseconds).
pub const WORTH_SPLITTING: usize = 64 * 1024;

/// Whether a stage over `bytes` of text is worth splitting.
pub fn worth_splitting(bytes: usize) -> bool {
    bytes >= WORTH_SPLITTING
}

/// `a` and `b`, on two cores when `parallel` (`rayon::join`), else one
/// after the other on this thread.
pub fn join<A, B, RA, RB>(parallel: bool, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    if parallel {
        rayon::join(a, b)
    } else {
        (a(), b())
    }
}

/// `f` of every item, in order; on every core when there are two items
/// or more.
pub fn map<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync + Send,
{
    if items.len() < 2 {
        items.iter().map(f).collect()
    } else {
        items.par_iter().map(f).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same results, in the same order, split or not.
    #[test]
    fn split_or_not_computes_the_same() {
        let items: Vec<u32> = (0..1000).collect();
        let square = |x: &u32| x * x;
        let one: Vec<u32> = items[..1].iter().map(square).collect();
        assert_eq!(map(&items[..1], square), one);
        let all: Vec<u32> = items.iter().map(square).collect();
        assert_eq!(map(&items, square), all);
        assert_eq!(join(true, || 1, || "b"), (1, "b"));
        assert_eq!(join(false, || 1, || "b"), (1, "b"));
        assert!(!worth_splitting(WORTH_SPLITTING - 1));
        assert!(worth_splitting(WORTH_SPLITTING));
    }
}
