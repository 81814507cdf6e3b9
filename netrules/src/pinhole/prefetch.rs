//! The one place in this crate that uses `unsafe`: a cache-prefetch hint.
//!
//! A new connection's lookup in the connection table reads one cache line of an index of
//! tens of megabytes, which is not in cache: `perf` of the controller under the `reactive`
//! benchmark's load showed that line as a quarter of the controller's time. A caller with
//! several packet_ins at hand can name their lines ahead of time
//! ([`super::Pinholes::prefetch`]), and the CPU fetches them while it decides the ones
//! before. Rust's stable way to issue a prefetch is the `_mm_prefetch` intrinsic, which is
//! an `unsafe` function (only because it is declared with `#[target_feature(enable =
//! "sse")]`); on other targets the hint does nothing.

/// Hint that the cache line holding `r` is about to be read.
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn prefetch<T>(r: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    // SAFETY: a prefetch is only a hint: it changes no memory and no register, and it never
    // faults, whatever the address (here the address of a live reference). The intrinsic is
    // `unsafe` only for its `#[target_feature(enable = "sse")]`, and the `cfg` above makes
    // sure SSE is enabled (it is part of the x86_64 baseline).
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (r as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = r;
}
