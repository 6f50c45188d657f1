//! The interleaved full sync (`capa ferredis-mux`) from the replica's side, against a hand-made
//! master: payload and stream frames in any order and cut anywhere, the stream applied after the
//! load with the right offset, and a malformed frame refused with the old data kept.
//!
//! (A ferredis master and replica together are covered in tests/repl_master.rs.)

mod common;
use common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

fn info(c: &mut RawClient, field: &str) -> String {
    c.info_field("replication", field).unwrap_or_default()
}

/// One command sent by the replica (a RESP multibulk), as strings.
fn read_command(r: &mut BufReader<TcpStream>) -> Vec<String> {
    let mut line = String::new();
    r.read_line(&mut line).expect("read");
    let n: usize = line
        .trim_end()
        .strip_prefix('*')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a multibulk: {line:?}"));
    (0..n)
        .map(|_| {
            let mut head = String::new();
            r.read_line(&mut head).expect("read");
            let len: usize = head.trim_end()[1..].parse().expect("bulk length");
            let mut data = vec![0u8; len + 2];
            r.read_exact(&mut data).expect("read");
            String::from_utf8_lossy(&data[..len]).into_owned()
        })
        .collect()
}

/// Accepts the replica and answers its handshake up to PSYNC; returns the socket and the
/// capabilities it announced.
fn handshake(listener: &TcpListener) -> (TcpStream, Vec<String>) {
    let (s, _) = listener.accept().expect("accept");
    s.set_read_timeout(Some(LONG)).expect("timeout");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut w = s;
    let mut capas = Vec::new();
    loop {
        let cmd = read_command(&mut r);
        match cmd[0].to_ascii_uppercase().as_str() {
            "PING" => w.write_all(b"+PONG\r\n").expect("write"),
            "REPLCONF" => {
                for pair in cmd[1..].chunks(2) {
                    if pair[0].eq_ignore_ascii_case("capa") && pair.len() == 2 {
                        capas.push(pair[1].clone());
                    }
                }
                w.write_all(b"+OK\r\n").expect("write");
            }
            "PSYNC" => break,
            other => panic!("unexpected command in the handshake: {other}"),
        }
    }
    (w, capas)
}

/// An RDB payload written by ferredis itself, holding `keys` string keys `k:<i>`.
fn payload(keys: usize) -> Vec<u8> {
    let src = Server::start(Kind::Ferredis, &[]);
    let mut c = src.client();
    for i in 0..keys {
        c.cmd(&["SET", &format!("k:{i}"), &format!("value {i}")]);
    }
    assert_eq!(c.cmd(&["SAVE"]), b"+OK\r\n");
    std::fs::read(src.dir.join("dump.rdb")).expect("dump.rdb")
}

/// A ferredis replica holding `old` = `old_value`, told to follow a master that is only a listening
/// socket, which the test then plays.
fn replica_of_a_hand_made_master(old_value: &str) -> (TcpListener, Server, RawClient) {
    replica_with(old_value, &[])
}

/// [`replica_of_a_hand_made_master`] with more arguments for the replica.
fn replica_with(old_value: &str, args: &[&str]) -> (TcpListener, Server, RawClient) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let replica = Server::start(Kind::Ferredis, args);
    let mut r = replica.client();
    r.cmd(&["SET", "old", old_value]);
    assert_eq!(
        r.cmd(&["REPLICAOF", "127.0.0.1", &port.to_string()]),
        b"+OK\r\n"
    );
    (listener, replica, r)
}

fn frame(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut f = format!("{}{}\r\n", kind as char, data.len()).into_bytes();
    f.extend_from_slice(data);
    f
}

