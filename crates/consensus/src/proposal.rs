//! What a validator offers the committee when a milestone is due.
//!
//! A proposal travels inside AlephBFT units, so every member decodes proposals written by
//! others, byzantine ones included. The encoding is canonical (one byte string per
//! proposal) and bounded (at most [`MAX_PROPOSAL_BYTES`]), and decoding any byte string
//! either yields a valid proposal or a typed error: it never panics and never allocates
//! more than the bound.

use parity_scale_codec::{Decode, Encode, Input, Output};
use weft_types::codec::{check_range, check_strictly_ascending, Reader, Writer};
use weft_types::{BlockId, DecodeError, MAX_PARENTS};

/// Most tips a proposal names (a milestone's parent limit).
pub const MAX_PROPOSAL_TIPS: usize = MAX_PARENTS;

/// Largest encoded proposal: count byte, eight tips, the time.
pub const MAX_PROPOSAL_BYTES: usize = 1 + 32 * MAX_PROPOSAL_TIPS + 8;

/// Why a proposal cannot be built or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// No tips, or more than [`MAX_PROPOSAL_TIPS`] distinct ones.
    #[error("a proposal names 1..={MAX_PROPOSAL_TIPS} distinct tips, not {0}")]
    TipCount(usize),
    /// The bytes are not a canonical proposal.
    #[error("malformed proposal: {0}")]
    Malformed(#[from] DecodeError),
}

/// A validator's view when a milestone is due: the tips it wants confirmed (their whole
/// past cone is solid at this validator) and its clock, in milliseconds since the Unix
/// epoch. Tips are sorted and distinct, 1 to 8 of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Proposal {
    tips: Vec<BlockId>,
    time_ms: u64,
}

impl Proposal {
    /// A proposal of `tips` (any order; duplicates are merged) at `time_ms`.
    pub fn new(mut tips: Vec<BlockId>, time_ms: u64) -> Result<Proposal, ProposalError> {
        tips.sort();
        tips.dedup();
        if tips.is_empty() || tips.len() > MAX_PROPOSAL_TIPS {
            return Err(ProposalError::TipCount(tips.len()));
        }
        Ok(Proposal { tips, time_ms })
    }

    /// The tips, strictly ascending.
    pub fn tips(&self) -> &[BlockId] {
        &self.tips
    }

    /// The proposer's clock, milliseconds since the Unix epoch.
    pub fn time_ms(&self) -> u64 {
        self.time_ms
    }

    /// Canonical bytes: `u8` tip count, the tips (32 bytes each, ascending), `u64` time.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(MAX_PROPOSAL_BYTES);
        w.u8(self.tips.len() as u8);
        for t in &self.tips {
            w.bytes(&t.0);
        }
        w.u64(self.time_ms);
        w.into_bytes()
    }

    /// Decodes exactly one canonical proposal (no trailing bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Proposal, ProposalError> {
        let mut r = Reader::new(bytes);
        let count = r.u8("proposal tip count")?;
        check_range(
            "proposal tip count",
            count as u64,
            1,
            MAX_PROPOSAL_TIPS as u64,
        )?;
        let mut tips = Vec::with_capacity(count as usize);
        for _ in 0..count {
            tips.push(BlockId(r.array("proposal tip")?));
        }
        check_strictly_ascending("proposal tips", &tips)?;
        let time_ms = r.u64("proposal time")?;
        r.finish("proposal")?;
        Ok(Proposal { tips, time_ms })
    }
}

// AlephBFT carries its data with the SCALE codec. The SCALE form of a proposal is its
// canonical form, read field by field so that it is self-delimiting inside a unit.
impl Encode for Proposal {
    fn size_hint(&self) -> usize {
        1 + 32 * self.tips.len() + 8
    }

    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        dest.write(&self.to_bytes());
    }
}

impl Decode for Proposal {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let count = input.read_byte()? as usize;
        if count == 0 || count > MAX_PROPOSAL_TIPS {
            return Err("proposal tip count outside 1..=8".into());
        }
        let mut buf = [0u8; MAX_PROPOSAL_BYTES];
        buf[0] = count as u8;
        let len = 1 + 32 * count + 8;
        input.read(&mut buf[1..len])?;
        Proposal::from_bytes(&buf[..len]).map_err(|_| "malformed proposal".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(b: u8) -> BlockId {
        BlockId([b; 32])
    }

    #[test]
    fn new_sorts_and_merges_duplicates() {
        let p = Proposal::new(vec![id(3), id(1), id(3)], 7).unwrap();
        assert_eq!(p.tips(), &[id(1), id(3)]);
        assert_eq!(p.time_ms(), 7);
        assert_eq!(Proposal::new(vec![], 1), Err(ProposalError::TipCount(0)));
        assert_eq!(
            Proposal::new((0..9).map(id).collect(), 1),
            Err(ProposalError::TipCount(9))
        );
    }

    #[test]
    fn round_trip_in_both_codecs() {
        let p = Proposal::new((0..8).map(id).collect(), u64::MAX).unwrap();
        let bytes = p.to_bytes();
        assert_eq!(bytes.len(), MAX_PROPOSAL_BYTES);
        assert_eq!(Proposal::from_bytes(&bytes), Ok(p.clone()));
        assert_eq!(p.encode(), bytes);
        assert_eq!(Proposal::decode(&mut &bytes[..]), Ok(p));
    }

    #[test]
    fn non_canonical_bytes_are_refused() {
        let p = Proposal::new(vec![id(1), id(2)], 5).unwrap();
        let mut unsorted = p.to_bytes();
        unsorted[1..33].copy_from_slice(&[2; 32]);
        unsorted[33..65].copy_from_slice(&[1; 32]);
        assert!(Proposal::from_bytes(&unsorted).is_err());
        assert!(Proposal::decode(&mut &unsorted[..]).is_err());
        let mut trailing = p.to_bytes();
        trailing.push(0);
        assert!(Proposal::from_bytes(&trailing).is_err());
        assert!(Proposal::from_bytes(&[0]).is_err());
        assert!(Proposal::from_bytes(&[9]).is_err());
        assert!(Proposal::from_bytes(&[]).is_err());
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(p) = Proposal::from_bytes(&bytes) {
                prop_assert_eq!(p.to_bytes(), bytes.clone());
            }
            let mut input = &bytes[..];
            if let Ok(p) = Proposal::decode(&mut input) {
                let used = bytes.len() - input.len();
                prop_assert_eq!(p.to_bytes(), bytes[..used].to_vec());
            }
        }
    }
}
