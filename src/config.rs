//! Configuration: every directive Redis 7.0 accepts, as one table, and redis.conf parsing.
//!
//! # Design
//! Each directive is a row of [`DIRECTIVES`]: its name, its alias (`slaveof` for `replicaof`, ...), its
//! [`Kind`] (how a value is parsed, checked and rendered), flags (immutable, multi-argument, hidden,
//! protected, sensitive, and whether ferredis acts on it at all), and a getter/setter pair on a typed
//! field of [`Config`]. The table and the struct come from one macro list, so a directive cannot have a
//! field without a row or the reverse. Everything else (file loading, `CONFIG GET/SET/REWRITE`, the
//! default-value differential test) walks that table.
//!
//! Parsing follows Redis: a file is read as lines, each trimmed and split with the inline-command
//! quoting rules ([`crate::resp::request::split_args`]); `include` recurses; a bad line stops start-up
//! with Redis's fatal message, extended with the file's path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `enable-debug-command` / `enable-protected-configs` / `enable-module-command` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtectedAccess {
    No,
    Yes,
    Local,
}

/// One client class of `client-output-buffer-limit`: hard limit, soft limit (bytes), soft seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ObufLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit` for the three classes Redis knows (`master` cannot be set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOutputBufferLimits {
    pub normal: ObufLimit,
    pub replica: ObufLimit,
    pub pubsub: ObufLimit,
}

impl Default for ClientOutputBufferLimits {
    fn default() -> Self {
        ClientOutputBufferLimits {
            normal: ObufLimit::default(),
            replica: ObufLimit {
                hard: 256 << 20,
                soft: 64 << 20,
                soft_seconds: 60,
            },
            pubsub: ObufLimit {
                hard: 32 << 20,
                soft: 8 << 20,
                soft_seconds: 60,
            },
        }
    }
}

/// `save` points: (seconds, changes).
pub type SavePoints = Vec<(u64, u64)>;

/// Keyspace notification classes (`notify-keyspace-events`), with Redis's bit values.
pub mod notify {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    /// `m`: not part of `A` on purpose (Redis excludes key-miss events from "all").
    pub const KEY_MISS: u32 = 1 << 11;
    pub const MODULE: u32 = 1 << 13;
    pub const NEW: u32 = 1 << 14;
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

    /// Parses a class string (`KEA`, `Ex`, ...); None for an unknown character.
    pub fn parse(s: &str) -> Option<u32> {
        let mut f = 0;
        for c in s.chars() {
            f |= match c {
                'A' => ALL,
                'g' => GENERIC,
                '$' => STRING,
                'l' => LIST,
                's' => SET,
                'h' => HASH,
                'z' => ZSET,
                'x' => EXPIRED,
                'e' => EVICTED,
                'K' => KEYSPACE,
                'E' => KEYEVENT,
                't' => STREAM,
                'm' => KEY_MISS,
                'd' => MODULE,
                'n' => NEW,
                _ => return None,
            };
        }
        Some(f)
    }

    /// Renders flags in Redis's canonical order (`A` when every class is set).
    pub fn render(f: u32) -> String {
        let mut s = String::new();
        if f & ALL == ALL {
            s.push('A');
        } else {
            for (bit, c) in [
                (GENERIC, 'g'),
                (STRING, '$'),
                (LIST, 'l'),
                (SET, 's'),
                (HASH, 'h'),
                (ZSET, 'z'),
                (EXPIRED, 'x'),
                (EVICTED, 'e'),
                (STREAM, 't'),
                (MODULE, 'd'),
                (NEW, 'n'),
            ] {
                if f & bit != 0 {
                    s.push(c);
                }
            }
        }
        for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
            if f & bit != 0 {
                s.push(c);
            }
        }
        s
    }
}

/// How a directive's value is parsed, bounded and rendered.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `yes` / `no`.
    Bool,
    /// A signed integer with bounds (Redis's int, long, long long, unsigned long).
    Int(i64, i64),
    /// An unsigned integer (Redis's unsigned int, size_t, unsigned long long): bounds are checked
    /// after a two's-complement cast, so `-1` reports the unsigned range.
    UInt(u64, u64),
    /// Bytes with optional units (`1k` `1kb` `1m` `1mb` `1g` `1gb`), signed bounds.
    Mem(i64, i64),
    /// Bytes with units, unsigned bounds.
    UMem(u64, u64),
    /// Bytes with units, or `N%` (stored negative), as `maxmemory-clients`.
    MemPercent(i64, i64),
    /// An octal number (`unixsocketperm`).
    Octal(u64, u64),
    /// One name of a list; names with the same value render as the first of them.
    Enum(&'static [(&'static str, u32)]),
    /// Several names of a list, OR-ed (`shutdown-on-sigint nosave now`).
    Flags(&'static [(&'static str, u32)]),
    /// A string where empty is a valid value.
    Str,
    /// A string where empty means "not set".
    StrOrNull,
    /// `dir`: changes the working directory, renders the absolute path.
    Dir,
    /// A directive with its own syntax (save, bind, client-output-buffer-limit, ...).
    Special,
}

/// Directive flags.
pub mod dflag {
    /// Cannot be changed with CONFIG SET.
    pub const IMMUTABLE: u8 = 1 << 0;
    /// Takes several arguments (a single quoted argument is split on spaces).
    pub const MULTI_ARG: u8 = 1 << 1;
    /// Left out of CONFIG GET patterns; only an exact name finds it.
    pub const HIDDEN: u8 = 1 << 2;
    /// CONFIG SET only when `enable-protected-configs` allows it.
    pub const PROTECTED: u8 = 1 << 3;
    /// A secret (redacted where Redis redacts it).
    pub const SENSITIVE: u8 = 1 << 4;
    /// Accepted, stored and returned by CONFIG GET, but ferredis does nothing with it.
    pub const NO_EFFECT: u8 = 1 << 5;
    /// Refused with -LOADING while a dataset is being loaded.
    pub const DENY_LOADING: u8 = 1 << 6;
}

/// One row of the directive table.
pub struct Directive {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub flags: u8,
    /// CONFIG GET rendering of the current value.
    pub get: fn(&Config) -> String,
    /// Parses and stores a value (arguments already split); the error is Redis's reason text.
    pub set: fn(&mut Config, &[String]) -> Result<(), String>,
}

impl Directive {
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

// ---------------------------------------------------------------------------------------------
// Value parsing shared by the kinds.
// ---------------------------------------------------------------------------------------------

/// `memtoull`: digits with an optional unit, case-insensitive; no sign. Empty digits count as 0, as
/// in Redis.
pub fn parse_memory(s: &str) -> Option<u64> {
    if s.starts_with('-') {
        return None;
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits.len() >= 128 {
        return None;
    }
    let v: u64 = if digits.is_empty() {
        0
    } else {
        digits.parse().unwrap_or(u64::MAX)
    };
    Some(v.wrapping_mul(mul))
}

/// Formats bytes for CONFIG REWRITE: the largest of gb/mb/kb that divides it.
pub fn format_memory(bytes: i128) -> String {
    const GB: i128 = 1 << 30;
    const MB: i128 = 1 << 20;
    const KB: i128 = 1 << 10;
    if bytes != 0 && bytes % GB == 0 {
        format!("{}gb", bytes / GB)
    } else if bytes != 0 && bytes % MB == 0 {
        format!("{}mb", bytes / MB)
    } else if bytes != 0 && bytes % KB == 0 {
        format!("{}kb", bytes / KB)
    } else {
        bytes.to_string()
    }
}

fn parse_bool(v: &str) -> Result<bool, String> {
    if v.eq_ignore_ascii_case("yes") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("no") {
        Ok(false)
    } else {
        Err("argument must be 'yes' or 'no'".into())
    }
}

/// Parses a numeric directive value per its kind and checks the bounds, with Redis's error texts.
fn parse_numeric(kind: &Kind, v: &str) -> Result<i128, String> {
    let parsed: Option<i128> = match kind {
        Kind::Mem(..) | Kind::UMem(..) => parse_memory(v).map(|x| x as i128),
        Kind::MemPercent(..) => parse_memory(v).map(|x| x as i128).or_else(|| {
            let body = v.strip_suffix('%')?;
            if v.len() < 2 {
                return None;
            }
            let n = crate::util::parse_i64(body.as_bytes())?;
            (n >= 0).then_some(-(n as i128))
        }),
        Kind::Octal(..) => {
            let t = v.trim_start();
            let (neg, body) = match t.strip_prefix('-') {
                Some(b) => (true, b),
                None => (false, t.strip_prefix('+').unwrap_or(t)),
            };
            if body.is_empty() {
                Some(0)
            } else {
                i64::from_str_radix(body, 8)
                    .ok()
                    .map(|x| if neg { -(x as i128) } else { x as i128 })
            }
        }
        _ => crate::util::parse_i64(v.as_bytes()).map(|x| x as i128),
    };
    let Some(n) = parsed else {
        return Err(match kind {
            Kind::MemPercent(..) => "argument must be a memory or percent value",
            Kind::Mem(..) | Kind::UMem(..) => "argument must be a memory value",
            Kind::Octal(..) => "argument couldn't be parsed as an octal number",
            _ => "argument couldn't be parsed into an integer",
        }
        .into());
    };
    match *kind {
        Kind::UInt(lo, hi) | Kind::UMem(lo, hi) | Kind::Octal(lo, hi) => {
            // Redis compares after casting to unsigned long long.
            let u = if n < 0 { (n as i64) as u64 } else { n as u64 };
            if u < lo || u > hi {
                return Err(if matches!(kind, Kind::Octal(..)) {
                    format!("argument must be between {lo:o} and {hi:o} inclusive")
                } else {
                    format!("argument must be between {lo} and {hi} inclusive")
                });
            }
        }
        Kind::MemPercent(lo, _) if n < 0 && n < lo as i128 => {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                -lo
            ));
        }
        Kind::MemPercent(..) if n < 0 => {}
        Kind::Int(lo, hi) | Kind::Mem(lo, hi) | Kind::MemPercent(lo, hi)
            if n < lo as i128 || n > hi as i128 =>
        {
            return Err(format!("argument must be between {lo} and {hi} inclusive"));
        }
        _ => {}
    }
    Ok(n)
}

