//! Differential tests of the string command family (GET/SET and variants, the INCR family,
//! INCRBYFLOAT, ranges, LCS, bitmaps, BITFIELD): every reply of ferredis is compared byte for byte
//! with a real redis-server 7.0 given the same commands, from hand-written scripts covering each
//! option and error path, and from a seeded random stream of string commands over a few keys.
//!
//! Replies that depend on the clock are never compared: TTLs are either far in the future or
//! absolute times in the past (keys expire at once, deterministically).

mod common;
use common::*;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn diff_script(script: &str) {
    let mut d = Diff::new(&[]);
    d.script(script);
    d.assert_clean();
}

#[test]
fn set_and_its_options() {
    diff_script(
        r#"
        SET k v
        GET k
        SET k v2 NX
        SET k v3 XX
        GET k
        SET nk v XX
        GET nk
        SET nk v NX
        SET nk v2 nx xx
        SET nk v2 xx nx
        SET nk v2 NX NX
        SET k v4 GET
        SET k v5 get GET
        SET missing v GET
        SET k v6 NX GET
        GET k
        SET k2 v NX GET
        SET k2 v XX GET
        SET k3 v XX GET
        EXISTS k3
        SET k v EX 100000
        GET k
        SET k v PX 100000000
        SET k v EXAT 99999999999
        SET k v PXAT 99999999999999
        SET k v KEEPTTL
        SET k v keepttl GET
        SET k v EX 10 PX 10
        SET k v EX 10 EX 20
        SET k v EX abc EX 100000
        SET k v EX 100000 EX abc
        GETEX k EX abc EX 100000
        GETEX k PERSIST PERSIST
        SET k v PX 10 PX 20
        SET k v EX 10 KEEPTTL
        SET k v KEEPTTL EX 10
        SET k v KEEPTTL PXAT 10
        SET k v EXAT 10 EX 10
        SET k v PXAT 10 EXAT 10
        SET k v EX
        SET k v PX
        SET k v EX 0
        SET k v EX -1
        SET k v PX 0
        SET k v EXAT 0
        SET k v PXAT -5
        SET k v EX abc
        SET k v EX 1.5
        SET k v EX 9223372036854775807
        SET k v EX 9223372036854775
        SET k v EX 9223372036854774
        SET k v PX 9223372036854775807
        SET k v EXAT 9223372036854775
        SET k v PXAT 9223372036854775807
        GET k
        SET k v PERSIST
        SET k v FOO
        SET k v NX FOO
        SET k v "NX\x00junk"
        GET k
        SET k
        SET
        SET exp v PXAT 1
        GET exp
        EXISTS exp
        SET exp v EXAT 1 GET
        SET exp2 old
        SET exp2 new EXAT 1 GET
        GET exp2
        SET exp3 old PXAT 1
        SET exp3 new KEEPTTL
        GET exp3
        SET exp3 old2 PXAT 1
        SET exp3 new2 KEEPTTL GET
        GET exp3
        SET k 12345
        GET k
        SET k -0
        GET k
        SET k 007
        GET k
        SET k "bin\x00ary\r\n"
        GET k
        SET k ""
        GET k
        SET "" emptykey
        GET ""
        SETNX k x
        SETNX newkey x
        GET newkey
        SETNX newkey
        SETEX sk 1000 v
        GET sk
        SETEX sk 0 v
        SETEX sk -10 v
        SETEX sk abc v
        SETEX sk 9223372036854775807 v
        SETEX sk 1000
        PSETEX pk 100000 v
        GET pk
        PSETEX pk 0 v
        PSETEX pk -1 v
        PSETEX pk x v
        PSETEX pk 9223372036854775807 v
        PSETEX pk 9223372036854775806 v
        "#,
    );
}

#[test]
fn get_family_and_multi_key() {
    diff_script(
        r#"
        GET nothing
        GET a b
        MSET a 1 b 2 c 3
        MGET a b c d
        MGET a
        MGET
        MSET a
        MSET a 1 b
        MSET a 1 a 2
        GET a
        MSETNX a 1 z 2
        GET z
        MSETNX x 1 y 2
        MGET x y
        MSETNX x 1 y
        MSETNX q 1 q 2
        GET q
        GETSET a 10
        GETSET nokey 5
        GET nokey
        GETSET a
        GETDEL a
        GETDEL a
        EXISTS a
        GETDEL
        GETEX b
        GETEX nokey2
        GETEX b EX 100000
        GETEX b PX 100000000
        GETEX b EXAT 99999999999
        GETEX b PXAT 99999999999999
        GETEX b PERSIST
        GETEX b persist PERSIST
        GETEX b EX 10 PX 10
        GETEX b PERSIST EX 10
        GETEX b EX 10 PERSIST
        GETEX b KEEPTTL
        GETEX b NX
        GETEX b GET
        GETEX b EX
        GETEX b EX 0
        GETEX b EX -1
        GETEX b EX x
        GETEX b PX 9223372036854775807
        GETEX b EX 9223372036854775807
        GETEX nokey3 EX 0
        GETEX nokey3 FOO
        GETEX b EXAT 1
        EXISTS b
        GET b
        SET c v
        GETEX c PXAT 1
        GETEX c
        SET c 123
        GETEX c PERSIST
        GETEX c EXAT 99999999999
        GETEX c PERSIST
        GET c
        GETEX
        "#,
    );
}

