//! The network layer under abuse: malformed RESP (byte-exact against the real redis-server), limits
//! (`proto-max-bulk-len`, `client-query-buffer-limit`, `maxclients`, `timeout`), random garbage,
//! thousands of idle connections, clients that vanish mid-command, deep pipelines, inline commands,
//! the unix socket, backpressure on slow readers, and the real `redis-cli` / `redis-benchmark`.
//!
//! Every test also checks that the server process is still alive at the end: nothing a client sends
//! may take it down.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// Connects with a read timeout, so a server that fails to close a connection fails the test.
fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Sends `input` on a fresh connection and returns everything the server writes until it closes the
/// connection. A reset after the server's last bytes counts as a close.
fn exchange_until_close(port: u16, input: &[u8]) -> Vec<u8> {
    let mut s = connect(port);
    // The server may close before it has read everything; a failed write is fine.
    let _ = s.write_all(input);
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!(
                "connection not closed after {:?}: {e} (got {:?})",
                String::from_utf8_lossy(&input[..input.len().min(60)]),
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

/// Resident memory of a process, in bytes.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

fn assert_alive(s: &mut Server) {
    assert!(s.alive(), "{:?} died; log:\n{}", s.kind, s.log_text());
    assert_eq!(s.client().cmd(&["PING"]), b"+PONG\r\n");
}

/// Inputs Redis answers with `-ERR Protocol error: ...` and then closes the connection.
fn malformed_inputs() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        &b"*abc\r\n"[..],
        b"*1\r\n+x\r\n",
        b"*1\r\n$-5\r\n",
        b"*1\r\n$abc\r\n",
        b"*3000000000\r\n",
        b"*1\r\n$600000000\r\n",
        b"*1\r\n$04\r\nPING\r\n",
        b"*01\r\n$4\r\nPING\r\n",
        b"*1\r\n$ 4\r\nPING\r\n",
        b"*1\n$4\r\nPING\r\n",
        b"*1\r$4\r\nPING\r\n",
        b"*2\r\n$4\r\nPING\r\n:1\r\n",
        b"set k \"abc\r\n",
        b"set k 'a'b\r\n",
        b"PING\r\n*x\r\n",
        b"PING\r\nPING\r\n*1\r\n$4\r\nPING\r\n*2\r\n$x\r\n",
        b"ECHO \"a\"b\r\n",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    // Header lines and inline requests longer than 64 KiB.
    let mut big = b"*".to_vec();
    big.extend(std::iter::repeat_n(b'1', 70_000));
    v.push(big);
    let mut big = b"*1\r\n$".to_vec();
    big.extend(std::iter::repeat_n(b'1', 70_000));
    v.push(big);
    v.push(vec![b'x'; 70_000]);
    // A NUL before the newline: Redis never sees the line end, and rejects it once it is too long.
    let mut nul = b"PING\x00\r\n".to_vec();
    nul.extend(vec![b'a'; 70_000]);
    v.push(nul);
    v
}

#[test]
fn malformed_resp_gets_redis_protocol_errors_and_closes() {
    let mut f = Server::start(Kind::Ferredis, &[]);
    let mut r = Server::start(Kind::Redis, &[]);
    for input in malformed_inputs() {
        let want = exchange_until_close(r.port, &input);
        let got = exchange_until_close(f.port, &input);
        assert!(
            String::from_utf8_lossy(&want).contains("-ERR Protocol error: "),
            "redis did not reject {:?}",
            String::from_utf8_lossy(&input[..input.len().min(60)])
        );
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "input {:?}",
            String::from_utf8_lossy(&input[..input.len().min(60)])
        );
    }
    assert_alive(&mut f);
    assert_alive(&mut r);
}

