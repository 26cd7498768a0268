//! Heap allocations counted, for the benchmark: built with `--features count-allocations`, the
//! process's allocator is the system's behind two counters (allocations and bytes asked for),
//! which `/metrics` reports as `confab_allocations_total` and `confab_allocated_bytes_total`.
//! `confab-bench` reads them around each load step and divides by what the step did (deliveries,
//! forwarded packets), so a hot path's allocations are a figure, not a guess.
//!
//! Off by default: every allocation of the process pays for the two atomic adds, so CPU figures
//! are taken from a build without it.

/// Allocations and bytes allocated since the process started; `None` in a build without the
/// `count-allocations` feature.
pub fn totals() -> Option<(u64, u64)> {
    #[cfg(feature = "count-allocations")]
    {
        use std::sync::atomic::Ordering::Relaxed;
        Some((counting::COUNT.load(Relaxed), counting::BYTES.load(Relaxed)))
    }
    #[cfg(not(feature = "count-allocations"))]
    None
}

#[cfg(feature = "count-allocations")]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::AtomicU64;
    use std::sync::atomic::Ordering::Relaxed;

    pub(super) static COUNT: AtomicU64 = AtomicU64::new(0);
    pub(super) static BYTES: AtomicU64 = AtomicU64::new(0);

    /// The system allocator, counting. A `realloc` counts as an allocation: growing a buffer is
    /// the cost a hot path should not pay either.
    struct Counting;

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    fn count(size: usize) {
        COUNT.fetch_add(1, Relaxed);
        BYTES.fetch_add(size as u64, Relaxed);
    }

    // SAFETY: every call is passed to `System` unchanged; the counters do not allocate.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count(layout.size());
            // SAFETY: the caller's contract for `layout` is `System`'s.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count(layout.size());
            // SAFETY: as for `alloc`.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count(new_size);
            // SAFETY: `ptr` was allocated by this allocator, that is by `System`, with `layout`.
            unsafe { System.realloc(ptr, layout, new_size) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: as for `realloc`.
            unsafe { System.dealloc(ptr, layout) }
        }
    }
}