#[test]
fn payload_and_stream_frames_interleaved_and_cut_anywhere() {
    let rdb = payload(3000);
    let (listener, replica, mut r) = replica_of_a_hand_made_master("gone after the sync");
    let (mut m, capas) = handshake(&listener);
    assert!(capas.iter().any(|c| c == "ferredis-mux"), "capas {capas:?}");

    let stream1 = RawClient::encode(&[b"SET", b"mux:a", b"1"]);
    let stream2 = RawClient::encode(&[b"SET", b"mux:b", b"2"]);
    let stream3 = RawClient::encode(&[b"SET", b"mux:c", b"3"]);
    let (p1, rest) = rdb.split_at(rdb.len() / 3);
    let (p2, p3) = rest.split_at(rest.len() / 2);
    let (s1a, s1b) = stream1.split_at(7);
    let mut out = format!("+FULLRESYNC {} 100\r\n$MUX\r\n", "e".repeat(40)).into_bytes();
    out.extend(frame(b'r', p1));
    // A command cut across two stream frames, with payload between them.
    out.extend(frame(b's', s1a));
    out.extend(frame(b'r', p2));
    out.extend(frame(b's', s1b));
    out.extend(frame(b's', &stream2));
    out.extend(frame(b'r', p3));
    out.extend_from_slice(b"e\r\n");
    // The plain stream after the end frame.
    out.extend_from_slice(&stream3);
    // Written in small pieces, so frame headers are cut too.
    for piece in out.chunks(5) {
        m.write_all(piece).expect("write");
    }
    let total = stream1.len() + stream2.len() + stream3.len();
    wait_for("the load and the stream applied", LONG, || {
        info(&mut r, "master_link_status") == "up"
            && info(&mut r, "slave_repl_offset") == (100 + total).to_string()
    });
    assert_eq!(r.cmd(&["GET", "mux:a"]), b"$1\r\n1\r\n");
    assert_eq!(r.cmd(&["GET", "mux:b"]), b"$1\r\n2\r\n");
    assert_eq!(r.cmd(&["GET", "mux:c"]), b"$1\r\n3\r\n");
    assert_eq!(r.cmd(&["GET", "k:2999"]), b"$10\r\nvalue 2999\r\n");
    assert_eq!(r.cmd(&["EXISTS", "old"]), b":0\r\n");
    assert_eq!(r.cmd(&["DBSIZE"]), b":3003\r\n");
    assert_eq!(
        info(&mut r, "master_replid"),
        "e".repeat(40),
        "the master's history is adopted"
    );
    assert!(replica
        .log_text()
        .contains("receiving streamed RDB from master, interleaved with the stream"));
}

#[test]
fn a_malformed_frame_keeps_the_old_data() {
    let rdb = payload(100);
    let (listener, replica, mut r) = replica_of_a_hand_made_master("kept");
    let (mut m, _) = handshake(&listener);
    let mut out = format!("+FULLRESYNC {} 0\r\n$MUX\r\n", "f".repeat(40)).into_bytes();
    out.extend(frame(b'r', &rdb[..rdb.len() / 2]));
    out.extend_from_slice(b"x12\r\n");
    m.write_all(&out).expect("write");
    wait_for("the bad frame refused", LONG, || {
        replica
            .log_text()
            .contains("Bad protocol from MASTER in an interleaved transfer: 'x12'")
    });
    wait_for("the transfer given up", LONG, || {
        info(&mut r, "master_sync_in_progress") == "0"
    });
    assert_eq!(r.cmd(&["GET", "old"]), b"$4\r\nkept\r\n");
    assert_eq!(r.cmd(&["DBSIZE"]), b":1\r\n");
    drop(m);
    drop(listener);
}

#[test]
fn a_stream_beyond_the_replica_limit_starts_the_sync_over() {
    let rdb = payload(100);
    let (listener, replica, mut r) = replica_with(
        "kept",
        &["--client-output-buffer-limit", "replica 64kb 0 0"],
    );
    let (mut m, _) = handshake(&listener);
    let mut out = format!("+FULLRESYNC {} 0\r\n$MUX\r\n", "a".repeat(40)).into_bytes();
    out.extend(frame(b'r', &rdb[..rdb.len() / 2]));
    // 100 kB of stream while the payload is not complete: more than the 64 kB the replica holds.
    let value = "v".repeat(1000);
    for i in 0..100 {
        let cmd = RawClient::encode(&[b"SET", format!("s:{i}").as_bytes(), value.as_bytes()]);
        out.extend(frame(b's', &cmd));
    }
    // The replica may close before it has read everything.
    let _ = m.write_all(&out);
    wait_for("the stream refused past the limit", LONG, || {
        replica
            .log_text()
            .contains("went over the replica limit (65536 bytes, client-output-buffer-limit replica): starting the sync over")
    });
    // It connects again for a new sync, with its old data still there.
    let (_m2, _) = handshake(&listener);
    assert_eq!(r.cmd(&["GET", "old"]), b"$4\r\nkept\r\n");
    assert_eq!(r.cmd(&["DBSIZE"]), b":1\r\n");
}
