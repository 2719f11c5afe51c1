//! What the node knows about a block beyond its bytes.

use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// Metadata of a stored block. Stored as 26 bytes (see [`BlockMetadata::to_bytes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BlockMetadata {
    /// Its whole past cone is stored.
    pub solid: bool,
    /// When the node stored it (ms since the Unix epoch).
    pub arrival_time: u64,
    /// Index of the milestone that referenced (confirmed) it.
    pub referenced_by: Option<u32>,
    /// Its position in that milestone's white-flag order (none for the milestone block).
    pub white_flag_index: Option<u32>,
    /// Ledger conflict code (0: applied or not yet confirmed).
    pub conflict: u8,
    /// When the confirming milestone was applied (ms since the Unix epoch).
    pub confirmation_time: Option<u64>,
}

impl BlockMetadata {
    /// `u8 solid || u64 arrival || u32 referenced_by (0 = none) || u32 white-flag index
    /// (u32::MAX = none) || u8 conflict || u64 confirmation time (0 = none)`,
    /// little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(26);
        v.push(self.solid as u8);
        v.extend_from_slice(&self.arrival_time.to_le_bytes());
        v.extend_from_slice(&self.referenced_by.unwrap_or(0).to_le_bytes());
        v.extend_from_slice(&self.white_flag_index.unwrap_or(u32::MAX).to_le_bytes());
        v.push(self.conflict);
        v.extend_from_slice(&self.confirmation_time.unwrap_or(0).to_le_bytes());
        v
    }

    /// Reads [`BlockMetadata::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<BlockMetadata, StoreError> {
        if b.len() != 26 {
            return Err(StoreError::Corrupt(format!(
                "block metadata of {} bytes",
                b.len()
            )));
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        let referenced_by = u32_at(9);
        let wf = u32_at(13);
        let confirmed = u64_at(18);
        Ok(BlockMetadata {
            solid: b[0] != 0,
            arrival_time: u64_at(1),
            referenced_by: (referenced_by != 0).then_some(referenced_by),
            white_flag_index: (wf != u32::MAX).then_some(wf),
            conflict: b[17],
            confirmation_time: (confirmed != 0).then_some(confirmed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = BlockMetadata {
            solid: true,
            arrival_time: 5,
            referenced_by: Some(7),
            white_flag_index: Some(0),
            conflict: 2,
            confirmation_time: Some(9),
        };
        assert_eq!(BlockMetadata::from_bytes(&m.to_bytes()).unwrap(), m);
        let d = BlockMetadata::default();
        assert_eq!(BlockMetadata::from_bytes(&d.to_bytes()).unwrap(), d);
        assert!(BlockMetadata::from_bytes(&[0; 3]).is_err());
    }
}
