//! DUMP and RESTORE: a value serialized with the RDB value codec, followed by the RDB version and a
//! CRC64, byte-compatible with Redis's DUMP payloads.

use bytes::Bytes;

use super::flags::*;
use super::{arg_i64, CmdError, CmdResult, CommandSpec, Ctx};
use crate::db::NO_EXPIRE;
use crate::rdb::encode::{dump as dump_value, undump, Options};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("dump", 2, dump)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl("@keyspace @read @slow")
        .doc("generic", "2.6.0", "Return a serialized version of the value stored at the specified key.", "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1)."),
    CommandSpec::new("restore", -4, restore)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .acl("@keyspace @write @slow @dangerous")
        .doc("generic", "2.6.0", "Create a key using the provided serialized value, previously obtained using DUMP.", "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N))."),
];

fn dump(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let Some(e) = ctx.core.ks.lookup_read(db, &args[1]) else {
        ctx.out.null();
        return Ok(());
    };
    let opts = Options {
        compress: true,
        ..Default::default()
    };
    let payload = dump_value(&e.value, &opts);
    ctx.out.bulk(&payload);
    Ok(())
}

fn restore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut replace = false;
    let mut absttl = false;
    let mut idle: Option<i64> = None;
    let mut freq: Option<i64> = None;
    let mut i = 4;
    while i < args.len() {
        let a = &args[i];
        let more = i + 1 < args.len();
        if a.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if a.eq_ignore_ascii_case(b"absttl") {
            absttl = true;
        } else if a.eq_ignore_ascii_case(b"idletime") && more && freq.is_none() {
            let v = arg_i64(&args[i + 1])?;
            if v < 0 {
                return Err(CmdError::msg("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
            i += 1;
        } else if a.eq_ignore_ascii_case(b"freq") && more && idle.is_none() {
            let v = arg_i64(&args[i + 1])?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::msg(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = Some(v);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let db = ctx.db();
    if !replace && ctx.core.ks.exists(db, &args[1]) {
        return Err(CmdError::msg("BUSYKEY Target key name already exists."));
    }
    let ttl = arg_i64(&args[2])?;
    if ttl < 0 {
        return Err(CmdError::msg("ERR Invalid TTL value, must be >= 0"));
    }
    let mut value = undump(&args[3], true).map_err(|e| match e {
        crate::rdb::decode::RdbError::Corrupt(m) if m.starts_with("DUMP") => {
            CmdError::msg("ERR DUMP payload version or checksum are wrong")
        }
        _ => CmdError::msg("ERR Bad data format"),
    })?;
    let ks = &mut ctx.core.ks;
    value.choose_encoding(&ks.thresholds);
    let deleted = replace && ks.delete_lazy(db, &args[1], ks.lazy_server_del);
    let expire = match ttl {
        0 => NO_EXPIRE,
        t if absttl => t,
        t => t.saturating_add(ks.now_ms),
    };
    if expire != NO_EXPIRE && expire <= ks.now_ms && !ks.is_replica {
        // Already expired: the key is not created (an old value was removed by REPLACE).
        if deleted {
            ks.dirty += 1;
            ks.notify(crate::db::notify::class::GENERIC, "del", db, &args[1]);
            // Propagated as the DEL of the old value.
            ctx.core
                .prop
                .replace_with(|| crate::replication::argv(&[b"DEL", &args[1]]));
        }
        ctx.out.ok();
        return Ok(());
    }
    let key = Bytes::copy_from_slice(&args[1]);
    ks.set(db, key, value, expire);
    // Under an LFU policy FREQ sets the counter and IDLETIME is ignored; otherwise the reverse.
    let lru = if ks.evict.policy.lfu() {
        freq.map(|f| (crate::db::evict::lfu_minutes(ks.now_ms) << 8) | (f as u32 & 0xFF))
    } else {
        idle.map(|idle| ks.lru_now.wrapping_sub((idle as u64 & 0xFF_FFFF) as u32) & 0xFF_FFFF)
    };
    if let Some(lru) = lru {
        if let Some(e) = ks.dbs[db].table.get_mut(&args[1]) {
            e.lru = lru;
        }
    }
    ks.dirty += 1;
    ks.notify(crate::db::notify::class::GENERIC, "restore", db, &args[1]);
    if expire != NO_EXPIRE && !absttl {
        // Propagated with the TTL as an absolute time, ABSTTL appended.
        ctx.core.prop.replace_with(|| {
            let mut argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
            argv[2] = Bytes::from(expire.to_string());
            argv.push(Bytes::from_static(b"ABSTTL"));
            argv
        });
    }
    ctx.out.ok();
    Ok(())
}
