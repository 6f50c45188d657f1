//! Listening sockets (`bind`, `port`, `unixsocket`), the accept loops, `maxclients`, protected mode,
//! and the run-until-shutdown sequence.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, UnixListener};
use tokio::sync::watch;

use super::client::ClientHandle;
use super::{connection, Server};

const MAXCLIENTS_ERR: &[u8] = b"-ERR max number of clients reached\r\n";

const PROTECTED_MODE_ERR: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Why the server could not start listening.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A TCP address could not be bound.
    #[error("Warning: Could not create server TCP listening socket {addr}: {source}")]
    Tcp {
        addr: String,
        source: std::io::Error,
    },
    /// The unix socket could not be bound.
    #[error("Failed opening Unix socket: {0}")]
    Unix(std::io::Error),
    /// Nothing to listen on.
    #[error("Configured to not listen anywhere, exiting.")]
    Nowhere,
}

/// The addresses `bind` names; a leading `-` marks an optional address (skipped if unavailable).
fn bind_addrs(bind: &[String], port: u16) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for b in bind {
        let (optional, host) = match b.strip_prefix('-') {
            Some(h) => (true, h),
            None => (false, b.as_str()),
        };
        let host = match host {
            "*" => "0.0.0.0",
            "::*" => "::",
            h => h,
        };
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        out.push((addr, optional));
    }
    out
}

/// Binds the TCP addresses of `bind` on `port` (0 = an ephemeral port, the same for every address).
/// Returns the listeners and the port bound.
pub fn bind_tcp(
    bind: &[String],
    port: u16,
    backlog: u32,
) -> Result<(Vec<TcpListener>, u16), ListenError> {
    let mut listeners = Vec::new();
    let mut port = port;
    for (addr, optional) in bind_addrs(bind, port) {
        let sa: SocketAddr = match addr.parse() {
            Ok(a) => a,
            Err(e) => {
                return Err(ListenError::Tcp {
                    addr,
                    source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
                })
            }
        };
        let sa = SocketAddr::new(sa.ip(), port);
        match listen_tcp(sa, backlog) {
            Ok(l) => {
                if port == 0 {
                    port = l.local_addr().map(|a| a.port()).unwrap_or(0);
                }
                listeners.push(l);
            }
            Err(e)
                if optional
                    && matches!(
                        e.kind(),
                        std::io::ErrorKind::AddrNotAvailable | std::io::ErrorKind::Unsupported
                    ) => {}
            Err(e) if optional && e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {}
            Err(e) => {
                return Err(ListenError::Tcp {
                    addr: sa.to_string(),
                    source: e,
                })
            }
        }
    }
    Ok((listeners, port))
}

/// Binds every configured address. Returns the listeners and the port actually bound.
pub fn bind_all(srv: &Server) -> Result<(Vec<TcpListener>, Option<UnixListener>), ListenError> {
    let cfg = srv.config.read();
    let mut listeners = Vec::new();
    let mut port = cfg.port;
    if cfg.port != 0 || cfg.unixsocket.is_none() {
        (listeners, port) = bind_tcp(&cfg.bind, cfg.port, cfg.tcp_backlog)?;
    }
    srv.bound_port.store(port as u64, Ordering::Relaxed);
    let unix = match &cfg.unixsocket {
        Some(path) => {
            let _ = std::fs::remove_file(path);
            let l = UnixListener::bind(path).map_err(ListenError::Unix)?;
            if let Some(perm) = cfg.unixsocketperm {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm));
            }
            Some(l)
        }
        None => None,
    };
    if listeners.is_empty() && unix.is_none() {
        return Err(ListenError::Nowhere);
    }
    Ok((listeners, unix))
}

fn listen_tcp(sa: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let sock = if sa.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    if sa.is_ipv6() {
        // Like Redis: an IPv6 socket only takes IPv6, so `bind * ::*` binds both families.
        let fd = std::os::unix::io::AsRawFd::as_raw_fd(&sock);
        let one: libc::c_int = 1;
        // SAFETY: setsockopt on a valid fd with a stack int.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                &one as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as u32,
            );
        }
    }
    sock.bind(sa)?;
    sock.listen(backlog)
}

fn set_keepalive(stream: &tokio::net::TcpStream, secs: u64) {
    if secs == 0 {
        return;
    }
    let fd = std::os::unix::io::AsRawFd::as_raw_fd(stream);
    let on: libc::c_int = 1;
    let idle = secs as libc::c_int;
    let intvl = ((secs / 3).max(1)) as libc::c_int;
    let cnt: libc::c_int = 3;
    let sz = std::mem::size_of::<libc::c_int>() as u32;
    // SAFETY: setsockopt on a valid fd with stack ints.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_KEEPALIVE,
            &on as *const _ as *const libc::c_void,
            sz,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPIDLE,
            &idle as *const _ as *const libc::c_void,
            sz,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPINTVL,
            &intvl as *const _ as *const libc::c_void,
            sz,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPCNT,
            &cnt as *const _ as *const libc::c_void,
            sz,
        );
    }
}

