//! The eligibility circuit: one R1CS (and one Groth16 key pair) for every program.
//!
//! It proves, for the public [`Statement`] and a private [`Witness`] (credential, holder
//! secrets, registry path), that:
//!
//! 1. `Poseidon(holder_secret)` and `Poseidon(household_key)` are the credential's
//!    commitments (the prover knows both secrets);
//! 2. the credential's leaf, under the public schema, is in the registry tree with the
//!    public root (a zeroed, revoked leaf opens to nothing);
//! 3. `nullifier = Poseidon(household_key, program, round)`;
//! 4. `expiry >= today` and `0 <= issued_at <= issued_before`, as 32-bit integers;
//! 5. each of the 8 predicate slots holds on its selected attribute;
//! 6. every attribute whose mask bit is set equals its public disclosed value;
//! 7. the challenge is bound (it is a public input; squaring it keeps it in a constraint).
//!
//! # Notes on soundness of comparisons
//!
//! All comparisons are of the form "`x` is a `k`-bit integer", proved by `k` boolean
//! witnesses `b_i` and one constraint `x = sum 2^i b_i`. With public bounds below `2^32`
//! (the verifier builds them, [`crate::policy`] refuses anything wider), the pair
//! `v - lo in [0, 2^32)` and `hi - v in [0, 2^32)` forces `v = lo + d` with
//! `d < 2^32` as an integer (no reduction mod `p` can happen below `2^33`), and then
//! `hi - v >= 0`: so `lo <= v <= hi` over the integers, whatever field element `v` is. A
//! value that "wraps around" (`v = p - 1`, i.e. `-1`) gives `v - lo = p - 1 - lo`, which
//! is not a 32-bit integer, and fails. The interval constraint is multiplied by the
//! slot's public `interval` flag so that a switched-off slot constrains nothing:
//! `interval * (v - lo) = sum 2^i b_i` is still one R1CS row.
//!
//! The constraint count by group is in specs/circuits.md and checked by a test here.

use ark_ff::{AdditiveGroup, BigInteger, Field, One, PrimeField, Zero};
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::boolean::Boolean;
use ark_r1cs_std::eq::EqGadget;
use ark_r1cs_std::fields::fp::FpVar;
use ark_r1cs_std::fields::FieldVar;
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystemRef, LinearCombination, SynthesisError, Variable,
};
use weft_crypto::poseidon::{hash1, Fr};
use weft_crypto::poseidon_r1cs::hash_var;
use weft_crypto::registry::RegistryPath;

use crate::credential::{nullifier, Credential, HolderSecrets, INNER_ATTRIBUTES, NUM_ATTRIBUTES};
use crate::policy::{Policy, DESCRIPTOR_BITS, ORDERED_BITS, SET_SIZE, SLOTS};
use crate::CircuitError;

/// Public inputs: root, nullifier, schema, program, round, challenge, today,
/// issued_before, mask, 16 disclosed values, 8 x (descriptor + 8 constants).
pub const NUM_PUBLIC_INPUTS: usize = 9 + NUM_ATTRIBUTES + SLOTS * (1 + SET_SIZE);

/// What the verifier knows: everything here is a public input of the proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The registry root the credential is under (one of the ledger's recent roots).
    pub root: Fr,
    /// The household's nullifier for (program, round).
    pub nullifier: Fr,
    /// The credential schema the policy is written against.
    pub schema: Fr,
    /// The aid program's id.
    pub program: Fr,
    /// The program's round.
    pub round: u64,
    /// The verifier's challenge (nonce bound to the distribution point and time).
    pub challenge: Fr,
    /// The current time (Unix seconds): the credential must not have expired.
    pub today: u32,
    /// Credentials issued after this time (Unix seconds) cannot claim.
    pub issued_before: u32,
    /// `Some(value)` for each attribute the holder reveals.
    pub disclosed: [Option<Fr>; NUM_ATTRIBUTES],
    /// The program's predicates.
    pub policy: Policy,
}

impl Statement {
    /// The 16-bit disclosure mask (bit `j` set when attribute `j` is revealed).
    pub fn mask(&self) -> u16 {
        self.disclosed
            .iter()
            .enumerate()
            .fold(0u16, |m, (j, d)| m | (u16::from(d.is_some()) << j))
    }

