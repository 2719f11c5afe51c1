//! circomlib's published Poseidon vectors (vectors/poseidon_circomlib.json, sources named
//! there) against the native hash and, with the `r1cs` feature, the R1CS gadget.

use weft_crypto::poseidon::{fr_from_decimal, fr_to_decimal, hash, Fr};

fn vectors() -> Vec<(Vec<Fr>, String)> {
    let text = include_str!("../vectors/poseidon_circomlib.json");
    let json: serde_json::Value = serde_json::from_str(text).expect("vector file is JSON");
    json["vectors"]
        .as_array()
        .expect("vectors array")
        .iter()
        .map(|v| {
            let inputs = v["inputs"]
                .as_array()
                .expect("inputs")
                .iter()
                .map(|x| {
                    fr_from_decimal(x.as_str().expect("decimal string")).expect("field element")
                })
                .collect();
            (inputs, v["output"].as_str().expect("output").to_string())
        })
        .collect()
}

#[test]
fn native_hash_matches_circomlib() {
    let vs = vectors();
    assert!(vs.len() >= 9);
    for (inputs, expected) in vs {
        assert_eq!(
            fr_to_decimal(&hash(&inputs).unwrap()),
            expected,
            "inputs {inputs:?}"
        );
    }
}

#[cfg(feature = "r1cs")]
#[test]
fn gadget_matches_circomlib() {
    use ark_r1cs_std::{alloc::AllocVar, fields::fp::FpVar, GR1CSVar};
    use ark_relations::gr1cs::ConstraintSystem;
    for (inputs, expected) in vectors() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let vars: Vec<FpVar<Fr>> = inputs
            .iter()
            .map(|x| FpVar::new_witness(cs.clone(), || Ok(*x)).unwrap())
            .collect();
        let out = weft_crypto::poseidon_r1cs::hash_var(&vars).unwrap();
        assert_eq!(fr_to_decimal(&out.value().unwrap()), expected);
        assert!(cs.is_satisfied().unwrap());
    }
}
