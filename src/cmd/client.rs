//! CLIENT and the connection-state commands HELLO, AUTH, RESET, MONITOR; and the per-client checks
//! dispatch makes before a command runs (authentication, what a MONITOR client may do).
//!
//! Authentication follows Redis 7.0 without ACL users: the only user is `default`, which needs no
//! password unless `requirepass` is set. A client that connected while no password was needed stays
//! authenticated if one is set later, as in Redis; RESET re-evaluates it.

use bytes::Bytes;

use super::flags::*;
use super::{arg_i64, lookup, CmdError, CmdResult, CommandSpec, Ctx};
use crate::resp::Proto;
use crate::server::client::{
    info_line, kill_client, registered, valid_client_name, Client, ClientKind, ClientType,
    PauseKind, PausePurpose, ReplyMode,
};
use crate::server::Server;
use crate::util::eq_ic;

/// The version HELLO reports: clients check it to decide which features to use.
pub const REDIS_VERSION: &str = "7.0.15";

const CLIENT_FLAGS: u32 = NOSCRIPT | LOADING | STALE | SENTINEL;
const CLIENT_ADMIN_FLAGS: u32 = ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL;
const CLIENT_ACL: &str = "@slow @connection";
const CLIENT_ADMIN_ACL: &str = "@admin @slow @dangerous @connection";

pub static CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("client|caching", 3, client_caching)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "6.0.0",
            "Instruct the server about tracking or not keys in the next request",
            "O(1)",
        ),
    CommandSpec::new("client|getname", 2, client_getname)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "2.6.9",
            "Get the current connection name",
            "O(1)",
        ),
    CommandSpec::new("client|getredir", 2, client_getredir)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "6.0.0",
            "Get tracking notifications redirection client ID if any",
            "O(1)",
        ),
    CommandSpec::new("client|help", 2, client_help)
        .flags(LOADING | STALE | SENTINEL)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "5.0.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
    CommandSpec::new("client|id", 2, client_id)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "5.0.0",
            "Returns the client ID for the current connection",
            "O(1)",
        ),
    CommandSpec::new("client|info", 2, client_info)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "6.2.0",
            "Returns information about the current client connection.",
            "O(1)",
        ),
    CommandSpec::new("client|kill", -3, client_kill)
        .flags(CLIENT_ADMIN_FLAGS)
        .acl(CLIENT_ADMIN_ACL)
        .doc(
            "connection",
            "2.4.0",
            "Kill the connection of a client",
            "O(N) where N is the number of client connections",
        ),
    CommandSpec::new("client|list", -2, client_list)
        .flags(CLIENT_ADMIN_FLAGS)
        .acl(CLIENT_ADMIN_ACL)
        .doc(
            "connection",
            "2.4.0",
            "Get the list of client connections",
            "O(N) where N is the number of client connections",
        ),
    CommandSpec::new("client|no-evict", 3, client_no_evict)
        .flags(CLIENT_ADMIN_FLAGS)
        .acl(CLIENT_ADMIN_ACL)
        .doc(
            "connection",
            "7.0.0",
            "Set client eviction mode for the current connection",
            "O(1)",
        ),
    CommandSpec::new("client|pause", -3, client_pause)
        .flags(CLIENT_ADMIN_FLAGS)
        .acl(CLIENT_ADMIN_ACL)
        .doc(
            "connection",
            "2.9.50",
            "Stop processing commands from clients for some time",
            "O(1)",
        ),
    CommandSpec::new("client|reply", 3, client_reply)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "3.2.0",
            "Instruct the server whether to reply to commands",
            "O(1)",
        ),
    CommandSpec::new("client|setname", 3, client_setname)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "2.6.9",
            "Set the current connection name",
            "O(1)",
        ),
    CommandSpec::new("client|tracking", -3, client_tracking)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "6.0.0",
            "Enable or disable server assisted client side caching support",
            "O(1). Some options may introduce additional complexity.",
        ),
    CommandSpec::new("client|trackinginfo", 2, client_trackinginfo)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "6.2.0",
            "Return information about server assisted client side caching for the current connection",
            "O(1)",
        ),
    CommandSpec::new("client|unblock", -3, client_unblock)
        .flags(CLIENT_ADMIN_FLAGS)
        .acl(CLIENT_ADMIN_ACL)
        .doc(
            "connection",
            "5.0.0",
            "Unblock a client blocked in a blocking command from a different connection",
            "O(log N) where N is the number of client connections",
        ),
    CommandSpec::new("client|unpause", 2, client_unpause)
        .flags(CLIENT_ADMIN_FLAGS)
        .acl(CLIENT_ADMIN_ACL)
        .doc(
            "connection",
            "6.2.0",
            "Resume processing of clients that were paused",
            "O(N) Where N is the number of paused clients",
        ),
];

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::container("client", CLIENT_SUBCOMMANDS)
        .flags(SENTINEL)
        .acl("@slow")
        .doc(
            "connection",
            "2.4.0",
            "A container for client connection commands",
            "Depends on subcommand.",
        ),
    CommandSpec::new("hello", -1, hello)
        .flags(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | ALLOW_BUSY)
        .acl("@fast @connection")
        .doc("connection", "6.0.0", "Handshake with Redis", "O(1)"),
    CommandSpec::new("auth", -2, auth)
        .flags(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | ALLOW_BUSY)
        .acl("@fast @connection")
        .doc(
            "connection",
            "1.0.0",
            "Authenticate to the server",
            "O(N) where N is the number of passwords defined for the user",
        ),
    CommandSpec::new("reset", 1, reset)
        .flags(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY)
        .acl("@fast @connection")
        .doc("connection", "6.2.0", "Reset the connection", "O(1)"),
    CommandSpec::new("monitor", 1, monitor)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl("@admin @slow @dangerous")
        .doc(
            "server",
            "1.0.0",
            "Listen for all requests received by the server in real time",
            "",
        ),
];

