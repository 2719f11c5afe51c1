//! Groth16 on BN254 for the eligibility circuit: keys from a seed, proving, verifying
//! (single and batched), and the 128-byte compressed proof encoding.
//!
//! # Notes on verification
//!
//! A Groth16 proof `(A, B, C)` for public inputs `x` verifies when
//!
//! ```text
//! e(A, B) = e(alpha, beta) * e(L, gamma) * e(C, delta),    L = IC_0 + sum_i x_i IC_i
//! ```
//!
//! `L` is computed with one multi-scalar multiplication (most inputs are small integers
//! or zero, which the MSM handles almost for free), then one multi-Miller loop of three
//! pairs and one final exponentiation are compared with the precomputed `e(alpha, beta)`.
//!
//! Batch verification of `N` proofs draws independent random 128-bit `r_j` and checks
//! the product of the `N` equations raised to `r_j`:
//!
//! ```text
//! prod_j e(r_j A_j, B_j) * e(-sum_j r_j L_j, gamma) * e(-sum_j r_j C_j, delta)
//!     * e(-(sum_j r_j) alpha, beta) = 1
//! ```
//!
//! That is `N + 3` Miller loops and a single final exponentiation, and
//! `sum_j r_j L_j = (sum_j r_j) IC_0 + sum_i (sum_j r_j x_{j,i}) IC_i` is one MSM over
//! the verifying key. If any proof is invalid, the product is 1 with probability at most
//! `2^-128` over the `r_j` (they are drawn after the proofs are fixed), so a batch that
//! fails is re-checked one by one by the caller if it needs to know which proof is bad.

use ark_bn254::{Bn254, G1Affine, G1Projective, G2Affine};
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use std::sync::Arc;

use ark_ff::{One, PrimeField, UniformRand, Zero};
use ark_groth16::{
    prepare_verifying_key, Groth16, PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey,
};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, Matrix, OptimizationGoal, SynthesisError,
    SynthesisMode, R1CS_PREDICATE_LABEL,
};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use rand::{CryptoRng, Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
#[cfg(feature = "parallel")]
use rayon::prelude::*;
use weft_crypto::poseidon::Fr;

use crate::circuit::{EligibilityCircuit, NUM_PUBLIC_INPUTS};
use crate::CircuitError;

/// Bytes of a compressed proof: A (32, G1) + B (64, G2) + C (32, G1).
pub const PROOF_BYTES: usize = 128;

type Blake2b256 = Blake2b<U32>;

/// BLAKE2b-256 of `data`.
pub fn blake2b256(data: &[u8]) -> [u8; 32] {
    Blake2b256::digest(data).into()
}

/// A proving key and its prepared verifying key, for one registry depth.
#[derive(Clone)]
pub struct Keys {
    /// The registry depth the circuit was built for.
    pub depth: usize,
    /// The proving key (about 400 bytes per constraint).
    pub pk: ProvingKey<Bn254>,
    /// The verifying key, prepared (`e(alpha, beta)` and negated `gamma`, `delta`).
    pub pvk: PreparedVerifyingKey<Bn254>,
    /// The circuit's R1CS matrices, built once: proving then only computes the witness
    /// (about 6 ms) instead of re-deriving and inlining every constraint (about 60 ms).
    r1cs: Arc<R1cs>,
}

/// The R1CS of the circuit at one depth: `[A, B, C]` and their dimensions.
struct R1cs {
    matrices: Vec<Matrix<Fr>>,
    num_instance_variables: usize,
    num_constraints: usize,
}

/// Synthesises the blank circuit at `depth` and extracts its R1CS matrices.
fn r1cs(depth: usize) -> Result<R1cs, CircuitError> {
    // arkworks records a tracing span per constraint namespace: under a process-wide
    // subscriber (the node's, a CLI's) that is seconds and gigabytes. None here.
    let _quiet = quiet_tracing();
    let err = |e: SynthesisError| CircuitError::Synthesis(e.to_string());
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Setup);
    EligibilityCircuit::blank(depth)
        .generate_constraints(cs.clone())
        .map_err(err)?;
    cs.finalize();
    let matrices = cs
        .to_matrices()
        .map_err(err)?
        .remove(R1CS_PREDICATE_LABEL)
        .ok_or(CircuitError::Synthesis("no R1CS predicate".into()))?;
    Ok(R1cs {
        matrices,
        num_instance_variables: cs.num_instance_variables(),
        num_constraints: cs.num_constraints(),
    })
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

/// Generates the key pair deterministically from `seed` (development only: whoever knows
/// the seed knows the trapdoor and can forge proofs; see specs/circuits.md).
pub fn setup(seed: &[u8], depth: usize) -> Result<Keys, CircuitError> {
    // arkworks records a tracing span per constraint namespace: under a process-wide
    // subscriber (the node's, a CLI's) that is seconds and gigabytes. None here.
    let _quiet = quiet_tracing();
    let mut material = b"weft/groth16/dev-setup/v1".to_vec();
    material.extend_from_slice(seed);
    let mut rng = ChaCha20Rng::from_seed(blake2b256(&material));
    let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
        EligibilityCircuit::blank(depth),
        &mut rng,
    )
    .map_err(|e| CircuitError::Synthesis(e.to_string()))?;
    let pvk = prepare_verifying_key(&pk.vk);
    Ok(Keys {
        depth,
        pk,
        pvk,
        r1cs: Arc::new(r1cs(depth)?),
    })
}