/// Starts a server that requires a password (the harness's readiness probe is an unauthenticated
/// PING, so this one waits for `-NOAUTH` instead).
fn start_with_password(kind: Kind, pass: &str) -> Server {
    let port = free_port();
    let dir = scratch_dir("auth");
    let bin = match kind {
        Kind::Ferredis => ferredis_bin(),
        Kind::Redis => redis_bin(),
    };
    let child = Command::new(bin)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--requirepass", pass, "--logfile", "server.log"])
        .args(["--dir", dir.to_str().unwrap()])
        .current_dir(&dir)
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("spawn server");
    let s = Server {
        kind,
        port,
        child: Some(child),
        log: dir.join("server.log"),
        dir,
    };
    wait_for("server answers NOAUTH", Duration::from_secs(20), || {
        RawClient::try_connect(port)
            .map(|mut c| c.cmd(&["PING"]).starts_with(b"-NOAUTH"))
            .unwrap_or(false)
    });
    s
}

#[test]
fn unauthenticated_request_limits_match_redis() {
    let mut f = start_with_password(Kind::Ferredis, "pw");
    let r = start_with_password(Kind::Redis, "pw");
    for input in [&b"*11\r\n"[..], b"*1\r\n$16385\r\n", b"*1\r\n$-1\r\n"] {
        let want = exchange_until_close(r.port, input);
        let got = exchange_until_close(f.port, input);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
    }
    // After AUTH the limits are lifted, within the same pipeline.
    let mut c = connect(f.port);
    c.write_all(b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*11\r\n$4\r\nECHO\r\n")
        .unwrap();
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"+OK\r\n");
    assert!(f.alive());
}

#[test]
fn bulk_beyond_proto_max_bulk_len_is_rejected() {
    let args = ["--proto-max-bulk-len", "1mb"];
    let mut f = Server::start(Kind::Ferredis, &args);
    let r = Server::start(Kind::Redis, &args);
    let input = b"*2\r\n$4\r\nECHO\r\n$1048577\r\n";
    let want = exchange_until_close(r.port, input);
    assert_eq!(want, b"-ERR Protocol error: invalid bulk length\r\n");
    assert_eq!(exchange_until_close(f.port, input), want);
    // Exactly the limit is fine.
    let value = vec![b'v'; 1024 * 1024];
    let mut c = f.client();
    let reply = c.cmd_bytes(&[b"ECHO", &value]);
    assert_eq!(reply.len(), value.len() + "$1048576\r\n\r\n".len());
    assert_alive(&mut f);
}

/// A deterministic pseudo-random byte stream (xorshift64*), so a failure can be replayed.
fn garbage(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        out.extend_from_slice(&seed.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

#[test]
fn a_megabyte_of_random_garbage_does_not_hurt() {
    let mut f = Server::start(Kind::Ferredis, &[]);
    for seed in [1u64, 0xdead_beef, 42] {
        let mut bytes = garbage(1024 * 1024, seed);
        // Half the runs start like a multibulk request, to drive the multibulk parser too.
        if seed % 2 == 0 {
            bytes[0] = b'*';
            bytes[1] = b'9';
        }
        let port = f.port;
        let mut s = connect(port);
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = w.write_all(&bytes);
            let _ = w.shutdown(Shutdown::Write);
        });
        // Read whatever comes back until the server closes the connection (after its protocol error)
        // or, if the garbage happened to parse, until it sees our end of input.
        let mut buf = vec![0u8; 65536];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        writer.join().unwrap();
        // Meanwhile other clients are served.
        assert_alive(&mut f);
    }
}

/// Raises this process's open-file limit (the server we spawn inherits it). Fails the test if the
/// hard limit is too low to run it at all.
fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a stack struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    assert!(
        lim.rlim_cur >= want,
        "open-file limit {} (hard {}) is below the {want} this test needs: raise it (scripts/test.sh does)",
        lim.rlim_cur,
        lim.rlim_max
    );
}

