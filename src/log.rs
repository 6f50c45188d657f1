//! Logging in Redis's line format: `pid:R DD Mon YYYY HH:MM:SS.mmm L message`.
//!
//! A `tracing-subscriber` layer (events only; the registry tracks spans) writes each event as one line, to standard
//! output when `logfile` is empty, else appended to the file, reopened for every line as Redis does
//! (so log rotation by renaming just works). `R` is the role character: `C` until the server is
//! initialised, then `M` (master) or `S` (replica), kept in [`ROLE`] for the replication code to set.
//! `L` is the level character.
//!
//! Levels: tracing's levels map to Redis's four verbosity levels:
//!
//! | tracing | Redis     | char |
//! |---------|-----------|------|
//! | TRACE   | debug     | `.`  |
//! | DEBUG   | verbose   | `-`  |
//! | INFO    | notice    | `*`  |
//! | WARN, ERROR | warning | `#` |
//!
//! `loglevel` is read from [`LEVEL`] for every event, so CONFIG SET loglevel takes effect at once.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Redis's verbosity levels.
pub const LL_DEBUG: u8 = 0;
pub const LL_VERBOSE: u8 = 1;
pub const LL_NOTICE: u8 = 2;
pub const LL_WARNING: u8 = 3;

/// The role character of every log line: `C` before start-up completes, `M` master, `S` replica.
pub static ROLE: AtomicU8 = AtomicU8::new(b'C');

/// The minimum level written (`loglevel`).
pub static LEVEL: AtomicU8 = AtomicU8::new(LL_NOTICE);

/// The log file path; empty = standard output.
static LOGFILE: Mutex<String> = Mutex::new(String::new());

/// Sets the role character (`M` or `S`).
pub fn set_role(c: u8) {
    ROLE.store(c, Ordering::Relaxed);
}

/// Sets the verbosity from a `loglevel` name; unknown names are ignored (the config already checked).
pub fn set_level_name(name: &str) {
    let l = match name {
        "debug" => LL_DEBUG,
        "verbose" => LL_VERBOSE,
        "notice" => LL_NOTICE,
        "warning" => LL_WARNING,
        _ => return,
    };
    LEVEL.store(l, Ordering::Relaxed);
}

/// Sets where lines go (empty = standard output).
pub fn set_logfile(path: &str) {
    *LOGFILE.lock() = path.to_string();
}

fn redis_level(l: &Level) -> u8 {
    match *l {
        Level::TRACE => LL_DEBUG,
        Level::DEBUG => LL_VERBOSE,
        Level::INFO => LL_NOTICE,
        _ => LL_WARNING,
    }
}

/// `21 Nov 2026 11:04:05.123` in local time.
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    let ms = now.subsec_millis();
    // SAFETY: localtime_r and strftime write into stack buffers we own, with their sizes.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        let mut buf = [0u8; 64];
        let n = libc::strftime(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            c"%d %b %Y %H:%M:%S".as_ptr(),
            &tm,
        );
        format!("{}.{:03}", String::from_utf8_lossy(&buf[..n]), ms)
    }
}

/// Formats one log line (without writing it).
pub fn format_line(level: u8, msg: &str) -> String {
    let c = b".-*#"[level.min(3) as usize] as char;
    format!(
        "{}:{} {} {} {}\n",
        std::process::id(),
        ROLE.load(Ordering::Relaxed) as char,
        timestamp(),
        c,
        msg
    )
}

fn write_out(text: &str) {
    let path = LOGFILE.lock().clone();
    if path.is_empty() {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    } else if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = f.write_all(text.as_bytes());
    }
}

/// Longest message written, as Redis's `LOG_MAX_LEN` (1024 with its terminating NUL).
const LOG_MAX_LEN: usize = 1023;

/// Writes one line at a Redis level, if the verbosity allows it.
pub fn log(level: u8, msg: &str) {
    if level >= LEVEL.load(Ordering::Relaxed) {
        let mut end = msg.len().min(LOG_MAX_LEN);
        while !msg.is_char_boundary(end) {
            end -= 1;
        }
        write_out(&format_line(level, &msg[..end]));
    }
}

/// Writes text as-is (the ASCII banner), at notice level.
pub fn raw(text: &str) {
    if LL_NOTICE >= LEVEL.load(Ordering::Relaxed) {
        write_out(text);
    }
}

/// Collects an event's `message` (and any other fields, as `name=value`).
struct MsgVisitor(String);

impl Visit for MsgVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            self.0.push_str(&format!(" {}={}", field.name(), value));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={:?}", field.name(), value));
        }
    }
}

/// The layer that writes events as Redis log lines; spans are tracked by tracing-subscriber's
/// registry and not printed. The level is checked against [`LEVEL`] each time.
pub struct RedisLog;

impl<S: Subscriber> Layer<S> for RedisLog {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        // Always ask `enabled`, since the level can change at run time.
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, m: &Metadata<'_>, _: Context<'_, S>) -> bool {
        redis_level(m.level()) >= LEVEL.load(Ordering::Relaxed)
    }
    fn on_event(&self, e: &Event<'_>, _: Context<'_, S>) {
        let mut v = MsgVisitor(String::new());
        e.record(&mut v);
        log(redis_level(e.metadata().level()), &v.0);
    }
}

/// Installs the logger as the global default (once; later calls do nothing).
pub fn init(loglevel: &str, logfile: &str) {
    set_level_name(loglevel);
    set_logfile(logfile);
    let _ = tracing_subscriber::registry().with(RedisLog).try_init();
}

/// The ASCII banner `always-show-logo yes` prints: ferredis's own drawing, with Redis's fields
/// (version, mode, `Port: N`, `PID: N`).
pub fn banner(version: &str, mode: &str, port: u16, pid: u32) -> String {
    format!(
        r#"
        ______                     ___
       / ____/__  ______________  / (_)____      ferredis {version} (Redis 7.0.15 compatible) 64 bit
      / /_  / _ \/ ___/ ___/ _ \/ __/ / ___/
     / __/ /  __/ /  / /  /  __/ /_/ (__  )      Running in {mode} mode
    /_/    \___/_/  /_/   \___/\__,_/____/       Port: {port}
                                                 PID: {pid}

"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        let l = format_line(LL_NOTICE, "Ready to accept connections");
        let pid = std::process::id().to_string();
        assert!(l.starts_with(&format!("{pid}:")), "{l}");
        assert!(l.ends_with(" * Ready to accept connections\n"), "{l}");
        // pid:R DD Mon YYYY HH:MM:SS.mmm
        let rest = &l[pid.len() + 1..];
        let parts: Vec<&str> = rest.split(' ').collect();
        assert_eq!(parts[0].len(), 1);
        assert_eq!(parts[1].len(), 2);
        assert_eq!(parts[2].len(), 3);
        assert_eq!(parts[3].len(), 4);
        assert_eq!(parts[4].len(), 12, "{l}");
        assert_eq!(format_line(LL_WARNING, "x").split(' ').nth(5), Some("#"));
        assert_eq!(format_line(LL_DEBUG, "x").split(' ').nth(5), Some("."));
        assert_eq!(format_line(LL_VERBOSE, "x").split(' ').nth(5), Some("-"));
    }

    #[test]
    fn banner_has_port_and_pid() {
        let b = banner("0.1.0", "standalone", 7777, 42);
        assert!(b.contains("Port: 7777"));
        assert!(b.contains(" PID: 42"));
    }
}