impl Keys {
    /// The verifying key.
    pub fn vk(&self) -> &VerifyingKey<Bn254> {
        &self.pvk.vk
    }

    /// The proving key, compressed (it embeds the verifying key).
    pub fn proving_key_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.pk.compressed_size() + 8);
        out.extend_from_slice(&(self.depth as u64).to_le_bytes());
        // Serialising into a Vec cannot fail.
        let _ = self.pk.serialize_compressed(&mut out);
        out
    }

    /// The verifying key, compressed: what the ledger's genesis pins (by hash).
    pub fn verifying_key_bytes(&self) -> Vec<u8> {
        verifying_key_bytes(self.vk())
    }

    /// BLAKE2b-256 of [`Keys::verifying_key_bytes`].
    pub fn verifying_key_hash(&self) -> [u8; 32] {
        blake2b256(&self.verifying_key_bytes())
    }

    /// Reads keys written by [`Keys::proving_key_bytes`] (points are fully validated).
    pub fn from_proving_key_bytes(bytes: &[u8]) -> Result<Keys, CircuitError> {
        let (depth, rest) = bytes
            .split_at_checked(8)
            .ok_or(CircuitError::Encoding("proving key too short"))?;
        let mut d = [0u8; 8];
        d.copy_from_slice(depth);
        let depth =
            usize::try_from(u64::from_le_bytes(d)).map_err(|_| CircuitError::Encoding("depth"))?;
        if depth > 32 {
            return Err(CircuitError::Encoding("depth above 32"));
        }
        let mut reader = rest;
        let pk =
            ProvingKey::<Bn254>::deserialize_with_mode(&mut reader, Compress::Yes, Validate::Yes)
                .map_err(|_| CircuitError::Encoding("proving key"))?;
        if !reader.is_empty() || pk.vk.gamma_abc_g1.len() != NUM_PUBLIC_INPUTS + 1 {
            return Err(CircuitError::Encoding("proving key shape"));
        }
        let pvk = prepare_verifying_key(&pk.vk);
        Ok(Keys {
            depth,
            pk,
            pvk,
            r1cs: Arc::new(r1cs(depth)?),
        })
    }
}

/// The compressed encoding of a verifying key.
pub fn verifying_key_bytes(vk: &VerifyingKey<Bn254>) -> Vec<u8> {
    let mut out = Vec::with_capacity(vk.compressed_size());
    let _ = vk.serialize_compressed(&mut out);
    out
}

/// Reads a compressed verifying key (validated) and prepares it.
pub fn prepared_verifying_key_from_bytes(
    bytes: &[u8],
) -> Result<PreparedVerifyingKey<Bn254>, CircuitError> {
    let vk = VerifyingKey::<Bn254>::deserialize_with_mode(bytes, Compress::Yes, Validate::Yes)
        .map_err(|_| CircuitError::Encoding("verifying key"))?;
    if vk.gamma_abc_g1.len() != NUM_PUBLIC_INPUTS + 1 {
        return Err(CircuitError::Encoding(
            "verifying key has the wrong number of inputs",
        ));
    }
    Ok(prepare_verifying_key(&vk))
}

/// Switches tracing off on this thread until the guard drops (constraint synthesis
/// emits a span per namespace, which a subscriber would record and format).
fn quiet_tracing() -> tracing::subscriber::DefaultGuard {
    tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default())
}

/// The public seed of the dev network's keys (`weft-zk setup` and `weft-node run --dev`).
/// Anyone can derive them, so they protect nothing: production keys come from a
/// multi-party ceremony (specs/circuits.md §6).
pub const DEV_SETUP_SEED: &[u8] = b"weft-dev-setup";

