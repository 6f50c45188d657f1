//! RDB persistence end to end: SAVE/BGSAVE files survive restarts, are accepted by the real Redis
//! tools, reflect exactly the moment BGSAVE started, and a corrupt file stops start-up untouched.

mod common;
use common::*;
use std::time::Duration;

const FIXTURE_DIGEST: &str = "f5cfbbce146eb9291d6fd1e1da59a20a3c127127";

fn status(r: &[u8]) -> String {
    String::from_utf8_lossy(r)
        .trim_end()
        .trim_start_matches(['+', ':'])
        .to_string()
}

fn start_in(dir: &std::path::Path, extra: &[&str]) -> Server {
    let d = dir.to_str().unwrap();
    let base = [
        "--dir",
        d,
        "--dbfilename",
        "dump.rdb",
        "--enable-debug-command",
        "yes",
        "--enable-protected-configs",
        "yes",
    ];
    Server::start(Kind::Ferredis, &[&base[..], extra].concat())
}

/// Waits for the n-th successful BGSAVE in the log of a server started with `--dir dir`.
fn wait_bgsave_done(dir: &std::path::Path, n: usize) {
    wait_for("BGSAVE to finish", Duration::from_secs(60), || {
        std::fs::read_to_string(dir.join("server.log"))
            .unwrap_or_default()
            .matches("Background saving terminated with success")
            .count()
            >= n
    });
}

fn digest(c: &mut RawClient) -> String {
    let d = status(&c.cmd(&["DEBUG", "DIGEST"]));
    assert!(
        d.len() == 40 && d.bytes().all(|b| b.is_ascii_hexdigit()),
        "not a digest: {d}"
    );
    d
}

#[test]
fn restart_keeps_values_ttls_and_databases() {
    let dir = scratch_dir("persist-restart");
    let digest;
    {
        let s = start_in(&dir, &[]);
        let mut c = s.client();
        for db in [0, 5, 15] {
            c.cmd(&["SELECT", &db.to_string()]);
            for i in 0..200 {
                c.cmd(&["SET", &format!("k{i}"), &format!("value-{db}-{i}")]);
            }
            c.cmd(&["SET", "int", "12345"]);
            c.cmd(&["SET", "ttl", "x", "PX", "100000000"]);
        }
        c.cmd(&["SELECT", "0"]);
        assert_eq!(c.cmd(&["SAVE"]), b"+OK\r\n");
        digest = self::digest(&mut c);
    }
    let s = start_in(&dir, &[]);
    let mut c = s.client();
    assert_eq!(self::digest(&mut c), digest);
    c.cmd(&["SELECT", "15"]);
    assert_eq!(c.cmd(&["GET", "k7"]), b"$10\r\nvalue-15-7\r\n");
    let pttl: i64 = status(&c.cmd(&["PTTL", "ttl"])).parse().unwrap();
    assert!(pttl > 90_000_000, "ttl kept: {pttl}");
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "int"]), b"$3\r\nint\r\n");
}

