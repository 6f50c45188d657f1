//! [`Sds`]: the owned byte string behind string values, one pointer wide.
//!
//! A `Bytes` is four words inline plus its heap block; a million small strings pay 32 bytes each
//! for the handle alone. An `Sds` is a single (tagged) pointer, which keeps [`super::Value`] at two
//! words, and it has two forms:
//!
//! - compact (tag bit 0 clear): one heap block `[len: u32][bytes]`, no spare capacity. Every string
//!   written whole (SET, loading, ...) is stored this way.
//! - growable (tag bit 0 set): a boxed `Vec<u8>`, for strings changed in place (APPEND, SETRANGE,
//!   SETBIT, ...): [`Sds::into_vec`] hands the vector back without copying, so repeated appends stay
//!   amortised O(1) as with Redis's sds. Strings longer than `u32::MAX` bytes also take this form.
//!
//! The form is invisible to users of the bytes; OBJECT ENCODING is decided by the `Value` variant.

use bytes::Bytes;
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::fmt;
use std::ptr::NonNull;

/// Header size of the compact form (the `u32` length).
const HDR: usize = 4;

pub struct Sds(NonNull<u8>);

// An `Sds` owns its block exclusively, like a `Box<[u8]>`.
unsafe impl Send for Sds {}
unsafe impl Sync for Sds {}

impl Sds {
    /// The empty string.
    pub fn new() -> Sds {
        Sds::from_slice(&[])
    }

    fn compact_layout(len: usize) -> Layout {
        // Cannot fail: `len` fits in a u32 here.
        Layout::from_size_align(HDR + len, 4).expect("compact sds layout")
    }

    /// A compact copy of `b`.
    pub fn from_slice(b: &[u8]) -> Sds {
        let Ok(len) = u32::try_from(b.len()) else {
            return Sds::from(b.to_vec());
        };
        let layout = Self::compact_layout(b.len());
        // SAFETY: the layout has a non-zero size; the block is written before it is read.
        unsafe {
            let p = alloc(layout);
            if p.is_null() {
                handle_alloc_error(layout);
            }
            (p as *mut u32).write(len);
            std::ptr::copy_nonoverlapping(b.as_ptr(), p.add(HDR), b.len());
            Sds(NonNull::new_unchecked(p))
        }
    }

    #[inline]
    fn is_vec(&self) -> bool {
        self.0.as_ptr() as usize & 1 == 1
    }

    #[inline]
    fn vec_ptr(&self) -> *mut Vec<u8> {
        (self.0.as_ptr() as usize & !1) as *mut Vec<u8>
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: both forms are valid for as long as `self` is.
        unsafe {
            if self.is_vec() {
                (*self.vec_ptr()).as_slice()
            } else {
                let p = self.0.as_ptr();
                let len = (p as *const u32).read() as usize;
                std::slice::from_raw_parts(p.add(HDR), len)
            }
        }
    }

    /// The bytes as a `Bytes` (a copy).
    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.as_slice())
    }

    /// The bytes as a vector: the growable form gives its vector back without copying.
    pub fn into_vec(self) -> Vec<u8> {
        if self.is_vec() {
            let p = self.vec_ptr();
            std::mem::forget(self);
            // SAFETY: the growable form is a leaked `Box<Vec<u8>>`, reclaimed exactly once here.
            *unsafe { Box::from_raw(p) }
        } else {
            self.as_slice().to_vec()
        }
    }

    /// Heap bytes this string holds (allocator size classes aside), for memory accounting.
    pub fn heap_size(&self) -> usize {
        if self.is_vec() {
            // SAFETY: see `as_slice`.
            std::mem::size_of::<Vec<u8>>() + unsafe { (*self.vec_ptr()).capacity() }
        } else {
            HDR + self.len()
        }
    }
}

impl Drop for Sds {
    fn drop(&mut self) {
        // SAFETY: each form is freed the way it was allocated, once.
        unsafe {
            if self.is_vec() {
                drop(Box::from_raw(self.vec_ptr()));
            } else {
                let len = (self.0.as_ptr() as *const u32).read() as usize;
                dealloc(self.0.as_ptr(), Self::compact_layout(len));
            }
        }
    }
}

impl Default for Sds {
    fn default() -> Self {
        Sds::new()
    }
}

impl Clone for Sds {
    fn clone(&self) -> Self {
        Sds::from_slice(self.as_slice())
    }
}

impl std::ops::Deref for Sds {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Sds {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::borrow::Borrow<[u8]> for Sds {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for Sds {
    fn eq(&self, other: &Sds) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Sds {}

impl PartialEq<[u8]> for Sds {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl std::hash::Hash for Sds {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl fmt::Debug for Sds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Same look as `Bytes`: b"..." with escapes.
        fmt::Debug::fmt(&Bytes::copy_from_slice(self.as_slice()), f)
    }
}

impl From<&[u8]> for Sds {
    fn from(b: &[u8]) -> Sds {
        Sds::from_slice(b)
    }
}

impl From<&str> for Sds {
    fn from(s: &str) -> Sds {
        Sds::from_slice(s.as_bytes())
    }
}

impl From<Bytes> for Sds {
    fn from(b: Bytes) -> Sds {
        Sds::from_slice(&b)
    }
}

impl From<&Bytes> for Sds {
    fn from(b: &Bytes) -> Sds {
        Sds::from_slice(b)
    }
}

/// The growable form: the vector (and its spare capacity) is kept as it is.
impl From<Vec<u8>> for Sds {
    fn from(v: Vec<u8>) -> Sds {
        let p = Box::into_raw(Box::new(v)) as usize | 1;
        // SAFETY: a Box pointer is non-null and aligned, so setting bit 0 keeps it non-null and the
        // bit is free for the tag.
        Sds(unsafe { NonNull::new_unchecked(p as *mut u8) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_hold_the_bytes() {
        let a = Sds::from_slice(b"hello");
        assert_eq!(&*a, b"hello");
        assert_eq!(a.clone(), a);
        assert_eq!(Sds::new().len(), 0);
        let mut v = a.into_vec();
        v.extend_from_slice(b" world");
        let g = Sds::from(v);
        assert_eq!(&*g, b"hello world");
        let v = g.into_vec();
        assert!(v.capacity() >= 11);
        assert_eq!(format!("{:?}", Sds::from("a\n")), "b\"a\\n\"");
        assert_eq!(std::mem::size_of::<Sds>(), 8);
        assert_eq!(std::mem::size_of::<Option<Sds>>(), 8);
    }
}