/// The dev network's keys at the default depth, made once per process (about 0.6 s).
pub fn dev_keys() -> Result<&'static Keys, CircuitError> {
    static KEYS: std::sync::OnceLock<Keys> = std::sync::OnceLock::new();
    if let Some(k) = KEYS.get() {
        return Ok(k);
    }
    let k = setup(DEV_SETUP_SEED, crate::DEFAULT_DEPTH)?;
    Ok(KEYS.get_or_init(|| k))
}

/// Proves `circuit` after checking natively that its witness satisfies its statement.
pub fn prove<R: RngCore + CryptoRng>(
    keys: &Keys,
    circuit: EligibilityCircuit,
    rng: &mut R,
) -> Result<Proof<Bn254>, CircuitError> {
    circuit.check()?;
    prove_unchecked(keys, circuit, rng)
}

/// Proves without the native pre-check (a bad witness yields a proof that fails to
/// verify). For tests of the circuit's own soundness; use [`prove`].
pub fn prove_unchecked<R: RngCore + CryptoRng>(
    keys: &Keys,
    circuit: EligibilityCircuit,
    rng: &mut R,
) -> Result<Proof<Bn254>, CircuitError> {
    // arkworks records a tracing span per constraint namespace: under a process-wide
    // subscriber (the node's, a CLI's) that is seconds and gigabytes. None here.
    let _quiet = quiet_tracing();
    if circuit.depth != keys.depth {
        return Err(CircuitError::Depth {
            keys: keys.depth,
            circuit: circuit.depth,
        });
    }
    let err = |e: SynthesisError| CircuitError::Synthesis(e.to_string());
    // Witness only: the matrices are the cached ones (`Keys::r1cs`).
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Prove {
        construct_matrices: false,
        generate_lc_assignments: false,
    });
    circuit.generate_constraints(cs.clone()).map_err(err)?;
    cs.finalize();
    let full: Vec<Fr> = {
        let inner = cs
            .borrow()
            .ok_or(CircuitError::Synthesis("no constraint system".into()))?;
        let mut v = inner.instance_assignment().map_err(err)?.to_vec();
        v.extend_from_slice(inner.witness_assignment().map_err(err)?);
        v
    };
    let r1cs = &keys.r1cs;
    if full.len() != keys.pk.a_query.len()
        || r1cs.num_instance_variables != keys.pk.vk.gamma_abc_g1.len()
    {
        return Err(CircuitError::Synthesis(
            "witness does not match the keys".into(),
        ));
    }
    let (r, s) = (Fr::rand(rng), Fr::rand(rng));
    Groth16::<Bn254>::create_proof_with_reduction_and_matrices(
        &keys.pk,
        r,
        s,
        &r1cs.matrices,
        r1cs.num_instance_variables,
        r1cs.num_constraints,
        &full,
    )
    .map_err(err)
}

/// `L = IC_0 + sum_i x_i IC_i`, one MSM.
fn prepared_inputs(vk: &VerifyingKey<Bn254>, inputs: &[Fr]) -> Result<G1Projective, CircuitError> {
    if inputs.len() + 1 != vk.gamma_abc_g1.len() {
        return Err(CircuitError::Encoding("wrong number of public inputs"));
    }
    let msm =
        G1Projective::msm(&vk.gamma_abc_g1[1..], inputs).map_err(|_| CircuitError::Invalid)?;
    Ok(msm + vk.gamma_abc_g1[0])
}

/// Verifies one proof against public inputs. The proof's points must be validated
/// (on the curve, in the subgroup): decode untrusted bytes with [`CompressedProof::to_proof`].
pub fn verify(
    pvk: &PreparedVerifyingKey<Bn254>,
    inputs: &[Fr],
    proof: &Proof<Bn254>,
) -> Result<(), CircuitError> {
    let l = prepared_inputs(&pvk.vk, inputs)?;
    let ml = Bn254::multi_miller_loop(
        [proof.a, l.into_affine(), proof.c],
        [
            proof.b.into(),
            pvk.gamma_g2_neg_pc.clone(),
            pvk.delta_g2_neg_pc.clone(),
        ],
    );
    match Bn254::final_exponentiation(ml) {
        Some(out) if out.0 == pvk.alpha_g1_beta_g2 => Ok(()),
        _ => Err(CircuitError::Invalid),
    }
}

