//! Keeping freed memory in the process between generations.
//!
//! Every generation allocates its outputs (megabytes at 7B shapes: Mistral-7B L writes 13.6 MB
//! of A and B) and its caller frees them again. glibc's malloc adapts its thresholds to the
//! sizes it sees, and in a process that generates over and over with one hypernetwork it often
//! hands that memory back to the kernel (it unmaps large blocks and trims the top of the heap):
//! each next generation then takes a page fault on the first write to every 4 KiB page of its
//! outputs. Measured on Mistral-7B shapes (`benches/hypermod_generate`, one case per process,
//! 2 threads, median of 100): L 16.9 → 13.1 ms, M 15.4 → 12.1 ms, S 16.3 → 11.8 ms per adapter
//! once the memory is kept.
//!
//! Allocator settings belong to the whole process, so nothing here runs unless asked:
//! [`keep_freed_memory`] is for applications (a server, an evaluation loop, the benchmarks) that
//! generate many adapters.

/// Asks the C allocator to keep up to `max_bytes` of freed memory for reuse instead of giving
/// it back to the kernel, and to serve blocks of up to 32 MiB (glibc's ceiling) from its heap
/// instead of mapping each one afresh. Returns whether the allocator took the settings: `true`
/// with glibc (the settings then hold for the whole process and stop glibc's adaptive
/// thresholds), `false` elsewhere, where nothing changes. For Rust programs whose global
/// allocator is not the system's (e.g. mimalloc, jemalloc), it changes nothing that matters.
///
/// ```
/// // A program that generates many adapters, once at start-up:
/// let kept = hypermod::packed::keep_freed_memory(256 << 20);
/// assert_eq!(kept, cfg!(all(target_os = "linux", target_env = "gnu")));
/// ```
pub fn keep_freed_memory(max_bytes: usize) -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        /// glibc refuses larger mmap thresholds (`HEAP_MAX_SIZE / 2` on 64-bit targets).
        const MMAP_CEILING: usize = 32 << 20;
        let clamp = |v: usize| libc::c_int::try_from(v).unwrap_or(libc::c_int::MAX);
        // SAFETY: `mallopt` only changes the allocator's tuning parameters; glibc checks the
        // values and returns 0 for any it rejects.
        unsafe {
            let trim = libc::mallopt(libc::M_TRIM_THRESHOLD, clamp(max_bytes));
            let mmap = libc::mallopt(libc::M_MMAP_THRESHOLD, clamp(max_bytes.min(MMAP_CEILING)));
            trim == 1 && mmap == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = max_bytes;
        false
    }
}