#[test]
fn incr_family() {
    diff_script(
        r#"
        INCR n
        INCR n
        DECR n
        DECR n
        DECR n
        INCRBY n 100
        INCRBY n -200
        DECRBY n 50
        DECRBY n -50
        INCRBY n x
        INCRBY n 1.5
        INCRBY n ""
        INCRBY n " 1"
        INCRBY n 01
        INCRBY n +1
        DECRBY n 9223372036854775808
        DECRBY n -9223372036854775808
        SET n 9223372036854775806
        INCR n
        INCR n
        GET n
        INCRBY n -1
        SET n -9223372036854775807
        DECR n
        DECR n
        DECRBY n 1
        INCRBY n -9223372036854775808
        SET n 0
        INCRBY n -9223372036854775808
        DECRBY n 9223372036854775807
        SET n 5
        INCRBY n 9223372036854775807
        SET s abc
        INCR s
        DECR s
        INCRBY s 1
        SET s " 12"
        INCR s
        SET s "12 "
        INCR s
        SET s 0x10
        INCR s
        SET s 1e3
        INCR s
        SET s 0012
        INCR s
        SET s "12\x00"
        INCR s
        SET s 99999999999999999999
        INCR s
        SET s -0
        INCR s
        SET s ""
        INCR s
        INCR
        INCR a b
        INCRBY a
        INCRBYFLOAT f 10.5
        INCRBYFLOAT f 0.1
        INCRBYFLOAT f -0.6
        INCRBYFLOAT f 5.0e3
        INCRBYFLOAT f -5000
        INCRBYFLOAT f 1e-20
        INCRBYFLOAT f 0x10
        INCRBYFLOAT f abc
        INCRBYFLOAT f ""
        INCRBYFLOAT f " 1"
        INCRBYFLOAT f "1 "
        INCRBYFLOAT f nan
        INCRBYFLOAT f inf
        INCRBYFLOAT f -inf
        INCRBYFLOAT f 1e5000
        INCRBYFLOAT f 1e-5000
        INCRBYFLOAT f 1e308
        INCRBYFLOAT f 1e308
        INCRBYFLOAT f 1e4000
        INCRBYFLOAT f -1e4000
        INCRBYFLOAT f 3.0000000000000001
        GET f
        SET f 3
        INCRBYFLOAT f 1.5
        INCRBYFLOAT f -4.5
        INCRBYFLOAT f -0.0
        SET f 9223372036854775807
        INCRBYFLOAT f 1
        INCRBYFLOAT f 1.5
        SET f 1.5
        INCRBY f 1
        SET f inf
        INCRBYFLOAT f 1
        SET f abc
        INCRBYFLOAT f 1
        SET f "1.5 "
        INCRBYFLOAT f 1
        INCRBYFLOAT f2 1
        INCR f2
        INCRBYFLOAT f3 0.1
        INCRBYFLOAT f3 0.2
        INCRBYFLOAT f3 -0.3
        INCRBYFLOAT f4 1.23456789012345678901234567890
        INCRBYFLOAT f4 -1.23456789012345678901234567890
        INCRBYFLOAT f5 -0.00000000000000001
        INCRBYFLOAT f5 -0.000000000000000001
        INCRBYFLOAT f6 .5
        INCRBYFLOAT f6 5.
        INCRBYFLOAT f6 +5
        INCRBYFLOAT f6 1E2
        INCRBYFLOAT f6 INF
        INCRBYFLOAT f6 infinity
        INCRBYFLOAT f6 0x1p3
        INCRBYFLOAT f7 1e-4940
        INCRBYFLOAT f7 1e-4960
        INCRBYFLOAT f7 0x1p-16445
        INCRBYFLOAT f7 "\t1"
        INCRBYFLOAT f7 "1\x00"
        INCRBYFLOAT f7 -1e-17
        INCRBYFLOAT f7 -1e-16
        INCRBYFLOAT f8 123456789012345678901234567890
        INCRBYFLOAT f8 0.000000000000000005
        INCRBYFLOAT f9 1.18e4932
        INCRBYFLOAT f9 1e4932
        STRLEN f9
        INCRBYFLOAT
        INCRBYFLOAT f6
        "#,
    );
}

#[test]
fn append_strlen_ranges() {
    diff_script(
        r#"
        APPEND a hello
        APPEND a " world"
        GET a
        STRLEN a
        APPEND a ""
        STRLEN nokey
        APPEND e ""
        EXISTS e
        STRLEN e
        SET i 123
        APPEND i 456
        GET i
        STRLEN i
        SET i -99
        STRLEN i
        APPEND bin "\x00\x01\xff"
        STRLEN bin
        GET bin
        APPEND
        APPEND a b c
        STRLEN
        GETRANGE a 0 4
        GETRANGE a -5 -1
        GETRANGE a 0 -1
        GETRANGE a 5 3
        GETRANGE a -1 -5
        GETRANGE a -100 100
        GETRANGE a 100 200
        GETRANGE a -100 -50
        GETRANGE a 0 0
        GETRANGE a -9223372036854775808 9223372036854775807
        GETRANGE a 9223372036854775807 -9223372036854775808
        GETRANGE a x 1
        GETRANGE a 1 x
        GETRANGE nokey 0 -1
        GETRANGE nokey x 1
        GETRANGE e 0 -1
        SET i 123456
        GETRANGE i 1 3
        GETRANGE i -2 -1
        SUBSTR a 0 4
        SUBSTR a -3 -1
        SUBSTR nokey 0 1
        SUBSTR a 0
        GETRANGE a 0
        SET e2 ""
        GETRANGE e2 0 -1
        GETRANGE e2 0 0
        GETRANGE e2 -1 0
        SETRANGE r 5 hello
        GET r
        SETRANGE r 0 HE
        GET r
        SETRANGE r 8 world
        GET r
        SETRANGE r 0 ""
        SETRANGE r 100 ""
        STRLEN r
        SETRANGE r2 0 ""
        EXISTS r2
        SETRANGE r2 10 ""
        EXISTS r2
        SETRANGE r -1 x
        SETRANGE r x x
        SETRANGE r 1.5 x
        SETRANGE r 536870912 x
        SETRANGE r 536870911 xx
        SETRANGE r3 536870912 x
        SETRANGE r3 536870911 ""
        SETRANGE r3 9223372036854775807 x
        SETRANGE r3 9223372036854775808 x
        EXISTS r3
        SET i 1234
        SETRANGE i 1 X
        GET i
        SET i 1234
        SETRANGE i 0 ""
        GET i
        SETRANGE i 6 "\x00\xff"
        GET i
        SETRANGE
        SETRANGE r 0
        "#,
    );
}

#[test]
fn lcs_options() {
    diff_script(
        r#"
        MSET key1 ohmytext key2 mynewtext
        LCS key1 key2
        LCS key1 key2 LEN
        LCS key1 key2 IDX
        LCS key1 key2 IDX MINMATCHLEN 4
        LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN
        LCS key1 key2 IDX WITHMATCHLEN
        LCS key1 key2 WITHMATCHLEN
        LCS key1 key2 MINMATCHLEN 2
        LCS key1 key2 IDX MINMATCHLEN -5
        LCS key1 key2 IDX MINMATCHLEN x
        LCS key1 key2 IDX MINMATCHLEN
        LCS key1 key2 LEN IDX
        LCS key1 key2 IDX LEN
        LCS key1 key2 FOO
        LCS key1 key2 len idx minmatchlen 1
        LCS key1 nokey
        LCS nokey key2 IDX
        LCS nokey nokey2 LEN
        LCS key1 key1 IDX WITHMATCHLEN
        MSET s1 "ABCBDAB" s2 "BDCABA"
        LCS s1 s2
        LCS s1 s2 IDX WITHMATCHLEN
        MSET s1 12345 s2 2346
        LCS s1 s2 IDX WITHMATCHLEN
        MSET s1 "a\x00b\x00c" s2 "\x00\x00"
        LCS s1 s2
        LCS s1 s2 IDX
        MSET s1 aaaa s2 aa
        LCS s1 s2 IDX WITHMATCHLEN
        MSET s1 abcdefgh s2 xabxcdxefgh
        LCS s1 s2 IDX WITHMATCHLEN MINMATCHLEN 2
        LCS s1 s2 IDX
        LCS s1
        LCS
        "#,
    );
}

