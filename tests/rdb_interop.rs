//! RDB files ferredis writes, read by the real Redis 7.0: `redis-check-rdb` accepts them and a real
//! `redis-server` loads them with the same DEBUG DIGEST as the data they came from.

mod common;
use common::*;

use ferredis::db::Keyspace;
use ferredis::persistence::{encode_keyspace, load_into, standard_aux, write_atomic};
use ferredis::rdb::encode::Options;

const FIXTURE_DIGEST: &str = "f5cfbbce146eb9291d6fd1e1da59a20a3c127127";

fn redis_check_rdb() -> std::path::PathBuf {
    for p in ["/usr/bin/redis-check-rdb", "/usr/local/bin/redis-check-rdb"] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("redis-check-rdb not found: install redis-server/redis-tools (.ci/run does)");
}

#[test]
fn real_redis_loads_what_ferredis_writes() {
    let fixture = format!(
        "{}/tests/fixtures/rdb/all-types-7.0.rdb",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut ks = Keyspace::new(16);
    let loaded = load_into(std::path::Path::new(&fixture), &mut ks, true).expect("fixture loads");
    assert_eq!(loaded.keys, 22);
    for compress in [true, false] {
        let dir = scratch_dir("rdb-interop");
        let img = encode_keyspace(
            &ks,
            &standard_aux(0),
            &Options {
                compress,
                ..Default::default()
            },
            true,
        );
        write_atomic(&dir, "ferredis.rdb", &img).unwrap();
        let out = std::process::Command::new(redis_check_rdb())
            .arg(dir.join("ferredis.rdb"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("RDB looks OK"),
            "redis-check-rdb: {text}"
        );
        let redis = Server::start(
            Kind::Redis,
            &[
                "--dir",
                dir.to_str().unwrap(),
                "--dbfilename",
                "ferredis.rdb",
            ],
        );
        let mut c = redis.client();
        let want = format!("+{FIXTURE_DIGEST}\r\n");
        assert_eq!(
            String::from_utf8_lossy(&c.cmd(&["DEBUG", "DIGEST"])),
            want,
            "compress={compress}"
        );
        assert_eq!(c.cmd(&["DBSIZE"]), b":20\r\n");
    }
}