/// Registers a new client, or refuses it when `maxclients` is reached. Returns None when refused.
fn register(srv: &Arc<Server>, addr: String, laddr: String, fd: i32) -> Option<Arc<ClientHandle>> {
    let maxclients = srv.config.read().maxclients;
    srv.stats
        .total_connections_received
        .fetch_add(1, Ordering::Relaxed);
    let mut clients = srv.clients.lock();
    if clients.len() as u64 >= maxclients {
        srv.stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        return None;
    }
    let id = srv.next_client_id.fetch_add(1, Ordering::Relaxed);
    let h = ClientHandle::new(id, addr, laddr, fd);
    clients.insert(id, h.clone());
    srv.stats
        .connected_clients
        .store(clients.len(), Ordering::Relaxed);
    Some(h)
}

/// Removes a client from the registry when its task ends, however it ends (even if a command
/// handler panicked and unwound the task): a leaked entry would count against `maxclients` forever.
struct Registration {
    srv: Arc<Server>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut clients = self.srv.clients.lock();
        clients.remove(&self.id);
        self.srv
            .stats
            .connected_clients
            .store(clients.len(), Ordering::Relaxed);
    }
}

/// Runs a registered client's connection in its own task.
fn spawn_client<S: connection::ClientStream + 'static>(
    srv: &Arc<Server>,
    stream: S,
    handle: Arc<ClientHandle>,
) {
    let reg = Registration {
        srv: srv.clone(),
        id: handle.id,
    };
    tokio::spawn(async move {
        let _reg = reg;
        connection::serve(_reg.srv.clone(), stream, handle).await;
    });
}

/// Accepts TCP clients until shutdown, or until CONFIG SET port/bind replaces this generation of
/// listeners (`gen` moves past `my_gen`), which drops the listener and frees its address.
async fn accept_tcp(
    srv: Arc<Server>,
    listener: TcpListener,
    mut gen: watch::Receiver<u64>,
    my_gen: u64,
) {
    let mut shutdown = srv.shutdown_signal();
    let mut gen_alive = true;
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("Accepting client connection: {}", e);
                    // EMFILE and friends: back off briefly instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            r = gen.changed(), if gen_alive => {
                // A dropped sender (shutdown) just stops this watch.
                gen_alive = r.is_ok();
                if gen_alive && *gen.borrow() != my_gen {
                    return;
                }
                continue;
            }
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let (keepalive, protected, has_pass) = {
            let c = srv.config.read();
            (c.tcp_keepalive, c.protected_mode, c.requirepass.is_some())
        };
        set_keepalive(&stream, keepalive);
        let local = stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        if protected && !has_pass && !peer.ip().is_loopback() {
            // Best effort and without waiting: a refused client must not stall the accept loop.
            let _ = stream.try_write(PROTECTED_MODE_ERR.as_bytes());
            continue;
        }
        let fd = std::os::unix::io::AsRawFd::as_raw_fd(&stream);
        let Some(handle) = register(&srv, peer.to_string(), local, fd) else {
            let _ = stream.try_write(MAXCLIENTS_ERR);
            continue;
        };
        spawn_client(&srv, stream, handle);
    }
}

async fn accept_unix(srv: Arc<Server>, listener: UnixListener, path: String) {
    let mut shutdown = srv.shutdown_signal();
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("Accepting client connection: {}", e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let fd = std::os::unix::io::AsRawFd::as_raw_fd(&stream);
        let Some(handle) = register(&srv, format!("{path}:0"), path.clone(), fd) else {
            let _ = stream.try_write(MAXCLIENTS_ERR);
            continue;
        };
        spawn_client(&srv, stream, handle);
    }
}

/// CONFIG SET port/bind: a request to replace the TCP listeners, answered on `reply` with the port
/// bound or the error text.
pub struct RebindRequest {
    pub bind: Vec<String>,
    pub port: u16,
    pub old_bind: Vec<String>,
    pub old_port: u16,
    pub backlog: u32,
    pub reply: std::sync::mpsc::Sender<Result<u16, String>>,
}

