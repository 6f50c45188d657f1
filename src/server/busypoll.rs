//! Busy polling of the event loop between requests (`busy-poll-us`).
//!
//! When the event loop runs out of work it sleeps in epoll, and the next request has to wake it: the
//! client's write then pays for waking a sleeping thread, and on a virtual machine whose idle CPUs
//! halt at once, that wake-up (an inter-processor interrupt and a halted vCPU resuming) costs tens of
//! microseconds of latency and several of CPU, on both sides of every round trip. Under load, the
//! next request usually arrives within microseconds of the last reply.
//!
//! So after activity the event loop keeps polling for a short window before it sleeps: a task
//! yields in a loop, which makes the runtime poll its I/O driver with a zero timeout between the
//! other tasks instead of blocking in it, and gives the CPU to any other runnable thread at each
//! turn (`sched_yield`). The window adapts as Linux's guest halt-polling does: a sleep that ended
//! within `busy-poll-us` of its start would have been avoided by a longer window, so the window
//! doubles (from [`GROW_START_US`], up to `busy-poll-us`); a longer sleep halves it. A steady load
//! keeps the loop polling; an idle or lightly loaded server (gaps longer than the window's limit)
//! shrinks it to nothing and sleeps as before, using no CPU.
//!
//! Connection tasks report each batch with [`BusyPoll::note`]: an atomic increment, and a wake-up
//! of the polling task only when it sleeps.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The window a sleep too short to be worth it first grows to, in microseconds.
pub const GROW_START_US: u64 = 10;

pub struct BusyPoll {
    /// Batches run by connections (only compared for change).
    activity: AtomicU64,
    /// The polling task sleeps until the next activity.
    parked: AtomicBool,
    wake: Notify,
    /// `busy-poll-us`: the longest window; 0 turns polling off.
    max_us: AtomicU64,
}

impl BusyPoll {
    pub fn new(max_us: u64) -> BusyPoll {
        BusyPoll {
            activity: AtomicU64::new(0),
            parked: AtomicBool::new(true),
            wake: Notify::new(),
            max_us: AtomicU64::new(max_us),
        }
    }

    /// CONFIG SET busy-poll-us.
    pub fn set_max_us(&self, us: u64) {
        self.max_us.store(us, Ordering::Relaxed);
    }

    /// A connection ran a batch of commands.
    #[inline]
    pub fn note(&self) {
        self.activity.fetch_add(1, Ordering::Relaxed);
        if self.parked.load(Ordering::Relaxed) && self.parked.swap(false, Ordering::AcqRel) {
            self.wake.notify_one();
        }
    }

    /// The polling task (one per server).
    pub async fn run(&self) {
        let mut window = Window::default();
        loop {
            self.parked.store(true, Ordering::Release);
            let slept = Instant::now();
            self.wake.notified().await;
            let max = self.max_us.load(Ordering::Relaxed);
            let us = window.after_sleep(slept.elapsed(), max);
            if us > 0 {
                self.poll_for(Duration::from_micros(us)).await;
            }
        }
    }

    /// Keeps the event loop polling until no batch has run for `idle`.
    async fn poll_for(&self, idle: Duration) {
        let mut last = self.activity.load(Ordering::Relaxed);
        let mut since = Instant::now();
        loop {
            // A yielded task makes the runtime poll its driver without blocking before it runs
            // the task again.
            tokio::task::yield_now().await;
            std::thread::yield_now();
            let now = Instant::now();
            let a = self.activity.load(Ordering::Relaxed);
            if a != last {
                last = a;
                since = now;
            } else if now.duration_since(since) >= idle || self.max_us.load(Ordering::Relaxed) == 0
            {
                return;
            }
        }
    }
}

/// The adaptive polling window.
#[derive(Default, Debug)]
struct Window {
    us: u64,
}

impl Window {
    /// The window to poll for after a sleep of `slept`, with `max` the configured limit (µs).
    fn after_sleep(&mut self, slept: Duration, max: u64) -> u64 {
        if max == 0 {
            self.us = 0;
        } else if slept.as_micros() <= u128::from(max) {
            self.us = (self.us * 2).clamp(GROW_START_US.min(max), max);
        } else {
            self.us /= 2;
        }
        self.us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn short_sleeps_grow_the_window_up_to_the_limit() {
        let mut w = Window::default();
        assert_eq!(w.after_sleep(us(30), 200), 10);
        assert_eq!(w.after_sleep(us(30), 200), 20);
        assert_eq!(w.after_sleep(us(200), 200), 40);
        assert_eq!(w.after_sleep(us(5), 200), 80);
        assert_eq!(w.after_sleep(us(5), 200), 160);
        assert_eq!(w.after_sleep(us(5), 200), 200);
        assert_eq!(w.after_sleep(us(5), 200), 200);
        // A lower limit applies at once.
        assert_eq!(w.after_sleep(us(5), 50), 50);
        // A limit below the starting window is the window.
        let mut w = Window::default();
        assert_eq!(w.after_sleep(us(1), 4), 4);
    }

    #[test]
    fn long_sleeps_shrink_the_window_to_nothing() {
        let mut w = Window { us: 200 };
        let mut seen = Vec::new();
        while w.us > 0 {
            seen.push(w.after_sleep(us(1_000), 200));
        }
        assert_eq!(seen, [100, 50, 25, 12, 6, 3, 1, 0]);
        // Idle stays idle: a sleep that is too long never starts polling.
        assert_eq!(w.after_sleep(us(201), 200), 0);
    }

    #[test]
    fn a_zero_limit_turns_polling_off() {
        let mut w = Window { us: 200 };
        assert_eq!(w.after_sleep(us(1), 0), 0);
        assert_eq!(w.after_sleep(us(1), 0), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn polling_ends_when_activity_stops_and_resumes_with_it() {
        let bp = std::sync::Arc::new(BusyPoll::new(200));
        let task = tokio::spawn({
            let bp = bp.clone();
            async move { bp.run().await }
        });
        // Sleeping at first; activity wakes it and it polls (not parked) right after.
        tokio::task::yield_now().await;
        assert!(bp.parked.load(Ordering::Acquire));
        bp.note();
        assert!(!bp.parked.load(Ordering::Acquire));
        // Without more activity the window (10 µs after a short sleep) runs out and it sleeps again.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !bp.parked.load(Ordering::Acquire) {
            assert!(Instant::now() < deadline, "never went back to sleep");
            tokio::task::yield_now().await;
        }
        task.abort();
    }
}
