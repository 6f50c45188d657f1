//! Keeps the README's replication walkthrough true: runs exactly the lines between its
//! `walkthrough:start` and `walkthrough:end` markers, with ports 7000-7002 replaced by free ports
//! and `./target/release/ferredis-server` by the binary under test (the `cargo build` line is
//! skipped: the test harness built it). Each `redis-cli` line's output must equal the text after
//! its `#`, as an interactive redis-cli prints it; reads may retry until a deadline, since
//! replication is asynchronous (the README says so).

mod common;
use common::*;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PORTS: [&str; 3] = ["7000", "7001", "7002"];

/// Splits a shell line into words: spaces separate, double quotes group (`""` is an empty word).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut any) = (false, false);
    for ch in line.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

struct Killer(Vec<Child>);

impl Drop for Killer {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn readme_replication_walkthrough_runs_verbatim() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme.find("<!-- walkthrough:start").expect("start marker");
    let end = readme.find("<!-- walkthrough:end -->").expect("end marker");
    let block = &readme[start..end];
    let ports: Vec<String> = (0..3).map(|_| free_port().to_string()).collect();
    let dir = scratch_dir("readme");
    let mut servers = Killer(Vec::new());
    let mut in_code = false;
    let mut ran = 0;
    for raw in block.lines() {
        if raw.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code || raw.trim().is_empty() {
            continue;
        }
        let mut line = raw.to_string();
        for (p, free) in PORTS.iter().zip(&ports) {
            line = line.replace(p, free);
        }
        let (cmd, expected) = match line.split_once(" # ") {
            Some((c, e)) => (c.trim().to_string(), Some(e.trim().to_string())),
            None => (line.trim().to_string(), None),
        };
        if cmd == "cargo build --release" {
            continue;
        }
        if let Some(args) = cmd.strip_prefix("./target/release/ferredis-server ") {
            let args = words(args);
            let port: u16 = args[1].parse().expect("port after --port");
            let child = Command::new(ferredis_bin())
                .args(&args)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn ferredis-server");
            servers.0.push(child);
            wait_for(
                "the walkthrough's server answers",
                Duration::from_secs(30),
                || {
                    RawClient::try_connect(port)
                        .map(|mut c| c.cmd(&["PING"]) == b"+PONG\r\n")
                        .unwrap_or(false)
                },
            );
            ran += 1;
            continue;
        }
        let (cli, filter) = match cmd.split_once(" | grep ") {
            Some((c, f)) => (c.to_string(), Some(f.trim().to_string())),
            None => (cmd.clone(), None),
        };
        let args = words(cli.strip_prefix("redis-cli ").expect("a redis-cli line"));
        let expected = expected.expect("a redis-cli line shows its output after #");
        let run = || -> String {
            let mut c = Command::new(redis_cli_bin());
            // Through a pipe redis-cli prints raw replies; the README shows a terminal's, except
            // where the line itself pipes into grep.
            if filter.is_none() {
                c.arg("--no-raw");
            }
            let out = c.args(&args).output().expect("run redis-cli");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            match &filter {
                Some(f) => text
                    .lines()
                    .filter(|l| l.contains(f.as_str()))
                    .map(|l| l.trim_end_matches('\r'))
                    .collect::<Vec<_>>()
                    .join("\n"),
                None => text.trim_end().to_string(),
            }
        };
        let mut last = String::new();
        let ok = (0..300).any(|_| {
            last = run();
            if last == expected {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
            false
        });
        assert!(
            ok,
            "README line `{raw}`: got {last:?}, README says {expected:?}"
        );
        ran += 1;
    }
    assert_eq!(ran, 12, "every walkthrough line ran");
}
