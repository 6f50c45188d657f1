//! Replication behaviour that needs no link: `min-replicas-to-write` refusals and the INFO
//! replication fields of a master, compared byte for byte with redis-server.

mod common;
use common::*;

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
