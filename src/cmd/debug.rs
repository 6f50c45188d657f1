//! DEBUG: the introspection and test hooks of Redis's DEBUG command that ferredis supports — DIGEST,
//! DIGEST-VALUE, OBJECT, RELOAD, SLEEP, SET-ACTIVE-EXPIRE, POPULATE, PROTOCOL, LOG, ERROR, HELP —
//! gated by `enable-debug-command` (`no`, `yes`, or `local`: loopback and unix-socket clients
//! only), with Redis's refusal text. Redis's other subcommands (CRASH-AND-RECOVER, HTSTATS, ...) get
//! an error that names them.

use bytes::Bytes;

use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec, Ctx};
use crate::config::ProtectedAccess;
use crate::db::{digest, Value, NO_EXPIRE};

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new("debug", -2, debug)
    .flags(ADMIN | NOSCRIPT | LOADING | STALE)
    .acl("@admin @slow @dangerous")
    .doc(
        "server",
        "1.0.0",
        "A container for debugging commands",
        "Depends on subcommand.",
    )];

const NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// Redis 7.0's DEBUG subcommands that ferredis does not implement: they get a clear error naming
/// them rather than the generic "unknown subcommand".
const UNSUPPORTED: &[&str] = &[
    "segfault",
    "panic",
    "restart",
    "crash-and-recover",
    "oom",
    "assert",
    "leak",
    "loadaof",
    "drop-cluster-packet-filter",
    "sdslen",
    "listpack",
    "quicklist",
    "quicklist-packed-threshold",
    "set-skip-checksum-validation",
    "aof-flush-sleep",
    "replicate",
    "structsize",
    "htstats",
    "htstats-key",
    "change-repl-id",
    "stringmatch-test",
    "set-disable-deny-scripts",
    "config-rewrite-force-all",
    "client-eviction",
    "mallctl",
    "mallctl-str",
    "pause-cron",
    "replybuffer",
    "clusterlink",
];

/// Whether the client may run DEBUG under `enable-debug-command local`: a unix-socket client, or a
/// TCP peer at exactly 127.0.0.1 or ::1 (Redis compares the address text).
fn is_local_client(ctx: &Ctx) -> bool {
    is_local_addr(&ctx.client.handle.addr)
}

fn is_local_addr(addr: &str) -> bool {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(a) => {
            let ip = a.ip().to_string();
            ip == "127.0.0.1" || ip == "::1"
        }
        // Unix-socket clients are registered as `path:0`, which is no socket address.
        Err(_) => true,
    }
}

fn debug(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let allowed = match ctx.srv.config.read().enable_debug_command {
        ProtectedAccess::Yes => true,
        ProtectedAccess::No => false,
        ProtectedAccess::Local => is_local_client(ctx),
    };
    if !allowed {
        return Err(CmdError::msg(NOT_ALLOWED));
    }
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let argc = args.len();
    match (sub.as_str(), argc) {
        ("help", 2) => help(ctx),
        ("digest", 2) => {
            let d = digest::dataset_digest(&ctx.core.ks);
            ctx.out.simple(&digest::to_hex(&d));
            Ok(())
        }
        ("digest-value", _) => {
            // Like Redis, this looks at the stored value even when it is logically expired.
            let db = ctx.db();
            ctx.out.array(argc - 2);
            for k in &args[2..] {
                let d = digest::value_digest(ctx.core.ks.dbs[db].table.get(k));
                ctx.out.simple(&digest::to_hex(&d));
            }
            Ok(())
        }
        ("object", 3) => object(ctx, &args[2]),
        ("sleep", 3) => {
            let secs = strtod_prefix(&args[2]);
            let us = secs * 1_000_000.0;
            if us >= 1.0 {
                // Blocks the whole server, as in Redis: the core lock is held for the duration.
                std::thread::sleep(std::time::Duration::from_micros(us as u64));
            }
            ctx.out.ok();
            Ok(())
        }
        ("set-active-expire", 3) => {
            ctx.srv.config.write().active_expire_enabled = atoi(&args[2]) != 0;
            ctx.out.ok();
            Ok(())
        }
        ("populate", 3..=5) => populate(ctx, args),
        ("protocol", 3) => protocol(ctx, &args[2]),
        ("reload", _) => reload(ctx, args),
        ("log", 3) => {
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(&args[2]));
            ctx.out.ok();
            Ok(())
        }
        ("error", 3) => {
            // The argument is the whole error line, code included, as Redis sends it.
            ctx.out.error(&String::from_utf8_lossy(&args[2]));
            Ok(())
        }
        (s, _) if UNSUPPORTED.contains(&s) => Err(CmdError::msg(format!(
            "ERR DEBUG {} is not supported by ferredis",
            s.to_ascii_uppercase()
        ))),
        _ => Err(CmdError::msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(&args[1][..args[1].len().min(128)])
        ))),
    }
}

