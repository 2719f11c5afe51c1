//! The committee's keys as AlephBFT sees them, and the hash it uses.
//!
//! AlephBFT signs its units and alerts with a [`Keychain`] and checks quorums with a
//! [`MultiKeychain`]. Here both are the committee's Ed25519 keys: signing goes through
//! `weft-crypto`'s zeroizing [`OrganisationKey`], verification through its ZIP-215
//! [`weft_crypto::verify`], the same rules as every other signature in Weft. Every
//! message is prefixed with a domain and the committee id, so no consensus signature can
//! ever be replayed as a block or milestone signature (or into another committee).

use std::fmt;
use std::sync::Arc;

use aleph_bft::{Index, Keychain, MultiKeychain, NodeCount, NodeIndex, PartialMultisignature};
use parity_scale_codec::{Decode, Encode};
use weft_crypto::OrganisationKey;
use weft_types::{Committee, PublicKeyBytes, SignatureBytes};

/// Domain prefix of everything a member signs for AlephBFT.
pub const CONSENSUS_SIGNATURE_DOMAIN: &[u8] = b"weft/consensus/aleph-bft/v1";

/// An Ed25519 signature as AlephBFT carries it (SCALE: the 64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
pub struct Ed25519Signature(pub [u8; 64]);

impl fmt::Debug for Ed25519Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519Signature({}…)", hex_prefix(&self.0))
    }
}

fn hex_prefix(b: &[u8]) -> String {
    b.iter().take(4).map(|x| format!("{x:02x}")).collect()
}

/// A set of members' signatures on one message (AlephBFT's partial multisignature).
pub type SignatureSet = aleph_bft::SignatureSet<Ed25519Signature>;

/// BLAKE2b-256, the hash of units and DAG control hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blake2bHasher;

impl aleph_bft::Hasher for Blake2bHasher {
    type Hash = [u8; 32];

    fn hash(s: &[u8]) -> [u8; 32] {
        weft_types::hash::blake2b256(&[s])
    }
}

/// Why a keychain cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeychainError {
    /// The key is not a member of the committee.
    #[error("key {0} is not a member of the committee")]
    NotAMember(PublicKeyBytes),
}

/// This member's signing key and every member's public key; a member's AlephBFT
/// [`NodeIndex`] is its position in the committee's (sorted) member list.
#[derive(Clone)]
pub struct CommitteeKeychain {
    key: Arc<OrganisationKey>,
    index: NodeIndex,
    members: Arc<[PublicKeyBytes]>,
    prefix: Arc<[u8]>,
}

impl fmt::Debug for CommitteeKeychain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommitteeKeychain")
            .field("index", &self.index.0)
            .field("public_key", &self.key.public_key())
            .field("members", &self.members.len())
            .finish()
    }
}

impl CommitteeKeychain {
    /// The keychain of the member holding `key` in `committee`.
    pub fn new(
        committee: &Committee,
        key: Arc<OrganisationKey>,
    ) -> Result<CommitteeKeychain, KeychainError> {
        let public = key.public_key();
        let index = committee
            .members()
            .binary_search(&public)
            .map_err(|_| KeychainError::NotAMember(public))?;
        let mut prefix = CONSENSUS_SIGNATURE_DOMAIN.to_vec();
        prefix.extend_from_slice(&committee.id().0);
        Ok(CommitteeKeychain {
            key,
            index: NodeIndex(index),
            members: committee.members().into(),
            prefix: prefix.into(),
        })
    }

    /// This member's position in the committee.
    pub fn position(&self) -> usize {
        self.index.0
    }

    fn message(&self, msg: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(self.prefix.len() + msg.len());
        m.extend_from_slice(&self.prefix);
        m.extend_from_slice(msg);
        m
    }

    fn verifies(&self, msg: &[u8], sgn: &Ed25519Signature, index: NodeIndex) -> bool {
        match self.members.get(index.0) {
            Some(key) => {
                weft_crypto::verify(key, &self.message(msg), &SignatureBytes(sgn.0)).is_ok()
            }
            None => false,
        }
    }
}

impl Index for CommitteeKeychain {
    fn index(&self) -> NodeIndex {
        self.index
    }
}

impl Keychain for CommitteeKeychain {
    type Signature = Ed25519Signature;

    fn node_count(&self) -> NodeCount {
        NodeCount(self.members.len())
    }

    fn sign(&self, msg: &[u8]) -> Ed25519Signature {
        Ed25519Signature(self.key.sign(&self.message(msg)).0)
    }

