//! RESP, the Redis serialization protocol: the request parser (multibulk and inline commands) and the
//! reply writer (RESP2 and RESP3). Pure codecs: no I/O, unit-tested on byte slices.

pub mod reply;
pub mod request;

pub use reply::{Proto, Reply};
pub use request::{ParseLimits, ProtocolError, RequestParser};
