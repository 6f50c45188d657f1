//! `long double` arithmetic for INCRBYFLOAT (and HINCRBYFLOAT), through the C helpers in
//! `csrc/longdouble.c`.
//!
//! Redis adds float increments in C `long double` (80-bit extended on x86-64) and prints the sum with
//! `%.17Lf`, trimming trailing zeros, so `10.5 + 0.1` is stored as `10.6` and not as the `f64`
//! neighbour `10.600000000000001`. Rust has no such type; the parse, the add and the print stay in C
//! and these wrappers give them a safe, byte-slice interface.

use std::os::raw::{c_char, c_int};

/// Size of the output buffer (Redis's limit on a long double's text, which also bounds the input).
const LD_MAX_CHARS: usize = 5 * 1024;

extern "C" {
    fn ferredis_ld_valid(s: *const c_char, len: usize) -> c_int;
    fn ferredis_ld_incrby(
        cur: *const c_char,
        cur_len: usize,
        incr: *const c_char,
        incr_len: usize,
        out: *mut c_char,
        cap: usize,
        out_len: *mut usize,
    ) -> c_int;
}

/// Why a float increment failed (status codes of `ferredis_ld_incrby`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdError {
    /// The stored value is not a float.
    BadValue,
    /// The increment is not a float.
    BadIncr,
    /// The sum is NaN or infinite.
    NanOrInf,
}

/// Whether `s` is a float that Redis's long double parser accepts: not empty, shorter than 5 KiB, no
/// leading space, entirely consumed by `strtold`, not NaN, no overflow or underflow to zero.
pub fn is_valid(s: &[u8]) -> bool {
    // SAFETY: the pointer and length describe a live slice; the C side copies at most `len` bytes.
    unsafe { ferredis_ld_valid(s.as_ptr() as *const c_char, s.len()) == 1 }
}

/// Adds `incr` to `cur` (both as text; pass `b"0"` for a missing value) in long double, and returns
/// the sum printed as Redis prints INCRBYFLOAT results.
pub fn incr_by(cur: &[u8], incr: &[u8]) -> Result<Vec<u8>, LdError> {
    let mut out = [0u8; LD_MAX_CHARS];
    let mut len = 0usize;
    // SAFETY: inputs are live slices passed with their lengths; `out` has `LD_MAX_CHARS` writable
    // bytes and the C side writes at most that many (snprintf with that capacity), and `len` is a
    // valid pointer for the result length.
    let rc = unsafe {
        ferredis_ld_incrby(
            cur.as_ptr() as *const c_char,
            cur.len(),
            incr.as_ptr() as *const c_char,
            incr.len(),
            out.as_mut_ptr() as *mut c_char,
            out.len(),
            &mut len,
        )
    };
    match rc {
        0 => Ok(out[..len.min(LD_MAX_CHARS)].to_vec()),
        1 => Err(LdError::BadValue),
        2 => Err(LdError::BadIncr),
        _ => Err(LdError::NanOrInf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(a: &str, b: &str) -> Result<String, LdError> {
        incr_by(a.as_bytes(), b.as_bytes()).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn long_double_precision_and_trimming() {
        assert_eq!(add("10.5", "0.1").unwrap(), "10.6");
        assert_eq!(add("0", "3.0e3").unwrap(), "3000");
        assert_eq!(add("5", "-5").unwrap(), "0");
        assert_eq!(add("-0", "-0").unwrap(), "0");
        assert_eq!(add("0", "-0.5").unwrap(), "-0.5");
        assert_eq!(add("1", "1e-20").unwrap(), "1");
        assert_eq!(add("0", "0x10").unwrap(), "16");
        assert_eq!(
            add("9223372036854775807", "1").unwrap(),
            "9223372036854775808"
        );
        assert_eq!(
            add("1.5", "-1.4999999999999999").unwrap(),
            "0.0000000000000001"
        );
    }

    #[test]
    fn parse_rules() {
        assert!(is_valid(b"1.5"));
        assert!(is_valid(b"-1e10"));
        assert!(is_valid(b"inf"));
        assert!(is_valid(b"1e4000")); // fits a long double, not a double
        assert!(!is_valid(b""));
        assert!(!is_valid(b" 1"));
        assert!(!is_valid(b"1 "));
        assert!(!is_valid(b"nan"));
        assert!(!is_valid(b"1x"));
        assert!(!is_valid(b"1\x002"));
        assert!(!is_valid(b"1e5000")); // overflow
        assert!(!is_valid(b"1e-5000")); // underflow to zero
        let long = |n: usize| {
            let mut v = b"1.".to_vec();
            v.resize(n, b'0');
            v
        };
        assert!(is_valid(&long(5119)));
        assert!(!is_valid(&long(5120))); // too long
    }

    #[test]
    fn errors_name_the_bad_input_value_first() {
        assert_eq!(add("x", "y"), Err(LdError::BadValue));
        assert_eq!(add("1", "y"), Err(LdError::BadIncr));
        assert_eq!(add("inf", "1"), Err(LdError::NanOrInf));
        assert_eq!(add("inf", "-inf"), Err(LdError::NanOrInf));
        assert_eq!(add("1e4932", "1e4932"), Err(LdError::NanOrInf));
    }

    #[test]
    fn huge_values_print_in_full() {
        let s = add("0", "1e300").unwrap();
        assert_eq!(s.len(), 301);
        assert!(s.starts_with("1000000000000000000"));
        let s = add("0", "1.18e4932").unwrap();
        assert!(s.len() > 4900 && s.len() < LD_MAX_CHARS);
    }
}