    fn verify(&self, msg: &[u8], sgn: &Ed25519Signature, index: NodeIndex) -> bool {
        self.verifies(msg, sgn, index)
    }
}

impl MultiKeychain for CommitteeKeychain {
    type PartialMultisignature = SignatureSet;

    fn bootstrap_multi(&self, signature: &Ed25519Signature, index: NodeIndex) -> SignatureSet {
        SignatureSet::with_size(self.node_count()).add_signature(signature, index)
    }

    /// Complete when AlephBFT's own quorum (⌊2n/3⌋ + 1) of distinct members signed
    /// `msg`; entries outside the committee or not verifying do not count.
    fn is_complete(&self, msg: &[u8], partial: &SignatureSet) -> bool {
        let needed = self.node_count().consensus_threshold().0;
        let valid = partial
            .iter()
            .filter(|(i, s)| self.verifies(msg, s, *i))
            .take(needed)
            .count();
        valid >= needed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: u8) -> Vec<Arc<OrganisationKey>> {
        (1..=n)
            .map(|i| Arc::new(OrganisationKey::from_seed(&[i; 32])))
            .collect()
    }

    fn committee(keys: &[Arc<OrganisationKey>]) -> Committee {
        let n = keys.len();
        Committee::new(
            (2 * n / 3 + 1) as u16,
            keys.iter().map(|k| k.public_key()).collect(),
        )
        .unwrap()
    }

    #[test]
    fn positions_follow_the_sorted_members() {
        let ks = keys(4);
        let c = committee(&ks);
        for k in &ks {
            let kc = CommitteeKeychain::new(&c, k.clone()).unwrap();
            assert_eq!(c.members()[kc.position()], k.public_key());
        }
        let stranger = Arc::new(OrganisationKey::from_seed(&[99; 32]));
        assert!(matches!(
            CommitteeKeychain::new(&c, stranger),
            Err(KeychainError::NotAMember(_))
        ));
    }

    #[test]
    fn signatures_verify_only_for_their_signer_and_committee() {
        let ks = keys(4);
        let c = committee(&ks);
        let a = CommitteeKeychain::new(&c, ks[0].clone()).unwrap();
        let b = CommitteeKeychain::new(&c, ks[1].clone()).unwrap();
        let s = a.sign(b"unit");
        assert!(b.verify(b"unit", &s, a.index()));
        assert!(!b.verify(b"unit", &s, b.index()));
        assert!(!b.verify(b"unix", &s, a.index()));
        assert!(!b.verify(b"unit", &s, NodeIndex(4)));
        assert!(!b.verify(b"unit", &s, NodeIndex(usize::MAX)));
        // Not a plain signature of the message: the domain and committee are bound.
        assert!(weft_crypto::verify(&ks[0].public_key(), b"unit", &SignatureBytes(s.0)).is_err());
        let other = committee(&keys(7)[..7]);
        let a7 = CommitteeKeychain::new(&other, ks[0].clone()).unwrap();
        assert_ne!(a7.sign(b"unit"), s);
    }

    #[test]
    fn multisignature_needs_a_quorum_of_valid_distinct_members() {
        let ks = keys(4);
        let c = committee(&ks);
        let chains: Vec<_> = ks
            .iter()
            .map(|k| CommitteeKeychain::new(&c, k.clone()).unwrap())
            .collect();
        let msg = b"alert";
        let mut set = chains[0].bootstrap_multi(&chains[0].sign(msg), chains[0].index());
        assert!(!chains[0].is_complete(msg, &set));
        set = set.add_signature(&chains[1].sign(msg), chains[1].index());
        assert!(!chains[0].is_complete(msg, &set));
        // A bad signature under a third index does not count.
        let bad = set
            .clone()
            .add_signature(&chains[0].sign(b"other"), chains[2].index());
        assert!(!chains[0].is_complete(msg, &bad));
        set = set.add_signature(&chains[2].sign(msg), chains[2].index());
        assert!(chains[0].is_complete(msg, &set));
    }

    #[test]
    fn debug_names_no_secret() {
        let ks = keys(1);
        let c = committee(&ks);
        let kc = CommitteeKeychain::new(&c, ks[0].clone()).unwrap();
        let shown = format!("{kc:?}");
        assert!(!shown.contains(&format!("{:02x}", 1u8).repeat(32)));
        assert!(shown.contains("index"));
    }
}
