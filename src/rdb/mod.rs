//! RDB: Redis's snapshot format, decoded and encoded over byte buffers (no I/O here).
//!
//! [`decode`] reads every encoding Redis 7.0–7.2 writes (RDB versions up to 11): strings (raw,
//! int-encoded, LZF), lists (quicklist of listpacks or ziplists, linked lists), sets (intset, listpack,
//! plain), hashes (listpack, ziplist, zipmap, plain), sorted sets (listpack, ziplist, plain with text or
//! binary scores), expiries in ms and s, SELECTDB, RESIZEDB, AUX, and the CRC64 trailer. [`encode`]
//! writes version 10 with encodings Redis 7.0 loads. The same value codec serves DUMP/RESTORE.
//!
//! The byte layouts (length prefixes, special encodings, listpack/ziplist/intset entries) are Redis's
//! published on-disk format; see docs/ARCHITECTURE.md for the summary this code follows.

pub mod decode;
pub mod encode;
pub mod listpack;
pub mod lzf;

/// The RDB version ferredis writes (Redis 7.0's).
pub const RDB_VERSION: u16 = 10;
/// The newest RDB version ferredis can read (Redis 7.2's).
pub const RDB_MAX_VERSION: u16 = 11;

/// Opcodes and value types.
pub mod op {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;

    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// Redis's CRC-64 (Jones polynomial, reflected), as used for the RDB trailer and DUMP payloads.
pub fn crc64(crc: u64, data: &[u8]) -> u64 {
    crc64::crc64(crc, data)
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc64_is_redis_jones() {
        // Redis's own self-test vector.
        assert_eq!(super::crc64(0, b"123456789"), 0xe9c6d914c4b8d9ca);
    }
}
