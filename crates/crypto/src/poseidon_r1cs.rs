//! The Poseidon hash as an arkworks R1CS gadget, computing exactly [`crate::poseidon::hash`].
//!
//! # Notes on the cost
//!
//! Round-constant additions and the MDS mix are linear, so they cost no constraint: each
//! new state element is one linear combination of the previous ones (built with a single
//! `new_lc`, so the matrices stay small). Only the S-box `x^5` costs constraints, three of
//! them:
//!
//! ```text
//! x2 = x * x,   x4 = x2 * x2,   x5 = x4 * x
//! ```
//!
//! A width-`t` hash therefore costs `3 * (8 t + R_P)` constraints, less 3 for each S-box
//! whose input is a constant (circomlib's zero capacity element in the first round):
//! 213 for one input, 240 for two, 261 for three. Constants stay constants (`FpVar::Constant`)
//! until they meet a variable, which is where that saving comes from.

use ark_r1cs_std::fields::fp::{AllocatedFp, FpVar};
use ark_r1cs_std::fields::FieldVar;
use ark_relations::gr1cs::SynthesisError;

use crate::poseidon::{params, Fr, PoseidonError, MAX_INPUTS};

/// `x^5` in three constraints (none if `x` is a constant).
fn sbox(x: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    let x2 = x.square()?;
    let x4 = x2.square()?;
    Ok(x4 * x)
}

/// `sum_j coeffs[j] * vars[j]` as one linear combination: no constraint.
fn linear_combination(coeffs: &[Fr], vars: &[FpVar<Fr>]) -> FpVar<Fr> {
    let mut constant = Fr::from(0u64);
    let mut var_coeffs = Vec::with_capacity(vars.len());
    let mut var_refs: Vec<&AllocatedFp<Fr>> = Vec::with_capacity(vars.len());
    for (c, v) in coeffs.iter().zip(vars) {
        match v {
            FpVar::Constant(k) => constant += *c * k,
            FpVar::Var(a) => {
                var_coeffs.push(*c);
                var_refs.push(a);
            }
        }
    }
    match AllocatedFp::linear_combination(var_coeffs, &var_refs) {
        Some(lc) => FpVar::Var(lc) + constant,
        None => FpVar::Constant(constant),
    }
}

/// Poseidon of 1 to 12 field-element variables (circomlib parameters, output `state[0]`).
pub fn hash_var(inputs: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    if inputs.is_empty() || inputs.len() > MAX_INPUTS {
        return Err(SynthesisError::Unsatisfiable);
    }
    let p = params(inputs.len()).map_err(|_: PoseidonError| SynthesisError::Unsatisfiable)?;
    let t = p.width;
    let mut state: Vec<FpVar<Fr>> = Vec::with_capacity(t);
    state.push(FpVar::Constant(Fr::from(0u64)));
    state.extend(inputs.iter().cloned());
    let half = p.full_rounds / 2;
    let rounds = p.full_rounds + p.partial_rounds;
    for (r, rc) in p.round_constants.chunks_exact(t).take(rounds).enumerate() {
        for (s, c) in state.iter_mut().zip(rc) {
            *s += *c;
        }
        if r < half || r >= half + p.partial_rounds {
            for s in state.iter_mut() {
                *s = sbox(s)?;
            }
        } else {
            state[0] = sbox(&state[0])?;
        }
        state = p
            .mds
            .chunks_exact(t)
            .map(|row| linear_combination(row, &state))
            .collect();
    }
    Ok(state.swap_remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poseidon::hash;
    use ark_r1cs_std::alloc::AllocVar;
    use ark_r1cs_std::GR1CSVar;
    use ark_relations::gr1cs::ConstraintSystem;

    #[test]
    fn gadget_matches_native_for_every_width() {
        for n in 1..=MAX_INPUTS {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let xs: Vec<Fr> = (0..n as u64).map(|i| Fr::from(i * 31 + 5)).collect();
            let vars: Vec<FpVar<Fr>> = xs
                .iter()
                .map(|x| FpVar::new_witness(cs.clone(), || Ok(*x)).unwrap())
                .collect();
            let out = hash_var(&vars).unwrap();
            assert_eq!(out.value().unwrap(), hash(&xs).unwrap());
            assert!(cs.is_satisfied().unwrap());
            let p = params(n).unwrap();
            let expected = 3 * (p.full_rounds * p.width + p.partial_rounds) - 3;
            assert_eq!(cs.num_constraints(), expected, "inputs {n}");
        }
    }

    #[test]
    fn gadget_rejects_a_wrong_output() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let a = FpVar::new_witness(cs.clone(), || Ok(Fr::from(1u64))).unwrap();
        let b = FpVar::new_witness(cs.clone(), || Ok(Fr::from(2u64))).unwrap();
        let out = hash_var(&[a, b]).unwrap();
        let claimed = FpVar::new_input(cs.clone(), || Ok(Fr::from(3u64))).unwrap();
        ark_r1cs_std::eq::EqGadget::enforce_equal(&out, &claimed).unwrap();
        assert!(!cs.is_satisfied().unwrap());
    }

    #[test]
    fn arity_is_checked() {
        assert!(hash_var(&[]).is_err());
        assert!(hash_var(&vec![FpVar::Constant(Fr::from(0u64)); 13]).is_err());
    }
}
