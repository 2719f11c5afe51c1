//! End-to-end tests of the eligibility circuit at the default depth (24): a valid
//! presentation proves and verifies, and every negative case of issue 3 fails to prove
//! (native check), fails the constraint system, or fails to verify.

use std::sync::OnceLock;

use ark_ff::{One, Zero};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use weft_circuits::circuit::{EligibilityCircuit, Statement, Witness};
use weft_circuits::credential::{nullifier, Credential, HolderSecrets};
use weft_circuits::groth16::{
    batch_verify, fr_from_hash, prove, prove_unchecked, setup, verify, CompressedProof, Keys,
};
use weft_circuits::policy::{Condition, Policy, Predicate};
use weft_circuits::presentation::{Presentation, Request};
use weft_circuits::{CircuitError, Fr, DEFAULT_DEPTH, NUM_PUBLIC_INPUTS};
use weft_crypto::registry::Registry;

const TODAY: u32 = 1_764_000_000;
const AGE: u64 = 34;
const SIZE: u64 = 5;
const INCOME: u64 = 120_000;

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| setup(b"weft test keys", DEFAULT_DEPTH).unwrap())
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(42)
}

fn cond(attribute: u8, predicate: Predicate) -> Condition {
    Condition {
        attribute,
        predicate,
    }
}

struct Fixture {
    registry: Registry,
    index: u64,
    circuit: EligibilityCircuit,
}

/// A household's credential (age 34, household of 5, region "north", income 120000),
/// in a registry of 100 credentials, presented for a policy using every slot.
fn fixture() -> Fixture {
    let mut rng = rng();
    let secrets = HolderSecrets::random(&mut rng);
    let schema = fr_from_hash(b"weft:schema:household-v1");
    let mut attributes = [Fr::zero(); 16];
    attributes[0] = Fr::from(AGE);
    attributes[1] = Fr::from(SIZE);
    attributes[2] = fr_from_hash(b"north");
    attributes[3] = Fr::from(INCOME);
    attributes[15] = fr_from_hash(b"some 253-bit string attribute");
    let credential = Credential::issue(
        schema,
        attributes,
        TODAY + 10_000_000,
        TODAY - 1_000_000,
        secrets.holder_commitment(),
        secrets.household_commitment(),
        &mut rng,
    );
    let mut leaves: Vec<Fr> = (0..100u64)
        .map(|i| fr_from_hash(&i.to_le_bytes()))
        .collect();
    let index = 37;
    leaves[index as usize] = credential.commitment();
    let registry = Registry::from_leaves(DEFAULT_DEPTH as u8, leaves).unwrap();
    let program = fr_from_hash(b"program: winter food 2026");
    let policy = Policy {
        conditions: vec![
            cond(0, Predicate::Ge(18)),
            cond(0, Predicate::Lt(65)),
            cond(1, Predicate::Between(3, 12)),
            cond(3, Predicate::Le(150_000)),
            cond(
                2,
                Predicate::In(vec![fr_from_hash(b"south"), fr_from_hash(b"north")]),
            ),
            cond(2, Predicate::NotIn(vec![fr_from_hash(b"east")])),
            cond(15, Predicate::Ne(Fr::zero())),
            cond(1, Predicate::Gt(1)),
        ],
    };
    let mut disclosed = [None; 16];
    disclosed[1] = Some(Fr::from(SIZE));
    disclosed[2] = Some(attributes[2]);
    let statement = Statement {
        root: registry.root(),
        nullifier: secrets.nullifier(program, 3),
        schema,
        program,
        round: 3,
        challenge: fr_from_hash(b"point 17 / 2026-11-25T09:00 / nonce 8e1f"),
        today: TODAY,
        issued_before: TODAY - 1000,
        disclosed,
        policy,
    };
    let path = registry.path(index).unwrap();
    let circuit = EligibilityCircuit {
        depth: DEFAULT_DEPTH,
        statement,
        witness: Witness {
            credential,
            secrets,
            path,
        },
    };
    Fixture {
        registry,
        index,
        circuit,
    }
}

fn satisfied(c: &EligibilityCircuit) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    c.clone().generate_constraints(cs.clone()).unwrap();
    cs.is_satisfied().unwrap()
}

