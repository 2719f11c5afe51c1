//! The statement of a claim: how a program and a claim become the eligibility
//! circuit's public inputs.
//!
//! The ledger (which accepts claims), the distribution point (which checks them
//! offline) and the wallet (which proves them) must agree on every public input, so
//! they all build it here, from the program as published and the claim as sent — never
//! from values a prover chose:
//!
//! ```text
//! root, nullifier      the claim's (canonical field elements)
//! schema               schema_field(program.schema)
//! program              first 31 bytes of the program id, big-endian
//! round                the claim's round
//! challenge            fr_from_hash("weft/challenge/v1" || nonce || point || device key || time)
//! today                claim time / 1000 (Unix seconds)
//! issued_before        the program's
//! disclosed            the claim's values, in the program's disclosure mask
//! policy               the program's conditions
//! ```

use ark_ff::PrimeField;
use weft_circuits::{Condition, Policy, Predicate, Statement, NUM_ATTRIBUTES};
use weft_crypto::poseidon::{fr_from_bytes_be, Fr};
use weft_types::{Claim, PolicyCondition, PredicateOp, Program, ProgramId, SchemaId};

/// The program as the circuit's field element (its id's first 31 bytes, big-endian).
pub fn program_field(id: &ProgramId) -> Fr {
    Fr::from_be_bytes_mod_order(&id.bytes()[..31])
}

/// The schema as the circuit's field element.
pub fn schema_field(id: &SchemaId) -> Fr {
    crate::attributes::schema_field(id)
}

/// The circuit's policy for a program's conditions (`None` if a constant is not a
/// canonical field element).
pub fn policy(conditions: &[PolicyCondition]) -> Option<Policy> {
    let fr = |b: &[u8; 32]| fr_from_bytes_be(b).ok();
    let conditions = conditions
        .iter()
        .map(|c| {
            let predicate = match &c.predicate {
                PredicateOp::Eq { value } => Predicate::Eq(fr(value)?),
                PredicateOp::Ne { value } => Predicate::Ne(fr(value)?),
                PredicateOp::Lt { value } => Predicate::Lt(*value),
                PredicateOp::Le { value } => Predicate::Le(*value),
                PredicateOp::Gt { value } => Predicate::Gt(*value),
                PredicateOp::Ge { value } => Predicate::Ge(*value),
                PredicateOp::Between { lo, hi } => Predicate::Between(*lo, *hi),
                PredicateOp::In { values } => {
                    Predicate::In(values.iter().map(fr).collect::<Option<Vec<_>>>()?)
                }
                PredicateOp::NotIn { values } => {
                    Predicate::NotIn(values.iter().map(fr).collect::<Option<Vec<_>>>()?)
                }
            };
            Some(Condition {
                attribute: c.attribute,
                predicate,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Policy { conditions })
}

/// The verifier's challenge of a claim.
pub fn challenge(claim: &Claim) -> Fr {
    weft_circuits::groth16::fr_from_hash(&claim.challenge_preimage())
}

/// The statement a claim's proof must prove, rebuilt from the program and the claim
/// (`None` if the claim's field elements are not canonical or its disclosures do not
/// match the program's mask).
pub fn statement(program_id: &ProgramId, program: &Program, claim: &Claim) -> Option<Statement> {
    let mut disclosed: [Option<Fr>; NUM_ATTRIBUTES] = [None; NUM_ATTRIBUTES];
    let slots: Vec<usize> = (0..NUM_ATTRIBUTES)
        .filter(|j| program.disclose & (1 << j) != 0)
        .collect();
    if slots.len() != claim.disclosed.len() {
        return None;
    }
    for (j, v) in slots.iter().zip(&claim.disclosed) {
        disclosed[*j] = Some(fr_from_bytes_be(v).ok()?);
    }
    Some(Statement {
        root: fr_from_bytes_be(&claim.root).ok()?,
        nullifier: fr_from_bytes_be(&claim.nullifier).ok()?,
        schema: schema_field(&program.schema),
        program: program_field(program_id),
        round: claim.round as u64,
        challenge: challenge(claim),
        today: u32::try_from(claim.time / 1000).ok()?,
        issued_before: program.issued_before,
        disclosed,
        policy: policy(&program.conditions)?,
    })
}