#[test]
fn bgsave_is_the_state_at_its_start_even_under_writes() {
    let dir = scratch_dir("persist-bgsave");
    let s = start_in(&dir, &[]);
    let mut c = s.client();
    let n = 20_000;
    let mut pipe = Vec::new();
    for i in 0..n {
        pipe.extend(RawClient::encode(&[
            b"SET",
            format!("k{i}").as_bytes(),
            format!("old-{i}").as_bytes(),
        ]));
    }
    c.send_raw(&pipe);
    for _ in 0..n {
        c.read_reply();
    }
    let before = digest(&mut c);
    assert_eq!(c.cmd(&["BGSAVE"]), b"+Background saving started\r\n");
    // Overwrite, delete and add while the snapshot is being written.
    let mut pipe = Vec::new();
    for i in 0..n {
        let k = format!("k{i}");
        let cmd: Vec<&[u8]> = match i % 3 {
            0 => vec![b"SET", k.as_bytes(), b"new"],
            1 => vec![b"DEL", k.as_bytes()],
            _ => vec![b"APPEND", k.as_bytes(), b"-changed"],
        };
        pipe.extend(RawClient::encode(&cmd));
        pipe.extend(RawClient::encode(&[
            b"SET",
            format!("added{i}").as_bytes(),
            b"x",
        ]));
    }
    c.send_raw(&pipe);
    for _ in 0..2 * n {
        c.read_reply();
    }
    wait_bgsave_done(&dir, 1);
    let file = dir.join("dump.rdb");
    let out = std::process::Command::new("/usr/bin/redis-check-rdb")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("RDB looks OK"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A real Redis loading the file sees exactly the data as it was when BGSAVE started.
    let redis = Server::start(
        Kind::Redis,
        &["--dir", dir.to_str().unwrap(), "--dbfilename", "dump.rdb"],
    );
    let mut r = redis.client();
    assert_eq!(r.cmd(&["DBSIZE"]), format!(":{n}\r\n").into_bytes());
    assert_eq!(digest(&mut r), before);
    assert_eq!(r.cmd(&["GET", "k5"]), b"$5\r\nold-5\r\n");
    // And the dirty counter only kept the changes made after the snapshot began.
    let info = c.cmd_str(&["INFO", "persistence"]);
    assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
}

#[test]
fn loads_the_redis_fixture_with_redis_digest() {
    let dir = scratch_dir("persist-fixture");
    std::fs::copy(
        format!(
            "{}/tests/fixtures/rdb/all-types-7.0.rdb",
            env!("CARGO_MANIFEST_DIR")
        ),
        dir.join("dump.rdb"),
    )
    .unwrap();
    let s = start_in(&dir, &[]);
    let mut c = s.client();
    assert_eq!(status(&c.cmd(&["DEBUG", "DIGEST"])), FIXTURE_DIGEST);
    // DEBUG RELOAD and a SAVE + restart keep the digest.
    assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), b"+OK\r\n");
    assert_eq!(status(&c.cmd(&["DEBUG", "DIGEST"])), FIXTURE_DIGEST);
    assert_eq!(c.cmd(&["SAVE"]), b"+OK\r\n");
    drop(c);
    drop(s);
    let s = start_in(&dir, &[]);
    assert_eq!(
        status(&s.client().cmd(&["DEBUG", "DIGEST"])),
        FIXTURE_DIGEST
    );
}

#[test]
fn corrupt_or_unsupported_dump_stops_startup_and_is_left_alone() {
    for (name, mutate) in [
        (
            "checksum",
            Box::new(|d: &mut Vec<u8>| {
                let n = d.len();
                d[n - 1] ^= 0xFF;
            }) as Box<dyn Fn(&mut Vec<u8>)>,
        ),
        (
            "truncated",
            Box::new(|d: &mut Vec<u8>| d.truncate(d.len() / 2)),
        ),
        (
            "stream",
            Box::new(|d: &mut Vec<u8>| {
                *d = std::fs::read(format!(
                    "{}/tests/fixtures/rdb/with-stream-7.0.rdb",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .unwrap()
            }),
        ),
    ] {
        let dir = scratch_dir("persist-corrupt");
        let mut data = std::fs::read(format!(
            "{}/tests/fixtures/rdb/all-types-7.0.rdb",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        mutate(&mut data);
        std::fs::write(dir.join("dump.rdb"), &data).unwrap();
        let out = std::process::Command::new(ferredis_bin())
            .args([
                "--port",
                &free_port().to_string(),
                "--bind",
                "127.0.0.1",
                "--dir",
                dir.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name}: must exit non-zero");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("dump.rdb") && text.contains("offset"),
            "{name}: message names file and offset: {text}"
        );
        if name == "stream" {
            assert!(
                text.contains("mystream") && text.contains("stream"),
                "{text}"
            );
        }
        assert_eq!(
            std::fs::read(dir.join("dump.rdb")).unwrap(),
            data,
            "{name}: file untouched"
        );
    }
}

#[test]
fn failed_bgsave_turns_writes_into_misconf() {
    let dir = scratch_dir("persist-misconf");
    let s = start_in(&dir, &[]);
    let mut c = s.client();
    let gone = dir.join("gone");
    std::fs::create_dir_all(&gone).unwrap();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "dir", gone.to_str().unwrap()]),
        b"+OK\r\n"
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "save", "3600 1"]), b"+OK\r\n");
    std::fs::remove_dir_all(&gone).unwrap();
    c.cmd(&["SET", "a", "1"]);
    assert_eq!(c.cmd(&["BGSAVE"]), b"+Background saving started\r\n");
    wait_for(
        "the failed BGSAVE to be reported",
        Duration::from_secs(30),
        || c.cmd(&["SET", "b", "2"]).starts_with(b"-MISCONF"),
    );
    assert!(c.cmd(&["PING"]).starts_with(b"-MISCONF"));
    assert_eq!(c.cmd(&["GET", "a"]), b"$1\r\n1\r\n", "reads still work");
    assert!(c
        .cmd_str(&["INFO", "persistence"])
        .contains("rdb_last_bgsave_status:err"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"]),
        b"+OK\r\n"
    );
    assert_eq!(c.cmd(&["SET", "b", "2"]), b"+OK\r\n");
}

