//! One client connection: the read buffer, the parser, batch execution under the core lock, and the
//! write buffer.
//!
//! Each wake-up reads what the socket has, parses every complete command (at most [`BATCH_MAX`] per
//! lock hold, so a pipelining client cannot starve the others), runs them in one critical section,
//! and writes all their replies with one write. Arguments are zero-copy slices of the read buffer.

use bytes::{Bytes, BytesMut};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::client::{Client, ClientHandle};
use super::Server;
use crate::cmd::{self, Ctx};
use crate::resp::request::ParsedCommand;
use crate::resp::{ParseLimits, Reply, RequestParser};

/// Most commands run per lock hold.
pub const BATCH_MAX: usize = 1024;
/// Replies buffered before they are flushed even if more commands are pending.
const FLUSH_AT: usize = 256 * 1024;

/// Serves one client until it quits, is killed, breaks the protocol, or the server shuts down.
pub async fn serve<S>(srv: Arc<Server>, mut stream: S, handle: Arc<ClientHandle>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let authenticated = srv.config.read().requirepass.is_none();
    let mut client = Client::new(handle.clone(), authenticated);
    let mut shutdown = srv.shutdown_signal();
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    let mut wbuf = BytesMut::with_capacity(16 * 1024);
    let mut parser = RequestParser::new();
    let mut parsed = ParsedCommand::default();
    // Argument ranges of the commands in the current batch, and where each command's ranges start.
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let mut cmd_starts: Vec<(usize, usize)> = Vec::new();
    let mut owned_cmds: Vec<(usize, Vec<Vec<u8>>)> = Vec::new();
    let mut args: Vec<Bytes> = Vec::new();
    let mut monitor_rx: Option<tokio::sync::mpsc::UnboundedReceiver<Bytes>> = None;

    'conn: loop {
        // Wait for input (or a monitor line, a kill, shutdown).
        if rbuf.capacity() - rbuf.len() < 4096 {
            let want = parser.needed().saturating_sub(rbuf.len()).max(16 * 1024);
            rbuf.reserve(want.min(64 * 1024 * 1024));
        }
        let n = tokio::select! {
            r = stream.read_buf(&mut rbuf) => match r {
                Ok(0) | Err(_) => break 'conn,
                Ok(n) => n,
            },
            Some(line) = async { match monitor_rx.as_mut() { Some(rx) => rx.recv().await, None => None } } => {
                // CLIENT REPLY OFF silences the feed too.
                if client.replies_suppressed() { continue 'conn; }
                if stream.write_all(&line).await.is_err() { break 'conn; }
                continue 'conn;
            }
            _ = handle.kill_notify.notified() => break 'conn,
            _ = shutdown.changed() => break 'conn,
        };
        if handle.is_killed() {
            break;
        }
        srv.stats
            .net_input_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
        handle.net_in.fetch_add(n as u64, Ordering::Relaxed);
        handle
            .last_interaction_ms
            .store(crate::util::now_ms(), Ordering::Relaxed);

        let (limits, qbuf_limit) = {
            let cfg = srv.config.read();
            (
                ParseLimits {
                    max_bulk_len: cfg.proto_max_bulk_len,
                    authenticated: client.authenticated,
                    is_master: false,
                },
                cfg.client_query_buffer_limit,
            )
        };
        if rbuf.len() as u64 > qbuf_limit {
            tracing::warn!(
                "Closing client that reached max query buffer length: id={} addr={} qbuf={} (qbuf initial bytes: {:?})",
                client.id,
                handle.addr,
                rbuf.len(),
                String::from_utf8_lossy(&rbuf[..rbuf.len().min(64)])
            );
            break;
        }

        // Parse and run batches until the buffer holds no complete command.
        loop {
            ranges.clear();
            cmd_starts.clear();
            owned_cmds.clear();
            let mut pos = 0;
            let mut proto_err = None;
            while cmd_starts.len() < BATCH_MAX {
                let lim = ParseLimits {
                    authenticated: client.authenticated,
                    ..limits
                };
                match parser.parse(&rbuf, pos, &lim, &mut parsed) {
                    Ok(Some(end)) => {
                        if let Some(owned) = parsed.owned.take() {
                            owned_cmds.push((cmd_starts.len(), owned));
                            cmd_starts.push((ranges.len(), 0));
                        } else {
                            cmd_starts.push((ranges.len(), parsed.args.len()));
                            ranges.append(&mut parsed.args);
                        }
                        pos = end;
                        // An unauthenticated client's limits change after AUTH: stop the batch there.
                        if !client.authenticated {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        proto_err = Some(e);
                        break;
                    }
                }
            }
            if cmd_starts.is_empty() && proto_err.is_none() {
                break;
            }
            let chunk = rbuf.split_to(pos).freeze();
            // The batch runs in one lock hold, unless CLIENT PAUSE holds a command back: then the
            // replies so far are sent, and the batch resumes at that command once the pause ends.
            let mut next = 0;
            while next < cmd_starts.len() {
                let mut paused = false;
                {
                    let mut core = srv.core.lock();
                    for (i, &(start, len)) in cmd_starts.iter().enumerate().skip(next) {
                        next = i + 1;
                        args.clear();
                        if let Some((_, o)) = owned_cmds.iter().find(|(j, _)| *j == i) {
                            args.extend(o.iter().map(|a| Bytes::copy_from_slice(a)));
                        } else {
                            args.extend(
                                ranges[start..start + len]
                                    .iter()
                                    .map(|r| chunk.slice(r.clone())),
                            );
                        }
                        if args.is_empty() {
                            continue;
                        }
                        if cmd::client::pause_blocks(&srv, &client, &args) {
                            next = i;
                            paused = true;
                            break;
                        }
                        // CLIENT REPLY OFF/SKIP: decided after the command ran, since CLIENT REPLY
                        // ON itself must be answered.
                        let mark = wbuf.len();
                        let proto = client.proto;
                        let mut ctx = Ctx {
                            core: &mut core,
                            client: &mut client,
                            srv: &srv,
                            out: Reply::new(&mut wbuf, proto),
                        };
                        cmd::dispatch(&mut ctx, &args);
                        if client.replies_suppressed() {
                            wbuf.truncate(mark);
                        }
                        client.after_command();
                        if client.close_after_reply {
                            break;
                        }
                    }
                }
                if !paused {
                    break;
                }
                if !wbuf.is_empty() && flush(&srv, &handle, &mut stream, &mut wbuf).await.is_err() {
                    break 'conn;
                }
                tokio::select! {
                    _ = srv.pause.wait() => {}
                    _ = handle.kill_notify.notified() => break 'conn,
                    _ = shutdown.changed() => break 'conn,
                }
            }
            client.publish_meta(
                rbuf.len(),
                rbuf.capacity() - rbuf.len(),
                wbuf.capacity(),
                wbuf.len(),
            );
            if let Some(e) = proto_err {
                let mut out = Reply::new(&mut wbuf, client.proto);
                out.error(&format!("ERR {e}"));
                tracing::debug!(
                    "Protocol error ({}) from client: id={} addr={}",
                    e,
                    client.id,
                    handle.addr
                );
                client.close_after_reply = true;
            }
            if let Some(rx) = client.monitor_rx.take() {
                monitor_rx = Some(rx);
            }
            if !client.monitor {
                monitor_rx = None;
            }
            if (wbuf.len() >= FLUSH_AT || client.close_after_reply)
                && flush(&srv, &handle, &mut stream, &mut wbuf).await.is_err()
            {
                break 'conn;
            }
            if client.close_after_reply {
                break 'conn;
            }
        }
        if !wbuf.is_empty() && flush(&srv, &handle, &mut stream, &mut wbuf).await.is_err() {
            break;
        }
    }
    if client.monitor {
        srv.remove_monitor(client.id);
    }
    let _ = stream.shutdown().await;
}

async fn flush<S: AsyncWrite + Unpin>(
    srv: &Server,
    handle: &ClientHandle,
    stream: &mut S,
    wbuf: &mut BytesMut,
) -> std::io::Result<()> {
    let n = wbuf.len();
    stream.write_all(wbuf).await?;
    wbuf.clear();
    srv.stats
        .net_output_bytes
        .fetch_add(n as u64, Ordering::Relaxed);
    handle.net_out.fetch_add(n as u64, Ordering::Relaxed);
    Ok(())
}
