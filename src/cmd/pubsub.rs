//! Pub/sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH and PUBSUB
//! CHANNELS / NUMSUB / NUMPAT / SHARDCHANNELS / SHARDNUMSUB / HELP. The registry lives in
//! `server::pubsub`; a subscriber's connection writes the messages its feed carries.
//!
//! A RESP2 client with subscriptions is in subscribed mode: it may only run the commands that
//! [`subscribed_mode_refusal`] lets through. Sharded pub/sub (SSUBSCRIBE, ...) is not implemented.

use bytes::Bytes;

use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec, Ctx};
use crate::resp::{Proto, Reply};
use crate::server::client::{Client, ClientKind};

static PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("pubsub|help", 2, pubsub_help)
        .flags(LOADING | STALE)
        .acl("@slow")
        .doc(
            "pubsub",
            "6.2.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
    CommandSpec::new("pubsub|channels", -2, pubsub_channels)
        .flags(PUBSUB | LOADING | STALE)
        .acl("@pubsub @slow")
        .doc(
            "pubsub",
            "2.8.0",
            "List active channels",
            "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)",
        ),
    CommandSpec::new("pubsub|numpat", 2, pubsub_numpat)
        .flags(PUBSUB | LOADING | STALE)
        .acl("@pubsub @slow")
        .doc(
            "pubsub",
            "2.8.0",
            "Get the count of unique patterns pattern subscriptions",
            "O(1)",
        ),
    CommandSpec::new("pubsub|numsub", -2, pubsub_numsub)
        .flags(PUBSUB | LOADING | STALE)
        .acl("@pubsub @slow")
        .doc(
            "pubsub",
            "2.8.0",
            "Get the count of subscribers for channels",
            "O(N) for the NUMSUB subcommand, where N is the number of requested channels",
        ),
    // No client can subscribe to a shard channel (sharded pub/sub is not implemented), so these
    // two answer for an empty shard registry, exactly as Redis does when nobody uses it.
    CommandSpec::new("pubsub|shardchannels", -2, pubsub_shardchannels)
        .flags(PUBSUB | LOADING | STALE)
        .acl("@pubsub @slow")
        .doc(
            "pubsub",
            "7.0.0",
            "List active shard channels",
            "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).",
        ),
    CommandSpec::new("pubsub|shardnumsub", -2, pubsub_shardnumsub)
        .flags(PUBSUB | LOADING | STALE)
        .acl("@pubsub @slow")
        .doc(
            "pubsub",
            "7.0.0",
            "Get the count of subscribers for shard channels",
            "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels",
        ),
];

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("subscribe", -2, subscribe)
        .flags(PUBSUB | NOSCRIPT | LOADING | STALE)
        .acl("@pubsub @slow")
        .doc(
            "pubsub",
            "2.0.0",
            "Listen for messages published to the given channels",
            "O(N) where N is the number of channels to subscribe to.",
        ),
    CommandSpec::new("unsubscribe", -1, unsubscribe)
        .flags(PUBSUB | NOSCRIPT | LOADING | STALE)
        .acl("@pubsub @slow")
        .doc(
            "pubsub",
            "2.0.0",
            "Stop listening for messages posted to the given channels",
            "O(N) where N is the number of clients already subscribed to a channel.",
        ),
    CommandSpec::new("psubscribe", -2, psubscribe)
        .flags(PUBSUB | NOSCRIPT | LOADING | STALE)
        .acl("@pubsub @slow")
        .doc(
            "pubsub",
            "2.0.0",
            "Listen for messages published to channels matching the given patterns",
            "O(N) where N is the number of patterns the client is already subscribed to.",
        ),
    CommandSpec::new("punsubscribe", -1, punsubscribe)
        .flags(PUBSUB | NOSCRIPT | LOADING | STALE)
        .acl("@pubsub @slow")
        .doc(
            "pubsub",
            "2.0.0",
            "Stop listening for messages posted to channels matching the given patterns",
            "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client).",
        ),
    CommandSpec::new("publish", 3, publish)
        .flags(PUBSUB | LOADING | STALE | FAST)
        .acl("@pubsub @fast")
        .doc(
            "pubsub",
            "2.0.0",
            "Post a message to a channel",
            "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).",
        ),
    CommandSpec::container("pubsub", PUBSUB_SUBCOMMANDS)
        .acl("@slow")
        .doc(
            "pubsub",
            "2.8.0",
            "A container for Pub/Sub commands",
            "Depends on subcommand.",
        ),
];