#[test]
fn five_thousand_idle_connections_while_others_are_served() {
    const IDLE: usize = 5000;
    raise_nofile(IDLE as u64 + 1000);
    let mut f = Server::start(Kind::Ferredis, &[]);
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(connect(f.port));
    }
    // All of them were accepted and are live: each answers.
    for (i, s) in idle.iter_mut().enumerate().step_by(50) {
        s.write_all(b"PING\r\n").unwrap();
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("idle client {i}: {e}"));
        assert_eq!(&buf, b"+PONG\r\n");
    }
    // Busy clients are served normally meanwhile.
    let mut c = f.client();
    let start = Instant::now();
    for i in 0..200 {
        let v = i.to_string();
        assert_eq!(c.cmd(&["SET", "k", &v]), b"+OK\r\n");
        assert_eq!(c.cmd_str(&["GET", "k"]), v);
    }
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "400 commands took {:?} with {IDLE} idle clients",
        start.elapsed()
    );
    // Every idle client still works, then goes away; the server survives.
    for s in idle.iter_mut().skip(1).step_by(97) {
        s.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"+PONG\r\n");
    }
    drop(idle);
    assert_alive(&mut f);
}

#[test]
fn client_disconnecting_mid_command_is_harmless() {
    let mut f = Server::start(Kind::Ferredis, &[]);
    // Half a command, then gone: nothing runs.
    for cut in [1, 5, 13, 20, 27, 30] {
        let full = RawClient::encode(&[b"SET", b"half", b"0123456789"]);
        let mut s = connect(f.port);
        s.write_all(&full[..cut]).unwrap();
        drop(s);
    }
    // Half a 10 MB bulk, then gone.
    let mut s = connect(f.port);
    s.write_all(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$10000000\r\n")
        .unwrap();
    s.write_all(&vec![b'x'; 5_000_000]).unwrap();
    drop(s);
    let mut c = f.client();
    assert_eq!(c.cmd(&["GET", "half"]), b"$-1\r\n");
    // A client that leaves while a large reply is being written to it.
    let big = vec![b'b'; 8 * 1024 * 1024];
    assert_eq!(c.cmd_bytes(&[b"SET", b"big", &big]), b"+OK\r\n");
    for _ in 0..3 {
        let mut s = connect(f.port);
        let mut req = Vec::new();
        for _ in 0..4 {
            req.extend(RawClient::encode(&[b"GET", b"big"]));
        }
        s.write_all(&req).unwrap();
        let mut buf = [0u8; 1000];
        s.read_exact(&mut buf).unwrap();
        drop(s);
    }
    assert_eq!(c.cmd(&["GET", "half"]), b"$-1\r\n");
    assert_alive(&mut f);
}

#[test]
fn ten_thousand_pipelined_commands_in_one_write() {
    let mut f = Server::start(Kind::Ferredis, &[]);
    let mut req = Vec::new();
    for i in 0..10_000 {
        let v = format!("v{i}");
        if i % 2 == 0 {
            req.extend(RawClient::encode(&[b"ECHO", v.as_bytes()]));
        } else {
            req.extend(RawClient::encode(&[b"SET", b"p", v.as_bytes()]));
        }
    }
    let mut c = f.client();
    c.send_raw(&req);
    for i in 0..10_000 {
        let r = c.read_reply();
        if i % 2 == 0 {
            let v = format!("v{i}");
            assert_eq!(
                r,
                format!("${}\r\n{v}\r\n", v.len()).as_bytes(),
                "reply {i}"
            );
        } else {
            assert_eq!(r, b"+OK\r\n", "reply {i}");
        }
    }
    assert_eq!(c.cmd_str(&["GET", "p"]), "v9999");
    assert_alive(&mut f);
}

#[test]
fn inline_commands_match_redis() {
    let mut f = Server::start(Kind::Ferredis, &[]);
    let r = Server::start(Kind::Redis, &[]);
    let lines: &[&[u8]] = &[
        b"PING\r\n",
        b"ping\n",
        b"  echo   hello   \r\n",
        b"\r\n",
        b"\n",
        b"set \"k 1\" 'it\\'s'\r\n",
        b"get \"k 1\"\r\n",
        b"echo \"tab\\there\\x41\\n\"\r\n",
        b"echo \"a\\x4\"\r\n",
        b"echo 'single \"quoted\"'\r\n",
        b"echo \"\"\r\n",
        b"ECHO a\x0bb\r\n",
        b"nosuchcmd \"x y\" z\r\n",
        b"set k\n",
    ];
    let mut fc = f.client();
    let mut rc = r.client();
    for line in lines {
        fc.send_raw(line);
        rc.send_raw(line);
        // Blank lines have no reply: follow each line with a PING so both sides are in step.
        fc.send_raw(b"PING\r\n");
        rc.send_raw(b"PING\r\n");
        loop {
            let want = rc.read_reply();
            let got = fc.read_reply();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "inline {:?}",
                String::from_utf8_lossy(line)
            );
            if want == b"+PONG\r\n" {
                break;
            }
        }
    }
    assert_alive(&mut f);
}