/// Replaces the TCP listeners on request, as Redis's changeListenPort/changeBindAddr: the old
/// listeners are closed first (so the same address can be bound again), the new set is bound, and on
/// failure the old set is bound again.
async fn serve_rebinds(
    srv: Arc<Server>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<RebindRequest>,
    gen_tx: watch::Sender<u64>,
    mut tasks: Vec<tokio::task::JoinHandle<()>>,
) {
    let mut shutdown = srv.shutdown_signal();
    loop {
        let req = tokio::select! {
            r = rx.recv() => match r { Some(r) => r, None => return },
            _ = shutdown.changed() => return,
        };
        let gen = *gen_tx.borrow() + 1;
        gen_tx.send_replace(gen);
        for t in tasks.drain(..) {
            let _ = t.await;
        }
        let result = match bind_tcp(&req.bind, req.port, req.backlog) {
            Ok((ls, port)) => Ok((ls, port)),
            Err(e) => {
                tracing::warn!("{}", e);
                tracing::warn!("Failed to bind, trying to restore old listening sockets.");
                match bind_tcp(&req.old_bind, req.old_port, req.backlog) {
                    Ok((ls, port)) => {
                        tasks = ls
                            .into_iter()
                            .map(|l| {
                                tokio::spawn(accept_tcp(srv.clone(), l, gen_tx.subscribe(), gen))
                            })
                            .collect();
                        srv.bound_port.store(port as u64, Ordering::Relaxed);
                    }
                    Err(e2) => tracing::warn!("Failed to restore old listening sockets: {}", e2),
                }
                Err(e.to_string())
            }
        };
        let answer = match result {
            Ok((ls, port)) => {
                tasks = ls
                    .into_iter()
                    .map(|l| tokio::spawn(accept_tcp(srv.clone(), l, gen_tx.subscribe(), gen)))
                    .collect();
                srv.bound_port.store(port as u64, Ordering::Relaxed);
                Ok(port)
            }
            Err(e) => Err(e),
        };
        let _ = req.reply.send(answer);
    }
}

/// Runs the server until shutdown: accept loops, cron, signal handling; then waits briefly for
/// connections to finish their in-flight replies.
pub async fn run(srv: Arc<Server>, listeners: Vec<TcpListener>, unix: Option<UnixListener>) {
    // Signal handlers first, before any client can be accepted: a SIGTERM sent once the server
    // answers must find them installed (not the default action, which kills without a shutdown).
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    let (gen_tx, _) = watch::channel(0u64);
    let mut tcp_tasks: Vec<tokio::task::JoinHandle<()>> = listeners
        .into_iter()
        .map(|l| tokio::spawn(accept_tcp(srv.clone(), l, gen_tx.subscribe(), 0)))
        .collect();
    if let Some(rx) = srv.rebind_rx.lock().take() {
        tokio::spawn(serve_rebinds(
            srv.clone(),
            rx,
            gen_tx,
            std::mem::take(&mut tcp_tasks),
        ));
    }
    if let Some(u) = unix {
        let path = srv.config.read().unixsocket.clone().unwrap_or_default();
        tokio::spawn(accept_unix(srv.clone(), u, path));
    }
    tokio::spawn(super::cron(srv.clone()));
    {
        let srv = srv.clone();
        tokio::spawn(async move { srv.busy_poll.run().await });
    }
    tokio::spawn(crate::info::metrics_cron(srv.clone()));
    let srv_sig = srv.clone();
    tokio::spawn(async move {
        let (Some(mut term), Some(mut int)) = signals else {
            return;
        };
        loop {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::warn!("Received {} scheduling shutdown...", name);
            // `shutdown-on-sigterm` / `shutdown-on-sigint`: default, or save/nosave/now/force.
            let flags = {
                let c = srv_sig.config.read();
                if name == "SIGTERM" {
                    c.shutdown_on_sigterm.clone()
                } else {
                    c.shutdown_on_sigint.clone()
                }
            };
            let has = |w: &str| flags.split(' ').any(|f| f == w);
            let req = super::ShutdownRequest {
                nosave: has("nosave"),
                save: has("save"),
                now: has("now"),
                force: has("force"),
            };
            // As SHUTDOWN does: wait for lagging replicas first (the cron then finishes), save
            // when asked or when save points exist; a failed save keeps the server running
            // unless FORCE.
            let mut core = srv_sig.core.lock();
            if crate::replication::failover::wait_before_shutdown(&srv_sig, &mut core, req) {
                continue;
            }
            if crate::cmd::server::finish_shutdown(&srv_sig, &mut core, req).is_err() {
                continue;
            }
            return;
        }
    });
    let mut shutdown = srv.shutdown_signal();
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
    tracing::warn!("User requested shutdown...");
    // Close every connection (each writes what it has already computed first), and give them a
    // moment to do so. Killing again on each round catches a client accepted during the shutdown.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        for h in srv.clients.lock().values() {
            h.kill();
        }
        if srv.stats.connected_clients.load(Ordering::Relaxed) == 0
            || tokio::time::Instant::now() >= deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if let Some(path) = srv.config.read().unixsocket.clone() {
        tracing::info!("Removing the unix socket file.");
        let _ = std::fs::remove_file(path);
    }
}
