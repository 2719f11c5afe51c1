//! A realistic sample statement (a household credential in a small registry, a policy
//! using every slot, two disclosed attributes): for `weft-zk export-snarkjs`, the
//! benchmark and interoperability checks. Deterministic for a given seed.

use ark_ff::Zero;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use weft_crypto::poseidon::Fr;
use weft_crypto::registry::Registry;

use crate::circuit::{EligibilityCircuit, Statement, Witness};
use crate::credential::{Credential, HolderSecrets, NUM_ATTRIBUTES};
use crate::groth16::{fr_from_hash, CompressedProof};
use crate::policy::{Condition, Policy, Predicate};
use crate::presentation::{Presentation, Request};
use crate::CircuitError;

/// "Now" in the sample: 2025-11-24T16:00:00Z.
pub const SAMPLE_TODAY: u32 = 1_764_000_000;

/// The sample circuit at `depth` (registry of 100 credentials, ours at index 37).
pub fn sample_circuit(depth: usize, seed: u64) -> Result<EligibilityCircuit, CircuitError> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let secrets = HolderSecrets::random(&mut rng);
    let schema = fr_from_hash(b"weft:schema:household-v1");
    let mut attributes = [Fr::zero(); NUM_ATTRIBUTES];
    attributes[0] = Fr::from(34u64); // age in years
    attributes[1] = Fr::from(5u64); // household size
    attributes[2] = fr_from_hash(b"north"); // region (hashed string)
    attributes[3] = Fr::from(120_000u64); // yearly income, minor units
    let credential = Credential::issue(
        schema,
        attributes,
        SAMPLE_TODAY + 31_536_000,
        SAMPLE_TODAY - 2_592_000,
        secrets.holder_commitment(),
        secrets.household_commitment(),
        &mut rng,
    );
    let mut leaves: Vec<Fr> = (0..100u64)
        .map(|i| fr_from_hash(&i.to_le_bytes()))
        .collect();
    let index = 37;
    leaves[index] = credential.commitment();
    let depth_u8 = u8::try_from(depth).map_err(|_| CircuitError::Unsatisfied("depth"))?;
    let registry = Registry::from_leaves(depth_u8, leaves)
        .map_err(|_| CircuitError::Unsatisfied("registry depth"))?;
    let path = registry
        .path(index as u64)
        .map_err(|_| CircuitError::Unsatisfied("registry path"))?;
    let program = fr_from_hash(b"weft:program:winter-food-2026");
    let c = |attribute, predicate| Condition {
        attribute,
        predicate,
    };
    let policy = Policy {
        conditions: vec![
            c(0, Predicate::Ge(18)),
            c(0, Predicate::Lt(65)),
            c(1, Predicate::Between(3, 12)),
            c(3, Predicate::Le(150_000)),
            c(
                2,
                Predicate::In(vec![fr_from_hash(b"south"), fr_from_hash(b"north")]),
            ),
            c(2, Predicate::NotIn(vec![fr_from_hash(b"east")])),
            c(1, Predicate::Ne(Fr::zero())),
            c(1, Predicate::Gt(1)),
        ],
    };
    let mut disclosed = [None; NUM_ATTRIBUTES];
    disclosed[1] = Some(attributes[1]);
    disclosed[3] = Some(attributes[3]);
    let statement = Statement {
        root: registry.root(),
        nullifier: secrets.nullifier(program, 1),
        schema,
        program,
        round: 1,
        challenge: fr_from_hash(b"weft:challenge:point-17:1764000000:8e1f"),
        today: SAMPLE_TODAY,
        issued_before: SAMPLE_TODAY - 86_400,
        disclosed,
        policy,
    };
    Ok(EligibilityCircuit {
        depth,
        statement,
        witness: Witness {
            credential,
            secrets,
            path,
        },
    })
}

/// The verifier's request behind a statement.
pub fn request_of(s: &Statement) -> Request {
    Request {
        schema: s.schema,
        program: s.program,
        round: s.round,
        challenge: s.challenge,
        today: s.today,
        issued_before: s.issued_before,
        policy: s.policy.clone(),
    }
}

/// The presentation of a statement with its proof.
pub fn presentation_of(s: &Statement, proof: CompressedProof) -> Presentation {
    Presentation {
        proof,
        root: s.root,
        nullifier: s.nullifier,
        disclosed: s.disclosed,
    }
}