    /// The public inputs in circuit order ([`NUM_PUBLIC_INPUTS`] of them).
    pub fn public_inputs(&self) -> Result<Vec<Fr>, CircuitError> {
        let slots = self.policy.slot_inputs()?;
        let mut v = Vec::with_capacity(NUM_PUBLIC_INPUTS);
        v.extend_from_slice(&[
            self.root,
            self.nullifier,
            self.schema,
            self.program,
            Fr::from(self.round),
            self.challenge,
            Fr::from(self.today),
            Fr::from(self.issued_before),
            Fr::from(self.mask()),
        ]);
        v.extend(self.disclosed.iter().map(|d| d.unwrap_or_default()));
        for s in slots {
            v.push(s.descriptor);
            v.extend_from_slice(&s.constants);
        }
        Ok(v)
    }
}

/// What only the holder knows. `Debug` prints none of it (the path's index alone would
/// identify the credential in its registry).
#[derive(Clone)]
pub struct Witness {
    /// The credential.
    pub credential: Credential,
    /// The holder's and household's secrets.
    pub secrets: HolderSecrets,
    /// The credential leaf's authentication path.
    pub path: RegistryPath,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Witness { .. }")
    }
}

/// The circuit: a statement, a witness, and the registry depth it is built for.
#[derive(Debug, Clone)]
pub struct EligibilityCircuit {
    /// Registry depth (the length of every path); fixed per key pair.
    pub depth: usize,
    /// Public part.
    pub statement: Statement,
    /// Private part.
    pub witness: Witness,
}

impl EligibilityCircuit {
    /// A circuit with all-zero values, for key generation and constraint counting.
    pub fn blank(depth: usize) -> Self {
        let zero = Fr::zero();
        EligibilityCircuit {
            depth,
            statement: Statement {
                root: zero,
                nullifier: zero,
                schema: zero,
                program: zero,
                round: 0,
                challenge: zero,
                today: 0,
                issued_before: 0,
                disclosed: [None; NUM_ATTRIBUTES],
                policy: Policy::default(),
            },
            witness: Witness {
                credential: Credential {
                    schema: zero,
                    attributes: [zero; NUM_ATTRIBUTES],
                    expiry: 0,
                    issued_at: 0,
                    holder_commitment: zero,
                    household_commitment: zero,
                    salt: zero,
                },
                secrets: HolderSecrets {
                    holder_secret: zero,
                    household_key: zero,
                },
                path: RegistryPath {
                    index: 0,
                    siblings: vec![zero; depth],
                },
            },
        }
    }

    /// Checks natively every statement the circuit enforces, naming the first that fails.
    /// Proving calls this first: a release-mode prover does not check satisfaction.
    pub fn check(&self) -> Result<(), CircuitError> {
        let (s, w) = (&self.statement, &self.witness);
        let c = &w.credential;
        let fail = |what| Err(CircuitError::Unsatisfied(what));
        if w.path.siblings.len() != self.depth
            || (self.depth < 64 && w.path.index >> self.depth != 0)
        {
            return fail("registry path has the wrong depth");
        }
        s.policy.slot_inputs()?;
        if hash1(w.secrets.holder_secret) != c.holder_commitment {
            return fail("holder secret does not open the holder commitment");
        }
        if hash1(w.secrets.household_key) != c.household_commitment {
            return fail("household key does not open the household commitment");
        }
        if c.schema != s.schema {
            return fail("credential has another schema");
        }
        if w.path.root(c.commitment()) != s.root {
            return fail("credential is not in the registry under this root");
        }
        if nullifier(w.secrets.household_key, s.program, s.round) != s.nullifier {
            return fail("wrong nullifier for this program and round");
        }
        if c.expiry < s.today {
            return fail("credential expired");
        }
        if c.issued_at > s.issued_before {
            return fail("credential issued after the bound");
        }
        for (d, a) in s.disclosed.iter().zip(&c.attributes) {
            if d.is_some_and(|d| d != *a) {
                return fail("disclosed value differs from the attribute");
            }
        }
        if !s.policy.holds(&c.attributes) {
            return fail("a policy condition does not hold");
        }
        Ok(())
    }
}

/// The linear combination of a field variable.
fn lc(v: &FpVar<Fr>) -> LinearCombination<Fr> {
    match v {
        FpVar::Constant(c) => LinearCombination::from((*c, Variable::One)),
        FpVar::Var(a) => LinearCombination::from(a.variable),
    }
}

/// Value of a variable, zero when not assigned (key generation).
fn val(v: &FpVar<Fr>) -> Fr {
    ark_r1cs_std::GR1CSVar::value(v).unwrap_or_default()
}