/// RESP3 shapes: LCS IDX is a map, nulls are `_`.
#[test]
fn resp3_replies() {
    let mut d = Diff::new(&[]);
    // HELLO's reply carries the client id, which may differ: switch both without comparing.
    d.r.cmd(&["HELLO", "3"]);
    let hello = d.f.cmd(&["HELLO", "3"]);
    assert_eq!(
        hello.first(),
        Some(&b'%'),
        "{}",
        String::from_utf8_lossy(&hello)
    );
    d.script(
        r#"
        MSET key1 ohmytext key2 mynewtext
        LCS key1 key2 IDX WITHMATCHLEN
        LCS key1 key2 IDX MINMATCHLEN 100
        GET nokey
        MGET key1 nokey
        BITFIELD key1 OVERFLOW FAIL INCRBY u2 0 100 GET u2 0
        "#,
    );
    d.assert_clean();
}

#[test]
fn setbit_getbit() {
    diff_script(
        r#"
        SETBIT b 7 1
        GET b
        SETBIT b 7 1
        SETBIT b 7 0
        SETBIT b 0 1
        SETBIT b 100 1
        STRLEN b
        GETBIT b 0
        GETBIT b 7
        GETBIT b 100
        GETBIT b 101
        GETBIT b 100000
        GETBIT b 4294967295
        GETBIT b 4294967296
        GETBIT nokey 5
        GETBIT nokey -1
        GETBIT b -1
        GETBIT b x
        SETBIT b -1 1
        SETBIT b x 1
        SETBIT b 1 2
        SETBIT b 1 -1
        SETBIT b 1 x
        SETBIT b 1 ""
        SETBIT b 4294967296 1
        SETBIT b 9223372036854775807 1
        SETBIT b 9223372036854775808 1
        SETBIT b #1 1
        GETBIT b #1
        SET i 5
        GETBIT i 2
        GETBIT i 5
        GETBIT i 7
        SETBIT i 6 1
        GET i
        SET i 5
        SETBIT i 0 0
        GET i
        SETBIT
        SETBIT b 1
        GETBIT b
        "#,
    );
}

#[test]
fn bitcount_bitpos() {
    diff_script(
        r#"
        SET s foobar
        BITCOUNT s
        BITCOUNT s 0 0
        BITCOUNT s 1 1
        BITCOUNT s 1 1 BYTE
        BITCOUNT s 5 30 BIT
        BITCOUNT s 0 -1 bit
        BITCOUNT s -1 -1
        BITCOUNT s -2 -1 BIT
        BITCOUNT s -1 -2
        BITCOUNT s -1 -2 FOO
        BITCOUNT s 2 1
        BITCOUNT s 0 100
        BITCOUNT s -100 -50
        BITCOUNT s 0 -100
        BITCOUNT s 3 3 BIT
        BITCOUNT s 1 6 BIT
        BITCOUNT s 9 9 BIT
        BITCOUNT s 0 47 BIT
        BITCOUNT s 0 48 BIT
        BITCOUNT s 0
        BITCOUNT s 0 1 BIT extra
        BITCOUNT s 0 1 FOO
        BITCOUNT s x 1
        BITCOUNT s 1 x
        BITCOUNT s -9223372036854775808 9223372036854775807
        BITCOUNT s -9223372036854775808 9223372036854775807 BIT
        BITCOUNT nokey
        BITCOUNT nokey 0
        BITCOUNT nokey x y z
        SET e ""
        BITCOUNT e
        BITCOUNT e 0 -1
        BITCOUNT e 0 -1 BIT
        SET i 12345
        BITCOUNT i
        BITCOUNT i 1 2
        BITCOUNT
        SET p "\xff\xf0\x00"
        BITPOS p 0
        BITPOS p 1
        BITPOS p 0 0
        BITPOS p 0 1
        BITPOS p 0 2
        BITPOS p 1 2
        BITPOS p 0 0 0
        BITPOS p 0 0 -1
        BITPOS p 1 1 1
        BITPOS p 1 2 -1
        BITPOS p 0 3
        BITPOS p 0 -1 -1
        BITPOS p 0 2 1
        BITPOS p 0 0 11 BIT
        BITPOS p 0 0 12 BIT
        BITPOS p 0 5 12 BIT
        BITPOS p 1 5 12 BIT
        BITPOS p 1 12 23 BIT
        BITPOS p 0 12 23 BIT
        BITPOS p 1 3 3 BIT
        BITPOS p 0 3 3 BIT
        BITPOS p 0 7 8 BIT
        BITPOS p 1 13 14 BIT
        BITPOS p 0 9 BIT
        BITPOS p 0 9 -1 BIT
        BITPOS p 0 -3 -2 BIT
        BITPOS p 0 0 -1 BYTE
        BITPOS p 0 0 -1 FOO
        BITPOS p 2
        BITPOS p -1
        BITPOS p x
        BITPOS p 0 x
        BITPOS p 0 0 x
        BITPOS p 0 0 1 BIT extra
        BITPOS nokey 0
        BITPOS nokey 1
        BITPOS nokey 1 x y
        BITPOS nokey 3
        SET ones "\xff\xff\xff"
        BITPOS ones 0
        BITPOS ones 0 0
        BITPOS ones 0 0 -1
        BITPOS ones 0 0 -1 BIT
        BITPOS ones 0 0 23 BIT
        BITPOS ones 0 4 BIT
        BITPOS ones 1 4 BIT
        SET zeros "\x00\x00\x00"
        BITPOS zeros 1
        BITPOS zeros 0
        BITPOS zeros 1 1 BIT
        SET e ""
        BITPOS e 0
        BITPOS e 1
        BITPOS e 0 0
        BITPOS e 0 0 -1 BIT
        SET i 12345
        BITPOS i 1
        BITPOS i 0
        BITPOS i 1 2 -1
        SET long "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
        BITPOS long 1
        BITPOS long 1 3
        BITPOS long 1 3 BIT
        BITPOS long 0 9 BIT
        BITPOS
        BITPOS p
        "#,
    );
}

