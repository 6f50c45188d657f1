//! Listening sockets (`bind`, `port`, `unixsocket`), the accept loops, `maxclients`, protected mode,
//! and the run-until-shutdown sequence.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, UnixListener};

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

/// Binds every configured address. Returns the listeners and the port actually bound.
pub fn bind_all(srv: &Server) -> Result<(Vec<TcpListener>, Option<UnixListener>), ListenError> {
    let cfg = srv.config.read();
    let mut listeners = Vec::new();
    let mut port = cfg.port;
    if cfg.port != 0 || cfg.unixsocket.is_none() {
        for (addr, optional) in bind_addrs(&cfg.bind, port) {
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
            match listen_tcp(sa, cfg.tcp_backlog) {
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

async fn accept_tcp(srv: Arc<Server>, listener: TcpListener) {
    let mut shutdown = srv.shutdown_signal();
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

/// Runs the server until shutdown: accept loops, cron, signal handling; then waits briefly for
/// connections to finish their in-flight replies.
pub async fn run(srv: Arc<Server>, listeners: Vec<TcpListener>, unix: Option<UnixListener>) {
    for l in listeners {
        tokio::spawn(accept_tcp(srv.clone(), l));
    }
    if let Some(u) = unix {
        let path = srv.config.read().unixsocket.clone().unwrap_or_default();
        tokio::spawn(accept_unix(srv.clone(), u, path));
    }
    tokio::spawn(super::cron(srv.clone()));
    tokio::spawn(crate::info::metrics_cron(srv.clone()));
    let srv_sig = srv.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::warn!("Received {} scheduling shutdown...", name);
        srv_sig.begin_shutdown(super::ShutdownRequest::default());
    });
    let mut shutdown = srv.shutdown_signal();
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
    tracing::warn!("User requested shutdown...");
    // Give connections a moment to write their last replies and close.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while srv.stats.connected_clients.load(Ordering::Relaxed) > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if let Some(path) = srv.config.read().unixsocket.clone() {
        tracing::info!("Removing the unix socket file.");
        let _ = std::fs::remove_file(path);
    }
}
