//! Smoke test of the harness itself: both servers start and agree on a few basic replies.

mod common;
use common::*;

#[test]
fn ferredis_and_redis_agree_on_basics() {
    let mut d = Diff::new(&[]);
    d.script(
        "PING
         PING hello
         SET k v
         GET k
         GET missing
         DEL k missing
         EXISTS k
         NOSUCHCOMMAND a b
         GET
         SELECT 16
         SELECT x",
    );
    d.assert_clean();
}