#[test]
fn bitop() {
    diff_script(
        r#"
        MSET a "\xff\x0f" b "\xf0" c "abc"
        BITOP AND d a b
        GET d
        BITOP OR d a b c
        GET d
        BITOP XOR d a b c
        GET d
        BITOP NOT d a
        GET d
        BITOP not d c
        GET d
        BITOP NOT d a b
        BITOP NOT d
        BITOP and d a nokey
        GET d
        BITOP or d nokey a
        GET d
        BITOP AND d nokey nokey2
        EXISTS d
        BITOP OR d nokey
        SET d x
        BITOP XOR d nokey
        EXISTS d
        BITOP FOO d a
        BITOP d a
        BITOP
        BITOP AND d
        BITOP ANDX d a
        SET i 1234
        BITOP AND d i a
        GET d
        BITOP NOT d i
        GET d
        SET e ""
        BITOP OR d e
        EXISTS d
        BITOP OR d e a
        GET d
        MSET l1 "0123456789abcdefghijklmnopqrstuvwxyz0123456789" l2 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghij!"
        BITOP AND d l1 l2
        GET d
        BITOP OR d l1 l2 a
        GET d
        BITOP XOR d l1 l2 l1
        GET d
        BITOP AND d l1 l1 l1
        GET d
        BITOP NOT d l1
        GET d
        BITOP AND d d d
        GET d
        "#,
    );
}

#[test]
fn bitfield_ops() {
    diff_script(
        r#"
        BITFIELD bf SET i8 0 100 GET i8 0
        BITFIELD bf INCRBY i8 0 100
        BITFIELD bf OVERFLOW SAT INCRBY i8 0 100
        BITFIELD bf OVERFLOW FAIL INCRBY i8 0 100
        BITFIELD bf OVERFLOW WRAP INCRBY i8 0 100
        BITFIELD bf GET u8 0 GET i8 0 GET u4 0 GET i4 4 GET u1 7
        BITFIELD bf SET u8 #1 255 GET u8 #1 GET u16 #0 GET i16 #0
        BITFIELD bf INCRBY u2 100 1 OVERFLOW SAT INCRBY u2 102 1
        BITFIELD bf OVERFLOW FAIL SET u2 0 4 SET u2 0 3 GET u2 0
        BITFIELD bf OVERFLOW SAT SET u2 0 4 SET i2 0 -5 GET i2 0 SET u8 0 -1 GET u8 0
        BITFIELD bf OVERFLOW WRAP SET u2 0 5 GET u2 0 SET i4 0 9 GET i4 0
        BITFIELD bf SET i64 0 -9223372036854775808 GET i64 0 INCRBY i64 0 -1
        BITFIELD bf OVERFLOW SAT INCRBY i64 0 -1 INCRBY i64 0 9223372036854775807 INCRBY i64 0 1
        BITFIELD bf OVERFLOW FAIL INCRBY i64 0 1 INCRBY i64 0 -9223372036854775808
        BITFIELD bf SET u63 0 9223372036854775807 GET u63 0 INCRBY u63 0 1
        BITFIELD bf OVERFLOW SAT INCRBY u63 0 -1 INCRBY u63 0 -9223372036854775808 INCRBY u63 0 9223372036854775807
        BITFIELD bf SET u63 0 -1 OVERFLOW FAIL SET u63 0 -1 OVERFLOW SAT SET u63 0 -1
        BITFIELD bf SET i1 0 1 GET i1 0 SET u1 0 1 GET u1 0 INCRBY i1 0 1 INCRBY u1 0 1
        BITFIELD bf OVERFLOW SAT INCRBY i1 0 5 INCRBY i1 0 -5
        BITFIELD bf SET i5 3 -7 GET i5 3 GET u5 3 INCRBY i5 3 -20
        BITFIELD bf GET u63 1000000 GET i64 2000000
        STRLEN bf
        BITFIELD bf SET u8 1000 1
        STRLEN bf
        BITFIELD bf
        BITFIELD nokey
        BITFIELD nokey GET u8 0
        EXISTS nokey
        BITFIELD bf OVERFLOW FAIL
        BITFIELD bf GET
        BITFIELD bf GET u8
        BITFIELD bf SET u8 0
        BITFIELD bf INCRBY u8 0
        BITFIELD bf OVERFLOW
        BITFIELD bf OVERFLOW foo GET u8 0
        BITFIELD bf FOO
        BITFIELD bf GET u64 0
        BITFIELD bf GET i65 0
        BITFIELD bf GET I8 0
        BITFIELD bf GET U8 0
        BITFIELD bf GET i0 0
        BITFIELD bf GET x8 0
        BITFIELD bf GET i 0
        BITFIELD bf GET i08 0
        BITFIELD bf GET "i8\x00zz" 0
        BITFIELD bf GET u8 -1
        BITFIELD bf GET u8 x
        BITFIELD bf GET u8 #x
        BITFIELD bf GET u8 #
        BITFIELD bf GET u8 #-1
        BITFIELD bf GET u8 4294967288
        BITFIELD bf GET u8 4294967296
        BITFIELD bf GET u8 #536870911
        BITFIELD bf GET u8 #536870912
        BITFIELD bf GET u8 #2305843009213693952
        BITFIELD bf GET u8 #2305843009213693953
        BITFIELD bf GET i64 #1152921504606846976
        BITFIELD bf SET u8 0 x
        BITFIELD bf INCRBY u8 0 1.5
        BITFIELD bf SET u8 4294967296 1
        BITFIELD bf GET u8 0 SET u8 0 1 FOO
        BITFIELD bf get u8 0 set u8 0 200 incrby u8 0 100 overflow fail incrby u8 0 100
        SET i 12345
        BITFIELD i GET u8 0 GET u16 8
        BITFIELD i SET u8 0 50
        GET i
        SET i 12345
        BITFIELD i OVERFLOW FAIL INCRBY u2 0 100
        GET i
        BITFIELD_RO bf GET u8 0 GET i16 3
        BITFIELD_RO bf
        BITFIELD_RO bf SET u8 0 1
        BITFIELD_RO bf INCRBY u8 0 1
        BITFIELD_RO bf GET u8 0 OVERFLOW SAT
        BITFIELD_RO bf GET u8 x
        BITFIELD_RO bf FOO
        BITFIELD_RO nokey GET u8 0
        BITFIELD_RO
        BITFIELD
        "#,
    );
}

