//! Export of Weft's verifying key, proofs and public inputs in snarkjs's JSON format, so
//! `snarkjs groth16 verify verification_key.json public.json proof.json` checks Weft's
//! proofs independently of this code.
//!
//! # Notes on the format
//!
//! snarkjs (curve `bn128`, the same BN254) writes coordinates as decimal strings in
//! projective form with `z = 1`: a G1 point is `[x, y, "1"]`, a G2 point is
//! `[[x.c0, x.c1], [y.c0, y.c1], ["1", "0"]]` (`c0` the real part of `F_p2`). The
//! verifying key lists `IC` (`gamma_abc_g1` in arkworks: `IC[0]` for the constant one,
//! then one per public input in circuit order). snarkjs checks the same equation as
//! [`crate::groth16::verify`].

use ark_bn254::{Bn254, Fq, Fq2, G1Affine, G2Affine};
use ark_ff::PrimeField;
use ark_groth16::{Proof, VerifyingKey};
use serde_json::{json, Value};
use weft_crypto::poseidon::{fr_to_decimal, Fr};

fn fq(x: &Fq) -> String {
    x.into_bigint().to_string()
}

fn fq2(x: &Fq2) -> Value {
    json!([fq(&x.c0), fq(&x.c1)])
}

fn g1(p: &G1Affine) -> Value {
    json!([fq(&p.x), fq(&p.y), "1"])
}

fn g2(p: &G2Affine) -> Value {
    json!([fq2(&p.x), fq2(&p.y), ["1", "0"]])
}

/// `verification_key.json`.
pub fn verification_key(vk: &VerifyingKey<Bn254>) -> Value {
    json!({
        "protocol": "groth16",
        "curve": "bn128",
        "nPublic": vk.gamma_abc_g1.len().saturating_sub(1),
        "vk_alpha_1": g1(&vk.alpha_g1),
        "vk_beta_2": g2(&vk.beta_g2),
        "vk_gamma_2": g2(&vk.gamma_g2),
        "vk_delta_2": g2(&vk.delta_g2),
        "IC": vk.gamma_abc_g1.iter().map(g1).collect::<Vec<_>>(),
    })
}

/// `proof.json`.
pub fn proof(p: &Proof<Bn254>) -> Value {
    json!({
        "pi_a": g1(&p.a),
        "pi_b": g2(&p.b),
        "pi_c": g1(&p.c),
        "protocol": "groth16",
        "curve": "bn128",
    })
}

/// `public.json`: the public inputs as decimal strings, in circuit order.
pub fn public(inputs: &[Fr]) -> Value {
    Value::Array(
        inputs
            .iter()
            .map(|x| Value::String(fr_to_decimal(x)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::AffineRepr;

    #[test]
    fn generator_coordinates() {
        let g = g1(&G1Affine::generator());
        assert_eq!(g, json!(["1", "2", "1"]));
        let h = g2(&G2Affine::generator());
        // The BN254 G2 generator as snarkjs and EIP-197 write it (x.c0 first).
        assert_eq!(
            h[0][0],
            "10857046999023057135944570762232829481370756359578518086990519993285655852781"
        );
        assert_eq!(h[2], json!(["1", "0"]));
    }
}