#[test]
fn maxclients_refuses_with_redis_error() {
    let mut f = Server::start(Kind::Ferredis, &["--maxclients", "2"]);
    let r = Server::start(Kind::Redis, &["--maxclients", "2"]);
    for port in [r.port, f.port] {
        // The harness's readiness probe may still be closing: wait until two clients fit.
        let mut held = Vec::new();
        wait_for("two clients admitted", Duration::from_secs(10), || {
            held.clear();
            for _ in 0..2 {
                let mut c = connect(port);
                c.write_all(b"PING\r\n").unwrap();
                let mut buf = [0u8; 7];
                if c.read_exact(&mut buf).is_err() || &buf != b"+PONG\r\n" {
                    return false;
                }
                held.push(c);
            }
            true
        });
        let refused = exchange_until_close(port, b"");
        assert_eq!(
            String::from_utf8_lossy(&refused),
            "-ERR max number of clients reached\r\n",
            "port {port}"
        );
        // Freeing a slot admits a new client.
        held.pop();
        wait_for("a slot frees up", Duration::from_secs(10), || {
            let mut c = connect(port);
            c.write_all(b"PING\r\n").unwrap();
            let mut buf = [0u8; 7];
            c.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
        });
    }
    assert!(f.alive());
}

#[test]
fn timeout_closes_idle_clients_only() {
    let mut f = Server::start(Kind::Ferredis, &["--timeout", "1"]);
    let mut idle = connect(f.port);
    idle.write_all(b"PING\r\n").unwrap();
    let mut buf = [0u8; 7];
    idle.read_exact(&mut buf).unwrap();
    let start = Instant::now();
    // A busy client on the side keeps working (and is not closed) while the idle one is.
    let mut busy = f.client();
    idle.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut one = [0u8; 1];
    loop {
        assert_eq!(busy.cmd(&["PING"]), b"+PONG\r\n");
        match idle.read(&mut one) {
            Ok(0) => break,
            Ok(_) => panic!("unexpected bytes on the idle connection"),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "idle client not closed"
                )
            }
            Err(_) => break,
        }
    }
    assert!(start.elapsed() >= Duration::from_millis(900));
    assert_alive(&mut f);
}

#[test]
fn client_query_buffer_limit_closes_the_client() {
    let args = ["--client-query-buffer-limit", "1mb"];
    let mut f = Server::start(Kind::Ferredis, &args);
    let r = Server::start(Kind::Redis, &args);
    let mut input = b"*2\r\n$4\r\nECHO\r\n$3000000\r\n".to_vec();
    input.extend(vec![b'q'; 2_000_000]);
    for port in [r.port, f.port] {
        let mut s = connect(port);
        let mut w = s.try_clone().unwrap();
        let input = input.clone();
        let writer = std::thread::spawn(move || {
            let _ = w.write_all(&input);
        });
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        writer.join().unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "", "port {port}");
    }
    assert_alive(&mut f);
}

