//! The RDB loader against files written by a real Redis 7.0.15 (tests/fixtures/rdb): every key, type,
//! value and expiry must equal the JSON dump made from the same Redis.

use base64::Engine;
use bytes::Bytes;
use ferredis::db::Value;
use ferredis::rdb::decode::{load, Item, RdbError};
use serde_json::Value as Json;
use std::collections::BTreeMap;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/rdb/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

fn json_bytes(v: &Json) -> Vec<u8> {
    match v {
        Json::String(s) => s.as_bytes().to_vec(),
        Json::Object(o) => base64::engine::general_purpose::STANDARD
            .decode(o["base64"].as_str().expect("base64 field"))
            .expect("valid base64"),
        Json::Number(n) => n.to_string().into_bytes(),
        other => panic!("unexpected JSON scalar {other}"),
    }
}

fn json_score(v: &Json) -> f64 {
    match v {
        Json::Number(n) => n.as_f64().expect("f64"),
        Json::String(s) if s == "inf" => f64::INFINITY,
        Json::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => panic!("unexpected score {other}"),
    }
}

/// Redis's OBJECT ENCODING name for what the loader built, under default thresholds.
fn check_value(key: &str, v: &Value, want: &Json) {
    let ty = want["type"].as_str().expect("type");
    assert_eq!(v.type_name(), ty, "type of {key}");
    let val = &want["value"];
    match v {
        Value::Int(_) | Value::Str(_) | Value::Raw(_) => {
            assert_eq!(
                v.string_bytes().unwrap().as_ref(),
                json_bytes(val).as_slice(),
                "value of {key}"
            );
            let enc = want["encoding"].as_str().unwrap();
            let ours = match v {
                Value::Int(_) => "int",
                Value::Str(b) if b.len() <= 44 => "embstr",
                _ => "raw",
            };
            assert_eq!(ours, enc, "encoding of {key}");
        }
        Value::List(l) => {
            let want: Vec<Vec<u8>> = val.as_array().unwrap().iter().map(json_bytes).collect();
            let got: Vec<Vec<u8>> = l.iter().map(|b| b.to_vec()).collect();
            assert_eq!(got, want, "list {key}");
        }
        Value::Set(s) => {
            let mut want: Vec<Vec<u8>> = val.as_array().unwrap().iter().map(json_bytes).collect();
            let mut got: Vec<Vec<u8>> = s.iter().map(|b| b.to_vec()).collect();
            want.sort();
            got.sort();
            assert_eq!(got, want, "set {key}");
        }
        Value::Hash(h) => {
            let want: BTreeMap<Vec<u8>, Vec<u8>> = val
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), json_bytes(v)))
                .collect();
            let got: BTreeMap<Vec<u8>, Vec<u8>> =
                h.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
            assert_eq!(got, want, "hash {key}");
        }
        Value::ZSet(z) => {
            let want: Vec<(Vec<u8>, f64)> = val
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (json_bytes(&p[0]), json_score(&p[1])))
                .collect();
            let got: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
            assert_eq!(got, want, "zset {key} (in score order)");
        }
    }
}

#[test]
fn all_types_fixture_matches_its_json() {
    let data = fixture("all-types-7.0.rdb");
    let json: Json = serde_json::from_slice(&fixture("all-types-7.0.json")).unwrap();
    let mut seen: BTreeMap<(usize, String), (Value, i64)> = BTreeMap::new();
    let mut aux = BTreeMap::new();
    let summary = load(&data, true, |item| {
        match item {
            Item::Key {
                db,
                key,
                value,
                expire_ms,
                ..
            } => {
                seen.insert(
                    (db, String::from_utf8_lossy(&key).into_owned()),
                    (value, expire_ms),
                );
            }
            Item::Aux(k, v) => {
                aux.insert(k, v);
            }
            Item::ResizeDb { .. } => {}
        }
        Ok(())
    })
    .expect("fixture loads");
    assert!(summary.checksum_verified);
    assert_eq!(summary.version, 10);
    assert_eq!(
        aux.get(&Bytes::from_static(b"redis-ver"))
            .map(|v| v.as_ref()),
        Some(&b"7.0.15"[..])
    );
    let mut expected = 0;
    for (db, keys) in json.as_object().unwrap() {
        let db: usize = db.parse().unwrap();
        for (key, want) in keys.as_object().unwrap() {
            expected += 1;
            let (v, exp) = seen
                .get(&(db, key.clone()))
                .unwrap_or_else(|| panic!("missing key {db}/{key}"));
            check_value(key, v, want);
            let want_exp = want["pexpireat"].as_i64().unwrap_or(-1);
            assert_eq!(*exp, want_exp, "expiry of {key}");
        }
    }
    assert_eq!(seen.len(), expected, "no extra keys");
}

#[test]
fn empty_fixture_loads() {
    let n = load(&fixture("empty-7.0.rdb"), true, |_| Ok(()))
        .expect("loads")
        .keys;
    assert_eq!(n, 0);
}

#[test]
fn stream_fixture_fails_naming_key_and_type() {
    let err = load(&fixture("with-stream-7.0.rdb"), true, |_| Ok(())).unwrap_err();
    assert_eq!(
        err.err,
        RdbError::UnsupportedType {
            key: "mystream".into(),
            kind: "stream"
        }
    );
    assert!(err.to_string().contains("mystream"), "{err}");
}

#[test]
fn corrupt_inputs_fail_without_panicking() {
    let data = fixture("all-types-7.0.rdb");
    // Every truncation point, and a byte flip at many positions (checksum off, so the decoder itself
    // has to cope with the damage).
    for cut in (0..data.len()).step_by(97) {
        assert!(
            load(&data[..cut], false, |_| Ok(())).is_err(),
            "truncated at {cut}"
        );
    }
    let mut rng = 0x1234_5678_9abc_def0u64;
    for _ in 0..600 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut d = data.clone();
        let pos = (rng % d.len() as u64) as usize;
        d[pos] ^= (rng >> 32) as u8 | 1;
        let _ = load(&d, false, |_| Ok(()));
    }
    let mut bad_crc = data.clone();
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 1;
    assert!(matches!(
        load(&bad_crc, true, |_| Ok(())).unwrap_err().err,
        RdbError::BadChecksum { .. }
    ));
    let mut newer = data.clone();
    newer[5..9].copy_from_slice(b"0012");
    assert_eq!(
        load(&newer, true, |_| Ok(())).unwrap_err().err,
        RdbError::UnsupportedVersion(12)
    );
}
