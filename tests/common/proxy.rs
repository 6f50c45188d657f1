//! A TCP proxy on loopback for fault tests: it sits between a replica and its master and can delay
//! the bytes, stall them, cut every open connection, or refuse new ones, at moments the test
//! chooses (or at random moments from a seeded generator).
//!
//! Threads and blocking sockets: one thread accepts, two pump each connection (one per direction).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct State {
    target: AtomicU16,
    /// Added before each forwarded chunk, in ms.
    delay_ms: AtomicU64,
    /// While set, pumps hold their bytes (the link looks alive but silent).
    stalled: AtomicBool,
    /// While set, new connections are closed at once (the master looks down).
    refuse: AtomicBool,
    stop: AtomicBool,
    /// Open connections (both ends), so that `cut` can close them.
    conns: Mutex<Vec<(TcpStream, TcpStream)>>,
    /// Connections accepted and bytes forwarded, both directions.
    accepted: AtomicU64,
    forwarded: AtomicU64,
}

pub struct Proxy {
    pub port: u16,
    state: Arc<State>,
}

impl Proxy {
    /// A proxy listening on a free loopback port, forwarding to `127.0.0.1:target`.
    pub fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let state = Arc::new(State::default());
        state.target.store(target, Ordering::SeqCst);
        let st = Arc::clone(&state);
        std::thread::spawn(move || accept_loop(listener, st));
        Proxy { port, state }
    }

    /// Sends new connections to another port (a master that moved).
    pub fn retarget(&self, target: u16) {
        self.state.target.store(target, Ordering::SeqCst);
    }

    pub fn set_delay(&self, d: Duration) {
        self.state
            .delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn stall(&self, on: bool) {
        self.state.stalled.store(on, Ordering::SeqCst);
    }

    pub fn refuse(&self, on: bool) {
        self.state.refuse.store(on, Ordering::SeqCst);
    }

    /// Closes every open connection, both ends (the link is cut).
    pub fn cut(&self) {
        let conns = std::mem::take(&mut *self.state.conns.lock().unwrap());
        for (a, b) in conns {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
    }

    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::SeqCst)
    }

    pub fn forwarded(&self) -> u64 {
        self.state.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.cut();
    }
}

fn accept_loop(listener: TcpListener, st: Arc<State>) {
    while !st.stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Polling the non-blocking listener lets the thread notice `stop`.
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            Err(_) => continue,
        };
        if st.refuse.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let _ = client.set_nonblocking(false);
        let target = st.target.load(Ordering::SeqCst);
        let Ok(upstream) = TcpStream::connect(("127.0.0.1", target)) else {
            drop(client);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        // A stalled proxy must hold up the sender soon: with receive-buffer autotuning (up to
        // `tcp_rmem`'s maximum, 32 MiB on some machines) the kernel would swallow that much first.
        bound_receive_buffer(&client);
        bound_receive_buffer(&upstream);
        st.accepted.fetch_add(1, Ordering::SeqCst);
        let (Ok(c2), Ok(u2), Ok(c3), Ok(u3)) = (
            client.try_clone(),
            upstream.try_clone(),
            client.try_clone(),
            upstream.try_clone(),
        ) else {
            continue;
        };
        st.conns.lock().unwrap().push((c3, u3));
        let s1 = Arc::clone(&st);
        let s2 = Arc::clone(&st);
        std::thread::spawn(move || pump(client, upstream, s1));
        std::thread::spawn(move || pump(u2, c2, s2));
    }
}

/// Caps the socket's receive buffer (which also turns off its autotuning).
fn bound_receive_buffer(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 64 * 1024;
    // SAFETY: a valid open socket and a c_int option value of the size given.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, st: Arc<State>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while st.stalled.load(Ordering::SeqCst) && !st.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let delay = st.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        // Counted before the write, so that whoever sees the bytes arrive sees them counted.
        st.forwarded.fetch_add(n as u64, Ordering::SeqCst);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