/// The commands a RESP2 client in subscribed mode may still run.
const SUBSCRIBED_MODE_ALLOWED: &[&str] = &[
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "ssubscribe",
    "sunsubscribe",
    "ping",
    "quit",
    "reset",
];

/// The refusal of a command that a RESP2 client in subscribed mode may not run (RESP3 clients
/// get pushes out of band, so they may run anything).
pub fn subscribed_mode_refusal(client: &Client, spec: &CommandSpec) -> Option<String> {
    if !client.in_pubsub() || client.proto != Proto::Resp2 {
        return None;
    }
    if SUBSCRIBED_MODE_ALLOWED.contains(&spec.name) {
        return None;
    }
    Some(format!(
        "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
        spec.name
    ))
}

/// Enters or leaves subscribed mode after the subscriptions changed.
fn update_mode(client: &mut Client) {
    let subscribed = client.subs.count() > 0;
    match client.kind {
        ClientKind::Normal if subscribed => client.kind = ClientKind::PubSub,
        ClientKind::PubSub if !subscribed => client.kind = ClientKind::Normal,
        _ => {}
    }
}

/// Writes a push: into the reply, or aside when CLIENT REPLY OFF/SKIP drops the reply (pushes
/// still reach the client then, as in Redis).
fn write_push(ctx: &mut Ctx, f: impl FnOnce(&mut Reply<'_>)) {
    if ctx.client.replies_suppressed() {
        let proto = ctx.client.proto;
        f(&mut Reply::new(&mut ctx.client.subs.kept, proto));
    } else {
        f(&mut ctx.out);
    }
}

/// One (un)subscribe confirmation: `[kind, name, subscriptions left]`, a push in RESP3.
fn confirm(ctx: &mut Ctx, kind: &[u8], name: Option<&[u8]>) {
    let count = ctx.client.subs.count() as i64;
    write_push(ctx, |out| {
        out.push(3);
        out.bulk(kind);
        match name {
            Some(n) => out.bulk(n),
            None => out.null(),
        }
        out.int(count);
    });
}

/// Whether the command works on patterns (PSUBSCRIBE/PUNSUBSCRIBE) or channels.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Channel,
    Pattern,
}

fn do_subscribe(ctx: &mut Ctx, args: &[Bytes], kind: Kind) -> CmdResult {
    let id = ctx.client.id;
    for name in &args[1..] {
        let set = match kind {
            Kind::Channel => &mut ctx.client.subs.channels,
            Kind::Pattern => &mut ctx.client.subs.patterns,
        };
        if !set.contains(&name[..]) {
            let name = Bytes::copy_from_slice(name);
            set.insert(name.clone());
            let tx = ctx.client.subs.feed();
            let mut reg = ctx.srv.pubsub.lock();
            match kind {
                Kind::Channel => reg.subscribe(&name, id, tx),
                Kind::Pattern => reg.psubscribe(&name, id, tx),
            }
        }
        let label: &[u8] = match kind {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
        };
        update_mode(ctx.client);
        confirm(ctx, label, Some(name));
    }
    Ok(())
}