fn render_numeric(kind: &Kind, n: i128) -> String {
    match kind {
        Kind::MemPercent(..) if n < 0 => format!("{}%", -n),
        Kind::Octal(..) => format!("{n:o}"),
        _ => n.to_string(),
    }
}

fn enum_error(list: &[(&str, u32)]) -> String {
    let names: Vec<&str> = list.iter().map(|(n, _)| *n).collect();
    format!(
        "argument(s) must be one of the following: {}",
        names.join(", ")
    )
}

/// Canonical name of an enum value: the first name with that value.
fn enum_name(list: &[(&'static str, u32)], v: u32) -> &'static str {
    list.iter()
        .find(|(_, x)| *x == v)
        .map(|(n, _)| *n)
        .unwrap_or("unknown")
}

fn flags_name(list: &[(&'static str, u32)], v: u32) -> String {
    if let Some((n, _)) = list.iter().find(|(_, x)| *x == v) {
        return n.to_string();
    }
    let mut names = Vec::new();
    let mut unmatched = v;
    for (n, x) in list {
        if *x != 0 && *x == unmatched & *x {
            names.push(*n);
            unmatched &= !*x;
        }
    }
    if names.is_empty() || unmatched != 0 {
        return "unknown".into();
    }
    names.join(" ")
}

/// A typed config field: how it is parsed from directive arguments and rendered for CONFIG GET.
pub trait Field: Sized {
    fn parse(kind: &Kind, args: &[String]) -> Result<Self, String>;
    fn render(&self, kind: &Kind) -> String;
    /// Stores a parsed value; directives that merge (client-output-buffer-limit) override it.
    fn parse_into(slot: &mut Self, kind: &Kind, args: &[String]) -> Result<(), String> {
        *slot = Self::parse(kind, args)?;
        Ok(())
    }
}

fn one(args: &[String]) -> &str {
    args.first().map(|s| s.as_str()).unwrap_or("")
}

impl Field for bool {
    fn parse(_: &Kind, args: &[String]) -> Result<Self, String> {
        parse_bool(one(args))
    }
    fn render(&self, _: &Kind) -> String {
        if *self { "yes" } else { "no" }.into()
    }
}

macro_rules! numeric_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn parse(kind: &Kind, args: &[String]) -> Result<Self, String> {
                let n = parse_numeric(kind, one(args))?;
                // Bounds were checked above; an unsigned field given a percentage cannot happen.
                <$t>::try_from(n).map_err(|_| "argument couldn't be parsed into an integer".to_string())
            }
            fn render(&self, kind: &Kind) -> String {
                render_numeric(kind, *self as i128)
            }
        }
    )*};
}
numeric_field!(i64, u64, i32, u32, u16, usize);

impl Field for String {
    fn parse(kind: &Kind, args: &[String]) -> Result<Self, String> {
        let v = one(args);
        match kind {
            Kind::Enum(list) => list
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(v))
                .map(|(_, x)| enum_name(list, *x).to_string())
                .ok_or_else(|| enum_error(list)),
            Kind::Flags(list) => {
                if args.is_empty() {
                    return Err(enum_error(list));
                }
                let mut f = 0;
                for a in args {
                    let (_, x) = list
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(a))
                        .ok_or_else(|| enum_error(list))?;
                    f |= x;
                }
                // shutdown-on-sig*: SAVE (1) and NOSAVE (2) exclude each other.
                if f & 3 == 3 {
                    return Err(
                        "shutdown options SAVE and NOSAVE can't be used simultaneously".into(),
                    );
                }
                Ok(flags_name(list, f))
            }
            Kind::Dir => {
                std::env::set_current_dir(v).map_err(|e| strerror(&e))?;
                Ok(std::env::current_dir()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| v.to_string()))
            }
            _ => Ok(v.to_string()),
        }
    }
    fn render(&self, _: &Kind) -> String {
        self.clone()
    }
}

impl Field for Option<String> {
    fn parse(_: &Kind, args: &[String]) -> Result<Self, String> {
        let v = one(args);
        Ok((!v.is_empty()).then(|| v.to_string()))
    }
    fn render(&self, _: &Kind) -> String {
        self.clone().unwrap_or_default()
    }
}

impl Field for Option<Vec<u8>> {
    fn parse(_: &Kind, args: &[String]) -> Result<Self, String> {
        let v = one(args);
        Ok((!v.is_empty()).then(|| v.as_bytes().to_vec()))
    }
    fn render(&self, _: &Kind) -> String {
        self.as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }
}

impl Field for Option<u32> {
    fn parse(kind: &Kind, args: &[String]) -> Result<Self, String> {
        let n = parse_numeric(kind, one(args))?;
        Ok((n != 0).then_some(n as u32))
    }
    fn render(&self, kind: &Kind) -> String {
        render_numeric(kind, self.unwrap_or(0) as i128)
    }
}

const PROTECTED_ENUM: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("local", 2)];

impl Field for ProtectedAccess {
    fn parse(_: &Kind, args: &[String]) -> Result<Self, String> {
        match one(args).to_ascii_lowercase().as_str() {
            "no" => Ok(ProtectedAccess::No),
            "yes" => Ok(ProtectedAccess::Yes),
            "local" => Ok(ProtectedAccess::Local),
            _ => Err(enum_error(PROTECTED_ENUM)),
        }
    }
    fn render(&self, _: &Kind) -> String {
        match self {
            ProtectedAccess::No => "no",
            ProtectedAccess::Yes => "yes",
            ProtectedAccess::Local => "local",
        }
        .into()
    }
}

/// `bind`: addresses; a single empty argument means none.
impl Field for Vec<String> {
    fn parse(_: &Kind, args: &[String]) -> Result<Self, String> {
        if args.len() > 16 {
            return Err("Too many bind addresses specified.".into());
        }
        if args.len() == 1 && args[0].is_empty() {
            return Ok(Vec::new());
        }
        Ok(args.to_vec())
    }
    fn render(&self, _: &Kind) -> String {
        self.join(" ")
    }
}

