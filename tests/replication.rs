//! Replication behaviour that needs no link: `min-replicas-to-write` refusals and the INFO
//! replication fields of a master, compared byte for byte with redis-server.

mod common;
use common::*;
use std::io::Write;

#[test]
fn min_replicas_to_write_refuses_writes_without_good_replicas() {
    let mut d = Diff::new(&["--min-replicas-to-write", "1"]);
    d.script(
        "SET a 1
         GET a
         MULTI
         SET a 1
         GET a
         EXEC
         MULTI
         GET a
         EXEC
         PING
         CONFIG SET min-replicas-max-lag 0
         SET a 1
         CONFIG SET min-replicas-max-lag 10
         SET a 2
         CONFIG SET min-replicas-to-write 0
         SET a 3
         GET a",
    );
    d.assert_clean();
}

/// INFO replication of a master without replicas, with and without min-replicas: the same field
/// names and values in the same order (the random replid aside).
#[test]
fn master_info_replication_fields_match() {
    for args in [&[][..], &["--min-replicas-to-write", "2"][..]] {
        let redis = Server::start(Kind::Redis, args);
        let ferredis = Server::start(Kind::Ferredis, args);
        let lines = |s: &Server| -> Vec<String> {
            let text =
                String::from_utf8_lossy(&s.client().cmd(&["INFO", "replication"])).into_owned();
            text.lines()
                .filter(|l| l.contains(':'))
                .map(|l| {
                    if l.starts_with("master_replid:") {
                        "master_replid:<random>".to_string()
                    } else {
                        l.trim().to_string()
                    }
                })
                .collect()
        };
        assert_eq!(lines(&ferredis), lines(&redis), "args {args:?}");
    }
}

/// The fault proxy the replication tests put between a replica and its master: bytes pass both
/// ways, `cut` closes the open connections, `refuse` turns new ones away, `stall` holds bytes back.
#[test]
fn fault_proxy_forwards_cuts_refuses_and_stalls() {
    use common::proxy::Proxy;
    let srv = Server::start(Kind::Ferredis, &[]);
    let proxy = Proxy::start(srv.port);
    let mut c = RawClient::connect(proxy.port);
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
    assert!(proxy.forwarded() > 0);
    proxy.cut();
    // The write may already fail (the proxy closed its end); either way nothing comes back.
    let _ = c.stream.get_mut().write_all(b"PING\r\n");
    assert_eq!(c.try_read_reply(), None, "a cut link reads EOF");
    proxy.refuse(true);
    let mut refused = RawClient::connect(proxy.port);
    let _ = refused.stream.get_mut().write_all(b"PING\r\n");
    assert_eq!(
        refused.try_read_reply(),
        None,
        "a refused connection is closed"
    );
    proxy.refuse(false);
    let mut c = RawClient::connect(proxy.port);
    proxy.stall(true);
    c.send_raw(b"PING\r\n");
    let before = proxy.forwarded();
    proxy.stall(false);
    assert_eq!(c.read_reply(), b"+PONG\r\n");
    assert!(proxy.forwarded() > before);
    assert_eq!(proxy.accepted(), 2);
}
