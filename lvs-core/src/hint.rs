//! Cache hints. A prefetch changes no state and cannot fault; it only starts a cache line's
//! load early, so that a batch's lookups overlap their DRAM misses instead of taking them one
//! after the other.

/// Starts loading the cache line holding `r` into every cache level, without waiting for it.
/// A no-op on targets without a prefetch instruction in `safe_arch`.
#[inline(always)]
pub(crate) fn prefetch<T>(r: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    safe_arch::prefetch_t0(r);
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = r;
}