/// The statement fails natively, in the constraint system, and a forced proof fails.
fn assert_rejected(c: EligibilityCircuit, prove_it: bool) {
    assert!(
        matches!(c.check(), Err(CircuitError::Unsatisfied(_))),
        "native check passed"
    );
    assert!(!satisfied(&c), "constraint system satisfied");
    assert!(prove(keys(), c.clone(), &mut rng()).is_err());
    if prove_it {
        let proof = prove_unchecked(keys(), c.clone(), &mut rng()).unwrap();
        let inputs = c.statement.public_inputs().unwrap();
        assert_eq!(
            verify(&keys().pvk, &inputs, &proof),
            Err(CircuitError::Invalid)
        );
    }
}

fn valid_proof() -> &'static (Vec<Fr>, ark_groth16::Proof<ark_bn254::Bn254>) {
    static P: OnceLock<(Vec<Fr>, ark_groth16::Proof<ark_bn254::Bn254>)> = OnceLock::new();
    P.get_or_init(|| {
        let f = fixture();
        let proof = prove(keys(), f.circuit.clone(), &mut rng()).unwrap();
        (f.circuit.statement.public_inputs().unwrap(), proof)
    })
}

#[test]
fn valid_presentation_proves_verifies_and_round_trips() {
    let f = fixture();
    assert!(f.circuit.check().is_ok());
    assert!(satisfied(&f.circuit));
    let (inputs, proof) = valid_proof();
    assert_eq!(inputs.len(), NUM_PUBLIC_INPUTS);
    verify(&keys().pvk, inputs, proof).unwrap();

    let s = &f.circuit.statement;
    let p = Presentation {
        proof: CompressedProof::from_proof(proof),
        root: s.root,
        nullifier: s.nullifier,
        disclosed: s.disclosed,
    };
    let bytes = p.to_bytes();
    assert!(bytes.len() <= 400, "{} bytes", bytes.len());
    let back = Presentation::from_bytes(&bytes).unwrap();
    assert_eq!(back, p);
    let request = Request {
        schema: s.schema,
        program: s.program,
        round: s.round,
        challenge: s.challenge,
        today: s.today,
        issued_before: s.issued_before,
        policy: s.policy.clone(),
    };
    assert_eq!(back.verify(&keys().pvk, &request).unwrap(), *s);
    let mut other = request.clone();
    other.round += 1;
    assert_eq!(back.verify(&keys().pvk, &other), Err(CircuitError::Invalid));
}

#[test]
fn wrong_root() {
    let mut c = fixture().circuit;
    c.statement.root += Fr::one();
    assert_rejected(c, true);
}

#[test]
fn leaf_not_in_tree() {
    let mut f = fixture();
    // A path for a different position: the credential is not at index 38.
    f.circuit.witness.path = f.registry.path(f.index + 1).unwrap();
    assert_rejected(f.circuit, true);
}

#[test]
fn revoked_leaf() {
    let mut f = fixture();
    f.registry.revoke(f.index).unwrap();
    f.circuit.statement.root = f.registry.root();
    f.circuit.witness.path = f.registry.path(f.index).unwrap();
    assert_rejected(f.circuit, true);
}

#[test]
fn wrong_holder_secret() {
    let mut c = fixture().circuit;
    c.witness.secrets.holder_secret += Fr::one();
    assert_rejected(c, true);
}

#[test]
fn wrong_household_key() {
    let mut c = fixture().circuit;
    c.witness.secrets.household_key += Fr::one();
    // Even with the nullifier that matches the wrong key, the commitment fails.
    c.statement.nullifier = nullifier(
        c.witness.secrets.household_key,
        c.statement.program,
        c.statement.round,
    );
    assert_rejected(c, false);
}

#[test]
fn expired_credential() {
    let mut c = fixture().circuit;
    c.statement.today = c.witness.credential.expiry + 1;
    assert_rejected(c.clone(), true);
    c.statement.today = c.witness.credential.expiry;
    assert!(
        c.check().is_ok() && satisfied(&c),
        "expiring today is still valid"
    );
}

#[test]
fn issued_after_the_bound() {
    let mut c = fixture().circuit;
    c.statement.issued_before = c.witness.credential.issued_at - 1;
    assert_rejected(c.clone(), true);
    c.statement.issued_before = c.witness.credential.issued_at;
    assert!(c.check().is_ok() && satisfied(&c));
}