/// Size limits with a small `proto-max-bulk-len` (1 MiB, its minimum), where growing past it is
/// cheap to try.
#[test]
fn proto_max_bulk_len_limits() {
    let mut d = Diff::new(&["--proto-max-bulk-len", "1mb"]);
    d.script(
        r#"
        SETRANGE big 1048575 x
        SETRANGE big 1048575 xy
        SETRANGE big 1048576 x
        SETRANGE big 1048576 ""
        SETRANGE new 1048576 x
        EXISTS new
        APPEND big 12345
        APPEND big ""
        STRLEN big
        SETBIT big 8388607 1
        SETBIT big 8388608 1
        GETBIT big 8388608
        GETBIT big 8388607
        BITFIELD big SET u16 8388607 1
        STRLEN big
        BITFIELD big SET u8 #1048575 1
        BITFIELD big SET u8 #1048576 1
        BITFIELD big GET u8 #1048576
        BITFIELD big GET u64 8388607
        STRLEN big
        LCS big big
        LCS big nokey LEN
        SET a 0123456789
        LCS a a IDX
        CONFIG SET proto-max-bulk-len 2mb
        APPEND big 12345
        SETBIT big 8388608 1
        STRLEN big
        "#,
    );
    d.assert_clean();
}

#[test]
fn arity_errors() {
    diff_script(
        r#"
        GET
        SET k
        SETNX k
        SETEX k 10
        PSETEX k 10
        MGET
        MSET
        MSET k
        MSETNX k
        GETSET k
        GETDEL
        GETEX
        APPEND k
        STRLEN
        INCR
        DECR k k
        INCRBY k
        DECRBY k
        INCRBYFLOAT k
        GETRANGE k 0
        SETRANGE k 0
        SUBSTR k
        LCS k
        SETBIT k 0
        GETBIT k
        BITCOUNT
        BITPOS k
        BITOP AND
        BITFIELD
        BITFIELD_RO
        "#,
    );
}

/// The payload of a `$n` bulk reply, binary-safe.
fn bulk_bytes(r: &[u8]) -> Vec<u8> {
    assert_eq!(r.first(), Some(&b'$'), "{}", String::from_utf8_lossy(r));
    let nl = r.iter().position(|&b| b == b'\n').expect("bulk header");
    let n: usize = std::str::from_utf8(&r[1..nl - 1]).unwrap().parse().unwrap();
    r[nl + 1..nl + 1 + n].to_vec()
}

/// Makes `key` a one-element list on both servers: RPUSH on redis-server, and its DUMP restored
/// into ferredis (which has no list commands in this family).
fn plant_list(d: &mut Diff, key: &str) {
    d.r.cmd(&["DEL", key]);
    d.r.cmd(&["RPUSH", key, "a"]);
    let payload = bulk_bytes(&d.r.cmd(&["DUMP", key]));
    let got =
        d.f.cmd_bytes(&[b"RESTORE", key.as_bytes(), b"0", &payload, b"REPLACE"]);
    assert_eq!(got, b"+OK\r\n", "{}", String::from_utf8_lossy(&got));
}

/// Like [`Diff::script`], with `PLANT-LIST key` lines that make a list key on both servers.
fn diff_script_with_lists(script: &str) {
    let mut d = Diff::new(&[]);
    for line in script.lines().map(str::trim) {
        if let Some(key) = line.strip_prefix("PLANT-LIST ") {
            plant_list(&mut d, key);
        } else if !line.is_empty() && !line.starts_with('#') {
            let args = split_line(line);
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            d.run_bytes(&refs);
        }
    }
    d.assert_clean();
}

/// Every string command against a list key: WRONGTYPE, or the error that Redis checks first.
#[test]
fn wrong_type_errors() {
    diff_script_with_lists(
        r#"
        PLANT-LIST l
        GET l
        SET l v GET
        SET l v XX GET
        SET l v EX 0 GET
        GETSET l v
        PLANT-LIST l
        GETDEL l
        PLANT-LIST l
        GETEX l
        GETEX l EX 0
        GETEX l FOO
        MGET l nokey
        APPEND l x
        STRLEN l
        INCR l
        INCRBY l x
        DECRBY l 1
        INCRBYFLOAT l 1
        INCRBYFLOAT l x
        GETRANGE l 0 1
        GETRANGE l x 1
        SETRANGE l 0 x
        SETRANGE l 0 ""
        SETRANGE l -1 x
        LCS l nokey
        LCS nokey l IDX
        LCS l nokey FOO
        SETBIT l 0 1
        GETBIT l 0
        BITCOUNT l
        BITCOUNT l x y z
        BITPOS l 1
        BITPOS l 2
        SET s x
        BITOP AND d s l
        BITOP NOT l s
        GET l
        BITFIELD l GET u8 0
        BITFIELD l SET u8 0 1
        BITFIELD_RO l GET u8 0
        BITFIELD_RO l SET u8 0 1
        SETNX l v
        SET l v NX
        MSETNX l v
        SET l v
        GET l
        "#,
    );
}

/// `OBJECT ENCODING` after each kind of write, which ferredis reports from the value variants.
#[test]
fn encodings_match() {
    diff_script(
        r#"
        SET a 123
        OBJECT ENCODING a
        SET a 12345678901234567890
        OBJECT ENCODING a
        SET a -0
        OBJECT ENCODING a
        SET a abc
        OBJECT ENCODING a
        SET a 01234567890123456789012345678901234567890123
        OBJECT ENCODING a
        SET a 012345678901234567890123456789012345678901234
        OBJECT ENCODING a
        APPEND a x
        OBJECT ENCODING a
        APPEND n1 5
        OBJECT ENCODING n1
        APPEND n2 abc
        OBJECT ENCODING n2
        SET n3 12
        APPEND n3 ""
        OBJECT ENCODING n3
        INCRBYFLOAT f 1
        OBJECT ENCODING f
        INCRBYFLOAT f 1e300
        OBJECT ENCODING f
        INCR f2
        OBJECT ENCODING f2
        SET f3 abc
        SETRANGE f3 0 x
        OBJECT ENCODING f3
        SET f4 12
        SETRANGE f4 0 ""
        OBJECT ENCODING f4
        SETRANGE f5 2 x
        OBJECT ENCODING f5
        SET b 12
        SETBIT b 0 0
        OBJECT ENCODING b
        SETBIT b2 1 1
        OBJECT ENCODING b2
        BITOP OR b3 b2
        OBJECT ENCODING b3
        SET bf 12
        BITFIELD bf GET u8 0
        OBJECT ENCODING bf
        BITFIELD bf OVERFLOW FAIL INCRBY u2 0 100
        OBJECT ENCODING bf
        GETSET g 55
        OBJECT ENCODING g
        MSET m1 5 m2 xx
        OBJECT ENCODING m1
        OBJECT ENCODING m2
        SETEX se 100 42
        OBJECT ENCODING se
        SET kt 7
        SET kt 8 KEEPTTL
        OBJECT ENCODING kt
        "#,
    );
}