/// A real Redis writes random data of every type (both compact and large encodings, TTLs, several
/// databases); ferredis loads its dump with the same DEBUG DIGEST, saves it, and the real Redis loads
/// ferredis's file with the same digest again.
#[test]
fn random_data_of_every_type_round_trips_through_both_servers() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let dir = scratch_dir("persist-random");
    let d = dir.to_str().unwrap().to_string();
    let redis = Server::start(Kind::Redis, &["--dir", &d, "--dbfilename", "redis.rdb"]);
    let mut r = redis.client();
    let member = |rng: &mut rand::rngs::StdRng| -> String {
        match rng.gen_range(0..4) {
            0 => rng.gen_range(-1000i64..1000).to_string(),
            1 => rng.gen_range(i64::MIN..i64::MAX).to_string(),
            2 => format!("m{}", rng.gen_range(0..500)),
            _ => "x".repeat(rng.gen_range(0..120)),
        }
    };
    for db in [0, 3, 15] {
        r.cmd(&["SELECT", &db.to_string()]);
        for k in 0..60 {
            let key = format!("key{k}");
            let n = if rng.gen_bool(0.3) {
                rng.gen_range(200..700)
            } else {
                rng.gen_range(1..20)
            };
            match k % 5 {
                0 => {
                    r.cmd(&["SET", &key, &member(&mut rng)]);
                }
                1 => {
                    for _ in 0..n {
                        let m = member(&mut rng);
                        r.cmd(&["RPUSH", &key, &m]);
                    }
                }
                2 => {
                    for _ in 0..n {
                        let (f, v) = (member(&mut rng), member(&mut rng));
                        r.cmd(&["HSET", &key, &f, &v]);
                    }
                }
                3 => {
                    let ints = rng.gen_bool(0.5);
                    for _ in 0..n {
                        let m = if ints {
                            rng.gen_range(-100_000i64..100_000).to_string()
                        } else {
                            member(&mut rng)
                        };
                        r.cmd(&["SADD", &key, &m]);
                    }
                }
                _ => {
                    for _ in 0..n {
                        let score = match rng.gen_range(0..6) {
                            0 => "inf".to_string(),
                            1 => "-inf".to_string(),
                            2 => rng.gen_range(-50i64..50).to_string(),
                            _ => format!("{}", rng.gen_range(-1e6..1e6)),
                        };
                        let m = member(&mut rng);
                        r.cmd(&["ZADD", &key, &score, &m]);
                    }
                }
            }
            if rng.gen_bool(0.2) {
                r.cmd(&["PEXPIREAT", &key, "4102444800000"]);
            }
        }
    }
    assert_eq!(r.cmd(&["SAVE"]), b"+OK\r\n");
    let want = digest(&mut r);
    let f = Server::start(
        Kind::Ferredis,
        &[
            "--dir",
            &d,
            "--dbfilename",
            "redis.rdb",
            "--enable-debug-command",
            "yes",
            "--enable-protected-configs",
            "yes",
        ],
    );
    let mut c = f.client();
    assert_eq!(
        digest(&mut c),
        want,
        "ferredis loads Redis's dump with the same digest"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "dbfilename", "ferredis.rdb"]),
        b"+OK\r\n"
    );
    assert_eq!(c.cmd(&["SAVE"]), b"+OK\r\n");
    let out = std::process::Command::new("/usr/bin/redis-check-rdb")
        .arg(dir.join("ferredis.rdb"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("RDB looks OK"));
    let redis2 = Server::start(Kind::Redis, &["--dir", &d, "--dbfilename", "ferredis.rdb"]);
    assert_eq!(
        digest(&mut redis2.client()),
        want,
        "Redis loads ferredis's dump with the same digest"
    );
}

