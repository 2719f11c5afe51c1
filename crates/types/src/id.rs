//! Fixed-size identifiers and key material as they appear on the wire.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

use crate::hash::blake2b256;

/// Errors from parsing a hex identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// Not hexadecimal.
    #[error("not valid hex: {0}")]
    NotHex(String),
    /// Wrong number of bytes.
    #[error("expected {expected} bytes, got {actual}")]
    WrongLength {
        /// Bytes required.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
}

/// Decodes `s` (with or without a `0x` prefix) into exactly `N` bytes.
pub fn parse_hex_array<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    let bytes = hex::decode(s).map_err(|e| HexError::NotHex(e.to_string()))?;
    let actual = bytes.len();
    bytes.try_into().map_err(|_| HexError::WrongLength {
        expected: N,
        actual,
    })
}

macro_rules! hex_bytes_type {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
            /// Lower-case hex, no prefix.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), hex::encode(self.0))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex_array::<$len>(s).map($name)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_bytes_type!(
    /// A block identifier: BLAKE2b-256 of the block's canonical bytes.
    BlockId,
    32
);
hex_bytes_type!(
    /// A milestone identifier: BLAKE2b-256 of the milestone essence's canonical bytes.
    MilestoneId,
    32
);
hex_bytes_type!(
    /// An Ed25519 public key as its 32-byte compressed encoding (not yet checked to be a point).
    PublicKeyBytes,
    32
);
hex_bytes_type!(
    /// An Ed25519 signature as its 64 bytes (R || s).
    SignatureBytes,
    64
);

hex_bytes_type!(
    /// Root of the inclusion Merkle tree over the block ids a milestone confirms.
    InclusionRoot,
    32
);
hex_bytes_type!(
    /// Commitment to the whole ledger state after a milestone.
    StateRoot,
    32
);
hex_bytes_type!(
    /// Identifier of a milestone committee: BLAKE2b-256 of its canonical encoding.
    CommitteeId,
    32
);

hex_bytes_type!(
    /// A credential schema's id: BLAKE2b-256(`weft/schema/v1` || canonical schema bytes).
    SchemaId,
    32
);
hex_bytes_type!(
    /// A registry's id: BLAKE2b-256(`weft/registry/v1` || issuer DID || canonical
    /// creation bytes).
    RegistryId,
    32
);

impl BlockId {
    /// The virtual genesis block: 32 zero bytes. It is always solid and counts as
    /// confirmed by milestone 0; the first blocks of a network name it as their parent.
    pub const GENESIS: BlockId = BlockId([0; 32]);

    /// The id of a block, given its canonical bytes.
    pub fn of_bytes(canonical: &[u8]) -> BlockId {
        BlockId(blake2b256(&[canonical]))
    }
}

impl MilestoneId {
    /// The "previous milestone" of milestone 1.
    pub const NONE: MilestoneId = MilestoneId([0; 32]);
}

/// The network a block belongs to: the first 8 bytes (little-endian) of
/// BLAKE2b-256 of the network's name, so blocks of a test network can never be replayed
/// on another.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NetworkId(pub u64);

impl NetworkId {
    /// Derives the id from a network name such as `weft-dev`.
    pub fn from_name(name: &str) -> NetworkId {
        let digest = blake2b256(&[name.as_bytes()]);
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        NetworkId(u64::from_le_bytes(first))
    }
}

impl fmt::Display for NetworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        let id = BlockId([7; 32]);
        assert_eq!(id.to_hex().parse::<BlockId>(), Ok(id));
        assert_eq!(format!("0x{id}").parse::<BlockId>(), Ok(id));
        assert!(matches!("zz".parse::<BlockId>(), Err(HexError::NotHex(_))));
        assert_eq!(
            "00".parse::<BlockId>(),
            Err(HexError::WrongLength {
                expected: 32,
                actual: 1
            })
        );
    }

    #[test]
    fn network_ids_differ_by_name() {
        assert_ne!(
            NetworkId::from_name("weft-dev"),
            NetworkId::from_name("weft-main")
        );
    }
}
