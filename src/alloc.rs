//! The global allocator (jemalloc, as Redis uses) and the allocation statistics INFO memory and the
//! MEMORY command report.
//!
//! jemalloc keeps its counters per thread and publishes them when its `epoch` advances, so every read
//! here advances the epoch first; that costs a few microseconds and happens only on INFO/MEMORY.

use tikv_jemalloc_ctl::{epoch, stats};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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

/// Bytes currently allocated (Redis's `zmalloc_used_memory`).
pub fn used_memory() -> u64 {
    stats().allocated
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
}