/// TTLs set and kept by the string commands (second resolution, far from any boundary).
#[test]
fn ttls_set_and_kept() {
    diff_script(
        r#"
        SET k v EX 100000
        TTL k
        SET k v2 KEEPTTL
        TTL k
        SET k v3
        TTL k
        SET k v PXAT 99999999999999
        PEXPIRETIME k
        SETEX k 5000 v
        TTL k
        INCR k2
        EXPIRE k2 5000
        INCR k2
        TTL k2
        INCRBYFLOAT k2 1.5
        TTL k2
        APPEND k2 x
        TTL k2
        SETRANGE k2 0 y
        TTL k2
        SETBIT k2 0 1
        TTL k2
        GETSET k2 z
        TTL k2
        SETEX k3 5000 v
        GETEX k3 PERSIST
        TTL k3
        GETEX k3 EX 7000
        TTL k3
        MSET k3 v
        TTL k3
        SETEX k4 5000 v
        BITOP NOT k4 k3
        TTL k4
        "#,
    );
}

// ---------------------------------------------------------------------------------------------
// Randomized stream
// ---------------------------------------------------------------------------------------------

const KEYS: &[&str] = &["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"];

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.gen_range(0..from.len())]
}

fn rand_value(rng: &mut StdRng) -> Vec<u8> {
    match rng.gen_range(0..11) {
        0 => b"".to_vec(),
        1 => rng.gen_range(-1000i64..1000).to_string().into_bytes(),
        2 => pick(
            rng,
            &[
                "9223372036854775807",
                "-9223372036854775808",
                "9223372036854775806",
                "-0",
                "007",
                "1.5",
                "0.1",
                "-3.25",
                "1e10",
                "inf",
                " 12",
            ],
        )
        .as_bytes()
        .to_vec(),
        3 => (0..rng.gen_range(1..12)).map(|_| rng.gen::<u8>()).collect(),
        4 => format!("{:.3}", rng.gen_range(-100.0f64..100.0)).into_bytes(),
        // Longer than embstr's 44 bytes, and long enough for multi-word bit scans and LCS runs.
        5 => (0..rng.gen_range(40..160))
            .map(|_| b"abc\x00\xff"[rng.gen_range(0..5)])
            .collect(),
        _ => (0..rng.gen_range(1..20))
            .map(|_| b"abcdefxyz"[rng.gen_range(0..9)])
            .collect(),
    }
}

fn rand_int_arg(rng: &mut StdRng) -> String {
    match rng.gen_range(0..8) {
        0 => pick(
            rng,
            &[
                "9223372036854775807",
                "-9223372036854775808",
                "x",
                "",
                "1.5",
            ],
        )
        .to_string(),
        1 => rng.gen::<i64>().to_string(),
        _ => rng.gen_range(-30i64..30).to_string(),
    }
}

fn rand_float_arg(rng: &mut StdRng) -> String {
    match rng.gen_range(0..6) {
        0 => pick(rng, &["0.1", "-0.1", "1e300", "-1e300", "inf", "abc", "3"]).to_string(),
        1 => rng.gen_range(-1000i64..1000).to_string(),
        _ => format!("{:.4}", rng.gen_range(-1000.0f64..1000.0)),
    }
}

fn rand_offset(rng: &mut StdRng, max: i64) -> String {
    if rng.gen_ratio(1, 20) {
        return pick(rng, &["-1", "x", "9223372036854775807"]).to_string();
    }
    rng.gen_range(0..max).to_string()
}

fn rand_field_type(rng: &mut StdRng) -> String {
    if rng.gen_ratio(1, 30) {
        return pick(rng, &["u64", "i65", "x8", "i0"]).to_string();
    }
    if rng.gen_bool(0.5) {
        format!("i{}", rng.gen_range(1..=64))
    } else {
        format!("u{}", rng.gen_range(1..=63))
    }
}

