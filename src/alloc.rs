//! The global allocator (jemalloc, as Redis uses), the `used_memory` figure, and the allocation
//! statistics INFO memory and the MEMORY command report.
//!
//! # used_memory
//! Eviction compares `used_memory` with `maxmemory` before every command, so reading it must cost
//! next to nothing. jemalloc's own `stats.allocated` is exact but is published only when its `epoch`
//! advances, which merges every arena's statistics: measured here at about 0.9 ms per read (epoch
//! plus `stats.allocated`, several threads having allocated), against about 0.1 µs for the counter
//! below in an unoptimised build.
//!
//! So while a memory limit is set the global allocator keeps a counter, as Redis's zmalloc does:
//! every allocation adds its usable size (jemalloc's size class, computed inline) and every free
//! subtracts it. Each thread counts into a slot of its own, on its own cache line, with a plain load
//! and store (no locked instruction, no cache line shared between cores); a read sums the slots in
//! use. Nothing is batched per thread, so the figure is exact at any moment, and a thread that exits
//! leaves its slot (its net contribution) behind, so nothing drifts.
//!
//! Counting still costs a couple of dozen instructions per allocation and per free, which a server
//! without `maxmemory` has no use for: then the allocator only tests a flag, and `used_memory` reads
//! jemalloc's figure (INFO, the RDB aux field and the peak sampling are the only readers then).
//! [`set_counting`] switches between the two; on switching on, the counter starts from jemalloc's
//! figure, so `used_memory` does not jump.
//!
//! Reading jemalloc's statistics ([`stats`]) advances the epoch first; that happens only on
//! INFO/MEMORY (and `used_memory` while not counting).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

use tikv_jemalloc_ctl::{epoch, stats};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// jemalloc behind a counter of the bytes it has handed out (see the module notes).
pub struct Counting;

/// Whether allocations are counted (a memory limit is set).
static COUNTING: AtomicBool = AtomicBool::new(false);
/// `used_memory` = BASE + the sum of the slots, while counting: set when counting starts so the
/// figure continues from jemalloc's.
static BASE: AtomicI64 = AtomicI64::new(0);

/// Slots of the counter. The first `SLOTS - 1` belong to one thread each, given out in the order
/// threads first allocate (the main thread and the runtime's workers come first); threads beyond
/// that share the last slot.
pub const SLOTS: usize = 64;
const SHARED: usize = SLOTS - 1;

/// One slot, alone on its cache line (128 bytes covers adjacent-line prefetching).
#[repr(align(128))]
struct Slot(AtomicI64);

static COUNTERS: [Slot; SLOTS] = [const { Slot(AtomicI64::new(0)) }; SLOTS];
/// Slots handed out so far (may exceed `SHARED`: later threads use the shared slot).
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Const-initialised and without a destructor: safe to touch from inside the allocator (no lazy
    // registration, no allocation), and still valid while the thread is being torn down.
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Whether to count: tested before anything else, so that without a limit an allocation costs one
/// load and one branch more than jemalloc's.
#[inline(always)]
fn counting_on() -> bool {
    COUNTING.load(Ordering::Relaxed)
}

#[inline]
fn count(delta: i64) {
    let i = SLOT
        .try_with(|s| {
            let v = s.get();
            if v != usize::MAX {
                return v;
            }
            let n = NEXT_SLOT.fetch_add(1, Ordering::Relaxed).min(SHARED);
            s.set(n);
            n
        })
        .unwrap_or(SHARED);
    let c = &COUNTERS[i].0;
    if i < SHARED {
        // This thread is the slot's only writer: a plain load and store, no locked instruction.
        // A slot is never given to another thread, so what an exited thread counted stays counted.
        c.store(c.load(Ordering::Relaxed) + delta, Ordering::Relaxed);
    } else {
        c.fetch_add(delta, Ordering::Relaxed);
    }
}

/// The alignment jemalloc gives every allocation of at least this size without being asked
/// (tikv-jemallocator passes no alignment flag then).
const MIN_ALIGN: usize = 16;

/// The size class jemalloc rounds a request of `size` bytes up to (its `nallocx`), for the
/// default configuration on 64-bit Linux: 8, then steps of 16 up to 128, then four classes per
/// doubling (160, 192, 224, 256, 320, ...), small and large alike.
#[inline]
pub fn size_class(size: usize) -> usize {
    if size <= 8 {
        return 8;
    }
    if size <= 128 {
        return (size + 15) & !15;
    }
    let lg = usize::BITS - 1 - (size - 1).leading_zeros();
    let delta = 1usize << (lg - 2);
    (size + delta - 1) & !(delta - 1)
}

/// The usable size jemalloc gives a request: what `used_memory` counts for it.
#[inline]
fn usable(size: usize, align: usize) -> i64 {
    if align <= MIN_ALIGN && align <= size {
        size_class(size) as i64
    } else {
        // Over-aligned requests are rare: ask jemalloc (MALLOCX_LG_ALIGN).
        // SAFETY: nallocx only computes a size; the flag encodes a power-of-two alignment.
        unsafe { tikv_jemalloc_sys::nallocx(size, align.trailing_zeros() as i32) as i64 }
    }
}

// SAFETY: every call is forwarded to jemalloc unchanged; the counter only observes the sizes.
unsafe impl GlobalAlloc for Counting {
    // Each method tests the flag first and, when not counting, hands the call to jemalloc as its
    // last action (a tail call: no stack frame of its own); the counting variants are out of line.
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !counting_on() {
            return tikv_jemallocator::Jemalloc.alloc(layout);
        }
        counted_alloc(layout, false)
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !counting_on() {
            return tikv_jemallocator::Jemalloc.alloc_zeroed(layout);
        }
        counted_alloc(layout, true)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !counting_on() {
            return tikv_jemallocator::Jemalloc.dealloc(ptr, layout);
        }
        counted_dealloc(ptr, layout)
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !counting_on() {
            return tikv_jemallocator::Jemalloc.realloc(ptr, layout, new_size);
        }
        counted_realloc(ptr, layout, new_size)
    }
}