/// `save`: pairs of seconds (>= 1) and changes (>= 0); a single empty argument clears them.
impl Field for Vec<(u64, u64)> {
    fn parse(_: &Kind, args: &[String]) -> Result<Self, String> {
        let args: &[String] = if args.len() == 1 && args[0].is_empty() {
            &[]
        } else {
            args
        };
        let bad = || "Invalid save parameters".to_string();
        if args.len() % 2 == 1 {
            return Err(bad());
        }
        let mut out = Vec::new();
        for pair in args.chunks(2) {
            let s = c_strtoll(&pair[0]).ok_or_else(bad)?;
            let c = c_strtoll(&pair[1]).ok_or_else(bad)?;
            if s < 1 || c < 0 {
                return Err(bad());
            }
            out.push((s as u64, c as u64));
        }
        Ok(out)
    }
    fn render(&self, _: &Kind) -> String {
        self.iter()
            .map(|(s, c)| format!("{s} {c}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `strtoll(s, &end, 10)` with `*end == '\0'`: leading spaces and a sign allowed, empty is 0.
fn c_strtoll(s: &str) -> Option<i64> {
    let t = s.trim_start();
    if t.is_empty() {
        return Some(0);
    }
    let (neg, body) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = body.parse().unwrap_or(i64::MAX);
    Some(if neg { -v } else { v })
}

impl Field for ClientOutputBufferLimits {
    fn parse(kind: &Kind, args: &[String]) -> Result<Self, String> {
        let mut v = ClientOutputBufferLimits::default();
        Self::parse_into(&mut v, kind, args)?;
        Ok(v)
    }
    fn parse_into(slot: &mut Self, _: &Kind, args: &[String]) -> Result<(), String> {
        if !args.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        let mut new = *slot;
        for c in args.chunks(4) {
            let class = match c[0].to_ascii_lowercase().as_str() {
                "normal" => &mut new.normal,
                "slave" | "replica" => &mut new.replica,
                "pubsub" => &mut new.pubsub,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let hard = parse_memory(&c[1]);
            let soft = parse_memory(&c[2]);
            let secs = c_strtoll(&c[3]);
            match (hard, soft, secs) {
                (Some(h), Some(s), Some(sec)) if sec >= 0 => {
                    *class = ObufLimit {
                        hard: h,
                        soft: s,
                        soft_seconds: sec as u64,
                    }
                }
                _ => return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                ),
            }
        }
        *slot = new;
        Ok(())
    }
    fn render(&self, _: &Kind) -> String {
        let f = |n: &str, l: &ObufLimit| format!("{n} {} {} {}", l.hard, l.soft, l.soft_seconds);
        format!(
            "{} {} {}",
            f("normal", &self.normal),
            f("slave", &self.replica),
            f("pubsub", &self.pubsub)
        )
    }
}

/// `oom-score-adj-values`: master, replica, background child.
impl Field for [i32; 3] {
    fn parse(_: &Kind, args: &[String]) -> Result<Self, String> {
        if args.len() != 3 {
            return Err("wrong number of arguments".into());
        }
        let mut out = [0i32; 3];
        for (o, a) in out.iter_mut().zip(args) {
            match c_strtoll(a) {
                Some(v) if (-2000..=2000).contains(&v) => *o = v as i32,
                _ => {
                    return Err(
                        "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                            .into(),
                    )
                }
            }
        }
        Ok(out)
    }
    fn render(&self, _: &Kind) -> String {
        format!("{} {} {}", self[0], self[1], self[2])
    }
}

/// `notify-keyspace-events` class flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotifyFlags(pub u32);

impl Field for NotifyFlags {
    fn parse(_: &Kind, args: &[String]) -> Result<Self, String> {
        if args.len() != 1 {
            return Err("wrong number of arguments".into());
        }
        notify::parse(&args[0])
            .map(NotifyFlags)
            .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into())
    }
    fn render(&self, _: &Kind) -> String {
        notify::render(self.0)
    }
}

/// `replicaof <host> <port>` / `replicaof no one`.
impl Field for Option<(String, u16)> {
    fn parse(_: &Kind, args: &[String]) -> Result<Self, String> {
        if args.len() != 2 {
            return Err("wrong number of arguments".into());
        }
        if args[0].eq_ignore_ascii_case("no") && args[1].eq_ignore_ascii_case("one") {
            return Ok(None);
        }
        match c_strtoll(&args[1]) {
            Some(p) if (0..=65535).contains(&p) => Ok(Some((args[0].clone(), p as u16))),
            _ => Err("Invalid master port".into()),
        }
    }
    fn render(&self, _: &Kind) -> String {
        match self {
            Some((h, p)) => format!("{h} {p}"),
            None => String::new(),
        }
    }
}

/// `latency-tracking-info-percentiles`.
impl Field for Vec<f64> {
    fn parse(_: &Kind, args: &[String]) -> Result<Self, String> {
        if args.len() == 1 && args[0].is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for a in args {
            let p = crate::util::parse_f64(a.as_bytes()).ok_or_else(|| {
                "Invalid latency-tracking-info-percentiles parameters".to_string()
            })?;
            if !(0.0..=100.0).contains(&p) {
                return Err(
                    "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                        .into(),
                );
            }
            out.push(p);
        }
        Ok(out)
    }
    fn render(&self, _: &Kind) -> String {
        self.iter()
            .map(|p| {
                // `%f`, then trailing zeros (and a trailing dot) trimmed.
                let s = format!("{p:.6}");
                let s = s.trim_end_matches('0').trim_end_matches('.');
                s.to_string()
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn strerror(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            // SAFETY: strerror returns a pointer to a static, NUL-terminated message.
            let p = unsafe { libc::strerror(code) };
            if p.is_null() {
                return e.to_string();
            }
            // SAFETY: non-null C string from libc.
            unsafe { std::ffi::CStr::from_ptr(p) }
                .to_string_lossy()
                .into_owned()
        }
        None => e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// The table.
// ---------------------------------------------------------------------------------------------

const IMM: u8 = dflag::IMMUTABLE;
const MULTI: u8 = dflag::MULTI_ARG;
const HID: u8 = dflag::HIDDEN;
const PROT: u8 = dflag::PROTECTED;
const SENS: u8 = dflag::SENSITIVE;
const NOFX: u8 = dflag::NO_EFFECT;
const DENYL: u8 = dflag::DENY_LOADING;

const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;
const LONG_MAX: i64 = i64::MAX;
const UINT_MAX: u64 = u32::MAX as u64;

const MAXMEMORY_POLICY: &[(&str, u32)] = &[
    ("volatile-lru", 0),
    ("volatile-lfu", 1),
    ("volatile-random", 2),
    ("volatile-ttl", 3),
    ("allkeys-lru", 4),
    ("allkeys-lfu", 5),
    ("allkeys-random", 6),
    ("noeviction", 7),
];
const SYSLOG_FACILITY: &[(&str, u32)] = &[
    ("user", 0),
    ("local0", 1),
    ("local1", 2),
    ("local2", 3),
    ("local3", 4),
    ("local4", 5),
    ("local5", 6),
    ("local6", 7),
    ("local7", 8),
];
/// `loglevel` names, in verbosity order (index = level used by [`crate::log`]).
pub const LOGLEVEL: &[(&str, u32)] = &[("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)];
const SUPERVISED: &[(&str, u32)] = &[("upstart", 0), ("systemd", 1), ("auto", 2), ("no", 3)];
const AOF_FSYNC: &[(&str, u32)] = &[("everysec", 0), ("always", 1), ("no", 2)];
const SHUTDOWN_ON_SIG: &[(&str, u32)] = &[
    ("default", 0),
    ("save", 1),
    ("nosave", 2),
    ("now", 4),
    ("force", 8),
];
const REPL_DISKLESS_LOAD: &[(&str, u32)] = &[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)];
const TLS_AUTH_CLIENTS: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("optional", 2)];
const OOM_SCORE_ADJ: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];
const ACL_PUBSUB_DEFAULT: &[(&str, u32)] = &[("allchannels", 1), ("resetchannels", 0)];
const SANITIZE_DUMP: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("clients", 2)];
const ENDPOINT_TYPE: &[(&str, u32)] = &[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)];
const PROPAGATION_ERROR: &[(&str, u32)] = &[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)];

fn cwd_string() -> String {
    std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| ".".into())
}

macro_rules! directives {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty = $default:expr ; $name:literal $(| $alias:literal)? , $kind:expr , $flags:expr ;)*) => {
        /// Every directive's current value, one typed field each (see the table for the names).
        #[derive(Clone, Debug)]
        pub struct Config {
            $( $(#[$doc])* pub $field: $ty, )*
            /// DEBUG SET-ACTIVE-EXPIRE: not a directive, a runtime switch.
            pub active_expire_enabled: bool,
        }

        impl Default for Config {
            fn default() -> Self {
                Config {
                    $( $field: $default, )*
                    active_expire_enabled: true,
                }
            }
        }

        /// The directive table, in Redis's order.
        pub static DIRECTIVES: &[Directive] = &[
            $( Directive {
                name: $name,
                alias: directives!(@alias $($alias)?),
                kind: $kind,
                flags: $flags,
                get: |c: &Config| Field::render(&c.$field, &$kind),
                set: |c: &mut Config, a: &[String]| Field::parse_into(&mut c.$field, &$kind, a),
            }, )*
        ];
    };
    (@alias) => { None };
    (@alias $a:literal) => { Some($a) };
}

directives! {
    // Booleans.
    rdbchecksum: bool = true; "rdbchecksum", Kind::Bool, IMM;
    daemonize: bool = false; "daemonize", Kind::Bool, IMM;
    io_threads_do_reads: bool = false; "io-threads-do-reads", Kind::Bool, IMM | NOFX;
    always_show_logo: bool = false; "always-show-logo", Kind::Bool, IMM;
    protected_mode: bool = true; "protected-mode", Kind::Bool, 0;
    rdbcompression: bool = true; "rdbcompression", Kind::Bool, 0;
    rdb_del_sync_files: bool = false; "rdb-del-sync-files", Kind::Bool, 0;
    activerehashing: bool = true; "activerehashing", Kind::Bool, NOFX;
    stop_writes_on_bgsave_error: bool = true; "stop-writes-on-bgsave-error", Kind::Bool, 0;
    set_proc_title: bool = true; "set-proc-title", Kind::Bool, IMM | NOFX;
    dynamic_hz: bool = true; "dynamic-hz", Kind::Bool, NOFX;
    lazyfree_lazy_eviction: bool = false; "lazyfree-lazy-eviction", Kind::Bool, 0;
    lazyfree_lazy_expire: bool = false; "lazyfree-lazy-expire", Kind::Bool, 0;
    lazyfree_lazy_server_del: bool = false; "lazyfree-lazy-server-del", Kind::Bool, 0;
    lazyfree_lazy_user_del: bool = false; "lazyfree-lazy-user-del", Kind::Bool, 0;
    lazyfree_lazy_user_flush: bool = false; "lazyfree-lazy-user-flush", Kind::Bool, 0;
    repl_disable_tcp_nodelay: bool = false; "repl-disable-tcp-nodelay", Kind::Bool, 0;
    repl_diskless_sync: bool = true; "repl-diskless-sync", Kind::Bool, 0;
    aof_rewrite_incremental_fsync: bool = true; "aof-rewrite-incremental-fsync", Kind::Bool, NOFX;
    no_appendfsync_on_rewrite: bool = false; "no-appendfsync-on-rewrite", Kind::Bool, NOFX;
    cluster_require_full_coverage: bool = true; "cluster-require-full-coverage", Kind::Bool, NOFX;
    rdb_save_incremental_fsync: bool = true; "rdb-save-incremental-fsync", Kind::Bool, NOFX;
    aof_load_truncated: bool = true; "aof-load-truncated", Kind::Bool, NOFX;
    aof_use_rdb_preamble: bool = true; "aof-use-rdb-preamble", Kind::Bool, NOFX;
    aof_timestamp_enabled: bool = false; "aof-timestamp-enabled", Kind::Bool, NOFX;
    cluster_replica_no_failover: bool = false; "cluster-replica-no-failover" | "cluster-slave-no-failover", Kind::Bool, NOFX;
    replica_lazy_flush: bool = false; "replica-lazy-flush" | "slave-lazy-flush", Kind::Bool, NOFX;
    replica_serve_stale_data: bool = true; "replica-serve-stale-data" | "slave-serve-stale-data", Kind::Bool, 0;
    replica_read_only: bool = true; "replica-read-only" | "slave-read-only", Kind::Bool, 0;
    replica_ignore_maxmemory: bool = true; "replica-ignore-maxmemory" | "slave-ignore-maxmemory", Kind::Bool, 0;
    jemalloc_bg_thread: bool = true; "jemalloc-bg-thread", Kind::Bool, NOFX;
    activedefrag: bool = false; "activedefrag", Kind::Bool, NOFX;
    syslog_enabled: bool = false; "syslog-enabled", Kind::Bool, IMM | NOFX;
    cluster_enabled: bool = false; "cluster-enabled", Kind::Bool, IMM | NOFX;
    appendonly: bool = false; "appendonly", Kind::Bool, DENYL | NOFX;
    cluster_allow_reads_when_down: bool = false; "cluster-allow-reads-when-down", Kind::Bool, NOFX;
    cluster_allow_pubsubshard_when_down: bool = true; "cluster-allow-pubsubshard-when-down", Kind::Bool, NOFX;
    crash_log_enabled: bool = true; "crash-log-enabled", Kind::Bool, NOFX;
    crash_memcheck_enabled: bool = true; "crash-memcheck-enabled", Kind::Bool, NOFX;
    use_exit_on_panic: bool = false; "use-exit-on-panic", Kind::Bool, HID | NOFX;
    disable_thp: bool = true; "disable-thp", Kind::Bool, IMM | NOFX;
    cluster_allow_replica_migration: bool = true; "cluster-allow-replica-migration", Kind::Bool, NOFX;
    replica_announced: bool = true; "replica-announced", Kind::Bool, 0;
    latency_tracking: bool = true; "latency-tracking", Kind::Bool, NOFX;
    aof_disable_auto_gc: bool = false; "aof-disable-auto-gc", Kind::Bool, NOFX;
    replica_ignore_disk_write_errors: bool = false; "replica-ignore-disk-write-errors", Kind::Bool, NOFX;

    // Strings.
    aclfile: String = String::new(); "aclfile", Kind::Str, IMM | NOFX;
    unixsocket: Option<String> = None; "unixsocket", Kind::StrOrNull, IMM;
    /// Empty = none (Redis writes its default pidfile only when daemonized).
    pidfile: String = String::new(); "pidfile", Kind::StrOrNull, IMM;
    replica_announce_ip: Option<String> = None; "replica-announce-ip" | "slave-announce-ip", Kind::StrOrNull, 0;
    masteruser: Option<String> = None; "masteruser", Kind::StrOrNull, SENS;
    cluster_announce_ip: Option<String> = None; "cluster-announce-ip", Kind::StrOrNull, NOFX;
    cluster_config_file: String = "nodes.conf".into(); "cluster-config-file", Kind::Str, IMM | NOFX;
    cluster_announce_hostname: Option<String> = None; "cluster-announce-hostname", Kind::StrOrNull, NOFX;
    syslog_ident: String = "redis".into(); "syslog-ident", Kind::Str, IMM | NOFX;
    dbfilename: String = "dump.rdb".into(); "dbfilename", Kind::Str, PROT;
    appendfilename: String = "appendonly.aof".into(); "appendfilename", Kind::Str, IMM | NOFX;
    appenddirname: String = "appendonlydir".into(); "appenddirname", Kind::Str, IMM | NOFX;
    server_cpulist: Option<String> = None; "server_cpulist", Kind::StrOrNull, IMM | NOFX;
    bio_cpulist: Option<String> = None; "bio_cpulist", Kind::StrOrNull, IMM | NOFX;
    aof_rewrite_cpulist: Option<String> = None; "aof_rewrite_cpulist", Kind::StrOrNull, IMM | NOFX;
    bgsave_cpulist: Option<String> = None; "bgsave_cpulist", Kind::StrOrNull, IMM | NOFX;
    ignore_warnings: String = String::new(); "ignore-warnings", Kind::Str, NOFX;
    proc_title_template: String = "{title} {listen-addr} {server-mode}".into(); "proc-title-template", Kind::Str, NOFX;
    bind_source_addr: Option<String> = None; "bind-source-addr", Kind::StrOrNull, 0;
    /// Empty = standard output.
    logfile: String = String::new(); "logfile", Kind::Str, IMM;
    masterauth: Option<String> = None; "masterauth", Kind::StrOrNull, SENS;
    requirepass: Option<Vec<u8>> = None; "requirepass", Kind::StrOrNull, SENS;

    // Enums.
    supervised: String = "no".into(); "supervised", Kind::Enum(SUPERVISED), IMM;
    syslog_facility: String = "local0".into(); "syslog-facility", Kind::Enum(SYSLOG_FACILITY), IMM | NOFX;
    repl_diskless_load: String = "disabled".into(); "repl-diskless-load", Kind::Enum(REPL_DISKLESS_LOAD), DENYL;
    loglevel: String = "notice".into(); "loglevel", Kind::Enum(LOGLEVEL), 0;
    maxmemory_policy: String = "noeviction".into(); "maxmemory-policy", Kind::Enum(MAXMEMORY_POLICY), 0;
    appendfsync: String = "everysec".into(); "appendfsync", Kind::Enum(AOF_FSYNC), NOFX;
    oom_score_adj: String = "no".into(); "oom-score-adj", Kind::Enum(OOM_SCORE_ADJ), NOFX;
    acl_pubsub_default: String = "resetchannels".into(); "acl-pubsub-default", Kind::Enum(ACL_PUBSUB_DEFAULT), NOFX;
    sanitize_dump_payload: String = "no".into(); "sanitize-dump-payload", Kind::Enum(SANITIZE_DUMP), NOFX;
    enable_protected_configs: ProtectedAccess = ProtectedAccess::No; "enable-protected-configs", Kind::Enum(PROTECTED_ENUM), IMM;
    enable_debug_command: ProtectedAccess = ProtectedAccess::No; "enable-debug-command", Kind::Enum(PROTECTED_ENUM), IMM;
    enable_module_command: ProtectedAccess = ProtectedAccess::No; "enable-module-command", Kind::Enum(PROTECTED_ENUM), IMM | NOFX;
    cluster_preferred_endpoint_type: String = "ip".into(); "cluster-preferred-endpoint-type", Kind::Enum(ENDPOINT_TYPE), NOFX;
    propagation_error_behavior: String = "ignore".into(); "propagation-error-behavior", Kind::Enum(PROPAGATION_ERROR), NOFX;
    shutdown_on_sigint: String = "default".into(); "shutdown-on-sigint", Kind::Flags(SHUTDOWN_ON_SIG), MULTI;
    shutdown_on_sigterm: String = "default".into(); "shutdown-on-sigterm", Kind::Flags(SHUTDOWN_ON_SIG), MULTI;

    // Integers.
    databases: usize = 16; "databases", Kind::Int(1, INT_MAX), IMM;
    port: u16 = 6379; "port", Kind::Int(0, 65535), 0;
    io_threads: i64 = 1; "io-threads", Kind::Int(1, 128), IMM;
    /// ferredis's own: how long (µs) the event loop may keep polling for requests before it sleeps
    /// (`server::busypoll`); 0 = never. Hidden, so CONFIG GET patterns answer as Redis does.
    busy_poll_us: u64 = 100; "busy-poll-us", Kind::Int(0, 1_000_000), HID;
    auto_aof_rewrite_percentage: i64 = 100; "auto-aof-rewrite-percentage", Kind::Int(0, INT_MAX), NOFX;
    cluster_replica_validity_factor: i64 = 10; "cluster-replica-validity-factor" | "cluster-slave-validity-factor", Kind::Int(0, INT_MAX), NOFX;
    list_max_listpack_size: i64 = -2; "list-max-listpack-size" | "list-max-ziplist-size", Kind::Int(INT_MIN, INT_MAX), 0;
    tcp_keepalive: u64 = 300; "tcp-keepalive", Kind::Int(0, INT_MAX), 0;
    cluster_migration_barrier: i64 = 1; "cluster-migration-barrier", Kind::Int(0, INT_MAX), NOFX;
    active_defrag_cycle_min: i64 = 1; "active-defrag-cycle-min", Kind::Int(1, 99), NOFX;
    active_defrag_cycle_max: i64 = 25; "active-defrag-cycle-max", Kind::Int(1, 99), NOFX;
    active_defrag_threshold_lower: i64 = 10; "active-defrag-threshold-lower", Kind::Int(0, 1000), NOFX;
    active_defrag_threshold_upper: i64 = 100; "active-defrag-threshold-upper", Kind::Int(0, 1000), NOFX;
    lfu_log_factor: i64 = 10; "lfu-log-factor", Kind::Int(0, INT_MAX), 0;
    lfu_decay_time: i64 = 1; "lfu-decay-time", Kind::Int(0, INT_MAX), 0;
    replica_priority: i64 = 100; "replica-priority" | "slave-priority", Kind::Int(0, INT_MAX), 0;
    repl_diskless_sync_delay: i64 = 5; "repl-diskless-sync-delay", Kind::Int(0, INT_MAX), 0;
    maxmemory_samples: i64 = 5; "maxmemory-samples", Kind::Int(1, INT_MAX), 0;
    maxmemory_eviction_tenacity: i64 = 10; "maxmemory-eviction-tenacity", Kind::Int(0, 100), 0;
    /// Idle client timeout in seconds (0 = never).
    timeout: u64 = 0; "timeout", Kind::Int(0, INT_MAX), 0;
    replica_announce_port: u16 = 0; "replica-announce-port" | "slave-announce-port", Kind::Int(0, 65535), 0;
    tcp_backlog: u32 = 511; "tcp-backlog", Kind::Int(0, INT_MAX), IMM;
    cluster_port: i64 = 0; "cluster-port", Kind::Int(0, 65535), IMM | NOFX;
    cluster_announce_bus_port: i64 = 0; "cluster-announce-bus-port", Kind::Int(0, 65535), NOFX;
    cluster_announce_port: i64 = 0; "cluster-announce-port", Kind::Int(0, 65535), NOFX;
    cluster_announce_tls_port: i64 = 0; "cluster-announce-tls-port", Kind::Int(0, 65535), NOFX;
    repl_timeout: i64 = 60; "repl-timeout", Kind::Int(1, INT_MAX), 0;
    repl_ping_replica_period: i64 = 10; "repl-ping-replica-period" | "repl-ping-slave-period", Kind::Int(1, INT_MAX), 0;
    list_compress_depth: i64 = 0; "list-compress-depth", Kind::Int(0, INT_MAX), NOFX;
    rdb_key_save_delay: i64 = 0; "rdb-key-save-delay", Kind::Int(INT_MIN, INT_MAX), HID;
    key_load_delay: i64 = 0; "key-load-delay", Kind::Int(INT_MIN, INT_MAX), HID | NOFX;
    active_expire_effort: i64 = 1; "active-expire-effort", Kind::Int(1, 10), NOFX;
    hz: u64 = 10; "hz", Kind::Int(0, INT_MAX), 0;
    min_replicas_to_write: i64 = 0; "min-replicas-to-write" | "min-slaves-to-write", Kind::Int(0, INT_MAX), 0;
    min_replicas_max_lag: i64 = 10; "min-replicas-max-lag" | "min-slaves-max-lag", Kind::Int(0, INT_MAX), 0;
    watchdog_period: i64 = 0; "watchdog-period", Kind::Int(0, INT_MAX), HID | NOFX;
    shutdown_timeout: i64 = 10; "shutdown-timeout", Kind::Int(0, INT_MAX), 0;
    repl_diskless_sync_max_replicas: i64 = 0; "repl-diskless-sync-max-replicas", Kind::Int(0, INT_MAX), 0;
    maxclients: u64 = 10000; "maxclients", Kind::UInt(1, UINT_MAX), 0;
    /// Unix socket permissions (octal); None = left as created.
    unixsocketperm: Option<u32> = None; "unixsocketperm", Kind::Octal(0, 0o777), IMM;
    socket_mark_id: u64 = 0; "socket-mark-id", Kind::UInt(0, UINT_MAX), IMM | NOFX;
    active_defrag_max_scan_fields: i64 = 1000; "active-defrag-max-scan-fields", Kind::Int(1, LONG_MAX), NOFX;
    slowlog_max_len: usize = 128; "slowlog-max-len", Kind::Int(0, LONG_MAX), 0;
    acllog_max_len: i64 = 128; "acllog-max-len", Kind::Int(0, LONG_MAX), NOFX;
    busy_reply_threshold: i64 = 5000; "busy-reply-threshold" | "lua-time-limit", Kind::Int(0, LONG_MAX), NOFX;
    cluster_node_timeout: i64 = 15000; "cluster-node-timeout", Kind::Int(0, LONG_MAX), NOFX;
    slowlog_log_slower_than: i64 = 10000; "slowlog-log-slower-than", Kind::Int(-1, LONG_MAX), 0;
    latency_monitor_threshold: u64 = 0; "latency-monitor-threshold", Kind::Int(0, LONG_MAX), 0;
    proto_max_bulk_len: u64 = 512 << 20; "proto-max-bulk-len", Kind::Mem(1 << 20, LONG_MAX), 0;
    stream_node_max_entries: i64 = 100; "stream-node-max-entries", Kind::Int(0, LONG_MAX), NOFX;
    repl_backlog_size: i64 = 1 << 20; "repl-backlog-size", Kind::Mem(1, LONG_MAX), 0;
    maxmemory: u64 = 0; "maxmemory", Kind::UMem(0, u64::MAX), 0;
    cluster_link_sendbuf_limit: u64 = 0; "cluster-link-sendbuf-limit", Kind::UMem(0, u64::MAX), NOFX;
    hash_max_listpack_entries: u64 = 512; "hash-max-listpack-entries" | "hash-max-ziplist-entries", Kind::UInt(0, LONG_MAX as u64), 0;
    set_max_intset_entries: u64 = 512; "set-max-intset-entries", Kind::UInt(0, LONG_MAX as u64), 0;
    zset_max_listpack_entries: u64 = 128; "zset-max-listpack-entries" | "zset-max-ziplist-entries", Kind::UInt(0, LONG_MAX as u64), 0;
    active_defrag_ignore_bytes: u64 = 100 << 20; "active-defrag-ignore-bytes", Kind::UMem(1, LONG_MAX as u64), NOFX;
    hash_max_listpack_value: u64 = 64; "hash-max-listpack-value" | "hash-max-ziplist-value", Kind::UMem(0, LONG_MAX as u64), 0;
    stream_node_max_bytes: u64 = 4096; "stream-node-max-bytes", Kind::UMem(0, LONG_MAX as u64), NOFX;
    zset_max_listpack_value: u64 = 64; "zset-max-listpack-value" | "zset-max-ziplist-value", Kind::UMem(0, LONG_MAX as u64), 0;
    hll_sparse_max_bytes: u64 = 3000; "hll-sparse-max-bytes", Kind::UMem(0, LONG_MAX as u64), NOFX;
    tracking_table_max_keys: u64 = 1_000_000; "tracking-table-max-keys", Kind::UInt(0, LONG_MAX as u64), NOFX;
    client_query_buffer_limit: u64 = 1 << 30; "client-query-buffer-limit", Kind::UMem(1 << 20, LONG_MAX as u64), 0;
    /// Bytes, or a negative percentage of maxmemory.
    maxmemory_clients: i64 = 0; "maxmemory-clients", Kind::MemPercent(-100, LONG_MAX), NOFX;
    repl_backlog_ttl: i64 = 3600; "repl-backlog-ttl", Kind::Int(0, LONG_MAX), 0;
    auto_aof_rewrite_min_size: i64 = 64 << 20; "auto-aof-rewrite-min-size", Kind::Mem(0, LONG_MAX), NOFX;
    loading_process_events_interval_bytes: i64 = 2 << 20; "loading-process-events-interval-bytes", Kind::Int(1024, INT_MAX), HID | NOFX;

    // TLS (accepted; ferredis serves no TLS).
    tls_port: i64 = 0; "tls-port", Kind::Int(0, 65535), NOFX;
    tls_session_cache_size: i64 = 20 * 1024; "tls-session-cache-size", Kind::Int(0, INT_MAX), NOFX;
    tls_session_cache_timeout: i64 = 300; "tls-session-cache-timeout", Kind::Int(0, INT_MAX), NOFX;
    tls_cluster: bool = false; "tls-cluster", Kind::Bool, NOFX;
    tls_replication: bool = false; "tls-replication", Kind::Bool, NOFX;
    tls_auth_clients: String = "yes".into(); "tls-auth-clients", Kind::Enum(TLS_AUTH_CLIENTS), NOFX;
    tls_prefer_server_ciphers: bool = false; "tls-prefer-server-ciphers", Kind::Bool, NOFX;
    tls_session_caching: bool = true; "tls-session-caching", Kind::Bool, NOFX;
    tls_cert_file: Option<String> = None; "tls-cert-file", Kind::StrOrNull, NOFX;
    tls_key_file: Option<String> = None; "tls-key-file", Kind::StrOrNull, NOFX;
    tls_key_file_pass: Option<String> = None; "tls-key-file-pass", Kind::StrOrNull, NOFX;
    tls_client_cert_file: Option<String> = None; "tls-client-cert-file", Kind::StrOrNull, NOFX;
    tls_client_key_file: Option<String> = None; "tls-client-key-file", Kind::StrOrNull, NOFX;
    tls_client_key_file_pass: Option<String> = None; "tls-client-key-file-pass", Kind::StrOrNull, NOFX;
    tls_dh_params_file: Option<String> = None; "tls-dh-params-file", Kind::StrOrNull, NOFX;
    tls_ca_cert_file: Option<String> = None; "tls-ca-cert-file", Kind::StrOrNull, NOFX;
    tls_ca_cert_dir: Option<String> = None; "tls-ca-cert-dir", Kind::StrOrNull, NOFX;
    tls_protocols: Option<String> = None; "tls-protocols", Kind::StrOrNull, NOFX;
    tls_ciphers: Option<String> = None; "tls-ciphers", Kind::StrOrNull, NOFX;
    tls_ciphersuites: Option<String> = None; "tls-ciphersuites", Kind::StrOrNull, NOFX;

    // Directives with their own syntax.
    /// The working directory (absolute), where the RDB file and relative paths live.
    dir: String = cwd_string(); "dir", Kind::Dir, PROT | DENYL;
    /// Save points (seconds, changes); empty = no automatic saves.
    save: SavePoints = vec![(3600, 1), (300, 100), (60, 10000)]; "save", Kind::Special, MULTI;
    client_output_buffer_limit: ClientOutputBufferLimits = ClientOutputBufferLimits::default(); "client-output-buffer-limit", Kind::Special, MULTI;
    oom_score_adj_values: [i32; 3] = [0, 200, 800]; "oom-score-adj-values", Kind::Special, MULTI | NOFX;
    notify_keyspace_events: NotifyFlags = NotifyFlags(0); "notify-keyspace-events", Kind::Special, 0;
    /// Addresses to listen on; a leading `-` marks one that may be unavailable.
    bind: Vec<String> = vec!["*".into(), "-::*".into()]; "bind", Kind::Special, MULTI;
    /// The master this server replicates from (host, port), or None.
    replicaof: Option<(String, u16)> = None; "replicaof" | "slaveof", Kind::Special, IMM | MULTI;
    latency_tracking_info_percentiles: Vec<f64> = vec![50.0, 99.0, 99.9]; "latency-tracking-info-percentiles", Kind::Special, MULTI | NOFX;
}

/// Directives Redis accepts in a file but ignores (deprecated), with their exact argument count.
const DEPRECATED: &[&str] = &[
    "list-max-ziplist-entries",
    "list-max-ziplist-value",
    "lua-replicate-commands",
];

/// Name (or alias, lowercase) → index into [`DIRECTIVES`].
fn index() -> &'static HashMap<&'static str, usize> {
    static IDX: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    IDX.get_or_init(|| {
        let mut m = HashMap::new();
        for (i, d) in DIRECTIVES.iter().enumerate() {
            m.insert(d.name, i);
            if let Some(a) = d.alias {
                m.insert(a, i);
            }
        }
        m
    })
}

/// Finds a directive by name or alias, ignoring ASCII case.
pub fn lookup(name: &str) -> Option<&'static Directive> {
    index()
        .get(name.to_ascii_lowercase().as_str())
        .map(|&i| &DIRECTIVES[i])
}

/// Every name CONFIG GET patterns match against: primary names and aliases, with their directive.
pub fn all_names() -> impl Iterator<Item = (&'static str, &'static Directive)> {
    DIRECTIVES
        .iter()
        .flat_map(|d| std::iter::once((d.name, d)).chain(d.alias.map(|a| (a, d))))
}

/// Extra checks Redis makes for a few string directives before storing them.
fn validate(name: &str, args: &[String]) -> Result<(), String> {
    let v = one(args);
    match name {
        "dbfilename" if v.contains('/') => {
            Err("dbfilename can't be a path, just a filename".into())
        }
        "appendfilename" if v.is_empty() => Err("appendfilename can't be empty".into()),
        "appendfilename" if v.contains('/') => {
            Err("appendfilename can't be a path, just a filename".into())
        }
        "appenddirname" if v.is_empty() => Err("appenddirname can't be empty".into()),
        "appenddirname" if v.contains('/') => {
            Err("appenddirname can't be a path, just a dirname".into())
        }
        "cluster-announce-hostname" if v.len() >= 256 => {
            Err("Hostnames must be less than 256 characters".into())
        }
        "cluster-announce-hostname"
            if !v
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.') =>
        {
            Err("Hostnames may only contain alphanumeric characters, hyphens or dots".into())
        }
        "proc-title-template" if !valid_proc_title_template(v) => {
            Err("template format is invalid or contains unknown variables".into())
        }
        _ => Ok(()),
    }
}

/// A `proc-title-template` is valid when its `{variables}` are known, its braces balance (`{{` and
/// `}}` escape them), and it does not expand to nothing with an empty title.
fn valid_proc_title_template(t: &str) -> bool {
    const VARS: &[&str] = &[
        "title",
        "listen-addr",
        "server-mode",
        "port",
        "tls-port",
        "unixsocket",
        "config-file",
    ];
    let b = t.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' if b.get(i + 1) == Some(&b'{') => {
                out.push('{');
                i += 2;
            }
            b'}' if b.get(i + 1) == Some(&b'}') => {
                out.push('}');
                i += 2;
            }
            b'}' => return false,
            b'{' => {
                let Some(end) = t[i + 1..].find('}') else {
                    return false;
                };
                let name = &t[i + 1..i + 1 + end];
                if !VARS.contains(&name) {
                    return false;
                }
                // These always expand to something; the others may be empty.
                if matches!(name, "listen-addr" | "port" | "tls-port") {
                    out.push('x');
                }
                i += end + 2;
            }
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    !out.trim_matches(' ').is_empty()
}

/// Where a configuration line came from, for the fatal start-up message.
#[derive(Clone, Debug)]
pub enum Source {
    /// A config file (absolute path).
    File(PathBuf),
    /// Standard input (`-`).
    Stdin,
    /// `--directive value` arguments.
    CommandLine,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "'{}'", p.display()),
            Source::Stdin => f.write_str("(standard input)"),
            Source::CommandLine => f.write_str("(command line arguments)"),
        }
    }
}