fn help(ctx: &mut Ctx) -> CmdResult {
    super::keys::reply_help(
        ctx,
        "DEBUG",
        &[
            "DIGEST",
            "    Output a hex signature representing the current DB content.",
            "DIGEST-VALUE <key> [<key> ...]",
            "    Output a hex signature of the values of all the specified keys.",
            "ERROR <string>",
            "    Return a Redis protocol error with <string> as message. Useful for clients",
            "    unit tests to simulate Redis errors.",
            "LOG <message>",
            "    Write <message> to the server log.",
            "OBJECT <key>",
            "    Show low level info about `key` and associated value.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num>. If <prefix> is specified then",
            "    it is used instead of the 'key' prefix. These are not propagated to",
            "    replicas. Cluster slots are not respected so keys not belonging to the",
            "    current node can be created in cluster mode.",
            "PROTOCOL <type>",
            "    Reply with a test value of the specified type. <type> can be: string,",
            "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
            "    true, false.",
            "RELOAD [option ...]",
            "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
            "    * MERGE: conflicting keys will be loaded from RDB.",
            "    * NOFLUSH: the existing database will not be removed before load, but",
            "      conflicting keys will generate an exception and kill the server.",
            "    * NOSAVE: the database will be loaded from an existing RDB file.",
            "    Examples:",
            "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
            "      the database.",
            "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
            "      existing RDB file.",
            "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
            "      file to the database.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
        ],
    );
    Ok(())
}