/// One random string-family command over the key pool. Expiries are far in the future (never
/// reached during the test) or absolute times in the past (keys expire at once).
fn rand_command(rng: &mut StdRng) -> Vec<Vec<u8>> {
    let k = |rng: &mut StdRng| pick(rng, KEYS).as_bytes().to_vec();
    let s = |x: &str| x.as_bytes().to_vec();
    let mut c: Vec<Vec<u8>> = Vec::new();
    match rng.gen_range(0..34) {
        0 | 1 => {
            c.extend([s("SET"), k(rng), rand_value(rng)]);
            for _ in 0..rng.gen_range(0..3) {
                match rng.gen_range(0..9) {
                    0 => c.push(s("NX")),
                    1 => c.push(s("XX")),
                    2 => c.push(s("GET")),
                    3 => c.push(s("KEEPTTL")),
                    4 => c.extend([s("EX"), s("100000")]),
                    5 => c.extend([s("PX"), s("100000000")]),
                    6 => c.extend([s("EXAT"), s(pick(rng, &["1", "99999999999"]))]),
                    7 => c.extend([s("PXAT"), s(pick(rng, &["1", "99999999999999"]))]),
                    _ => c.extend([s("EX"), s(pick(rng, &["0", "-1", "x"]))]),
                }
            }
        }
        2 | 3 => c.extend([s("GET"), k(rng)]),
        4 => c.extend([s("SETNX"), k(rng), rand_value(rng)]),
        5 => c.extend([
            s(pick(rng, &["SETEX", "PSETEX"])),
            k(rng),
            s(pick(rng, &["100000000", "0", "x"])),
            rand_value(rng),
        ]),
        6 => {
            c.push(s("MGET"));
            for _ in 0..rng.gen_range(1..5) {
                c.push(k(rng));
            }
        }
        7 => {
            c.push(s(pick(rng, &["MSET", "MSETNX"])));
            for _ in 0..rng.gen_range(1..4) {
                c.extend([k(rng), rand_value(rng)]);
            }
        }
        8 => c.extend([s("GETSET"), k(rng), rand_value(rng)]),
        9 => c.extend([s("GETDEL"), k(rng)]),
        10 => {
            c.extend([s("GETEX"), k(rng)]);
            match rng.gen_range(0..5) {
                0 => c.push(s("PERSIST")),
                1 => c.extend([s("EX"), s("100000")]),
                2 => c.extend([s("EXAT"), s(pick(rng, &["1", "99999999999"]))]),
                3 => c.extend([s("PXAT"), s("99999999999999")]),
                _ => {}
            }
        }
        11 | 12 => c.extend([s("APPEND"), k(rng), rand_value(rng)]),
        13 => c.extend([s("STRLEN"), k(rng)]),
        14 | 15 => c.extend([s(pick(rng, &["INCR", "DECR"])), k(rng)]),
        16 => c.extend([
            s(pick(rng, &["INCRBY", "DECRBY"])),
            k(rng),
            s(&rand_int_arg(rng)),
        ]),
        17 | 18 => c.extend([s("INCRBYFLOAT"), k(rng), s(&rand_float_arg(rng))]),
        19 => c.extend([
            s(pick(rng, &["GETRANGE", "SUBSTR"])),
            k(rng),
            s(&rng.gen_range(-25i64..25).to_string()),
            s(&rng.gen_range(-25i64..25).to_string()),
        ]),
        20 => c.extend([
            s("SETRANGE"),
            k(rng),
            s(&rand_offset(rng, 40)),
            rand_value(rng),
        ]),
        21 => {
            c.extend([s("LCS"), k(rng), k(rng)]);
            match rng.gen_range(0..5) {
                0 => c.push(s("LEN")),
                1 => c.push(s("IDX")),
                2 => c.extend([s("IDX"), s("WITHMATCHLEN")]),
                3 => c.extend([
                    s("IDX"),
                    s("MINMATCHLEN"),
                    s(&rng.gen_range(0..4).to_string()),
                    s("WITHMATCHLEN"),
                ]),
                _ => {}
            }
        }
        22 | 23 => c.extend([
            s("SETBIT"),
            k(rng),
            s(&rand_offset(rng, 200)),
            s(pick(rng, &["0", "1", "1", "2"])),
        ]),
        24 => c.extend([s("GETBIT"), k(rng), s(&rand_offset(rng, 200))]),
        25 => {
            c.extend([s("BITCOUNT"), k(rng)]);
            if rng.gen_bool(0.7) {
                c.push(s(&rng.gen_range(-30i64..30).to_string()));
                c.push(s(&rng.gen_range(-30i64..30).to_string()));
                if rng.gen_bool(0.5) {
                    c.push(s(pick(rng, &["BIT", "BYTE", "bit"])));
                }
            }
        }
        26 | 27 => {
            c.extend([s("BITPOS"), k(rng), s(pick(rng, &["0", "1"]))]);
            let n = rng.gen_range(0..4);
            if n >= 1 {
                c.push(s(&rng.gen_range(-30i64..30).to_string()));
            }
            if n >= 2 {
                c.push(s(&rng.gen_range(-30i64..30).to_string()));
            }
            if n >= 3 {
                c.push(s(pick(rng, &["BIT", "BYTE"])));
            }
        }
        28 => {
            let op = pick(rng, &["AND", "OR", "XOR", "NOT"]);
            c.extend([s("BITOP"), s(op), k(rng), k(rng)]);
            if op != "NOT" {
                for _ in 0..rng.gen_range(0..3) {
                    c.push(k(rng));
                }
            }
        }
        29 | 30 => {
            c.extend([
                s(pick(rng, &["BITFIELD", "BITFIELD", "BITFIELD_RO"])),
                k(rng),
            ]);
            for _ in 0..rng.gen_range(1..4) {
                let ty = rand_field_type(rng);
                let off = if rng.gen_ratio(1, 4) {
                    format!("#{}", rng.gen_range(0..8))
                } else {
                    rng.gen_range(0..100).to_string()
                };
                match rng.gen_range(0..4) {
                    0 => c.extend([s("GET"), s(&ty), s(&off)]),
                    1 => c.extend([s("SET"), s(&ty), s(&off), s(&rand_int_arg(rng))]),
                    2 => c.extend([s("INCRBY"), s(&ty), s(&off), s(&rand_int_arg(rng))]),
                    _ => c.extend([s("OVERFLOW"), s(pick(rng, &["WRAP", "SAT", "FAIL"]))]),
                }
            }
        }
        31 => c.extend([s("DEL"), k(rng)]),
        // Not DBSIZE: it counts expired keys until active expiry removes them, a matter of timing.
        _ => c.extend([s("EXISTS"), k(rng), k(rng)]),
    }
    c
}