/// A configuration error, rendered as Redis's fatal start-up message, with the source named on the
/// "Reading the configuration file" line. `line` counts as Redis counts: file, then stdin, then the
/// command-line options, as one text.
#[derive(Debug, thiserror::Error)]
#[error("\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file {source_name}, at line {line}\n>>> '{text}'\n{reason}")]
pub struct ConfigError {
    pub line: usize,
    pub text: String,
    pub reason: String,
    pub source_name: String,
}

/// A failure to open a config file (Redis logs it and exits 1).
#[derive(Debug, thiserror::Error)]
#[error("Fatal error, can't open config file '{path}': {reason}")]
pub struct OpenError {
    pub path: String,
    pub reason: String,
}

/// Why loading the configuration stopped start-up.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A bad line.
    #[error("{0}")]
    Line(#[from] ConfigError),
    /// A file that cannot be read.
    #[error("{0}")]
    Open(#[from] OpenError),
}

/// A chunk of configuration text and where it came from.
pub struct Chunk {
    pub source: Source,
    pub text: String,
}

/// Reads a file (or the files a glob names) as Redis's `include` and command-line file do.
pub fn read_config_file(path: &str) -> Result<String, OpenError> {
    let open = |p: &str| {
        std::fs::read(p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| OpenError {
                path: p.to_string(),
                reason: strerror(&e),
            })
    };
    if path.contains(['*', '?', '[']) {
        // A pattern that matches nothing includes nothing (empty conf.d directories).
        let mut out = String::new();
        for p in glob_paths(path) {
            out.push_str(&open(&p)?);
        }
        return Ok(out);
    }
    open(path)
}

/// Expands a glob (only the last path component may hold wildcards), sorted like glob(3).
fn glob_paths(pattern: &str) -> Vec<String> {
    let p = Path::new(pattern);
    let (dir, file) = match (p.parent(), p.file_name()) {
        (Some(d), Some(f)) => (d.to_path_buf(), f.to_string_lossy().into_owned()),
        _ => return Vec::new(),
    };
    let dir_read = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.clone()
    };
    let Ok(rd) = std::fs::read_dir(&dir_read) else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !n.starts_with('.') && crate::util::glob_match(file.as_bytes(), n.as_bytes(), false)
        })
        .map(|n| dir.join(n).display().to_string())
        .collect();
    out.sort();
    out
}

