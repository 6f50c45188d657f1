//! One client connection: the read buffer, the parser, batch execution under the core lock, and the
//! write buffer.
//!
//! Each wake-up reads what the socket has (at most one read buffer's worth), parses every complete
//! command (at most [`BATCH_MAX`] per lock hold, so a pipelining client cannot starve the others), runs
//! them in one critical section, and writes all their replies with one write. Arguments are zero-copy
//! slices of the read buffer.
//!
//! # Memory bounds
//! - Read buffer: an idle connection holds none (we wait for readability before allocating one); a
//!   busy one holds [`READ_CHUNK`] plus the pending part of one command. A pipelining client is read
//!   one chunk at a time, and each chunk is executed before the next read.
//! - Write buffer: once replies reach [`FLUSH_AT`] bytes, execution pauses (the lock is released) and
//!   the replies are written before the next command of the batch runs. A client that does not read
//!   its replies therefore blocks its own connection task, which then stops reading its requests:
//!   backpressure instead of unbounded output buffers.
//! - Both buffers are given back after a huge request or reply (more than [`SHRINK_ABOVE`] bytes).
//! - Exception: published messages wait in the subscriber's unbounded feed (`server::pubsub`), so a
//!   subscriber that never reads grows it; the publisher is never held back.

use bytes::{Bytes, BytesMut};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::client::{Client, ClientHandle};
use super::Server;
use crate::cmd::{self, Ctx};
use crate::resp::request::ParsedCommand;
use crate::resp::{ParseLimits, ProtocolError, Reply, RequestParser};

/// Most commands run per lock hold.
pub const BATCH_MAX: usize = 1024;
/// Replies buffered before they are written, even in the middle of a batch.
pub const FLUSH_AT: usize = 256 * 1024;
/// Bytes read per read call (Redis reads 16 KiB at a time as well), unless a large bulk is pending.
pub const READ_CHUNK: usize = 16 * 1024;
/// A buffer whose allocation grew past this is dropped once empty, instead of kept for reuse.
pub const SHRINK_ABOVE: usize = 1024 * 1024;
/// The largest single read-buffer growth for a pending bulk (a 512 MB value arrives in steps).
const MAX_RESERVE: usize = 64 * 1024 * 1024;

/// A client socket (TCP or unix). Reads are readiness-based so that an idle connection owns no read
/// buffer: thousands of idle clients cost a task each, not 16 KiB each.
pub trait ClientStream: AsyncWrite + Unpin + Send {
    /// Waits until the socket may be read (data, EOF or an error).
    fn wait_readable(&self) -> impl Future<Output = io::Result<()>> + Send;
    /// Reads what is available into `buf`'s spare capacity without waiting.
    fn try_read_into(&self, buf: &mut BytesMut) -> io::Result<usize>;
}

impl ClientStream for tokio::net::TcpStream {
    fn wait_readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.readable()
    }
    fn try_read_into(&self, buf: &mut BytesMut) -> io::Result<usize> {
        read_draining(buf, |f| self.try_io(tokio::io::Interest::READABLE, f), self)
    }
}

impl ClientStream for tokio::net::UnixStream {
    fn wait_readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.readable()
    }
    fn try_read_into(&self, buf: &mut BytesMut) -> io::Result<usize> {
        read_draining(buf, |f| self.try_io(tokio::io::Interest::READABLE, f), self)
    }
}