/// SIGTERM with save points configured saves before exiting (as Redis does), and the next start
/// loads what was written; with `save ""` nothing is written.
#[test]
fn sigterm_saves_when_save_points_exist() {
    let dir = scratch_dir("persist-sigterm");
    let mut s = start_in(&dir, &["--save", "3600 1"]);
    let mut c = s.client();
    c.cmd(&["SET", "kept", "yes"]);
    let digest = digest(&mut c);
    drop(c);
    let status = s.terminate(Duration::from_secs(30)).expect("exit status");
    assert!(status.success(), "clean exit: {status:?}");
    assert!(dir.join("dump.rdb").exists());
    let s = start_in(&dir, &[]);
    let mut c = s.client();
    assert_eq!(self::digest(&mut c), digest);
    assert_eq!(c.cmd(&["GET", "kept"]), b"$3\r\nyes\r\n");

    let dir2 = scratch_dir("persist-sigterm-nosave");
    let mut s = start_in(&dir2, &[]);
    s.client().cmd(&["SET", "lost", "yes"]);
    assert!(s
        .terminate(Duration::from_secs(30))
        .expect("exit status")
        .success());
    assert!(!dir2.join("dump.rdb").exists());
}

/// FLUSHALL with save points writes the empty dataset at once and leaves no changes pending, as
/// Redis does (that save is not counted in `rdb_saves`).
#[test]
fn flushall_saves_when_save_points_exist() {
    let mut d = Diff::new(&["--save", "3600 1"]);
    for c in [&mut d.r, &mut d.f] {
        c.cmd(&["SET", "a", "1"]);
        c.cmd(&["SET", "b", "2"]);
        assert_eq!(c.cmd(&["FLUSHALL"]), b"+OK\r\n");
    }
    d.assert_same_info(
        "persistence",
        &[
            "rdb_changes_since_last_save",
            "rdb_saves",
            "rdb_bgsave_in_progress",
        ],
    );
    assert!(d.ferredis.dir.join("dump.rdb").exists());
}

/// FLUSHALL stops a running BGSAVE, as Redis kills its child: no dump of the removed data is
/// written, and the save is not counted as failed. Compared with redis-server.
#[test]
fn flushall_stops_a_running_bgsave() {
    let mut d = Diff::new(&[
        "--rdb-key-save-delay",
        "1000",
        "--enable-debug-command",
        "yes",
    ]);
    for c in [&mut d.r, &mut d.f] {
        assert_eq!(c.cmd(&["DEBUG", "POPULATE", "5000"]), b"+OK\r\n");
        assert_eq!(c.cmd(&["BGSAVE"]), b"+Background saving started\r\n");
        assert_eq!(
            c.info_field("persistence", "rdb_bgsave_in_progress")
                .as_deref(),
            Some("1")
        );
        assert_eq!(c.cmd(&["FLUSHALL"]), b"+OK\r\n");
        wait_for("the save stopped", Duration::from_secs(30), || {
            c.info_field("persistence", "rdb_bgsave_in_progress")
                .as_deref()
                == Some("0")
        });
    }
    d.assert_same_info(
        "persistence",
        &[
            "rdb_last_bgsave_status",
            "rdb_saves",
            "rdb_bgsave_in_progress",
        ],
    );
    assert!(!d.redis.dir.join("dump.rdb").exists());
    assert!(!d.ferredis.dir.join("dump.rdb").exists());
}