/// What loading found besides the values: for the start-up log.
#[derive(Default, Debug)]
pub struct LoadReport {
    /// Directives given that ferredis accepts without acting on them (each once, in order).
    pub no_effect: Vec<&'static str>,
}

/// State carried through one load (Redis's `save` lines accumulate within a load).
struct Loader<'a> {
    cfg: &'a mut Config,
    /// A `user default ... #<hash>` line, refused at the end unless `requirepass` is set.
    hashed_user: Option<ConfigError>,
    save_loaded: bool,
    report: LoadReport,
    depth: usize,
}

impl Config {
    /// Applies one directive as CONFIG SET and the config file do: checks, parses, stores.
    /// `args` are the directive's arguments, already split.
    pub fn set_directive(&mut self, d: &Directive, args: &[String]) -> Result<(), String> {
        validate(d.name, args)?;
        (d.set)(self, args)
    }

    /// The CONFIG GET rendering of a directive (by name or alias, any case).
    pub fn get_value(&self, name: &str) -> Option<String> {
        lookup(name).map(|d| self.render(d))
    }

    /// The CONFIG GET rendering of a directive.
    pub fn render(&self, d: &Directive) -> String {
        (d.get)(self)
    }

    /// Loads configuration text chunks in order (file, stdin, command line). Like Redis, the chunks
    /// are joined into one text (the command-line options after a newline), so line numbers count
    /// through all of them. Returns what the start-up log reports.
    pub fn load(&mut self, chunks: &[Chunk]) -> Result<LoadReport, LoadError> {
        let mut text = String::new();
        let mut starts: Vec<(usize, Source)> = Vec::new();
        for c in chunks {
            if matches!(c.source, Source::CommandLine) {
                text.push('\n');
            }
            starts.push((text.matches('\n').count() + 1, c.source.clone()));
            text.push_str(&c.text);
        }
        let mut l = Loader {
            cfg: self,
            hashed_user: None,
            save_loaded: false,
            report: LoadReport::default(),
            depth: 0,
        };
        l.load_text(&text, &starts)?;
        if let Some(e) = l.hashed_user.take() {
            if l.cfg.requirepass.is_none() {
                return Err(e.into());
            }
        }
        l.cfg.clamp_hz();
        Ok(l.report)
    }

