//! The compact presentation: what a holder hands a verifier (as one QR code).
//!
//! # Notes on the format
//!
//! The verifier already knows most public inputs: its own request (schema, program,
//! round, challenge, current time, issuance bound, policy) and the ledger's recent
//! registry roots. A presentation therefore carries only the proof and what the verifier
//! cannot derive:
//!
//! ```text
//! version    u8        = 1
//! proof      [u8; 128] compressed Groth16 proof (A, B, C)
//! root       [u8; 32]  big-endian registry root (checked against the ledger)
//! nullifier  [u8; 32]  big-endian
//! mask       u16       big-endian, bit j = attribute j disclosed
//! values     for each set bit, ascending: len u8 (0..=32), then len big-endian bytes,
//!            minimal (no leading zero byte; zero is len 0) and below p
//! ```
//!
//! 195 bytes plus 1-33 per disclosed attribute: two small disclosed values make about
//! 205 bytes, a QR code of version 10 or below. Decoding is strict (one encoding per
//! presentation), so a presentation's bytes can be hashed or compared.

use ark_bn254::Bn254;
use ark_groth16::PreparedVerifyingKey;
use weft_crypto::poseidon::{fr_from_bytes_be, fr_to_bytes_be, Fr};

use rand::{CryptoRng, RngCore};

use crate::circuit::{EligibilityCircuit, Statement};
use crate::credential::NUM_ATTRIBUTES;
use crate::groth16::{prove, verify, CompressedProof, Keys, PROOF_BYTES};
use crate::policy::Policy;
use crate::CircuitError;

/// The format version byte.
pub const VERSION: u8 = 1;
/// Bytes of a presentation that discloses nothing.
pub const BASE_BYTES: usize = 1 + PROOF_BYTES + 32 + 32 + 2;

/// What the verifier asked for: with a presentation, this gives the whole statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The credential schema the policy refers to.
    pub schema: Fr,
    /// The program id.
    pub program: Fr,
    /// The round.
    pub round: u64,
    /// The verifier's fresh challenge.
    pub challenge: Fr,
    /// Current time (Unix seconds).
    pub today: u32,
    /// Latest acceptable issuance time (Unix seconds).
    pub issued_before: u32,
    /// The program's policy.
    pub policy: Policy,
}

/// A presentation: the proof and the public inputs the verifier cannot derive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presentation {
    /// The compressed proof.
    pub proof: CompressedProof,
    /// The registry root the proof is against.
    pub root: Fr,
    /// The household's nullifier for the request's program and round.
    pub nullifier: Fr,
    /// Disclosed attribute values.
    pub disclosed: [Option<Fr>; NUM_ATTRIBUTES],
}

impl Presentation {
    /// Proves `circuit` (after the native check) and packs the presentation: what a
    /// wallet calls.
    pub fn prove<R: RngCore + CryptoRng>(
        keys: &Keys,
        circuit: EligibilityCircuit,
        rng: &mut R,
    ) -> Result<Self, CircuitError> {
        let s = circuit.statement.clone();
        let proof = prove(keys, circuit, rng)?;
        Ok(Presentation {
            proof: CompressedProof::from_proof(&proof),
            root: s.root,
            nullifier: s.nullifier,
            disclosed: s.disclosed,
        })
    }

    /// The full statement for `request`.
    pub fn statement(&self, request: &Request) -> Statement {
        Statement {
            root: self.root,
            nullifier: self.nullifier,
            schema: request.schema,
            program: request.program,
            round: request.round,
            challenge: request.challenge,
            today: request.today,
            issued_before: request.issued_before,
            disclosed: self.disclosed,
            policy: request.policy.clone(),
        }
    }

    /// Verifies the proof for `request`; the caller still checks the root against the
    /// ledger's recent roots and the nullifier against those already claimed.
    pub fn verify(
        &self,
        pvk: &PreparedVerifyingKey<Bn254>,
        request: &Request,
    ) -> Result<Statement, CircuitError> {
        let statement = self.statement(request);
        verify(pvk, &statement.public_inputs()?, &self.proof.to_proof()?)?;
        Ok(statement)
    }

    /// The compact binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BASE_BYTES + 2 * 33);
        out.push(VERSION);
        out.extend_from_slice(&self.proof.0);
        out.extend_from_slice(&fr_to_bytes_be(&self.root));
        out.extend_from_slice(&fr_to_bytes_be(&self.nullifier));
        let mask = self
            .disclosed
            .iter()
            .enumerate()
            .fold(0u16, |m, (j, d)| m | (u16::from(d.is_some()) << j));
        out.extend_from_slice(&mask.to_be_bytes());
        for v in self.disclosed.iter().flatten() {
            let bytes = fr_to_bytes_be(v);
            let start = bytes.iter().position(|b| *b != 0).unwrap_or(32);
            out.push((32 - start) as u8);
            out.extend_from_slice(&bytes[start..]);
        }
        out
    }

    /// Parses the compact form strictly (see the module notes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CircuitError> {
        let bad = CircuitError::Encoding;
        let mut r = bytes;
        let mut take = |n: usize| -> Result<&[u8], CircuitError> {
            let (head, tail) = r.split_at_checked(n).ok_or(bad("presentation truncated"))?;
            r = tail;
            Ok(head)
        };
        if take(1)? != [VERSION] {
            return Err(bad("unknown presentation version"));
        }
        let mut proof = [0u8; PROOF_BYTES];
        proof.copy_from_slice(take(PROOF_BYTES)?);
        let field = |b: &[u8]| -> Result<Fr, CircuitError> {
            let mut a = [0u8; 32];
            a[32 - b.len()..].copy_from_slice(b);
            fr_from_bytes_be(&a).map_err(|_| bad("value not below the field modulus"))
        };
        let root = field(take(32)?)?;
        let nullifier = field(take(32)?)?;
        let m = take(2)?;
        let mask = u16::from_be_bytes([m[0], m[1]]);
        let mut disclosed = [None; NUM_ATTRIBUTES];
        for (j, d) in disclosed.iter_mut().enumerate() {
            if mask >> j & 1 == 1 {
                let len = usize::from(take(1)?[0]);
                if len > 32 {
                    return Err(bad("disclosed value longer than 32 bytes"));
                }
                let v = take(len)?;
                if v.first() == Some(&0) {
                    return Err(bad("disclosed value not minimally encoded"));
                }
                *d = Some(field(v)?);
            }
        }
        if !r.is_empty() {
            return Err(bad("trailing bytes after presentation"));
        }
        // Points are validated here so that a malformed proof is an encoding error.
        CompressedProof(proof).to_proof()?;
        Ok(Presentation {
            proof: CompressedProof(proof),
            root,
            nullifier,
            disclosed,
        })
    }
}
