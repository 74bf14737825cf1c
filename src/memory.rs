//! How the process uses memory: transparent huge pages off.
//!
//! mimalloc asks the kernel for transparent huge pages (`MADV_HUGEPAGE`) on the
//! arenas it reserves, so every first touch of a 2 MiB region faults in and zeroes a
//! whole huge page, and every purge of part of one breaks it up to be faulted in
//! again. Planning a whole tenant allocates and frees hundreds of megabytes in small
//! pieces: measured on the benchmark (20,000 customers, a full-create plan), the
//! kernel spent 2.2–2.5 s of system time zeroing pages with huge pages and 0.6 s
//! without, for the same user time (`MIMALLOC_ALLOW_THP=0`, which this does from
//! inside the process: mimalloc reads its options before `main`).

/// Turns transparent huge pages off for this process (best effort: without them,
/// or on another OS, nothing changes). Call first thing in `main`.
pub fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and changes nothing
    // but whether later page faults may use huge pages.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