/// kill -9 in the middle of a BGSAVE: the previous dump is untouched and loads, and the half-written
/// temp file never replaced it.
#[test]
fn kill_during_bgsave_keeps_the_previous_dump() {
    let dir = scratch_dir("persist-kill");
    let mut s = start_in(&dir, &[]);
    let mut c = s.client();
    c.cmd(&["SET", "generation", "1"]);
    assert_eq!(c.cmd(&["SAVE"]), b"+OK\r\n");
    let before = std::fs::read(dir.join("dump.rdb")).unwrap();
    let old_digest = digest(&mut c);
    // A dataset big enough that the BGSAVE is still running when the process dies.
    assert_eq!(
        c.cmd(&["DEBUG", "POPULATE", "300000", "key", "100"]),
        b"+OK\r\n"
    );
    c.cmd(&["SET", "generation", "2"]);
    assert_eq!(c.cmd(&["BGSAVE"]), b"+Background saving started\r\n");
    s.kill();
    assert_eq!(
        std::fs::read(dir.join("dump.rdb")).unwrap(),
        before,
        "previous dump untouched"
    );
    let s = start_in(&dir, &[]);
    let mut c = s.client();
    assert_eq!(digest(&mut c), old_digest);
    assert_eq!(c.cmd(&["GET", "generation"]), b"$1\r\n1\r\n");
}

/// DEBUG RELOAD saves and reloads without counting the save in `rdb_saves`, and leaves no changes
/// pending, as Redis does.
#[test]
fn debug_reload_counts_like_redis() {
    let mut d = Diff::new(&[]);
    for c in [&mut d.r, &mut d.f] {
        c.cmd(&["SET", "a", "1"]);
        c.cmd(&["RPUSH", "l", "x", "y"]);
        assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), b"+OK\r\n");
    }
    d.assert_same_info("persistence", &["rdb_changes_since_last_save", "rdb_saves"]);
    d.run(&["DEBUG", "DIGEST"]);
    d.run(&["LRANGE", "l", "0", "-1"]);
    d.assert_clean();
}

/// DEBUG RELOAD keeps LFU counters (through the FREQ records of the file it saves and loads), as
/// Redis does.
#[test]
fn debug_reload_keeps_lfu_counters() {
    let mut args = vec!["--enable-debug-command", "yes"];
    args.extend_from_slice(&LFU_EXACT);
    let mut d = Diff::new(&args);
    for c in [&mut d.r, &mut d.f] {
        hot_and_cold(c);
        assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), b"+OK\r\n");
    }
    d.run(&["OBJECT", "FREQ", "hot"]);
    d.run(&["OBJECT", "FREQ", "cold"]);
    d.assert_clean();
    assert_eq!(d.f.cmd(&["OBJECT", "FREQ", "hot"]), b":105\r\n");
}

/// A background save announces each database's size (RESIZEDB, as Redis writes it), which a load
/// uses to size its tables; and under an LFU policy each key record carries its counter (FREQ),
/// which a restart applies: the counters survive it.
#[test]
fn bgsave_writes_sizes_and_lfu_counters_that_a_restart_applies() {
    let dir = scratch_dir("persist-lfu");
    {
        let s = start_in(&dir, &LFU_EXACT);
        let mut c = s.client();
        hot_and_cold(&mut c);
        c.cmd(&["SET", "ttl", "v", "EX", "100000"]);
        c.cmd(&["SELECT", "2"]);
        c.cmd(&["SET", "other", "v"]);
        assert_eq!(c.cmd(&["BGSAVE"]), b"+Background saving started\r\n");
        wait_bgsave_done(&dir, 1);
    }
    let data = std::fs::read(dir.join("dump.rdb")).expect("dump.rdb");
    let mut sizes = Vec::new();
    let mut freqs = std::collections::BTreeMap::new();
    ferredis::rdb::decode::load(&data, true, |item| {
        match item {
            ferredis::rdb::decode::Item::ResizeDb { db, size, expires } => {
                sizes.push((db, size, expires))
            }
            ferredis::rdb::decode::Item::Key { key, freq, .. } => {
                freqs.insert(String::from_utf8_lossy(&key).into_owned(), freq);
            }
            _ => {}
        }
        Ok(())
    })
    .expect("the dump decodes");
    sizes.sort();
    assert_eq!(sizes, vec![(0, 3, 1), (2, 1, 0)]);
    assert_eq!(freqs["hot"], Some(105));
    assert_eq!(freqs["cold"], Some(5));
    let s = start_in(&dir, &LFU_EXACT);
    let mut c = s.client();
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "hot"]), b":105\r\n");
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "cold"]), b":5\r\n");
}