// ---------------------------------------------------------------------------------------------
// Checks dispatch makes
// ---------------------------------------------------------------------------------------------

/// The full name Redis records as a client's last command when the command was refused before it
/// could run: the command (or subcommand) if the name resolves, `NULL` otherwise.
pub fn last_cmd_name(args: &[Bytes]) -> &'static str {
    let Some(spec) = args.first().and_then(|a| lookup(a)) else {
        return "NULL";
    };
    if spec.subcommands.is_empty() {
        return spec.name;
    }
    match args.get(1) {
        None => spec.name,
        Some(sub) => spec
            .subcommands
            .iter()
            .find(|s| s.sub_name().as_bytes().eq_ignore_ascii_case(sub))
            .map(|s| s.name)
            .unwrap_or("NULL"),
    }
}

/// Whether an unauthenticated client must authenticate: the default user has a password. A client
/// that connected unauthenticated is let through once `requirepass` is removed, as in Redis.
pub fn auth_required(srv: &Server) -> bool {
    srv.config.read().requirepass.is_some()
}

/// Refuses commands this kind of client may not run: a MONITOR client (a replica to Redis) or a
/// replica must not touch the keyspace.
pub fn check_client_may_run(client: &Client, spec: &CommandSpec) -> CmdResult {
    if (client.monitor || client.kind == ClientKind::Replica)
        && spec.flags & (WRITE | READONLY | MAY_REPLICATE) != 0
    {
        return Err(CmdError::msg(
            "ERR Replica can't interact with the keyspace",
        ));
    }
    Ok(())
}