#[test]
fn nullifier_of_another_program_or_round() {
    let c = fixture().circuit;
    let mut other_round = c.clone();
    other_round.statement.nullifier = c.witness.secrets.nullifier(c.statement.program, 4);
    assert_rejected(other_round, false);
    let mut other_program = c.clone();
    other_program.statement.nullifier = c.witness.secrets.nullifier(Fr::from(7u64), 3);
    assert_rejected(other_program, false);
    // The valid proof does not verify for another round with the same nullifier.
    let (inputs, proof) = valid_proof();
    let mut s = c.statement.clone();
    s.round = 4;
    assert!(verify(&keys().pvk, &s.public_inputs().unwrap(), proof).is_err());
    assert!(verify(&keys().pvk, inputs, proof).is_ok());
}

#[test]
fn changed_challenge() {
    let c = fixture().circuit;
    let (_, proof) = valid_proof();
    let mut s = c.statement.clone();
    s.challenge += Fr::one();
    assert_eq!(
        verify(&keys().pvk, &s.public_inputs().unwrap(), proof),
        Err(CircuitError::Invalid)
    );
}

#[test]
fn every_public_input_is_bound() {
    let (inputs, proof) = valid_proof();
    for i in 0..inputs.len() {
        let mut changed = inputs.clone();
        changed[i] += Fr::one();
        assert!(
            verify(&keys().pvk, &changed, proof).is_err(),
            "input {i} not bound"
        );
    }
    assert!(
        verify(&keys().pvk, &inputs[1..], proof).is_err(),
        "short input vector"
    );
}

#[test]
fn tampered_proof_bytes() {
    let (inputs, proof) = valid_proof();
    let bytes = CompressedProof::from_proof(proof);
    assert_eq!(bytes.to_proof().unwrap(), *proof);
    for pos in [0usize, 5, 31, 32, 60, 95, 96, 127] {
        for bit in [0u8, 3, 7] {
            let mut t = bytes;
            t.0[pos] ^= 1 << bit;
            if let Ok(p) = t.to_proof() {
                assert!(
                    verify(&keys().pvk, inputs, &p).is_err(),
                    "flip {pos}/{bit} verified"
                );
            }
        }
    }
}

#[test]
fn proof_from_another_key() {
    let other = setup(b"another ceremony", DEFAULT_DEPTH).unwrap();
    let f = fixture();
    let proof = prove(&other, f.circuit.clone(), &mut rng()).unwrap();
    let inputs = f.circuit.statement.public_inputs().unwrap();
    verify(&other.pvk, &inputs, &proof).unwrap();
    assert_eq!(
        verify(&keys().pvk, &inputs, &proof),
        Err(CircuitError::Invalid)
    );
    assert_ne!(other.verifying_key_hash(), keys().verifying_key_hash());
}

#[test]
fn batch_verification() {
    let (inputs, proof) = valid_proof();
    let f = fixture();
    let mut c2 = f.circuit.clone();
    c2.statement.challenge = Fr::from(99u64);
    let p2 = prove(keys(), c2.clone(), &mut rng()).unwrap();
    let good = vec![
        (inputs.clone(), proof.clone()),
        (c2.statement.public_inputs().unwrap(), p2.clone()),
        (inputs.clone(), proof.clone()),
    ];
    batch_verify(&keys().pvk, &good, &mut rng()).unwrap();
    let mut bad = good.clone();
    bad[1].0[5] = Fr::from(98u64);
    assert_eq!(
        batch_verify(&keys().pvk, &bad, &mut rng()),
        Err(CircuitError::Invalid)
    );
    let mut swapped = good.clone();
    swapped[0].1 = p2;
    assert_eq!(
        batch_verify(&keys().pvk, &swapped, &mut rng()),
        Err(CircuitError::Invalid)
    );
    assert!(batch_verify(&keys().pvk, &[], &mut rng()).is_ok());
}

/// Runs `c` with `policy` and returns whether both the native check and the
/// constraint system accept it (and that they agree).
fn policy_accepts(c: &EligibilityCircuit, policy: Policy) -> bool {
    let mut c = c.clone();
    c.statement.policy = policy;
    let native = c.check().is_ok();
    assert_eq!(native, satisfied(&c), "native check and circuit disagree");
    native
}