/// A save in progress reports its progress as Redis does: `current_save_keys_total` is the key
/// count at its start, `current_save_keys_processed` grows, `current_fork_perc` is their ratio;
/// all three are back to zero once it ended. `rdb-key-save-delay` makes the save last.
#[test]
fn save_progress_fields_follow_the_running_save() {
    for kind in [Kind::Ferredis, Kind::Redis] {
        let dir = scratch_dir(&format!("save-progress-{kind:?}"));
        let d = dir.to_string_lossy().into_owned();
        let s = Server::start(
            kind,
            &[
                "--dir",
                &d,
                "--enable-debug-command",
                "yes",
                "--rdb-key-save-delay",
                "200",
            ],
        );
        let mut c = s.client();
        assert_eq!(c.cmd(&["DEBUG", "POPULATE", "20000"]), b"+OK\r\n");
        assert_eq!(c.cmd(&["BGSAVE"]), b"+Background saving started\r\n");
        let mut field = |f: &str| c.info_field("persistence", f).unwrap_or_default();
        wait_for("some keys saved", Duration::from_secs(30), || {
            field("current_save_keys_processed")
                .parse::<u64>()
                .unwrap_or(0)
                > 0
        });
        assert_eq!(field("rdb_bgsave_in_progress"), "1", "{kind:?}");
        assert_eq!(field("current_save_keys_total"), "20000", "{kind:?}");
        let done: f64 = field("current_save_keys_processed").parse().unwrap_or(0.0);
        let perc: f64 = field("current_fork_perc").parse().unwrap_or(-1.0);
        assert!(
            done < 20000.0,
            "{kind:?}: the save finished too soon to be observed"
        );
        // Read a moment apart: the percentage is of a count at least as large.
        assert!(
            perc >= done * 100.0 / 20000.0 - 0.01,
            "{kind:?}: {perc} vs {done}"
        );
        assert!(perc < 100.0, "{kind:?}: {perc}");
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]),
            b"+OK\r\n"
        );
        wait_for("the save ends", Duration::from_secs(60), || {
            c.info_field("persistence", "rdb_bgsave_in_progress")
                .as_deref()
                == Some("0")
        });
        let mut field = |f: &str| c.info_field("persistence", f).unwrap_or_default();
        assert_eq!(field("current_save_keys_total"), "0", "{kind:?}");
        assert_eq!(field("current_save_keys_processed"), "0", "{kind:?}");
        assert_eq!(field("current_fork_perc"), "0.00", "{kind:?}");
    }
}

/// The keyspace loaded at start-up keeps the server's settings: under `allkeys-lfu` a key created
/// afterwards starts with Redis's initial LFU counter (5), as it does without a load.
#[test]
fn settings_survive_the_start_up_load() {
    let dir = scratch_dir("load-settings");
    {
        let s = start_in(&dir, &[]);
        let mut c = s.client();
        assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
        assert_eq!(c.cmd(&["SAVE"]), b"+OK\r\n");
    }
    let s = start_in(&dir, &["--maxmemory-policy", "allkeys-lfu"]);
    let mut c = s.client();
    wait_for("the dump loaded", Duration::from_secs(30), || {
        c.cmd(&["DBSIZE"]) == b":1\r\n"
    });
    assert_eq!(c.cmd(&["SET", "new", "v"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "new"]), b":5\r\n");
}