/// `strtod` on the longest valid prefix (DEBUG SLEEP accepts "1.5s" as 1.5, junk as 0).
fn strtod_prefix(a: &[u8]) -> f64 {
    let mut tmp = Vec::with_capacity(a.len() + 1);
    tmp.extend_from_slice(a);
    tmp.push(0);
    // SAFETY: `tmp` is NUL-terminated and outlives the call; the end pointer is not used.
    let v = unsafe { libc::strtod(tmp.as_ptr() as *const libc::c_char, std::ptr::null_mut()) };
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// C's `atoi`: leading spaces, a sign, then digits; anything else stops it; no digits is 0.
fn atoi(a: &[u8]) -> i64 {
    let mut i = 0;
    while i < a.len() && a[i].is_ascii_whitespace() {
        i += 1;
    }
    let neg = match a.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    while i < a.len() && a[i].is_ascii_digit() {
        v = v.wrapping_mul(10).wrapping_add((a[i] - b'0') as i64);
        i += 1;
    }
    if neg {
        v.wrapping_neg()
    } else {
        v
    }
}

/// A non-negative long, as Redis's `getPositiveLongFromObjectOrReply`.
fn arg_positive(a: &[u8]) -> Result<i64, CmdError> {
    // Redis gives the same message for a non-integer as for a negative number here.
    match crate::util::parse_i64(a) {
        Some(v) if v >= 0 => Ok(v),
        _ => Err(CmdError::msg("ERR value is out of range, must be positive")),
    }
}

/// DEBUG POPULATE count [prefix] [size]: creates `prefix:N` keys holding `value:N` (or, with a size,
/// that text cut or zero-padded to the size), skipping names that exist. Not counted as changes, as
/// in Redis (they are not propagated).
fn populate(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let count = arg_positive(&args[2])?;
    let size = match args.get(4) {
        Some(a) => arg_positive(a)? as usize,
        None => 0,
    };
    let prefix: &[u8] = match args.get(3) {
        Some(p) => p,
        None => b"key",
    };
    let db = ctx.db();
    for j in 0..count {
        // Redis formats the name into a 128-byte buffer: longer names are cut to 127 bytes.
        let mut name = prefix.to_vec();
        name.push(b':');
        name.extend_from_slice(itoa::Buffer::new().format(j).as_bytes());
        name.truncate(127);
        if ctx.core.ks.lookup_write_peek(db, &name).is_some() {
            continue;
        }
        let text = format!("value:{j}");
        let value = if size == 0 {
            Bytes::from(text.into_bytes())
        } else {
            let mut v = vec![0u8; size];
            let n = size.min(text.len());
            v[..n].copy_from_slice(&text.as_bytes()[..n]);
            Bytes::from(v)
        };
        ctx.core
            .ks
            .set(db, Bytes::from(name), Value::Str(value.into()), NO_EXPIRE);
    }
    ctx.out.ok();
    Ok(())
}

/// DEBUG PROTOCOL <type>: one sample reply of each RESP type, downgraded for RESP2 clients as Redis
/// does (client libraries test their parsers with it).
fn protocol(ctx: &mut Ctx, name: &[u8]) -> CmdResult {
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    let resp3 = ctx.out.resp3();
    match name.as_str() {
        "string" => ctx.out.bulk(b"Hello World"),
        "integer" => ctx.out.int(12345),
        // Redis's sample value is exactly 3.141, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        "double" => ctx.out.double(3.141),
        "bignum" => {
            const BIG: &[u8] = b"1234567999999999999999999999999999999";
            if resp3 {
                ctx.out.raw(b"(");
                ctx.out.raw(BIG);
                ctx.out.raw(b"\r\n");
            } else {
                ctx.out.bulk(BIG);
            }
        }
        "null" => ctx.out.null(),
        "array" | "set" => {
            if name == "set" {
                ctx.out.set(3);
            } else {
                ctx.out.array(3);
            }
            for j in 0..3 {
                ctx.out.int(j);
            }
        }
        "map" => {
            ctx.out.map(3);
            for j in 0..3 {
                ctx.out.int(j);
                ctx.out.boolean(j == 1);
            }
        }
        "attrib" => {
            // Attributes exist only in RESP3; a real reply always follows.
            if resp3 {
                ctx.out.raw(b"|1\r\n");
                ctx.out.bulk(b"key-popularity");
                ctx.out.array(2);
                ctx.out.bulk(b"key:123");
                ctx.out.int(90);
            }
            ctx.out.bulk(b"Some real reply following the attribute");
        }
        "push" => {
            if !resp3 {
                return Err(CmdError::msg("ERR RESP2 is not supported by this command"));
            }
            ctx.out.push(2);
            ctx.out.bulk(b"server-cpu-usage");
            ctx.out.int(42);
            ctx.out.bulk(b"Some real reply following the push reply");
        }
        "verbatim" => ctx.out.verbatim(b"This is a verbatim\nstring"),
        "true" => ctx.out.boolean(true),
        "false" => ctx.out.boolean(false),
        _ => return Err(CmdError::msg("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false")),
    }
    Ok(())
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: saves the dataset to `dir/dbfilename` (unless NOSAVE),
/// then replaces it with the file's content (NOFLUSH keeps the current keys; MERGE lets the file's
/// keys win over existing ones).
///
/// The file is decoded completely before the dataset changes, so a file that does not load leaves
/// the data as it was; where Redis would abort on a key present in both (NOFLUSH without MERGE),
/// ferredis refuses the reload instead.
fn reload(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (mut merge, mut flush, mut save) = (false, true, true);
    for opt in &args[2..] {
        if opt.eq_ignore_ascii_case(b"merge") {
            merge = true;
        } else if opt.eq_ignore_ascii_case(b"noflush") {
            flush = false;
        } else if opt.eq_ignore_ascii_case(b"nosave") {
            save = false;
        } else {
            return Err(CmdError::msg(
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
    }
    if save {
        // Redis answers with its bare shared error when the save fails.
        crate::server::save::save_for_reload(ctx.srv, ctx.core)
            .map_err(|_| CmdError::msg("ERR"))?;
    }
    let (dir, file) = {
        let c = ctx.srv.config.read();
        (c.dir.clone(), c.dbfilename.clone())
    };
    let mut loaded = ctx.core.ks.new_for_load();
    let path = crate::persistence::dump_path(&dir, &file);
    if let Err(e) = crate::persistence::load_into(&path, &mut loaded, true) {
        tracing::warn!("{}", e);
        return Err(CmdError::msg("ERR Error trying to load the RDB dump"));
    }
    let ks = &mut ctx.core.ks;
    if !flush && !merge {
        let clash = loaded.dbs.iter().enumerate().any(|(db, d)| {
            d.table
                .iter()
                .any(|(k, _)| ks.dbs[db].table.contains_key(k))
        });
        if clash {
            tracing::warn!("DEBUG RELOAD NOFLUSH: the RDB holds keys that already exist");
            return Err(CmdError::msg("ERR Error trying to load the RDB dump"));
        }
    }
    if flush {
        ks.flush_all();
    }
    // Loading raises no keyspace notification (`new`), as in Redis.
    let notify_flags = ks.notify.flags;
    ks.notify.set_flags(0);
    for (db, d) in loaded.dbs.into_iter().enumerate() {
        for (k, e) in d.table.iter() {
            ks.set(db, Bytes::copy_from_slice(k), e.value.clone(), e.expire);
            // The idle time or LFU counter the file recorded, as Redis's reload keeps them.
            if let Some(now) = ks.dbs[db].table.get_mut(k) {
                now.lru = e.lru;
            }
        }
    }
    ks.notify.set_flags(notify_flags);
    tracing::warn!("DB reloaded by DEBUG RELOAD");
    ctx.out.ok();
    Ok(())
}

/// The value's RDB payload size with `rdbcompression yes` (Redis's `serializedlength`), from the
/// same encoder SAVE uses.
fn serialized_length(v: &Value) -> usize {
    let opts = crate::rdb::encode::Options {
        compress: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    crate::rdb::encode::put_value(&mut out, v, &opts);
    // Without the type byte, as Redis's rdbSavedObjectLen.
    out.len().saturating_sub(1)
}

/// The quicklist fields Redis appends for lists, for the node layout Redis would build by pushing
/// the elements in order (see [`crate::db::lazyfree::quicklist_layout`]).
fn quicklist_extra(l: &std::collections::VecDeque<Bytes>) -> String {
    let (nodes, total) = crate::db::lazyfree::quicklist_layout(l, usize::MAX);
    let avg = if nodes == 0 {
        0.0
    } else {
        l.len() as f64 / nodes as f64
    };
    format!(
        " ql_nodes:{nodes} ql_avg_node:{avg:.2} ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:{total}"
    )
}

/// DEBUG OBJECT key: Redis's line, with ferredis's own address, and the serialized length estimated.
fn object(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    let db = ctx.db();
    let lru_now = ctx.core.ks.lru_now;
    let shared = super::keys::shared_integers(ctx);
    let Some(e) = ctx.core.ks.dbs[db].table.get(key) else {
        return Err(CmdError::NoSuchKey);
    };
    let extra = match &e.value {
        Value::List(l) => quicklist_extra(l),
        _ => String::new(),
    };
    let line = format!(
        "Value at:{:p} refcount:{} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}{}",
        &e.value as *const Value,
        super::keys::refcount(&e.value, shared),
        e.value.encoding(),
        serialized_length(&e.value),
        e.lru,
        super::keys::idle_seconds(lru_now, e.lru),
        extra
    );
    ctx.out.simple(&line);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_clients_are_loopback_or_unix() {
        assert!(is_local_addr("127.0.0.1:5000"));
        assert!(is_local_addr("[::1]:5000"));
        assert!(is_local_addr("/tmp/redis.sock:0"));
        assert!(!is_local_addr("127.0.0.2:5000"));
        assert!(!is_local_addr("10.1.2.3:5000"));
        assert!(!is_local_addr("[::ffff:127.0.0.1]:5000"));
    }

    #[test]
    fn atoi_like_c() {
        assert_eq!(atoi(b"1"), 1);
        assert_eq!(atoi(b" -2x"), -2);
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(atoi(b""), 0);
    }

    #[test]
    fn strtod_takes_the_prefix() {
        assert_eq!(strtod_prefix(b"1.5s"), 1.5);
        assert_eq!(strtod_prefix(b"x"), 0.0);
        assert_eq!(strtod_prefix(b"0.01"), 0.01);
    }

    #[test]
    fn serialized_lengths_match_redis() {
        // DEBUG OBJECT on Redis 7.0: "hello" 6, "10" 2, "123456789012" 13, "v" 2, 100 x 'a' 13
        // (LZF), RPUSH l a b c 1 2 3 25, HSET h f v 14, SADD s 1 2 3 15, ZADD z 1 a 13.
        let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
        assert_eq!(serialized_length(&Value::Str(b("hello").into())), 6);
        assert_eq!(serialized_length(&Value::Int(10)), 2);
        assert_eq!(serialized_length(&Value::Int(123456789012)), 13);
        assert_eq!(serialized_length(&Value::Str(b("v").into())), 2);
        assert_eq!(
            serialized_length(&Value::Raw(b(&"a".repeat(100)).into())),
            13
        );
        let list = Value::List(std::sync::Arc::new(
            ["a", "b", "c", "1", "2", "3"]
                .iter()
                .map(|s| b(s))
                .collect(),
        ));
        assert_eq!(serialized_length(&list), 25);
        let mut h = std::collections::HashMap::with_hasher(Default::default());
        h.insert(b("f"), b("v"));
        assert_eq!(
            serialized_length(&Value::Hash(std::sync::Arc::new(h.into()))),
            14
        );
        let s: std::collections::HashSet<Bytes, _> = ["1", "2", "3"].iter().map(|s| b(s)).collect();
        assert_eq!(
            serialized_length(&Value::Set(std::sync::Arc::new(s.into()))),
            15
        );
        let mut z = crate::db::value::ZSet::default();
        z.insert(b"a", 1.0);
        assert_eq!(serialized_length(&Value::ZSet(std::sync::Arc::new(z))), 13);
    }

    #[test]
    fn quicklist_of_six_items_matches_redis() {
        let l: std::collections::VecDeque<Bytes> = ["a", "b", "c", "1", "2", "3"]
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        assert_eq!(
            quicklist_extra(&l),
            " ql_nodes:1 ql_avg_node:6.00 ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:22"
        );
    }

    #[test]
    fn multi_node_quicklists_match_redis() {
        // RPUSH big item-1000 .. item-2999 on Redis 7.0.
        let l: std::collections::VecDeque<Bytes> = (1000..3000)
            .map(|i| Bytes::from(format!("item-{i}")))
            .collect();
        assert_eq!(
            quicklist_extra(&l),
            " ql_nodes:3 ql_avg_node:666.67 ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:22021"
        );
        // RPUSH big2 <100 x 'x'><i> <i>, for i in 1..=300.
        let mut l = std::collections::VecDeque::new();
        for i in 1..=300 {
            l.push_back(Bytes::from(format!("{}{i}", "x".repeat(100))));
            l.push_back(Bytes::from(i.to_string()));
        }
        assert_eq!(
            quicklist_extra(&l),
            " ql_nodes:4 ql_avg_node:150.00 ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:32493"
        );
    }

    #[test]
    fn quicklist_of_three_small_items() {
        let l: std::collections::VecDeque<Bytes> = ["a", "b", "c"]
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        assert_eq!(
            quicklist_extra(&l),
            " ql_nodes:1 ql_avg_node:3.00 ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:16"
        );
    }
}