/// # Safety
/// As [`GlobalAlloc::alloc`].
#[inline(never)]
unsafe fn counted_alloc(layout: Layout, zeroed: bool) -> *mut u8 {
    let p = if zeroed {
        tikv_jemallocator::Jemalloc.alloc_zeroed(layout)
    } else {
        tikv_jemallocator::Jemalloc.alloc(layout)
    };
    if !p.is_null() {
        count(usable(layout.size(), layout.align()));
    }
    p
}

/// # Safety
/// As [`GlobalAlloc::dealloc`].
#[inline(never)]
unsafe fn counted_dealloc(ptr: *mut u8, layout: Layout) {
    tikv_jemallocator::Jemalloc.dealloc(ptr, layout);
    count(-usable(layout.size(), layout.align()));
}

/// # Safety
/// As [`GlobalAlloc::realloc`].
#[inline(never)]
unsafe fn counted_realloc(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
    let p = tikv_jemallocator::Jemalloc.realloc(ptr, layout, new_size);
    if !p.is_null() {
        let align = layout.align();
        count(usable(new_size, align) - usable(layout.size(), align));
    }
    p
}

fn slots_sum() -> i64 {
    let used = NEXT_SLOT.load(Ordering::Relaxed).min(SHARED);
    COUNTERS[..used]
        .iter()
        .chain(std::iter::once(&COUNTERS[SHARED]))
        .map(|c| c.0.load(Ordering::Relaxed))
        .sum()
}

/// Bytes currently allocated (Redis's `zmalloc_used_memory`): the counter (a handful of loads)
/// while counting, jemalloc's figure otherwise.
#[inline]
pub fn used_memory() -> u64 {
    if COUNTING.load(Ordering::Relaxed) {
        (BASE.load(Ordering::Relaxed) + slots_sum()).max(0) as u64
    } else {
        jemalloc_allocated()
    }
}

fn jemalloc_allocated() -> u64 {
    let _ = epoch::advance();
    stats::allocated::read().unwrap_or(0) as u64
}

/// Starts or stops counting allocations (the server counts while `maxmemory` is set). Starting
/// takes jemalloc's figure as the base; allocations made by other threads in the instant of the
/// switch may be missed, a few bytes.
pub fn set_counting(on: bool) {
    if COUNTING.load(Ordering::Acquire) == on {
        return;
    }
    if on {
        // The slots keep what they counted before (their owners alone may write them): the base
        // is whatever makes base + slots equal jemalloc's figure now.
        BASE.store(jemalloc_allocated() as i64 - slots_sum(), Ordering::Relaxed);
    }
    COUNTING.store(on, Ordering::Release);
}

/// Whether allocations are being counted.
pub fn counting() -> bool {
    COUNTING.load(Ordering::Relaxed)
}

/// A snapshot of jemalloc's counters (bytes).
#[derive(Debug, Default, Clone, Copy)]
pub struct AllocStats {
    /// Bytes handed out to the program (Redis's `used_memory` / `allocator_allocated`).
    pub allocated: u64,
    /// Bytes in active pages (`allocator_active`).
    pub active: u64,
    /// Bytes in physically resident pages the allocator maps (`allocator_resident`).
    pub resident: u64,
    /// Bytes mapped by the allocator.
    pub mapped: u64,
    /// Retained (unmapped but reserved) bytes.
    pub retained: u64,
}