/// Verifies many proofs at once (`N + 3` Miller loops, one final exponentiation; see
/// the module notes). `Ok` means all are valid, except with probability `2^-128`.
/// Proofs must be validated points, as for [`verify`].
pub fn batch_verify<R: Rng + ?Sized>(
    pvk: &PreparedVerifyingKey<Bn254>,
    items: &[(Vec<Fr>, Proof<Bn254>)],
    rng: &mut R,
) -> Result<(), CircuitError> {
    if items.is_empty() {
        return Ok(());
    }
    let vk = &pvk.vk;
    let n_in = vk
        .gamma_abc_g1
        .len()
        .checked_sub(1)
        .ok_or(CircuitError::Encoding("empty verifying key"))?;
    let r: Vec<Fr> = items.iter().map(|_| Fr::from(rng.gen::<u128>())).collect();
    // sum_j r_j x_{j,i} for every input i, and sum_j r_j for IC_0.
    let mut coeffs = vec![Fr::zero(); n_in + 1];
    for ((inputs, _), rj) in items.iter().zip(&r) {
        if inputs.len() != n_in {
            return Err(CircuitError::Encoding("wrong number of public inputs"));
        }
        coeffs[0] += rj;
        for (c, x) in coeffs[1..].iter_mut().zip(inputs) {
            *c += *rj * x;
        }
    }
    let r_sum = coeffs[0];
    let l = G1Projective::msm(&vk.gamma_abc_g1, &coeffs).map_err(|_| CircuitError::Invalid)?;
    let cs: Vec<G1Affine> = items.iter().map(|(_, p)| p.c).collect();
    let c = G1Projective::msm(&cs, &r).map_err(|_| CircuitError::Invalid)?;
    // Per-proof work (a 128-bit scalar multiplication, the G2 line coefficients), in
    // parallel with the `parallel` feature.
    let per_proof = |((_, p), rj): (&(Vec<Fr>, Proof<Bn254>), &Fr)| {
        (
            (p.a * rj).into_affine(),
            <Bn254 as Pairing>::G2Prepared::from(p.b),
        )
    };
    #[cfg(feature = "parallel")]
    let (mut g1, mut g2): (Vec<G1Affine>, Vec<<Bn254 as Pairing>::G2Prepared>) =
        items.par_iter().zip(r.par_iter()).map(per_proof).unzip();
    #[cfg(not(feature = "parallel"))]
    let (mut g1, mut g2): (Vec<G1Affine>, Vec<<Bn254 as Pairing>::G2Prepared>) =
        items.iter().zip(r.iter()).map(per_proof).unzip();
    g1.push(l.into_affine());
    g2.push(pvk.gamma_g2_neg_pc.clone());
    g1.push(c.into_affine());
    g2.push(pvk.delta_g2_neg_pc.clone());
    g1.push((vk.alpha_g1 * (-r_sum)).into_affine());
    g2.push(vk.beta_g2.into());
    let ml = Bn254::multi_miller_loop(g1, g2);
    match Bn254::final_exponentiation(ml) {
        Some(out) if out.0.is_one() => Ok(()),
        _ => Err(CircuitError::Invalid),
    }
}

/// A proof in its 128-byte compressed form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressedProof(pub [u8; PROOF_BYTES]);

impl CompressedProof {
    /// Compresses a proof.
    pub fn from_proof(proof: &Proof<Bn254>) -> Self {
        let mut out = [0u8; PROOF_BYTES];
        let mut w = &mut out[..];
        // 32 + 64 + 32 bytes into a 128-byte buffer: cannot fail.
        let _ = proof.a.serialize_compressed(&mut w);
        let _ = proof.b.serialize_compressed(&mut w);
        let _ = proof.c.serialize_compressed(&mut w);
        CompressedProof(out)
    }

    /// Decompresses, checking that every point is on the curve and in the prime-order
    /// subgroup, and refusing the point at infinity.
    pub fn to_proof(&self) -> Result<Proof<Bn254>, CircuitError> {
        let mut r = &self.0[..];
        let bad = |_| CircuitError::Encoding("proof points");
        let a =
            G1Affine::deserialize_with_mode(&mut r, Compress::Yes, Validate::Yes).map_err(bad)?;
        let b =
            G2Affine::deserialize_with_mode(&mut r, Compress::Yes, Validate::Yes).map_err(bad)?;
        let c =
            G1Affine::deserialize_with_mode(&mut r, Compress::Yes, Validate::Yes).map_err(bad)?;
        if a.is_zero() || b.is_zero() || c.is_zero() {
            return Err(CircuitError::Encoding("proof point at infinity"));
        }
        Ok(Proof { a, b, c })
    }
}

/// A field element from the first 31 bytes of a BLAKE2b-256 digest (always `< p`):
/// for deriving challenges and ids from byte strings.
pub fn fr_from_hash(data: &[u8]) -> Fr {
    Fr::from_le_bytes_mod_order(&blake2b256(data)[..31])
}