    /// `hz` is a hint: values outside 1..=500 are accepted and capped, as Redis does.
    pub fn clamp_hz(&mut self) {
        self.hz = self.hz.clamp(1, 500);
    }

    /// Applies the text of a config file (one directive per line). For tests and simple callers.
    pub fn apply_text(&mut self, text: &str) -> Result<(), LoadError> {
        self.load(&[Chunk {
            source: Source::CommandLine,
            text: text.to_string(),
        }])
        .map(|_| ())
    }
}

impl Loader<'_> {
    /// Parses one text; `starts` maps first line numbers (1-based) to the source they came from.
    fn load_text(&mut self, text: &str, starts: &[(usize, Source)]) -> Result<(), LoadError> {
        for (i, raw) in text.split('\n').enumerate() {
            let lineno = i + 1;
            let t = raw.trim_matches([' ', '\t', '\r', '\n']);
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let source = starts
                .iter()
                .rev()
                .find(|(s, _)| *s <= lineno)
                .map(|(_, src)| src.to_string())
                .unwrap_or_default();
            let err = |reason: String| ConfigError {
                line: lineno,
                text: t.to_string(),
                reason,
                source_name: source.clone(),
            };
            let Some(words) = crate::resp::request::split_args(t.as_bytes()) else {
                return Err(err("Unbalanced quotes in configuration line".into()).into());
            };
            if words.is_empty() {
                continue;
            }
            let words: Vec<String> = words
                .into_iter()
                .map(|w| String::from_utf8_lossy(&w).into_owned())
                .collect();
            let name = words[0].to_ascii_lowercase();
            let args = &words[1..];
            if let Some(d) = lookup(&name) {
                self.apply(d, args).map_err(err)?;
                continue;
            }
            if DEPRECATED.contains(&name.as_str()) && args.len() == 1 {
                continue;
            }
            match name.as_str() {
                "include" if args.len() == 1 => {
                    if self.depth > 64 {
                        return Err(err("Too many nested includes".into()).into());
                    }
                    let body = read_config_file(&args[0])?;
                    let abs =
                        std::path::absolute(&args[0]).unwrap_or_else(|_| PathBuf::from(&args[0]));
                    self.depth += 1;
                    self.load_text(&body, &[(1, Source::File(abs))])?;
                    self.depth -= 1;
                }
                "rename-command" if args.len() == 2 => {
                    if crate::cmd::lookup(args[0].as_bytes()).is_none() {
                        return Err(err("No such command in rename-command".into()).into());
                    }
                    return Err(err("rename-command is not supported by ferredis".into()).into());
                }
                "user" if !args.is_empty() => {
                    // The default user with every permission is what Redis's CONFIG REWRITE writes;
                    // it is what ferredis has, so it is accepted. Anything else needs ACLs.
                    let mut hashed = false;
                    apply_default_user(self.cfg, args, &mut hashed).map_err(&err)?;
                    if hashed && self.hashed_user.is_none() {
                        self.hashed_user = Some(err(
                            "the default user's hashed password needs requirepass with the same password (ferredis keeps passwords as requirepass)".into(),
                        ));
                    }
                }
                "loadmodule" if !args.is_empty() => {
                    return Err(err("loadmodule is not supported by ferredis".into()).into());
                }
                "sentinel" => {
                    if !args.is_empty() {
                        return Err(
                            err("sentinel directive while not in sentinel mode".into()).into()
                        );
                    }
                }
                n if n.contains('.') => {
                    if args.is_empty() {
                        return Err(err("Module config specified without value".into()).into());
                    }
                    return Err(err("module configs are not supported by ferredis".into()).into());
                }
                _ => return Err(err("Bad directive or wrong number of arguments".into()).into()),
            }
        }
        Ok(())
    }

    fn apply(&mut self, d: &'static Directive, args: &[String]) -> Result<(), String> {
        if !d.has(dflag::MULTI_ARG) && args.len() != 1 {
            return Err("wrong number of arguments".into());
        }
        // A multi-argument directive given one non-empty argument splits it (`--save "60 10"`).
        let split: Vec<String>;
        let args = if d.has(dflag::MULTI_ARG) && args.len() == 1 && !args[0].is_empty() {
            split = crate::resp::request::split_args(args[0].as_bytes())
                .unwrap_or_default()
                .into_iter()
                .map(|w| String::from_utf8_lossy(&w).into_owned())
                .collect();
            &split[..]
        } else {
            args
        };
        if d.name == "save" {
            // Within a load, `save` lines add up; the first one replaces the defaults.
            let mut points: SavePoints = Field::parse(&d.kind, args)?;
            // `save ""` clears, whatever came before; other lines add up.
            let clears = args.len() == 1 && args[0].is_empty();
            if self.save_loaded && !clears {
                let mut all = std::mem::take(&mut self.cfg.save);
                all.append(&mut points);
                points = all;
            }
            self.save_loaded = true;
            self.cfg.save = points;
        } else {
            self.cfg.set_directive(d, args)?;
        }
        if d.has(dflag::NO_EFFECT) && !self.report.no_effect.contains(&d.name) {
            self.report.no_effect.push(d.name);
        }
        Ok(())
    }
}