/// Reads the allocator's counters, after publishing the latest per-thread numbers.
pub fn stats() -> AllocStats {
    let _ = epoch::advance();
    AllocStats {
        allocated: stats::allocated::read().unwrap_or(0) as u64,
        active: stats::active::read().unwrap_or(0) as u64,
        resident: stats::resident::read().unwrap_or(0) as u64,
        mapped: stats::mapped::read().unwrap_or(0) as u64,
        retained: stats::retained::read().unwrap_or(0) as u64,
    }
}

/// The version string INFO reports as `mem_allocator` (`jemalloc-5.3.0`).
pub fn allocator_name() -> String {
    let v = tikv_jemalloc_ctl::version::read().unwrap_or("5");
    // jemalloc's version reads like "5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c".
    let short = v.split('-').next().unwrap_or(v);
    format!("jemalloc-{short}")
}

/// Resident set size of the process, from /proc/self/statm (Redis's `used_memory_rss`).
pub fn rss() -> u64 {
    let page = page_size();
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * page)
        .unwrap_or(0)
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

/// Physical memory of the machine (`total_system_memory`).
pub fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    if pages > 0 {
        pages as u64 * page_size()
    } else {
        0
    }
}

/// Returns unused dirty pages of every arena to the system (MEMORY PURGE).
pub fn purge() {
    // "arena.<MALLCTL_ARENAS_ALL>.purge" with MALLCTL_ARENAS_ALL = 4096.
    // SAFETY: the name is NUL-terminated and the purge control takes no value.
    unsafe {
        let _ = tikv_jemalloc_ctl::raw::write(b"arena.4096.purge\0", ());
    }
}

/// jemalloc's own statistics report (MEMORY MALLOC-STATS).
pub fn malloc_stats_text() -> String {
    use std::ffi::{c_char, c_void, CStr};
    extern "C" fn write_cb(opaque: *mut c_void, msg: *const c_char) {
        // SAFETY: jemalloc passes back our `String` pointer and a NUL-terminated message.
        unsafe {
            let out = &mut *(opaque as *mut String);
            out.push_str(&CStr::from_ptr(msg).to_string_lossy());
        }
    }
    let mut out = String::new();
    // SAFETY: the callback only appends to `out`, which outlives the call.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(
            Some(write_cb),
            &mut out as *mut String as *mut c_void,
            std::ptr::null(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_move_with_allocations() {
        // Other tests allocate and free concurrently, so look at this thread's own counter.
        let thread = tikv_jemalloc_ctl::thread::allocatedp::mib()
            .and_then(|m| m.read())
            .expect("thread.allocatedp");
        let before = thread.get();
        let v = std::hint::black_box(vec![1u8; 8 << 20]);
        assert!(thread.get() >= before + (8 << 20));
        assert!(super::stats().allocated >= v.len() as u64);
        drop(v);
        assert!(super::allocator_name().starts_with("jemalloc-5"));
        assert!(super::rss() > 0);
    }

    #[test]
    fn size_classes_are_jemallocs() {
        let check = |size: usize| {
            // SAFETY: nallocx only computes a size.
            let want = unsafe { tikv_jemalloc_sys::nallocx(size, 0) };
            assert_eq!(super::size_class(size), want, "size {size}");
        };
        (1..70_000).for_each(check);
        for shift in 17..36 {
            for extra in [0usize, 1, 4095, 4096, 12345] {
                check((1usize << shift) + extra);
                check((1usize << shift) - extra.min((1usize << shift) - 1));
            }
        }
    }

    #[test]
    fn the_counter_follows_allocations() {
        use std::alloc::Layout;
        // The counting paths are called directly: other tests in this process may switch the
        // global flag (each server they start configures it). Large blocks stand out from what
        // other threads count meanwhile.
        let big = Layout::from_size_align(256 << 20, 8).expect("layout");
        let before = super::slots_sum();
        // SAFETY: the block is freed below with the same layout; realloc keeps the alignment.
        unsafe {
            let p = super::counted_alloc(big, false);
            assert!(!p.is_null());
            let during = super::slots_sum();
            assert!(during >= before + (200 << 20), "{before} {during}");
            let q = super::counted_realloc(p, big, 64);
            assert!(!q.is_null());
            let after = super::slots_sum();
            assert!(after + (200 << 20) <= during, "{during} {after}");
            super::counted_dealloc(q, Layout::from_size_align(64, 8).expect("layout"));
        }
        // Switched on, the figure starts from jemalloc's and stays close to it.
        super::set_counting(true);
        let v = std::hint::black_box(vec![1u8; 1 << 20]);
        let je = super::stats().allocated as i64;
        let ours = super::used_memory() as i64;
        drop(v);
        assert!((je - ours).abs() < 16 << 20, "jemalloc {je} counter {ours}");
    }
}