/// Compares a password without an early exit, so the time taken does not reveal the prefix that
/// matched.
fn password_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a user name and password; on success the client is authenticated as that user.
fn authenticate(ctx: &mut Ctx, user: &[u8], pass: &[u8]) -> bool {
    let ok = user == b"default"
        && match &ctx.srv.config.read().requirepass {
            None => true,
            Some(p) => password_eq(p, pass),
        };
    if ok {
        ctx.client.authenticated = true;
        ctx.client.user = "default";
    }
    ok
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

// ---------------------------------------------------------------------------------------------
// HELLO, AUTH, RESET, MONITOR
// ---------------------------------------------------------------------------------------------

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
fn hello(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut ver = None;
    let mut j = 1;
    if let Some(v) = args.get(1) {
        let v = crate::util::parse_i64(v).ok_or(CmdError::msg(
            "ERR Protocol version is not an integer or out of range",
        ))?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::msg("NOPROTO unsupported protocol version"));
        }
        ver = Some(v);
        j = 2;
    }
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = &args[j];
        if eq_ic(opt, "auth") && more >= 2 {
            ctx.client.redact(j + 1);
            ctx.client.redact(j + 2);
            if !authenticate(ctx, &args[j + 1], &args[j + 2]) {
                return Err(CmdError::msg(WRONGPASS));
            }
            j += 3;
        } else if eq_ic(opt, "setname") && more >= 1 {
            set_name(ctx.client, &args[j + 1])?;
            j += 2;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if !ctx.client.authenticated {
        return Err(CmdError::msg(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO AUTH <user> <pass> option can be used to authenticate the client and select \
             the RESP protocol version at the same time",
        ));
    }
    if let Some(v) = ver {
        let proto = if v == 3 { Proto::Resp3 } else { Proto::Resp2 };
        ctx.client.proto = proto;
        ctx.out.proto = proto;
    }
    let out = &mut ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if ctx.client.proto == Proto::Resp3 {
        3
    } else {
        2
    });
    out.bulk(b"id");
    out.int(ctx.client.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    // Replication state does not exist yet: every ferredis is a master.
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

/// AUTH [username] password
fn auth(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    ctx.client.redact(1);
    let (user, pass): (&[u8], &[u8]) = if args.len() == 2 {
        if !auth_required(ctx.srv) {
            return Err(CmdError::msg(
                "ERR AUTH <password> called without any password configured for the default \
                 user. Are you sure your configuration is correct?",
            ));
        }
        (b"default", &args[1])
    } else {
        ctx.client.redact(2);
        (&args[1], &args[2])
    };
    if authenticate(ctx, user, pass) {
        ctx.out.ok();
        Ok(())
    } else {
        Err(CmdError::msg(WRONGPASS))
    }
}

/// RESET: back to a fresh connection's state.
fn reset(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    if matches!(ctx.client.kind, ClientKind::Master | ClientKind::Replica) {
        return Err(CmdError::msg(
            "ERR can only reset normal client connections",
        ));
    }
    super::tx::reset(ctx);
    ctx.client.reset_connection_state(ctx.srv);
    ctx.out.proto = ctx.client.proto;
    ctx.out.simple("RESET");
    Ok(())
}

/// MONITOR: from now on the connection also receives every command the server runs.
fn monitor(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    if super::tx::deny_blocking(ctx.client) {
        return Err(CmdError::msg(
            "ERR MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    // Already monitoring, or a replica: ignored without a reply, as Redis does.
    if ctx.client.monitor || ctx.client.kind == ClientKind::Replica {
        return Ok(());
    }
    ctx.client.monitor = true;
    ctx.client.monitor_rx = Some(ctx.srv.add_monitor(ctx.client.id));
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// CLIENT subcommands
// ---------------------------------------------------------------------------------------------

fn set_name(client: &mut Client, name: &[u8]) -> CmdResult {
    if !valid_client_name(name) {
        return Err(CmdError::msg(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    client.name = if name.is_empty() {
        None
    } else {
        Some(Bytes::copy_from_slice(name))
    };
    Ok(())
}

fn client_id(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.client.id as i64);
    Ok(())
}

fn client_setname(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_name(ctx.client, &args[2])?;
    ctx.out.ok();
    Ok(())
}

fn client_getname(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    match &ctx.client.name {
        Some(n) => ctx.out.bulk(n),
        None => ctx.out.null(),
    }
    Ok(())
}

fn client_info(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut line = info_line(&ctx.client.handle, &ctx.client.live_meta(), Some(args));
    line.push('\n');
    ctx.out.verbatim(line.as_bytes());
    Ok(())
}

/// CLIENT LIST [TYPE normal|master|replica|pubsub] | [ID id ...]
fn client_list(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut type_filter = None;
    let mut ids: Option<Vec<i64>> = None;
    if args.len() == 4 && eq_ic(&args[2], "type") {
        type_filter = Some(ClientType::parse(&args[3]).ok_or_else(|| {
            CmdError::msg(format!(
                "ERR Unknown client type '{}'",
                String::from_utf8_lossy(&args[3])
            ))
        })?);
    } else if args.len() > 3 && eq_ic(&args[2], "id") {
        let mut v = Vec::with_capacity(args.len() - 3);
        for a in &args[3..] {
            v.push(crate::util::parse_i64(a).ok_or(CmdError::msg("ERR Invalid client ID"))?);
        }
        ids = Some(v);
    } else if args.len() != 2 {
        return Err(CmdError::Syntax);
    }
    let me = ctx.client.id;
    let clients = registered(ctx.srv);
    let line_of = |h: &crate::server::client::ClientHandle| {
        if h.id == me {
            let m = ctx.client.live_meta();
            (info_line(h, &m, Some(args)), m.client_type())
        } else {
            let m = h.meta.lock().clone();
            (info_line(h, &m, None), m.client_type())
        }
    };
    let mut out = String::new();
    match ids {
        Some(ids) => {
            for id in ids {
                if let Some(h) = clients.iter().find(|h| h.id as i64 == id) {
                    out.push_str(&line_of(h).0);
                    out.push('\n');
                }
            }
        }
        None => {
            for h in &clients {
                let (line, t) = line_of(h);
                if type_filter.is_some_and(|f| f != t) {
                    continue;
                }
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    ctx.out.verbatim(out.as_bytes());
    Ok(())
}

/// CLIENT KILL ip:port | CLIENT KILL [ID id] [TYPE type] [ADDR ip:port] [LADDR ip:port]
/// [USER name] [SKIPME yes|no] ...
fn client_kill(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut addr: Option<&[u8]> = None;
    let mut laddr: Option<&[u8]> = None;
    let mut user: Option<&[u8]> = None;
    let mut ctype = None;
    let mut id = None;
    let old_form = args.len() == 3;
    // The old form may kill the caller itself.
    let mut skipme = !old_form;
    if old_form {
        addr = Some(&args[2]);
    } else {
        let mut i = 2;
        while i < args.len() {
            let Some(val) = args.get(i + 1) else {
                return Err(CmdError::Syntax);
            };
            let opt = &args[i];
            if eq_ic(opt, "id") {
                match crate::util::parse_i64(val) {
                    Some(n) if n >= 1 => id = Some(n as u64),
                    _ => return Err(CmdError::msg("ERR client-id should be greater than 0")),
                }
            } else if eq_ic(opt, "type") {
                ctype = Some(ClientType::parse(val).ok_or_else(|| {
                    CmdError::msg(format!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(val)
                    ))
                })?);
            } else if eq_ic(opt, "addr") {
                addr = Some(val);
            } else if eq_ic(opt, "laddr") {
                laddr = Some(val);
            } else if eq_ic(opt, "user") {
                // `default` is the only user until ACLs exist.
                if val.as_ref() != b"default" {
                    return Err(CmdError::msg(format!(
                        "ERR No such user '{}'",
                        String::from_utf8_lossy(val)
                    )));
                }
                user = Some(val);
            } else if eq_ic(opt, "skipme") {
                if eq_ic(val, "yes") {
                    skipme = true;
                } else if eq_ic(val, "no") {
                    skipme = false;
                } else {
                    return Err(CmdError::Syntax);
                }
            } else {
                return Err(CmdError::Syntax);
            }
            i += 2;
        }
    }

    let me = ctx.client.id;
    let mut killed = 0;
    let mut close_me = false;
    for h in registered(ctx.srv) {
        let m = if h.id == me {
            ctx.client.live_meta()
        } else {
            h.meta.lock().clone()
        };
        if addr.is_some_and(|a| a != h.addr.as_bytes())
            || laddr.is_some_and(|a| a != h.laddr.as_bytes())
            || ctype.is_some_and(|t| t != m.client_type())
            || id.is_some_and(|i| i != h.id)
            || user.is_some_and(|u| u != m.user.as_bytes())
        {
            continue;
        }
        if h.id == me {
            if skipme {
                continue;
            }
            close_me = true;
        } else {
            kill_client(ctx.srv, &h);
        }
        killed += 1;
    }
    if old_form {
        if killed == 0 {
            return Err(CmdError::msg("ERR No such client"));
        }
        ctx.out.ok();
    } else {
        ctx.out.int(killed);
    }
    if close_me {
        ctx.client.close_after_reply = true;
    }
    Ok(())
}

/// CLIENT REPLY ON|OFF|SKIP. OFF and SKIP have no reply of their own.
fn client_reply(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let c = &mut ctx.client;
    if eq_ic(&args[2], "on") {
        c.reply_mode = ReplyMode::On;
        ctx.out.ok();
    } else if eq_ic(&args[2], "off") {
        c.reply_mode = ReplyMode::Off;
    } else if eq_ic(&args[2], "skip") {
        if c.reply_mode != ReplyMode::Off {
            c.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

fn client_no_evict(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if eq_ic(&args[2], "on") {
        ctx.client.no_evict = true;
    } else if eq_ic(&args[2], "off") {
        ctx.client.no_evict = false;
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.out.ok();
    Ok(())
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: answers a client blocked in BLPOP and friends as if its
/// timeout fired, or with the UNBLOCKED error; 1 if it was blocked, else 0.
fn client_unblock(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() > 4 {
        return Err(subcommand_syntax_error(args));
    }
    let mut error = false;
    if let Some(reason) = args.get(3) {
        if eq_ic(reason, "error") {
            error = true;
        } else if !eq_ic(reason, "timeout") {
            return Err(CmdError::msg(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
    }
    let id = arg_i64(&args[2])?;
    let done =
        u64::try_from(id).is_ok_and(|id| crate::server::blocking::unblock(ctx.core, id, error));
    ctx.out.int(done as i64);
    Ok(())
}

/// CLIENT PAUSE timeout [WRITE|ALL]: holds back every command (ALL, the default) or those that may
/// change the keyspace (WRITE) of all clients but replicas, for `timeout` milliseconds.
fn client_pause(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() > 4 {
        return Err(subcommand_syntax_error(args));
    }
    let mut kind = PauseKind::All;
    if let Some(mode) = args.get(3) {
        if eq_ic(mode, "write") {
            kind = PauseKind::Write;
        } else if !eq_ic(mode, "all") {
            return Err(CmdError::msg("ERR CLIENT PAUSE mode must be WRITE or ALL"));
        }
    }
    let t = crate::util::parse_i64(&args[2]).ok_or(CmdError::msg(
        "ERR timeout is not an integer or out of range",
    ))?;
    if t < 0 {
        return Err(CmdError::msg("ERR timeout is negative"));
    }
    // A huge timeout wraps around into the past and pauses nothing, as in Redis.
    let end = if t > 0 {
        t.wrapping_add(crate::util::now_ms())
    } else {
        0
    };
    ctx.srv.pause.pause(PausePurpose::ClientCommand, end, kind);
    ctx.out.ok();
    Ok(())
}

fn client_unpause(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    ctx.srv.pause.unpause(PausePurpose::ClientCommand);
    ctx.out.ok();
    Ok(())
}

/// Whether CLIENT PAUSE holds this command back now (called by the connection under the core lock,
/// before dispatch). Commands dispatch would refuse anyway (unknown, wrong arity, not
/// authenticated) are not held: their error is sent at once, as in Redis.
pub fn pause_blocks(srv: &Server, client: &Client, args: &[Bytes]) -> bool {
    let kind = srv.pause.current();
    if kind == PauseKind::Off || client.monitor || client.kind == ClientKind::Replica {
        return false;
    }
    let Ok(spec) = super::resolve(args) else {
        return false;
    };
    if !client.authenticated && spec.flags & NO_AUTH == 0 && auth_required(srv) {
        return false;
    }
    // An EXEC counts as the writes it has queued.
    let flags = spec.flags | super::tx::queued_flags(client, spec);
    let held = kind == PauseKind::All || flags & (WRITE | MAY_REPLICATE) != 0;
    if held {
        client.publish_blocked(spec.name, args);
    }
    held
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]: the
/// options are checked as Redis does; OFF is accepted (tracking is never on), ON is refused.
fn client_tracking(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (mut bcast, mut optin, mut optout) = (false, false, false);
    let mut redirect = None;
    let mut prefixes = 0;
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let a = &args[j];
        if eq_ic(a, "redirect") && more {
            j += 1;
            if redirect.is_some() {
                return Err(CmdError::msg(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = arg_i64(&args[j])?;
            if id < 0 || !ctx.srv.clients.lock().contains_key(&(id as u64)) {
                return Err(CmdError::msg(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
            redirect = Some(id);
        } else if eq_ic(a, "bcast") {
            bcast = true;
        } else if eq_ic(a, "optin") {
            optin = true;
        } else if eq_ic(a, "optout") {
            optout = true;
        } else if eq_ic(a, "noloop") {
        } else if eq_ic(a, "prefix") && more {
            j += 1;
            prefixes += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if eq_ic(&args[2], "on") {
        if !bcast && prefixes > 0 {
            return Err(CmdError::msg(
                "ERR PREFIX option requires BCAST mode to be enabled",
            ));
        }
        if bcast && (optin || optout) {
            return Err(CmdError::msg(
                "ERR OPTIN and OPTOUT are not compatible with BCAST",
            ));
        }
        if optin && optout {
            return Err(CmdError::msg(
                "ERR You can't specify both OPTIN mode and OPTOUT mode",
            ));
        }
        Err(CmdError::msg(
            "ERR CLIENT TRACKING ON is not supported by ferredis yet",
        ))
    } else if eq_ic(&args[2], "off") {
        ctx.out.ok();
        Ok(())
    } else {
        Err(CmdError::Syntax)
    }
}

/// CLIENT CACHING YES|NO is only valid with tracking on, which ferredis never is.
fn client_caching(_ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    Err(CmdError::msg(
        "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or \
         OPTOUT mode enabled",
    ))
}

fn client_getredir(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    ctx.out.int(-1);
    Ok(())
}

fn client_trackinginfo(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let out = &mut ctx.out;
    out.map(3);
    out.bulk(b"flags");
    out.set(1);
    out.bulk(b"off");
    out.bulk(b"redirect");
    out.int(-1);
    out.bulk(b"prefixes");
    out.array(0);
    Ok(())
}

const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
];

fn client_help(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    ctx.out.array(CLIENT_HELP.len());
    for l in CLIENT_HELP {
        ctx.out.simple(l);
    }
    Ok(())
}

/// The error Redis gives when a subcommand's arguments match none of its forms.
fn subcommand_syntax_error(args: &[Bytes]) -> CmdError {
    let sub = String::from_utf8_lossy(&args[1][..args[1].len().min(128)]).into_owned();
    CmdError::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try CLIENT HELP."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_compare() {
        assert!(password_eq(b"secret", b"secret"));
        assert!(!password_eq(b"secret", b"secreT"));
        assert!(!password_eq(b"secret", b"secret1"));
        assert!(password_eq(b"", b""));
    }

    #[test]
    fn last_cmd_names() {
        let b = |v: &[&str]| {
            v.iter()
                .map(|s| Bytes::from(s.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(last_cmd_name(&b(&["nosuch"])), "NULL");
        assert_eq!(last_cmd_name(&b(&["CLIENT"])), "client");
        assert_eq!(last_cmd_name(&b(&["client", "LIST", "x"])), "client|list");
        assert_eq!(last_cmd_name(&b(&["client", "nosuch"])), "NULL");
    }
}