fn do_unsubscribe(ctx: &mut Ctx, args: &[Bytes], kind: Kind) -> CmdResult {
    let id = ctx.client.id;
    let label: &[u8] = match kind {
        Kind::Channel => b"unsubscribe",
        Kind::Pattern => b"punsubscribe",
    };
    // Without arguments: every subscription of this kind, or one reply with a null name if none.
    let names: Vec<Bytes> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        match kind {
            Kind::Channel => ctx.client.subs.channels.iter().cloned().collect(),
            Kind::Pattern => ctx.client.subs.patterns.iter().cloned().collect(),
        }
    };
    if names.is_empty() {
        confirm(ctx, label, None);
        update_mode(ctx.client);
        return Ok(());
    }
    for name in &names {
        let removed = match kind {
            Kind::Channel => ctx.client.subs.channels.shift_remove(&name[..]),
            Kind::Pattern => ctx.client.subs.patterns.shift_remove(&name[..]),
        };
        if removed {
            let mut reg = ctx.srv.pubsub.lock();
            match kind {
                Kind::Channel => reg.unsubscribe(name, id),
                Kind::Pattern => reg.punsubscribe(name, id),
            }
        }
        confirm(ctx, label, Some(name));
    }
    update_mode(ctx.client);
    Ok(())
}

/// SUBSCRIBE channel [channel ...]
fn subscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    do_subscribe(ctx, args, Kind::Channel)
}

/// UNSUBSCRIBE [channel ...]
fn unsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    do_unsubscribe(ctx, args, Kind::Channel)
}

/// PSUBSCRIBE pattern [pattern ...]
fn psubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    do_subscribe(ctx, args, Kind::Pattern)
}

/// PUNSUBSCRIBE [pattern ...]
fn punsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    do_unsubscribe(ctx, args, Kind::Pattern)
}

/// PUBLISH channel message: the number of receivers. A RESP3 publisher subscribed to the channel
/// gets its own message before the reply, as Redis writes it.
fn publish(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut own = Vec::new();
    let n = ctx
        .srv
        .pubsub
        .lock()
        .publish(&args[1], &args[2], ctx.client.id, &mut own);
    for m in &own {
        write_push(ctx, |out| m.encode(out));
    }
    // Messages reach the replicas' subscribers too: PUBLISH always propagates.
    ctx.core.prop.force();
    ctx.out.int(n as i64);
    Ok(())
}

const HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

fn pubsub_help(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    ctx.out.array(HELP.len());
    for l in HELP {
        ctx.out.simple(l);
    }
    Ok(())
}

/// The error of CHANNELS / SHARDCHANNELS with more than a pattern; the subcommand is named as typed.
fn check_channels_args(args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(&args[1])
        )));
    }
    Ok(())
}

/// PUBSUB CHANNELS [pattern]: channels with at least one subscriber.
fn pubsub_channels(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    check_channels_args(args)?;
    let pattern = args.get(2);
    let names: Vec<Bytes> = ctx
        .srv
        .pubsub
        .lock()
        .channels
        .keys()
        .filter(|c| pattern.is_none_or(|p| crate::util::glob_match(p, c, false)))
        .cloned()
        .collect();
    ctx.out.array(names.len());
    for n in &names {
        ctx.out.bulk(n);
    }
    Ok(())
}

/// PUBSUB NUMSUB [channel ...]: channel, subscriber count pairs (pattern subscribers not counted).
fn pubsub_numsub(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let reg = ctx.srv.pubsub.lock();
    ctx.out.array((args.len() - 2) * 2);
    for c in &args[2..] {
        ctx.out.bulk(c);
        ctx.out
            .int(reg.channels.get(&c[..]).map_or(0, |s| s.len()) as i64);
    }
    Ok(())
}

/// PUBSUB NUMPAT: distinct patterns with at least one subscriber.
fn pubsub_numpat(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let n = ctx.srv.pubsub.lock().patterns.len();
    ctx.out.int(n as i64);
    Ok(())
}

/// PUBSUB SHARDCHANNELS [pattern]: always empty (see the table row).
fn pubsub_shardchannels(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    check_channels_args(args)?;
    ctx.out.array(0);
    Ok(())
}

/// PUBSUB SHARDNUMSUB [channel ...]: every shard channel has no subscriber.
fn pubsub_shardnumsub(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ctx.out.array((args.len() - 2) * 2);
    for c in &args[2..] {
        ctx.out.bulk(c);
        ctx.out.int(0);
    }
    Ok(())
}