#[test]
fn unix_socket_with_permissions() {
    let dir = scratch_dir("unixsock");
    let path = dir.join("ferredis.sock");
    let p = path.to_str().unwrap();
    let mut f = Server::start(
        Kind::Ferredis,
        &["--unixsocket", p, "--unixsocketperm", "640"],
    );
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let meta = std::fs::metadata(&path).expect("socket file");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    let mut u = std::os::unix::net::UnixStream::connect(&path).unwrap();
    u.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    u.write_all(b"*2\r\n$4\r\nECHO\r\n$4\r\nunix\r\n").unwrap();
    let mut buf = [0u8; 10];
    u.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"$4\r\nunix\r\n");
    let out = Command::new(redis_cli_bin())
        .args(["-s", p, "ping"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PONG\n");
    assert_alive(&mut f);
}

#[test]
fn redis_cli_ping() {
    let mut f = Server::start(Kind::Ferredis, &[]);
    let out = Command::new(redis_cli_bin())
        .args(["-p", &f.port.to_string(), "ping"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PONG\n");
    assert_alive(&mut f);
}

fn redis_benchmark_bin() -> std::path::PathBuf {
    for p in ["/usr/bin/redis-benchmark", "/usr/local/bin/redis-benchmark"] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("redis-benchmark not found: install it with `apt-get install -y redis-tools` (scripts/test.sh does)");
}

/// `redis-benchmark -q` with its default test list (every command it knows: PING, SET, GET, INCR,
/// the list, set, hash and sorted-set tests, LRANGE_100..600, MSET) runs with no error reply.
#[test]
fn redis_benchmark_default_suite_runs_without_errors() {
    let mut f = Server::start(Kind::Ferredis, &[]);
    let out = Command::new(redis_benchmark_bin())
        .args([
            "-p",
            &f.port.to_string(),
            "-n",
            "2000",
            "-c",
            "20",
            "-P",
            "4",
            "-q",
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "redis-benchmark failed:\n{text}");
    for line in text.split(['\n', '\r']) {
        assert!(
            !line.contains("Error") && !line.contains("ERR"),
            "error in redis-benchmark output: {line:?}\n{text}"
        );
    }
    let results: Vec<&str> = text
        .split(['\n', '\r'])
        .filter(|l| l.contains("requests per second"))
        .collect();
    for name in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "RPUSH",
        "LPOP",
        "RPOP",
        "SADD",
        "HSET",
        "SPOP",
        "ZADD",
        "ZPOPMIN",
        "LRANGE_100",
        "LRANGE_300",
        "LRANGE_500",
        "LRANGE_600",
        "MSET",
    ] {
        assert!(
            results
                .iter()
                .any(|l| l.trim_start().starts_with(&format!("{name}:"))
                    || l.trim_start().starts_with(&format!("{name} "))),
            "no result for {name}:\n{text}"
        );
    }
    // And the server counted no error reply at all.
    let errors = String::from_utf8_lossy(&f.client().cmd(&["INFO", "errorstats"])).into_owned();
    assert!(!errors.contains("errorstat_"), "{errors}");
    assert_alive(&mut f);
}

#[test]
fn slow_reader_gets_backpressure_not_unbounded_buffers() {
    let mut f = Server::start(Kind::Ferredis, &[]);
    let value = vec![b'r'; 1024 * 1024];
    let mut c = f.client();
    assert_eq!(c.cmd_bytes(&[b"SET", b"r", &value]), b"+OK\r\n");
    let base = rss_bytes(f.pid());
    // 300 GETs of 1 MB in one write (one parse batch), and then we do not read.
    const N: usize = 300;
    let mut req = Vec::new();
    for _ in 0..N {
        req.extend(RawClient::encode(&[b"GET", b"r"]));
    }
    let mut s = connect(f.port);
    s.write_all(&req).unwrap();
    // Wait until the server has filled the socket buffers, then look at its memory.
    let fd = std::os::unix::io::AsRawFd::as_raw_fd(&s);
    wait_for(
        "replies in our receive buffer",
        Duration::from_secs(20),
        || {
            let mut avail: libc::c_int = 0;
            // SAFETY: FIONREAD on our own socket into a stack int.
            unsafe { libc::ioctl(fd, libc::FIONREAD, &mut avail) };
            avail > 64 * 1024
        },
    );
    let grown = rss_bytes(f.pid()).saturating_sub(base);
    assert!(
        grown < 64 * 1024 * 1024,
        "server grew by {} MB for a client that does not read",
        grown / (1024 * 1024)
    );
    // Other clients are served meanwhile.
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    // Now read everything: every reply arrives, complete and in order.
    let mut rc = RawClient {
        stream: std::io::BufReader::new(s),
    };
    for i in 0..N {
        let r = rc.read_reply();
        assert_eq!(r.len(), value.len() + "$1048576\r\n\r\n".len(), "reply {i}");
    }
    assert_alive(&mut f);
}

#[test]
fn buffers_shrink_after_a_huge_request_and_reply() {
    let mut f = Server::start(Kind::Ferredis, &[]);
    const BIG: usize = 48 * 1024 * 1024;
    let base = rss_bytes(f.pid());
    let mut c = f.client();
    let value = vec![b'h'; BIG];
    assert_eq!(c.cmd_bytes(&[b"SET", b"h", &value]), b"+OK\r\n");
    drop(value);
    // The stored value stays; the read buffer that held the request must go.
    wait_for("read buffer released", Duration::from_secs(10), || {
        rss_bytes(f.pid()).saturating_sub(base) < (BIG + BIG / 2) as u64
    });
    for _ in 0..3 {
        let r = c.cmd(&["GET", "h"]);
        assert_eq!(r.len(), BIG + format!("${BIG}\r\n\r\n").len());
    }
    // The write buffer that held the reply must go too.
    wait_for("write buffer released", Duration::from_secs(10), || {
        rss_bytes(f.pid()).saturating_sub(base) < (BIG + BIG / 2) as u64
    });
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    assert_alive(&mut f);
}

#[test]
fn sigterm_closes_connected_clients_and_exits() {
    let mut f = Server::start(Kind::Ferredis, &[]);
    let mut clients: Vec<TcpStream> = (0..20).map(|_| connect(f.port)).collect();
    for c in clients.iter_mut() {
        c.write_all(b"PING\r\n").unwrap();
        let mut buf = [0u8; 7];
        c.read_exact(&mut buf).unwrap();
    }
    let status = f.terminate(Duration::from_secs(10)).expect("exit status");
    assert!(status.success(), "exit status {status:?}");
    for c in clients.iter_mut() {
        let mut buf = [0u8; 1];
        assert!(matches!(c.read(&mut buf), Ok(0) | Err(_)));
    }
}

#[test]
fn huge_pipeline_from_a_client_that_does_not_read_is_not_buffered() {
    let mut f = Server::start(Kind::Ferredis, &[]);
    let value = vec![b'p'; 100];
    let mut c = f.client();
    assert_eq!(c.cmd_bytes(&[b"SET", b"p", &value]), b"+OK\r\n");
    let base = rss_bytes(f.pid());
    // 16 MB of pipelined GETs (about 70 MB of replies), written without reading any reply.
    let one = RawClient::encode(&[b"GET", b"p"]);
    let per_chunk = (1 << 20) / one.len();
    let chunk = one.repeat(per_chunk);
    const CHUNKS: usize = 16;
    let s = connect(f.port);
    let mut w = s.try_clone().unwrap();
    let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = written.clone();
    let writer = std::thread::spawn(move || {
        for _ in 0..CHUNKS {
            if w.write_all(&chunk).is_err() {
                return;
            }
            progress.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    // Wait until the writer is stuck (the server stopped reading) or done: no progress for 50 polls.
    let (mut last, mut still) = (usize::MAX, 0);
    wait_for(
        "the writer stalls or finishes",
        Duration::from_secs(60),
        || {
            let now = written.load(std::sync::atomic::Ordering::SeqCst);
            if now == last {
                still += 1;
            } else {
                (last, still) = (now, 0);
            }
            now == CHUNKS || still >= 50
        },
    );
    let grown = rss_bytes(f.pid()).saturating_sub(base);
    eprintln!(
        "pipelining client that does not read: server grew by {} KB, writer at {last} MB",
        grown / 1024
    );
    assert!(
        grown < 24 * 1024 * 1024,
        "server grew by {} MB for a pipelining client that does not read",
        grown / (1024 * 1024)
    );
    // Other clients are served meanwhile.
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    // Reading the replies lets the rest of the pipeline through: all of them arrive, in order.
    let mut rc = RawClient {
        stream: std::io::BufReader::new(s),
    };
    let want = [b"$100\r\n".as_slice(), &value, b"\r\n"].concat();
    for i in 0..per_chunk * CHUNKS {
        assert_eq!(rc.read_reply(), want, "reply {i}");
    }
    writer.join().unwrap();
    assert_alive(&mut f);
}

/// CPU time (user + system) the process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    // The fields after the command name (which may hold spaces) start after its closing ')'.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

/// CPU the process uses over `window`, as a fraction of one core.
fn cpu_share(pid: u32, window: Duration) -> f64 {
    let (c0, t0) = (cpu_time(pid), Instant::now());
    std::thread::sleep(window);
    (cpu_time(pid) - c0).as_secs_f64() / t0.elapsed().as_secs_f64()
}

#[test]
fn busy_polling_follows_the_load_and_stops_when_it_ends() {
    let mut f = Server::start(Kind::Ferredis, &[]);
    let mut c = f.client();
    // ferredis's own directive: an exact name finds it, patterns do not (CONFIG GET * stays
    // Redis's list), and CONFIG SET checks its range.
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "busy-poll-us"]),
        b"*2\r\n$12\r\nbusy-poll-us\r\n$3\r\n100\r\n"
    );
    assert!(!String::from_utf8_lossy(&c.cmd(&["CONFIG", "GET", "busy-*"])).contains("busy-poll"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "busy-poll-us", "-1"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'busy-poll-us') - argument must be between 0 and 1000000 inclusive\r\n"
    );
    // A paced load: one PING every 2 ms for a second. The server's CPU share meanwhile.
    let pid = f.pid();
    let paced = |c: &mut RawClient| {
        let (c0, t0) = (cpu_time(pid), Instant::now());
        while t0.elapsed() < Duration::from_secs(1) {
            assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
            std::thread::sleep(Duration::from_millis(2));
        }
        (cpu_time(pid) - c0).as_secs_f64() / t0.elapsed().as_secs_f64()
    };
    // At the default (100 µs), requests 2 ms apart are too far apart to poll for: the loop sleeps
    // between them.
    let sleeping = paced(&mut c);
    assert!(
        sleeping < 0.2,
        "2 ms apart at the default: {sleeping:.2} of a core"
    );
    // With a limit of a second, the window grows to cover the gaps and the loop polls through
    // them (yielding the CPU to other threads at every turn, so on a busy machine it gets less
    // than a core; it gets a good part of one).
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "busy-poll-us", "1000000"]),
        b"+OK\r\n"
    );
    let polling = paced(&mut c);
    assert!(
        polling > 0.25 && polling > 2.0 * sleeping,
        "2 ms apart with a 1 s limit: {polling:.2} of a core (at the default: {sleeping:.2})"
    );
    // Turning it off ends the running window at once, and the loop sleeps.
    assert_eq!(c.cmd(&["CONFIG", "SET", "busy-poll-us", "0"]), b"+OK\r\n");
    let off = cpu_share(pid, Duration::from_secs(1));
    assert!(off < 0.2, "idle once polling is off: {off:.2} of a core");
    let off_paced = paced(&mut c);
    eprintln!(
        "server CPU, 2 ms apart: default {sleeping:.2}, 1 s limit {polling:.2}, off {off_paced:.2}; idle off {off:.2}"
    );
    assert!(
        off_paced < 0.2,
        "2 ms apart with polling off: {off_paced:.2} of a core"
    );
    assert_alive(&mut f);
}
