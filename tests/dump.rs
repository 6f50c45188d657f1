//! DUMP/RESTORE against the real redis-server: payloads are byte-identical, and each side restores
//! what the other dumped.

mod common;
use common::*;

#[test]
fn dump_restore_matches_redis() {
    let mut d = Diff::new(&[]);
    d.script(
        r#"SET s hello
           SET i 123
           SET neg -5
           SET big 9223372036854775807
           SET long "abcdefghabcdefghabcdefghabcdefghabcdefghabcdefghabcdefgh"
           SET empty ""
           DUMP s
           DUMP i
           DUMP neg
           DUMP big
           DUMP long
           DUMP empty
           DUMP missing
           RESTORE s 0 x
           RESTORE nk abc x
           RESTORE nk -5 x
           RESTORE nk 0 x
           RESTORE nk 0 x foo
           RESTORE nk 0 x idletime -1
           RESTORE nk 0 x idletime abc
           RESTORE nk 0 x freq 300
           RESTORE nk 0 x idletime 1 freq 1
           RESTORE nk 0 x idletime
           RESTORE s abc x
           RESTORE
           DUMP"#,
    );
    // Round trips through each server's own payload.
    for key in ["s", "i", "neg", "big", "long", "empty"] {
        let payload = d.r.cmd(&["DUMP", key]);
        let payload =
            &payload[payload.iter().position(|&b| b == b'\n').unwrap() + 1..payload.len() - 2];
        let copy = format!("{key}:copy");
        for (c, who) in [(&mut d.r, "redis"), (&mut d.f, "ferredis")] {
            let r = c.cmd_bytes(&[b"RESTORE", copy.as_bytes(), b"0", payload]);
            assert_eq!(r, b"+OK\r\n", "{who} restoring {key}");
            let r = c.cmd_bytes(&[
                b"RESTORE",
                copy.as_bytes(),
                b"0",
                payload,
                b"REPLACE",
                b"IDLETIME",
                b"10",
            ]);
            assert_eq!(r, b"+OK\r\n", "{who} restoring {key} with REPLACE");
        }
        d.run(&["GET", &copy]);
        d.run(&["DUMP", &copy]);
    }
    d.run(&["DEL", "s:copy"]);
    // A TTL in the past: OK, but no key.
    let payload = d.r.cmd(&["DUMP", "s"]);
    let payload =
        payload[payload.iter().position(|&b| b == b'\n').unwrap() + 1..payload.len() - 2].to_vec();
    for c in [&mut d.r, &mut d.f] {
        assert_eq!(
            c.cmd_bytes(&[b"RESTORE", b"past", b"1000", &payload, b"ABSTTL"]),
            b"+OK\r\n"
        );
        assert_eq!(c.cmd(&["EXISTS", "past"]), b":0\r\n");
        assert_eq!(
            c.cmd_bytes(&[b"RESTORE", b"future", b"100000", &payload]),
            b"+OK\r\n"
        );
    }
    d.run(&["EXISTS", "future"]);
    d.assert_clean();
}