#[test]
fn every_operator_at_and_just_outside_its_boundary() {
    let c = fixture().circuit;
    let age = AGE as u32;
    let north = fr_from_hash(b"north");
    let one = |p| Policy {
        conditions: vec![cond(0, p)],
    };
    let region = |p| Policy {
        conditions: vec![cond(2, p)],
    };
    // (policy, holds)
    let cases = vec![
        (one(Predicate::Eq(Fr::from(AGE))), true),
        (one(Predicate::Eq(Fr::from(AGE + 1))), false),
        (one(Predicate::Ne(Fr::from(AGE + 1))), true),
        (one(Predicate::Ne(Fr::from(AGE))), false),
        (one(Predicate::Lt(age + 1)), true),
        (one(Predicate::Lt(age)), false),
        (one(Predicate::Lt(0)), false),
        (one(Predicate::Le(age)), true),
        (one(Predicate::Le(age - 1)), false),
        (one(Predicate::Gt(age - 1)), true),
        (one(Predicate::Gt(age)), false),
        (one(Predicate::Gt(u32::MAX)), false),
        (one(Predicate::Ge(age)), true),
        (one(Predicate::Ge(age + 1)), false),
        (one(Predicate::Between(age, age)), true),
        (one(Predicate::Between(age + 1, age + 9)), false),
        (one(Predicate::Between(age - 9, age - 1)), false),
        (one(Predicate::Between(age + 1, age - 1)), false),
        (
            region(Predicate::In(vec![fr_from_hash(b"south"), north])),
            true,
        ),
        (
            region(Predicate::In(vec![
                fr_from_hash(b"south"),
                north + Fr::one(),
            ])),
            false,
        ),
        (region(Predicate::NotIn(vec![fr_from_hash(b"south")])), true),
        (
            region(Predicate::NotIn(vec![fr_from_hash(b"south"), north])),
            false,
        ),
        (region(Predicate::In(vec![north; 8])), true),
        // Ordered predicates on a 253-bit attribute never hold.
        (region(Predicate::Ge(0)), false),
        (region(Predicate::Le(u32::MAX)), false),
    ];
    for (i, (policy, expected)) in cases.into_iter().enumerate() {
        assert_eq!(policy_accepts(&c, policy), expected, "case {i}");
    }
}

#[test]
fn attribute_wrapping_around_the_field() {
    // A credential whose attribute 0 is p - 1 ("-1"): no ordered predicate can hold.
    let mut f = fixture();
    f.circuit.witness.credential.attributes[0] = -Fr::one();
    f.registry
        .update(f.index, f.circuit.witness.credential.commitment())
        .unwrap();
    f.circuit.statement.root = f.registry.root();
    f.circuit.witness.path = f.registry.path(f.index).unwrap();
    f.circuit.statement.policy = Policy {
        conditions: vec![cond(0, Predicate::Lt(65))],
    };
    assert_rejected(f.circuit.clone(), true);
    f.circuit.statement.policy = Policy {
        conditions: vec![cond(0, Predicate::Ge(18))],
    };
    assert_rejected(f.circuit.clone(), false);
    f.circuit.statement.policy = Policy {
        conditions: vec![cond(0, Predicate::Between(0, u32::MAX))],
    };
    assert_rejected(f.circuit, false);
}

#[test]
fn disclosure_must_match_and_hidden_attributes_stay_hidden() {
    let c = fixture().circuit;
    let mut wrong = c.clone();
    wrong.statement.disclosed[1] = Some(Fr::from(SIZE + 1));
    assert_rejected(wrong, true);
    let (inputs, _) = valid_proof();
    // Only the disclosed attributes appear among the public inputs.
    assert!(!inputs.contains(&Fr::from(INCOME)));
    assert!(inputs.contains(&Fr::from(SIZE)));
}

#[test]
fn keys_round_trip_and_hash() {
    let k = keys();
    let bytes = k.proving_key_bytes();
    let back = Keys::from_proving_key_bytes(&bytes).unwrap();
    assert_eq!(back.verifying_key_hash(), k.verifying_key_hash());
    assert!(Keys::from_proving_key_bytes(&bytes[..bytes.len() - 1]).is_err());
    let again = setup(b"weft test keys", DEFAULT_DEPTH).unwrap();
    assert_eq!(
        again.verifying_key_hash(),
        k.verifying_key_hash(),
        "setup is deterministic"
    );
}