/// The line Redis's CONFIG REWRITE writes for the default user when it has no password.
pub const DEFAULT_USER_LINE: &str = "user default on nopass sanitize-payload ~* &* +@all";

/// Applies a `user` line if it describes the default user with every permission (what Redis's
/// CONFIG REWRITE writes): `nopass`, or `>password` (taken as `requirepass`), or `#<sha256>` when
/// `requirepass` is already set (Redis writes both). Anything else needs ACLs, which ferredis lacks.
fn apply_default_user(cfg: &mut Config, args: &[String], hashed: &mut bool) -> Result<(), String> {
    const ALLOWED: &[&str] = &[
        "on",
        "nopass",
        "resetpass",
        "sanitize-payload",
        "skip-sanitize-payload",
        "~*",
        "&*",
        "+@all",
        "allkeys",
        "allchannels",
        "allcommands",
        "resetchannels",
        "resetkeys",
        "reset",
    ];
    let unsupported = |what: &str| {
        format!(
            "Error in user declaration '{what}': ferredis has only the default user, with every permission"
        )
    };
    if args[0] != "default" {
        return Err(unsupported(&args[0]));
    }
    let mut password: Option<Option<Vec<u8>>> = None;
    let mut on = false;
    for a in &args[1..] {
        if let Some(p) = a.strip_prefix('>') {
            password = Some(Some(p.as_bytes().to_vec()));
        } else if let Some(h) = a.strip_prefix('#') {
            // Checked against `requirepass` once the whole configuration is read.
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(unsupported(a));
            }
            *hashed = true;
        } else if a == "nopass" {
            password = Some(None);
        } else if !ALLOWED.contains(&a.as_str()) {
            return Err(unsupported(a));
        }
        on |= a == "on";
    }
    if !on {
        return Err(unsupported("off"));
    }
    if let Some(p) = password {
        cfg.requirepass = p;
    }
    Ok(())
}

/// Quotes a string as Redis's `sdscatrepr` (CONFIG REWRITE writes string values this way).
pub fn repr(s: &str) -> String {
    crate::server::repr(s.as_bytes())
}

/// The lines CONFIG REWRITE writes for one directive, and whether they must appear even when the
/// file did not mention the directive (the value differs from the default).
pub enum RewriteLines {
    /// Write these lines (reusing the directive's old lines first); `force` appends them if needed.
    Lines(Vec<String>, bool),
    /// Lines with a `force` each (client-output-buffer-limit decides per client class).
    Each(Vec<(String, bool)>),
    /// Remove the directive's lines (a string set to nothing, the default bind, no master).
    Remove,
}

impl Config {
    /// What CONFIG REWRITE writes for `d` given the current values and the defaults.
    pub fn rewrite_lines(&self, d: &Directive, defaults: &Config) -> RewriteLines {
        let name = d.name;
        let cur = self.render(d);
        let def = defaults.render(d);
        match d.name {
            "save" => {
                if self.save.is_empty() {
                    return RewriteLines::Lines(vec!["save \"\"".into()], true);
                }
                return RewriteLines::Lines(
                    self.save
                        .iter()
                        .map(|(s, c)| format!("save {s} {c}"))
                        .collect(),
                    true,
                );
            }
            "client-output-buffer-limit" => {
                let c = &self.client_output_buffer_limit;
                let dflt = ClientOutputBufferLimits::default();
                let mut lines = Vec::new();
                for (n, l, dl) in [
                    ("normal", c.normal, dflt.normal),
                    ("replica", c.replica, dflt.replica),
                    ("pubsub", c.pubsub, dflt.pubsub),
                ] {
                    let line = format!(
                        "{name} {n} {} {} {}",
                        format_memory(l.hard as i128),
                        format_memory(l.soft as i128),
                        l.soft_seconds
                    );
                    lines.push((line, l != dl));
                }
                return RewriteLines::Each(lines);
            }
            "bind" => {
                if self.bind == defaults.bind {
                    return RewriteLines::Remove;
                }
                let v = if self.bind.is_empty() {
                    "\"\"".to_string()
                } else {
                    self.bind.join(" ")
                };
                return RewriteLines::Lines(vec![format!("{name} {v}")], true);
            }
            "replicaof" => {
                return match &self.replicaof {
                    None => RewriteLines::Remove,
                    Some((h, p)) => RewriteLines::Lines(vec![format!("{name} {h} {p}")], true),
                };
            }
            "notify-keyspace-events" => {
                return RewriteLines::Lines(
                    vec![format!("{name} {}", repr(&cur))],
                    self.notify_keyspace_events.0 != 0,
                );
            }
            "latency-tracking-info-percentiles" => {
                let v = if cur.is_empty() {
                    "\"\"".to_string()
                } else {
                    cur
                };
                return RewriteLines::Lines(vec![format!("{name} {v}")], true);
            }
            "dir" => {
                return RewriteLines::Lines(vec![format!("{name} {}", repr(&cwd_string()))], true);
            }
            _ => {}
        }
        let force = cur != def;
        let line = match d.kind {
            Kind::Str => format!("{name} {}", repr(&cur)),
            Kind::StrOrNull => {
                if cur.is_empty() {
                    return RewriteLines::Remove;
                }
                return RewriteLines::Lines(vec![format!("{name} {}", repr(&cur))], true);
            }
            Kind::Mem(..) | Kind::UMem(..) | Kind::MemPercent(..) => {
                if cur.ends_with('%') {
                    format!("{name} {cur}")
                } else {
                    let n: i128 = cur.parse().unwrap_or(0);
                    format!("{name} {}", format_memory(n))
                }
            }
            _ => format!("{name} {cur}"),
        };
        RewriteLines::Lines(vec![line], force)
    }
}