/// `n` boolean witnesses holding the low `n` bits of `x` (one constraint each).
fn bits_witness(
    cs: &ConstraintSystemRef<Fr>,
    x: Fr,
    n: usize,
) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    let bits = x.into_bigint().to_bits_le();
    (0..n)
        .map(|i| Boolean::new_witness(cs.clone(), || Ok(bits[i])))
        .collect()
}

/// `sum 2^i bits_i`.
fn bits_lc(bits: &[Boolean<Fr>]) -> LinearCombination<Fr> {
    let mut acc = LinearCombination::zero();
    let mut pow = Fr::one();
    for b in bits {
        acc = acc + (pow, &b.lc());
        pow.double_in_place();
    }
    acc
}

/// Enforces that `a * b` is an `n`-bit integer: `n` booleans and one product row
/// `a * b = sum 2^i b_i` (with `a = 1` it is a plain range check).
fn enforce_product_in_range(
    cs: &ConstraintSystemRef<Fr>,
    a: &FpVar<Fr>,
    b: &FpVar<Fr>,
    n: usize,
) -> Result<(), SynthesisError> {
    let bits = bits_witness(cs, val(a) * val(b), n)?;
    cs.enforce_r1cs_constraint(|| lc(a), || lc(b), || bits_lc(&bits))
}

/// Decomposes a public value into `n` bits (n booleans + 1 row).
fn decompose(
    cs: &ConstraintSystemRef<Fr>,
    x: &FpVar<Fr>,
    n: usize,
) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    let bits = bits_witness(cs, val(x), n)?;
    cs.enforce_r1cs_constraint(
        || lc(x),
        || LinearCombination::from(Variable::One),
        || bits_lc(&bits),
    )?;
    Ok(bits)
}

/// `items[index]` for `index` given by little-endian bits: a binary multiplexer tree,
/// one constraint per inner node (`a + bit * (b - a)`), 15 for 16 items.
fn mux(bits: &[Boolean<Fr>], items: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    let mut level = items.to_vec();
    for bit in bits {
        let b = FpVar::from(bit.clone());
        level = level
            .chunks(2)
            .map(|p| match p {
                [x, y] => Ok(x + &(&b * &(y - x))),
                [x] => Ok(x.clone()),
                _ => Err(SynthesisError::Unsatisfiable),
            })
            .collect::<Result<_, _>>()?;
    }
    level.pop().ok_or(SynthesisError::Unsatisfiable)
}