/// Runs `n` random commands from `seed` on both servers (with lists planted now and then) and
/// compares every reply and the final values.
fn random_stream(seed: u64, n: usize, resp3: bool) {
    let mut d = Diff::new(&[]);
    if resp3 {
        // HELLO's reply carries the client id, which may differ: switch both without comparing.
        d.r.cmd(&["HELLO", "3"]);
        d.f.cmd(&["HELLO", "3"]);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut counters = Counters::read(&mut d);
    for i in 0..n {
        // Now and then a key becomes a list, for the WRONGTYPE paths (the counters restart after
        // it: the two servers get different commands to do it).
        if rng.gen_ratio(1, 150) {
            counters.compare(&mut d, "before planting a list");
            let key = pick(&mut rng, KEYS);
            plant_list(&mut d, key);
            counters = Counters::read(&mut d);
        }
        if i % 100 == 99 {
            counters.compare(&mut d, &format!("after command {i}"));
        }
        let cmd = rand_command(&mut rng);
        let refs: Vec<&[u8]> = cmd.iter().map(|a| a.as_slice()).collect();
        d.run_bytes(&refs);
        // The stored encoding, and whether the key has a TTL, after what was just run.
        if let Some(key) = cmd.get(1).filter(|_| rng.gen_ratio(1, 8)) {
            let key = String::from_utf8_lossy(key).into_owned();
            d.run(&["OBJECT", "ENCODING", &key]);
            compare_ttl_class(&mut d, &key);
        }
    }
    for k in KEYS {
        d.run(&["GET", k]);
        d.run(&["OBJECT", "ENCODING", k]);
        compare_ttl_class(&mut d, k);
    }
    counters.compare(&mut d, "at the end");
    // Every error reply counted under its code, as errorstats shows them.
    d.run(&["INFO", "errorstats"]);
    compare_commandstats(&mut d);
    // The values as DEBUG DIGEST-VALUE sees them (not DIGEST: it mixes in relative TTLs).
    let mut digest = vec!["DEBUG", "DIGEST-VALUE"];
    digest.extend_from_slice(KEYS);
    d.run(&digest);
    d.assert_clean();
}

/// Compares calls, rejected and failed calls of the string commands in INFO commandstats (not the
/// times).
fn compare_commandstats(d: &mut Diff) {
    let stats = |c: &mut RawClient| -> Vec<String> {
        let text = String::from_utf8_lossy(&c.cmd(&["INFO", "commandstats"])).into_owned();
        let mut v: Vec<String> = text
            .lines()
            .filter_map(|l| {
                let (name, fields) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                ferredis::cmd::string::COMMANDS
                    .iter()
                    .any(|c| c.name == name)
                    .then_some(())?;
                let kept: Vec<&str> = fields
                    .split(',')
                    .filter(|f| !f.starts_with("usec"))
                    .collect();
                Some(format!("{name}: {}", kept.join(",")))
            })
            .collect();
        v.sort();
        v
    };
    let want = stats(&mut d.r);
    let got = stats(&mut d.f);
    d.count += 1;
    if want != got {
        d.mismatches.push(format!(
            "INFO commandstats (string commands)\n   redis:    {want:?}\n   ferredis: {got:?}"
        ));
    }
}

/// Compares `TTL key` on both servers as missing (-2), no expiry (-1) or some expiry: relative
/// expiries set at slightly different instants may differ by a second.
fn compare_ttl_class(d: &mut Diff, key: &str) {
    let class = |r: Vec<u8>| {
        let s = String::from_utf8_lossy(&r).into_owned();
        match s.trim_end().strip_prefix(':').map(str::parse::<i64>) {
            Some(Ok(n)) if n >= 0 => "has a TTL".to_string(),
            _ => s,
        }
    };
    let want = class(d.r.cmd(&["TTL", key]));
    let got = class(d.f.cmd(&["TTL", key]));
    d.count += 1;
    if want != got {
        d.mismatches.push(format!(
            "TTL {key}\n   redis:    {want:?}\n   ferredis: {got:?}"
        ));
    }
}

#[test]
fn randomized_string_commands() {
    random_stream(0x5eed_0001, 10_000, false);
}

#[test]
fn randomized_string_commands_resp3() {
    random_stream(0x5eed_0003, 5_000, true);
}

/// The same with many more seeds (about a minute): `cargo test --test strings -- --ignored long`.
#[test]
#[ignore = "long: run explicitly with --ignored"]
fn randomized_string_commands_long() {
    for seed in 1..=20 {
        random_stream(seed, 10_000, seed % 2 == 0);
    }
}

// ---------------------------------------------------------------------------------------------
// Command table rows against COMMAND INFO / COMMAND DOCS of the real server
// ---------------------------------------------------------------------------------------------

/// A parsed RESP2 reply (enough for COMMAND INFO and COMMAND DOCS).
#[derive(Debug, Clone, PartialEq)]
enum Resp {
    Str(String),
    Int(i64),
    Nil,
    Arr(Vec<Resp>),
}

fn parse_resp(r: &[u8], pos: &mut usize) -> Resp {
    let nl = *pos + r[*pos..].iter().position(|&b| b == b'\n').expect("line");
    let line = String::from_utf8_lossy(&r[*pos + 1..nl - 1]).into_owned();
    let kind = r[*pos];
    *pos = nl + 1;
    match kind {
        b'+' | b'-' => Resp::Str(line),
        b':' => Resp::Int(line.parse().expect("int")),
        b'$' => {
            let n: i64 = line.parse().expect("bulk len");
            if n < 0 {
                return Resp::Nil;
            }
            let s = String::from_utf8_lossy(&r[*pos..*pos + n as usize]).into_owned();
            *pos += n as usize + 2;
            Resp::Str(s)
        }
        b'*' => {
            let n: i64 = line.parse().expect("array len");
            Resp::Arr((0..n.max(0)).map(|_| parse_resp(r, pos)).collect())
        }
        other => panic!("unexpected reply type {:?}", other as char),
    }
}

fn resp_str(r: &Resp) -> String {
    match r {
        Resp::Str(s) => s.clone(),
        other => panic!("expected a string, got {other:?}"),
    }
}

fn resp_int(r: &Resp) -> i64 {
    match r {
        Resp::Int(i) => *i,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn resp_arr(r: &Resp) -> &[Resp] {
    match r {
        Resp::Arr(v) => v,
        other => panic!("expected an array, got {other:?}"),
    }
}

#[test]
fn command_table_rows_match_redis() {
    let redis = Server::start(Kind::Redis, &[]);
    let mut c = redis.client();
    for spec in ferredis::cmd::string::COMMANDS {
        let name = spec.name;
        let raw = c.cmd(&["COMMAND", "INFO", name]);
        let info = parse_resp(&raw, &mut 0);
        let row = &resp_arr(&info)[0];
        let row = resp_arr(row);
        assert_eq!(resp_str(&row[0]), name);
        assert_eq!(resp_int(&row[1]), spec.arity as i64, "{name} arity");
        let mut want_flags: Vec<String> = resp_arr(&row[2]).iter().map(resp_str).collect();
        let mut got_flags: Vec<String> = ferredis::cmd::flags::NAMES
            .iter()
            .filter(|(bit, _)| spec.flags & bit != 0)
            .map(|(_, n)| n.to_string())
            .collect();
        want_flags.sort();
        got_flags.sort();
        assert_eq!(got_flags, want_flags, "{name} flags");
        assert_eq!(
            (resp_int(&row[3]), resp_int(&row[4]), resp_int(&row[5])),
            (
                spec.first_key as i64,
                spec.last_key as i64,
                spec.step as i64
            ),
            "{name} key positions"
        );
        let acl: Vec<String> = resp_arr(&row[6]).iter().map(resp_str).collect();
        assert_eq!(spec.acl, acl.join(" "), "{name} ACL categories");

        let raw = c.cmd(&["COMMAND", "DOCS", name]);
        let docs = parse_resp(&raw, &mut 0);
        let fields = resp_arr(&resp_arr(&docs)[1]);
        let field = |k: &str| {
            fields
                .chunks(2)
                .find(|p| resp_str(&p[0]) == k)
                .map(|p| resp_str(&p[1]))
                .unwrap_or_default()
        };
        assert_eq!(spec.summary, field("summary"), "{name} summary");
        assert_eq!(spec.since, field("since"), "{name} since");
        assert_eq!(spec.group, field("group"), "{name} group");
        assert_eq!(spec.complexity, field("complexity"), "{name} complexity");
    }
}