/// Rewrites a config file's text with the current values, as Redis's CONFIG REWRITE does: comments and
/// lines ferredis does not manage stay; a directive's first old line is replaced in place; extra old
/// lines of rewritten directives are blanked; values that differ from the default and were not in the
/// file are appended after a `# Generated by CONFIG REWRITE` line.
pub fn rewrite_text(old: &str, cfg: &Config) -> String {
    const SIGNATURE: &str = "# Generated by CONFIG REWRITE";
    let defaults = Config::default();
    let mut lines: Vec<String> = Vec::new();
    let mut option_lines: HashMap<&'static str, std::collections::VecDeque<usize>> = HashMap::new();
    let mut needs_signature = true;
    let pieces: Vec<&str> = if old.is_empty() {
        Vec::new()
    } else {
        old.split('\n').collect()
    };
    for raw in pieces {
        let line = raw.trim_matches(['\r', '\n', '\t', ' ']).to_string();
        if line.is_empty() || line.starts_with('#') {
            if line == SIGNATURE {
                needs_signature = false;
            }
            lines.push(line);
            continue;
        }
        let words = crate::resp::request::split_args(line.as_bytes());
        let first = words
            .as_ref()
            .and_then(|w| w.first())
            .map(|w| String::from_utf8_lossy(w).to_ascii_lowercase());
        let known = first.as_deref().and_then(lookup);
        let kept_as_is = matches!(
            first.as_deref(),
            Some("include" | "rename-command" | "user" | "loadmodule" | "sentinel")
        );
        match known {
            Some(d) => {
                option_lines
                    .entry(d.name)
                    .or_default()
                    .push_back(lines.len());
                lines.push(line);
            }
            None if kept_as_is => lines.push(line),
            None => lines.push(format!("# ??? {line}")),
        }
    }
    let mut rewritten: std::collections::HashSet<&'static str> = Default::default();
    // The default user line, as Redis writes it, when no password makes it differ.
    let user = if cfg.requirepass.is_none() {
        RewriteLines::Lines(vec![DEFAULT_USER_LINE.to_string()], true)
    } else {
        RewriteLines::Remove
    };
    let all = DIRECTIVES
        .iter()
        .map(|d| (d.name, cfg.rewrite_lines(d, &defaults)))
        .chain(std::iter::once(("user", user)));
    for (name, action) in all {
        rewritten.insert(name);
        let new_lines: Vec<(String, bool)> = match action {
            RewriteLines::Remove => continue,
            RewriteLines::Lines(l, f) => l.into_iter().map(|x| (x, f)).collect(),
            RewriteLines::Each(l) => l,
        };
        for (nl, force) in new_lines {
            let slot = option_lines.get_mut(name).and_then(|q| q.pop_front());
            match slot {
                Some(i) => lines[i] = nl,
                None if force => {
                    if needs_signature {
                        lines.push(SIGNATURE.into());
                        needs_signature = false;
                    }
                    lines.push(nl);
                }
                None => {}
            }
        }
    }
    // Old lines of rewritten directives that were not reused are blanked.
    for (name, q) in option_lines {
        if rewritten.contains(name) {
            for i in q {
                lines[i] = String::new();
            }
        }
    }
    let mut out = String::new();
    let mut was_empty = false;
    for l in lines {
        if l.is_empty() {
            if was_empty {
                continue;
            }
            was_empty = true;
        } else {
            was_empty = false;
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// The text of `redis.conf.example`: every directive, commented out at its default value, with notes
/// on aliases, start-up-only directives and those ferredis accepts without acting on them. A test
/// keeps the file in the repository equal to this.
pub fn example_conf() -> String {
    let defaults = Config::default();
    let mut out = String::from(
        "# redis.conf.example: every directive ferredis-server accepts, at its default value.\n\
         #\n\
         # ferredis reads Redis 7.0 configuration files: one directive per line, arguments split like\n\
         # redis-cli input (double quotes with \\n \\t \\xHH escapes, single quotes), memory sizes with\n\
         # units 1k = 1000, 1kb = 1024, 1m, 1mb, 1g, 1gb (case-insensitive), booleans yes/no.\n\
         # Start with:   ferredis-server /path/to/redis.conf [--directive value ...]\n\
         # Command-line directives override the file; a lone '-' also reads directives from stdin.\n\
         #\n\
         # Also accepted:\n\
         #   include /path/to/other.conf     (a glob includes every match, none is fine)\n\
         #   user default on nopass sanitize-payload ~* &* +@all   (the only ACL user ferredis has;\n\
         #   `>password` sets requirepass, `#<sha256>` only when requirepass is set too; the hash is not checked)\n\
         # Refused with an error naming the line: other ACL users, rename-command, loadmodule,\n\
         # module configs (name.with.dot), sentinel directives.\n\
         #\n\
         # Notes on each directive:\n\
         #   [start-up only]  CONFIG SET refuses it (immutable)\n\
         #   [no effect]      accepted, stored and shown by CONFIG GET, but ferredis does not act on it\n\
         #                    (the start-up log lists the ones a configuration sets)\n\
         #   [protected]      CONFIG SET needs enable-protected-configs\n\
         #   alias: NAME      the older name, accepted everywhere\n\
         # Hidden directives (only an exact CONFIG GET finds them) are marked [hidden].\n",
    );
    let mut ds: Vec<&Directive> = DIRECTIVES.iter().collect();
    ds.sort_by_key(|d| d.name);
    for d in ds {
        out.push('\n');
        let mut notes = Vec::new();
        if let Some(a) = d.alias {
            notes.push(format!("alias: {a}"));
        }
        if d.has(dflag::IMMUTABLE) {
            notes.push("[start-up only]".into());
        }
        if d.has(dflag::NO_EFFECT) {
            notes.push("[no effect]".into());
        }
        if d.has(dflag::PROTECTED) {
            notes.push("[protected]".into());
        }
        if d.has(dflag::HIDDEN) {
            notes.push("[hidden]".into());
        }
        if !notes.is_empty() {
            out.push_str(&format!("# {}\n", notes.join(" ")));
        }
        let lines: Vec<String> = match (d.name, defaults.rewrite_lines(d, &defaults)) {
            ("dir", _) => vec!["dir ./".into()],
            ("bind", _) => vec!["bind * -::*".into()],
            ("replicaof", _) => vec!["replicaof <masterip> <masterport>".into()],
            (_, RewriteLines::Lines(l, _)) => l,
            (_, RewriteLines::Each(l)) => l.into_iter().map(|(x, _)| x).collect(),
            (name, RewriteLines::Remove) => vec![format!("{name} <value>  (default: not set)")],
        };
        for l in lines {
            out.push_str(&format!("# {l}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1KB"), Some(1024));
        assert_eq!(parse_memory("2m"), Some(2_000_000));
        assert_eq!(parse_memory("2Mb"), Some(2 << 20));
        assert_eq!(parse_memory("1g"), Some(1_000_000_000));
        assert_eq!(parse_memory("1gB"), Some(1 << 30));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory(""), Some(0));
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory("1x"), None);
        assert_eq!(format_memory(1 << 30), "1gb");
        assert_eq!(format_memory(3 << 20), "3mb");
        assert_eq!(
            format_memory(1536),
            "3kb".replace('3', "1536").replace("1536kb", "1536")
        );
    }

    #[test]
    fn defaults_render_like_redis() {
        let c = Config::default();
        assert_eq!(c.get_value("save").unwrap(), "3600 1 300 100 60 10000");
        assert_eq!(
            c.get_value("client-output-buffer-limit").unwrap(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        assert_eq!(c.get_value("SLAVEOF").unwrap(), "");
        assert_eq!(
            c.get_value("latency-tracking-info-percentiles").unwrap(),
            "50 99 99.9"
        );
        assert_eq!(c.get_value("unixsocketperm").unwrap(), "0");
        assert_eq!(c.get_value("bind").unwrap(), "* -::*");
        assert_eq!(c.get_value("hash-max-ziplist-entries").unwrap(), "512");
        assert!(c.get_value("nope").is_none());
    }

    #[test]
    fn kinds_parse_and_fail_with_redis_texts() {
        let mut c = Config::default();
        let set = |c: &mut Config, n: &str, v: &[&str]| c.set_directive(lookup(n).unwrap(), &s(v));
        assert!(set(&mut c, "maxmemory", &["1gb"]).is_ok());
        assert_eq!(c.maxmemory, 1 << 30);
        assert_eq!(
            set(&mut c, "maxmemory", &["1x"]).unwrap_err(),
            "argument must be a memory value"
        );
        assert_eq!(
            set(&mut c, "hz", &["-1"]).unwrap_err(),
            "argument must be between 0 and 2147483647 inclusive"
        );
        assert_eq!(
            set(&mut c, "maxclients", &["0"]).unwrap_err(),
            "argument must be between 1 and 4294967295 inclusive"
        );
        assert_eq!(
            set(&mut c, "appendfsync", &["x"]).unwrap_err(),
            "argument(s) must be one of the following: everysec, always, no"
        );
        assert!(set(&mut c, "oom-score-adj", &["relative"]).is_ok());
        assert_eq!(c.get_value("oom-score-adj").unwrap(), "yes");
        assert!(set(&mut c, "shutdown-on-sigint", &["nosave", "now"]).is_ok());
        assert_eq!(c.get_value("shutdown-on-sigint").unwrap(), "nosave now");
        assert!(set(&mut c, "maxmemory-clients", &["10%"]).is_ok());
        assert_eq!(c.get_value("maxmemory-clients").unwrap(), "10%");
        assert!(set(&mut c, "notify-keyspace-events", &["KEA"]).is_ok());
        assert_eq!(c.get_value("notify-keyspace-events").unwrap(), "AKE");
        assert!(set(&mut c, "unixsocketperm", &["700"]).is_ok());
        assert_eq!(c.unixsocketperm, Some(0o700));
        assert!(set(&mut c, "slaveof", &["127.0.0.1", "6380"]).is_ok());
        assert_eq!(c.replicaof, Some(("127.0.0.1".into(), 6380)));
        assert!(set(
            &mut c,
            "client-output-buffer-limit",
            &["normal", "1mb", "2mb", "3"]
        )
        .is_ok());
        assert_eq!(c.client_output_buffer_limit.normal.hard, 1 << 20);
        assert_eq!(c.client_output_buffer_limit.replica.hard, 256 << 20);
    }

    #[test]
    fn file_text_loads_with_quotes_and_multi_arg_splitting() {
        let mut c = Config::default();
        c.apply_text(
            "# comment\n  \nport 7000\nsave 10 1\nsave 20 2\nrequirepass \"a b\"\nreplicaof \"10.0.0.1 7001\"\nlist-max-ziplist-entries 5\n",
        )
        .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.save, vec![(10, 1), (20, 2)]);
        assert_eq!(c.requirepass.as_deref(), Some(&b"a b"[..]));
        assert_eq!(c.replicaof, Some(("10.0.0.1".into(), 7001)));
    }

    #[test]
    fn fatal_errors_name_line_and_reason() {
        let mut c = Config::default();
        let e = c
            .load(&[Chunk {
                source: Source::File("/x/r.conf".into()),
                text: "port 1\nfoo bar\n".into(),
            }])
            .unwrap_err()
            .to_string();
        assert_eq!(e, "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file '/x/r.conf', at line 2\n>>> 'foo bar'\nBad directive or wrong number of arguments");
        let e = c.apply_text("port 1 2").unwrap_err().to_string();
        assert!(
            e.ends_with(">>> 'port 1 2'\nwrong number of arguments"),
            "{e}"
        );
        let e = c.apply_text("port \"1").unwrap_err().to_string();
        assert!(
            e.ends_with("Unbalanced quotes in configuration line"),
            "{e}"
        );
    }

    #[test]
    fn line_numbers_count_through_file_stdin_and_options() {
        let mut c = Config::default();
        let chunks = [
            Chunk {
                source: Source::File("/a.conf".into()),
                text: "port 1\nhz 2\n".into(),
            },
            Chunk {
                source: Source::Stdin,
                text: "hz 3\nbad\n".into(),
            },
        ];
        let e = c.load(&chunks).unwrap_err().to_string();
        assert!(
            e.contains("file (standard input), at line 4\n>>> 'bad'"),
            "{e}"
        );
        let chunks = [
            Chunk {
                source: Source::File("/a.conf".into()),
                text: "port 1\nhz 2".into(),
            },
            Chunk {
                source: Source::CommandLine,
                text: "hz \"3\" \nfoo \"1\" ".into(),
            },
        ];
        let e = c.load(&chunks).unwrap_err().to_string();
        assert!(
            e.contains("file (command line arguments), at line 4\n>>> 'foo \"1\"'"),
            "{e}"
        );
        assert!(valid_proc_title_template(
            "{title} {listen-addr} {server-mode}"
        ));
        assert!(!valid_proc_title_template("{title}"));
        assert!(!valid_proc_title_template("{bad}"));
        assert!(!valid_proc_title_template("a}"));
        assert!(valid_proc_title_template("x {{ }}"));
    }

    #[test]
    fn default_user_lines() {
        let mut c = Config::default();
        c.apply_text("user default on nopass sanitize-payload ~* &* +@all")
            .unwrap();
        c.apply_text("user default on >secret ~* &* +@all").unwrap();
        assert_eq!(c.requirepass.as_deref(), Some(&b"secret"[..]));
        let hash = "#".to_string() + &"a".repeat(64);
        c.apply_text(&format!(
            "requirepass x\nuser default on {hash} ~* &* +@all"
        ))
        .unwrap();
        let mut d = Config::default();
        let e = d
            .apply_text(&format!("user default on {hash} ~* &* +@all"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs requirepass"), "{e}");
        let e = d
            .apply_text("user alice on nopass")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Error in user declaration 'alice'"), "{e}");
        let e = d
            .apply_text("user default on nopass -@all")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'-@all'"), "{e}");
    }

    #[test]
    fn rewrite_keeps_comments_and_unknown_lines() {
        let c = Config {
            port: 7001,
            maxmemory: 2 << 20,
            ..Default::default()
        };
        let old = "# top\nport 6379\nport 6380\ninclude /x.conf\nmaxmemory-policy noeviction\n\n\nnosuch 1\n";
        let new = rewrite_text(old, &c);
        assert!(new.starts_with("# top\nport 7001\n\ninclude /x.conf\nmaxmemory-policy noeviction\n\n# ??? nosuch 1\n"), "{new}");
        assert!(new.contains("# Generated by CONFIG REWRITE\n"), "{new}");
        assert!(new.contains("\nmaxmemory 2mb\n"), "{new}");
        assert!(
            new.contains("\nsave 3600 1\nsave 300 100\nsave 60 10000\n"),
            "{new}"
        );
    }
}