impl ConstraintSynthesizer<Fr> for EligibilityCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let (s, w) = (&self.statement, &self.witness);
        let c = &w.credential;
        let public = s
            .public_inputs()
            .map_err(|_| SynthesisError::Unsatisfiable)?;
        if public.len() != NUM_PUBLIC_INPUTS || w.path.siblings.len() != self.depth {
            return Err(SynthesisError::Unsatisfiable);
        }
        // Public inputs, in order.
        let inputs: Vec<FpVar<Fr>> = public
            .iter()
            .map(|x| FpVar::new_input(cs.clone(), || Ok(*x)))
            .collect::<Result<_, _>>()?;
        let (root, nullifier_in, schema, program, round, challenge) = (
            &inputs[0], &inputs[1], &inputs[2], &inputs[3], &inputs[4], &inputs[5],
        );
        let (today, issued_before, mask) = (&inputs[6], &inputs[7], &inputs[8]);
        let disclosed = &inputs[9..9 + NUM_ATTRIBUTES];
        let slots = &inputs[9 + NUM_ATTRIBUTES..];

        // Private witness.
        let wit = |x: Fr| FpVar::new_witness(cs.clone(), || Ok(x));
        let holder_secret = wit(w.secrets.holder_secret)?;
        let household_key = wit(w.secrets.household_key)?;
        let attrs: Vec<FpVar<Fr>> = c
            .attributes
            .iter()
            .map(|a| wit(*a))
            .collect::<Result<_, _>>()?;
        let expiry = wit(Fr::from(c.expiry))?;
        let issued_at = wit(Fr::from(c.issued_at))?;
        let salt = wit(c.salt)?;

        // (1) key commitments, (2) leaf and membership.
        let holder_cm = hash_var(&[holder_secret])?;
        let household_cm = hash_var(std::slice::from_ref(&household_key))?;
        let inner = hash_var(&attrs[..INNER_ATTRIBUTES])?;
        let mut outer = vec![inner];
        outer.extend_from_slice(&attrs[INNER_ATTRIBUTES..]);
        outer.extend([
            schema.clone(),
            expiry.clone(),
            issued_at.clone(),
            holder_cm,
            household_cm,
            salt,
        ]);
        let mut node = hash_var(&outer)?;
        for (h, sibling) in w.path.siblings.iter().enumerate() {
            let bit = w.path.index.checked_shr(h as u32).unwrap_or(0) & 1 == 1;
            let is_right = Boolean::new_witness(cs.clone(), || Ok(bit))?;
            let sib = wit(*sibling)?;
            // left = node + b (sib - node), right = sib - b (sib - node): one row.
            let t = FpVar::from(is_right) * (&sib - &node);
            let left = &node + &t;
            let right = &sib - &t;
            node = hash_var(&[left, right])?;
        }
        node.enforce_equal(root)?;

        // (3) nullifier.
        hash_var(&[household_key, program.clone(), round.clone()])?.enforce_equal(nullifier_in)?;

        // (4) dates: expiry - today, issued_at and issued_before - issued_at are 32-bit.
        let one = FpVar::Constant(Fr::one());
        enforce_product_in_range(&cs, &one, &(&expiry - today), ORDERED_BITS)?;
        enforce_product_in_range(&cs, &one, &issued_at, ORDERED_BITS)?;
        enforce_product_in_range(&cs, &one, &(issued_before - &issued_at), ORDERED_BITS)?;

        // (5) predicate slots.
        for slot in slots.chunks_exact(1 + SET_SIZE) {
            let bits = decompose(&cs, &slot[0], DESCRIPTOR_BITS)?;
            let v = mux(&bits[..4], &attrs)?;
            let interval = FpVar::from(bits[4].clone());
            let set_in = FpVar::from(bits[5].clone());
            let set_out = FpVar::from(bits[6].clone());
            let k = &slot[1..];
            enforce_product_in_range(&cs, &interval, &(&v - &k[0]), ORDERED_BITS)?;
            enforce_product_in_range(&cs, &interval, &(&k[1] - &v), ORDERED_BITS)?;
            // prod_j (v - k_j): 7 rows.
            let mut prod = &v - &k[0];
            for kj in &k[1..] {
                prod *= &v - kj;
            }
            // in: set_in * prod = 0; out: prod * inv = set_out (prod invertible).
            cs.enforce_r1cs_constraint(|| lc(&set_in), || lc(&prod), LinearCombination::zero)?;
            let p = val(&prod);
            let inv = wit(if val(&set_out).is_one() {
                p.inverse().unwrap_or_default()
            } else {
                Fr::zero()
            })?;
            cs.enforce_r1cs_constraint(|| lc(&prod), || lc(&inv), || lc(&set_out))?;
        }

        // (6) selective disclosure: mask_j * (a_j - disclosed_j) = 0.
        let mask_bits = decompose(&cs, mask, NUM_ATTRIBUTES)?;
        for ((m, a), d) in mask_bits.iter().zip(&attrs).zip(disclosed) {
            let diff = a - d;
            cs.enforce_r1cs_constraint(|| m.lc(), || lc(&diff), LinearCombination::zero)?;
        }

        // (7) the challenge, kept in a constraint.
        let _ = challenge.square()?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ark_relations::gr1cs::ConstraintSystem;

    /// Constraint and variable counts of the blank circuit at `depth`.
    pub(crate) fn counts(depth: usize) -> (usize, usize, usize) {
        let cs = ConstraintSystem::<Fr>::new_ref();
        EligibilityCircuit::blank(depth)
            .generate_constraints(cs.clone())
            .unwrap();
        cs.finalize();
        (
            cs.num_constraints(),
            cs.num_instance_variables(),
            cs.num_witness_variables(),
        )
    }

    #[test]
    fn debug_hides_the_witness() {
        let c = EligibilityCircuit::blank(4);
        assert!(format!("{c:?}").contains("Witness { .. }"));
    }

    #[test]
    fn constraint_count_by_group() {
        let (c0, inst, _) = counts(0);
        let (c24, _, _) = counts(24);
        assert_eq!(inst, NUM_PUBLIC_INPUTS + 1);
        // One Merkle level: a 2-to-1 Poseidon (240), the path bit (1), the swap (1).
        assert_eq!((c24 - c0) % 24, 0);
        assert_eq!((c24 - c0) / 24, 242);
        println!("constraints: depth 0 {c0}, depth 24 {c24}, public inputs {NUM_PUBLIC_INPUTS}");
    }
}
