//! The canonical binary codec: little-endian integers, fixed-size arrays and
//! length-prefixed byte strings, with no optional encodings.
//!
//! A decoder here accepts exactly one byte string per value: every length is bounded,
//! every enumeration tag known, every list in its required order, and nothing may
//! follow the value. That is what makes "encode(decode(b)) == b" hold for every
//! accepted `b`, and so what makes a block id (a hash of the bytes) well defined.

/// Why a byte string is not a canonical encoding. Each variant names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside a field.
    #[error("truncated: {field} needs {needed} bytes at offset {offset}, {available} left")]
    Truncated {
        /// Field being read.
        field: &'static str,
        /// Offset of the field.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// Bytes remain after a complete value.
    #[error("{count} trailing bytes after the {what}")]
    TrailingBytes {
        /// What was complete.
        what: &'static str,
        /// How many bytes follow it.
        count: usize,
    },
    /// The input is longer than the protocol allows.
    #[error("{what} is {len} bytes, over the {max}-byte limit")]
    TooLong {
        /// What was too long.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A count or length outside its allowed range.
    #[error("{field} is {value}, outside {min}..={max}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// A list that must be strictly ascending is not.
    #[error("{field} not strictly ascending at position {position}")]
    NotStrictlyAscending {
        /// The list.
        field: &'static str,
        /// First position out of order (or repeated).
        position: usize,
    },
    /// An enumeration tag this protocol version does not define.
    #[error("unknown {field} tag {tag}")]
    UnknownTag {
        /// The enumeration.
        field: &'static str,
        /// The tag read.
        tag: u64,
    },
    /// The protocol version byte is not one this implementation speaks.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// Fields that must agree do not.
    #[error("inconsistent block: {0}")]
    Inconsistent(&'static str),
}

/// Appends canonical encodings to a byte vector.
#[derive(Default, Debug)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// A writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Writer {
        Writer {
            buf: Vec::with_capacity(capacity),
        }
    }
    /// Appends one byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Appends a little-endian u16.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a little-endian u32.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a little-endian u64.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends raw bytes (fixed-size fields).
    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// Overwrites a u32 written earlier at `offset` (for length prefixes).
    pub fn patch_u32(&mut self, offset: usize, v: u32) {
        self.buf[offset..offset + 4].copy_from_slice(&v.to_le_bytes());
    }
    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads canonical encodings from a byte slice, naming the field in every error.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }
    /// Offset of the next byte.
    pub fn position(&self) -> usize {
        self.pos
    }
    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    /// Reads `n` raw bytes.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                field,
                offset: self.pos,
                needed: n,
                available: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }
    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }
    /// Reads one byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }
    /// Reads a little-endian u16.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }
    /// Reads a little-endian u32.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }
    /// Reads a little-endian u64.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }
    /// Fails unless every byte was read.
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { what, count }),
        }
    }
}

/// Checks `value` is in `min..=max`.
pub fn check_range(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), DecodeError> {
    if value < min || value > max {
        return Err(DecodeError::OutOfRange {
            field,
            value,
            min,
            max,
        });
    }
    Ok(())
}

/// Checks a list is strictly ascending (sorted and without repeats).
pub fn check_strictly_ascending<T: Ord>(
    field: &'static str,
    items: &[T],
) -> Result<(), DecodeError> {
    for (i, pair) in items.windows(2).enumerate() {
        if pair[0] >= pair[1] {
            return Err(DecodeError::NotStrictlyAscending {
                field,
                position: i + 1,
            });
        }
    }
    Ok(())
}