/// One `read(2)` into `buf`'s spare capacity, through the socket's `try_io` so that tokio's readiness
/// is kept right.
///
/// A short read means the socket's receive queue is empty now. We then report "would block" to tokio
/// (while keeping the bytes), so it clears the readable flag at once: the next wait goes straight to
/// the poller instead of first trying a read that returns EAGAIN. That saves one system call per
/// request for a client that sends one command at a time. Readiness that arrives meanwhile is not
/// lost: tokio only clears the flag if no new event came in since the read started.
fn read_draining<T: std::os::unix::io::AsRawFd>(
    buf: &mut BytesMut,
    try_io: impl FnOnce(&mut dyn FnMut() -> io::Result<usize>) -> io::Result<usize>,
    sock: &T,
) -> io::Result<usize> {
    let fd = sock.as_raw_fd();
    let mut drained = None;
    let r = try_io(&mut || {
        let spare = buf.spare_capacity_mut();
        let want = spare.len();
        // SAFETY: reads at most `want` bytes into the uninitialised spare capacity of `buf`, which
        // stays borrowed (and so allocated) for the duration of the call.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr() as *mut libc::c_void, want) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        // SAFETY: the kernel initialised exactly `n <= want` bytes after the current length.
        unsafe { buf.set_len(buf.len() + n) };
        if n > 0 && n < want {
            drained = Some(n);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match drained {
        Some(n) => Ok(n),
        None => r,
    }
}

/// The commands parsed from one read-buffer chunk, as argument ranges into it.
#[derive(Default)]
struct Batch {
    /// Argument ranges of all commands, back to back.
    ranges: Vec<std::ops::Range<usize>>,
    /// Per command: (first range, number of ranges), or the index into `owned`.
    cmds: Vec<CmdArgs>,
    /// Unescaped arguments of quoted inline commands (rare: typed by hand).
    owned: Vec<Vec<Vec<u8>>>,
}

#[derive(Clone, Copy)]
enum CmdArgs {
    Ranges(usize, usize),
    Owned(usize),
}

impl Batch {
    fn clear(&mut self) {
        self.ranges.clear();
        self.cmds.clear();
        self.owned.clear();
    }

    /// Fills `args` with the arguments of command `i`, zero-copy from `chunk`.
    fn args_of(&self, i: usize, chunk: &Bytes, args: &mut Vec<Bytes>) {
        args.clear();
        match self.cmds[i] {
            CmdArgs::Ranges(start, len) => args.extend(
                self.ranges[start..start + len]
                    .iter()
                    .map(|r| chunk.slice(r.clone())),
            ),
            CmdArgs::Owned(j) => {
                args.extend(self.owned[j].iter().map(|a| Bytes::copy_from_slice(a)))
            }
        }
    }
}

/// Why the connection loop stopped waiting.
enum Wake {
    Readable,
    Close,
}

/// Serves one client until it quits, is killed, breaks the protocol, or the server shuts down.
pub async fn serve<S: ClientStream>(srv: Arc<Server>, mut stream: S, handle: Arc<ClientHandle>) {
    let authenticated = srv.config.read().requirepass.is_none();
    let mut client = Client::new(handle.clone(), authenticated);
    let mut rbuf = BytesMut::new();
    // Whether the read buffer grew past SHRINK_ABOVE for a large request.
    let mut big_rbuf = false;
    let mut wbuf = BytesMut::new();
    let mut parser = RequestParser::new();
    let mut parsed = ParsedCommand::default();
    let mut batch = Batch::default();
    let mut args: Vec<Bytes> = Vec::new();
    let mut monitor_rx: Option<tokio::sync::mpsc::UnboundedReceiver<Bytes>> = None;
    let mut pubsub_rx: Option<tokio::sync::mpsc::UnboundedReceiver<super::pubsub::PubMsg>> = None;
    // Resolves when the client is killed (CLIENT KILL, `timeout`, and shutdown, which kills every
    // client). Created once and polled by reference: a fresh `notified()` per wake-up would register
    // and unregister a waiter (a mutex round trip) for every request.
    let stop = handle.kill_notify.notified();
    tokio::pin!(stop);

    if srv.is_shutting_down() {
        return;
    }
    'conn: loop {
        // Wait for input (or a monitor line, a kill). Biased: no random branch order to draw, and the
        // socket is polled first so a ready socket does not poll the kill future at all.
        let wake = tokio::select! {
            biased;
            r = stream.wait_readable() => if r.is_ok() { Wake::Readable } else { Wake::Close },
            Some(line) = async { match monitor_rx.as_mut() { Some(rx) => rx.recv().await, None => None } } => {
                // CLIENT REPLY OFF silences the feed too.
                if client.replies_suppressed() { continue 'conn; }
                if write_all(&mut stream, &line, stop.as_mut()).await.is_err() { break 'conn; }
                continue 'conn;
            }
            Some(msg) = async { match pubsub_rx.as_mut() { Some(rx) => rx.recv().await, None => None } } => {
                if deliver_messages(&srv, &handle, &mut stream, &mut wbuf, &client, msg, pubsub_rx.as_mut(), stop.as_mut()).await.is_err() {
                    break 'conn;
                }
                continue 'conn;
            }
            _ = &mut stop => Wake::Close,
        };
        if matches!(wake, Wake::Close) || handle.is_killed() {
            break;
        }
        // Room for one chunk, or for the rest of a pending large bulk.
        let want = parser
            .needed()
            .saturating_sub(rbuf.len())
            .clamp(READ_CHUNK, MAX_RESERVE);
        if rbuf.capacity() - rbuf.len() < want.min(READ_CHUNK) {
            rbuf.reserve(want);
            // (`capacity()` only counts what follows the last split, so remember growth here.)
            big_rbuf |= rbuf.capacity() > SHRINK_ABOVE;
        }
        let n = match stream.try_read_into(&mut rbuf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => break,
        };
        srv.stats
            .net_input_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
        srv.stats
            .total_reads_processed
            .fetch_add(1, Ordering::Relaxed);
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
        if wbuf.capacity() == 0 {
            wbuf.reserve(READ_CHUNK);
        }

        // Parse and run batches until the buffer holds no complete command.
        loop {
            let (pos, proto_err) =
                parse_batch(&mut parser, &rbuf, limits, &client, &mut parsed, &mut batch);
            if batch.cmds.is_empty() && proto_err.is_none() {
                break;
            }
            let chunk = rbuf.split_to(pos).freeze();
            // The batch runs in one lock hold, unless CLIENT PAUSE holds a command back (the replies so
            // far are sent and the batch resumes at that command once the pause ends) or replies pile up.
            let mut i = 0;
            while i < batch.cmds.len() {
                let mut paused = false;
                let mut blocked = false;
                {
                    let mut core = srv.core.lock();
                    while i < batch.cmds.len() {
                        batch.args_of(i, &chunk, &mut args);
                        if args.is_empty() {
                            i += 1;
                            continue;
                        }
                        if cmd::client::pause_blocks(&srv, &client, &args) {
                            paused = true;
                            break;
                        }
                        i += 1;
                        // Messages published before this command (publishers hold the core lock)
                        // go ahead of its reply, as they would in Redis's output buffer.
                        if let Some(rx) = client.subs.rx.take() {
                            pubsub_rx = Some(rx);
                        }
                        if let Some(rx) = pubsub_rx.as_mut() {
                            while let Ok(m) = rx.try_recv() {
                                m.encode(&mut Reply::new(&mut wbuf, client.proto));
                            }
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
                        if !client.subs.kept.is_empty() {
                            wbuf.extend_from_slice(&client.subs.kept);
                            client.subs.kept.clear();
                        }
                        client.after_command();
                        // A blocking command found nothing: the rest of the batch waits.
                        if client.blocked.is_some() {
                            blocked = true;
                            break;
                        }
                        if client.close_after_reply
                            || wbuf.len() >= FLUSH_AT
                            || client.repl_handover.is_some()
                        {
                            break;
                        }
                    }
                }
                if client.close_after_reply || client.repl_handover.is_some() {
                    break;
                }
                if blocked {
                    if let Some(w) = client.blocked.take() {
                        if !wbuf.is_empty()
                            && flush(&srv, &handle, &mut stream, &mut wbuf, stop.as_mut())
                                .await
                                .is_err()
                        {
                            break 'conn;
                        }
                        let woken = super::blocking::wait(
                            &srv,
                            &client,
                            w,
                            &mut stream,
                            &mut rbuf,
                            qbuf_limit,
                            stop.as_mut(),
                        )
                        .await;
                        match woken {
                            Some(w) => {
                                if !client.replies_suppressed() {
                                    wbuf.extend_from_slice(&w.reply);
                                }
                                // The rest of the batch is dropped with the connection.
                                if w.close {
                                    client.close_after_reply = true;
                                    break;
                                }
                            }
                            None => break 'conn,
                        }
                    }
                    continue;
                }
                if paused {
                    if !wbuf.is_empty()
                        && flush(&srv, &handle, &mut stream, &mut wbuf, stop.as_mut())
                            .await
                            .is_err()
                    {
                        break 'conn;
                    }
                    tokio::select! {
                        _ = srv.pause.wait() => {}
                        _ = &mut stop => break 'conn,
                    }
                    continue;
                }
                // Replies are piling up: write them before running the rest of the batch.
                if wbuf.len() >= FLUSH_AT
                    && flush(&srv, &handle, &mut stream, &mut wbuf, stop.as_mut())
                        .await
                        .is_err()
                {
                    break 'conn;
                }
            }
            srv.busy_poll.note();
            client.publish_meta(
                rbuf.len(),
                rbuf.capacity() - rbuf.len(),
                wbuf.capacity(),
                wbuf.len(),
            );
            // Release every slice of the chunk, so the read buffer is uniquely owned again and the
            // next reserve reuses its allocation instead of allocating a new one.
            args.clear();
            drop(chunk);
            if let Some(e) = proto_err {
                if !client.close_after_reply {
                    protocol_error(&mut wbuf, &mut client, &handle, &e);
                }
            }
            if let Some(rx) = client.monitor_rx.take() {
                monitor_rx = Some(rx);
            }
            if !client.monitor {
                monitor_rx = None;
            }
            if let Some(rx) = client.subs.rx.take() {
                pubsub_rx = Some(rx);
            }
            if (wbuf.len() >= FLUSH_AT || client.close_after_reply)
                && flush(&srv, &handle, &mut stream, &mut wbuf, stop.as_mut())
                    .await
                    .is_err()
            {
                break 'conn;
            }
            if client.close_after_reply {
                break 'conn;
            }
            // PSYNC/SYNC made this connection a replica: it now carries the replication stream.
            if let Some(h) = client.repl_handover.take() {
                // A replica sends nothing after PSYNC until it is served but ACKs: the unparsed
                // rest of the read buffer goes with it.
                if !wbuf.is_empty()
                    && flush(&srv, &handle, &mut stream, &mut wbuf, stop.as_mut())
                        .await
                        .is_err()
                {
                    crate::replication::master::detach(&srv, client.id);
                    break 'conn;
                }
                client.publish_meta(0, 0, 0, 0);
                crate::replication::master::serve_replica(
                    srv.clone(),
                    &mut stream,
                    &mut client,
                    std::mem::take(&mut rbuf),
                    h,
                    stop.as_mut(),
                )
                .await;
                break 'conn;
            }
        }
        if !wbuf.is_empty() {
            // Replies go out after every connection that is ready has run its commands, as
            // Redis writes all pending replies in one pass before it sleeps: the runtime runs the
            // other ready connections first and resumes this one when its queue is empty. The
            // writes then come in one burst, so a client woken by the first finds the rest
            // already there, instead of being woken (a costly cross-core wake-up) once per reply.
            tokio::task::yield_now().await;
            if flush(&srv, &handle, &mut stream, &mut wbuf, stop.as_mut())
                .await
                .is_err()
            {
                break;
            }
        }
        // Give back the memory of a huge request or reply.
        if big_rbuf && rbuf.is_empty() && parser.needed() == 0 {
            rbuf = BytesMut::new();
            big_rbuf = false;
        }
        if wbuf.capacity() > SHRINK_ABOVE {
            wbuf = BytesMut::new();
        }
    }
    if client.monitor {
        srv.remove_monitor(client.id);
    }
    cmd::tx::on_close(&srv, &mut client);
    if client.subs.count() > 0 {
        srv.pubsub.lock().remove_client(client.id, &client.subs);
    }
    let _ = stream.shutdown().await;
}

/// Writes a published message and every other one already waiting in the feed, in one write.
/// CLIENT REPLY OFF does not silence them (Redis sends pushes whatever the reply mode).
#[allow(clippy::too_many_arguments)]
async fn deliver_messages<S: ClientStream, F: Future<Output = ()>>(
    srv: &Server,
    handle: &ClientHandle,
    stream: &mut S,
    wbuf: &mut BytesMut,
    client: &Client,
    first: super::pubsub::PubMsg,
    rx: Option<&mut tokio::sync::mpsc::UnboundedReceiver<super::pubsub::PubMsg>>,
    stop: Pin<&mut F>,
) -> io::Result<()> {
    first.encode(&mut Reply::new(wbuf, client.proto));
    if let Some(rx) = rx {
        while wbuf.len() < FLUSH_AT {
            let Ok(m) = rx.try_recv() else { break };
            m.encode(&mut Reply::new(wbuf, client.proto));
        }
    }
    flush(srv, handle, stream, wbuf, stop).await
}

/// Parses up to [`BATCH_MAX`] complete commands from `rbuf` into `batch`. Returns the end of the last
/// complete command and the protocol error that stopped parsing, if any.
fn parse_batch(
    parser: &mut RequestParser,
    rbuf: &[u8],
    limits: ParseLimits,
    client: &Client,
    parsed: &mut ParsedCommand,
    batch: &mut Batch,
) -> (usize, Option<ProtocolError>) {
    batch.clear();
    let mut pos = 0;
    while batch.cmds.len() < BATCH_MAX {
        let lim = ParseLimits {
            authenticated: client.authenticated,
            ..limits
        };
        match parser.parse(rbuf, pos, &lim, parsed) {
            Ok(Some(end)) => {
                if let Some(owned) = parsed.owned.take() {
                    batch.cmds.push(CmdArgs::Owned(batch.owned.len()));
                    batch.owned.push(owned);
                } else {
                    batch
                        .cmds
                        .push(CmdArgs::Ranges(batch.ranges.len(), parsed.args.len()));
                    batch.ranges.append(&mut parsed.args);
                }
                pos = end;
                // An unauthenticated client's limits change after AUTH: stop the batch there.
                if !client.authenticated {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => return (pos, Some(e)),
        }
    }
    (pos, None)
}

/// Replies Redis's `-ERR Protocol error: ...` and marks the connection for closing.
fn protocol_error(
    wbuf: &mut BytesMut,
    client: &mut Client,
    handle: &ClientHandle,
    e: &ProtocolError,
) {
    let mut out = Reply::new(wbuf, client.proto);
    out.error(&format!("ERR {e}"));
    tracing::debug!(
        "Protocol error ({}) from client: id={} addr={}",
        e,
        client.id,
        handle.addr
    );
    client.close_after_reply = true;
}

/// Writes `bytes`, giving up if the client is killed (or the server shuts down) meanwhile: a client that
/// never reads must not keep its task, and its buffers, alive forever.
async fn write_all<S: ClientStream, F: Future<Output = ()>>(
    stream: &mut S,
    bytes: &[u8],
    stop: Pin<&mut F>,
) -> io::Result<()> {
    tokio::select! {
        // A write that can complete goes first, so replies already computed still leave at shutdown.
        biased;
        r = stream.write_all(bytes) => r,
        _ = stop => Err(io::ErrorKind::ConnectionAborted.into()),
    }
}

async fn flush<S: ClientStream, F: Future<Output = ()>>(
    srv: &Server,
    handle: &ClientHandle,
    stream: &mut S,
    wbuf: &mut BytesMut,
    stop: Pin<&mut F>,
) -> io::Result<()> {
    let n = wbuf.len();
    write_all(stream, wbuf, stop).await?;
    wbuf.clear();
    srv.stats
        .net_output_bytes
        .fetch_add(n as u64, Ordering::Relaxed);
    srv.stats
        .total_writes_processed
        .fetch_add(1, Ordering::Relaxed);
    handle.net_out.fetch_add(n as u64, Ordering::Relaxed);
    // Like Redis, a client that keeps reading its (large) replies is not idle.
    if n >= FLUSH_AT {
        handle
            .last_interaction_ms
            .store(crate::util::now_ms(), Ordering::Relaxed);
    }
    Ok(())
}
