//! The `weft-zk` binary: poseidon, setup (deterministic, hashes printed), export-snarkjs
//! (sample proof and `--proof FILE`).

use std::process::Command;

use weft_circuits::groth16::{prove, CompressedProof, Keys};
use weft_circuits::sample::sample_circuit;
use weft_crypto::poseidon::fr_to_decimal;

fn weft_zk(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_weft-zk"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn poseidon_command() {
    let (ok, out, _) = weft_zk(&["poseidon", "1", "2"]);
    assert!(ok);
    assert_eq!(
        out.trim(),
        "7853200120776062878684798364095072458815029376092732009249414926327459813530"
    );
    let (ok, _, err) = weft_zk(&["poseidon", "1", "2x"]);
    assert!(
        !ok && err.contains("not a canonical decimal field element"),
        "{err}"
    );
    let p = "21888242871839275222246405745257275088548364400416034343698204186575808495617";
    assert!(!weft_zk(&["poseidon", p]).0, "p itself is refused");
    let thirteen: Vec<&str> = vec!["1"; 13];
    assert!(!weft_zk(&[&["poseidon"][..], &thirteen].concat()).0);
}

#[test]
fn setup_and_snarkjs_export() {
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    let k = keys_dir.to_str().unwrap();
    let (ok, first, err) = weft_zk(&["setup", "--out", k, "--depth", "8", "--seed", "cli test"]);
    assert!(ok, "{err}");
    let hashes: Vec<&str> = first
        .lines()
        .filter_map(|l| l.split("blake2b-256 ").nth(1))
        .collect();
    assert_eq!(hashes.len(), 2);
    assert!(hashes
        .iter()
        .all(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit())));
    let (_, again, _) = weft_zk(&["setup", "--out", k, "--depth", "8", "--seed", "cli test"]);
    assert_eq!(first, again, "the same seed gives the same keys");

    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let (ok, _, err) = weft_zk(&["export-snarkjs", "--out", o, "--keys", k]);
    assert!(ok, "{err}");
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.join(name)).unwrap()).unwrap()
    };
    let vk = read("verification_key.json");
    assert_eq!(vk["nPublic"], 97);
    assert_eq!(vk["IC"].as_array().unwrap().len(), 98);
    assert_eq!(read("public.json").as_array().unwrap().len(), 97);
    assert_eq!(read("proof.json")["protocol"], "groth16");

    // --proof FILE: a proof made elsewhere is checked and exported.
    let keys =
        Keys::from_proving_key_bytes(&std::fs::read(keys_dir.join("proving_key.bin")).unwrap())
            .unwrap();
    let circuit = sample_circuit(8, 5).unwrap();
    let inputs = circuit.statement.public_inputs().unwrap();
    let proof = prove(&keys, circuit, &mut rand::rngs::OsRng).unwrap();
    let file = dir.path().join("p.json");
    let public: Vec<String> = inputs.iter().map(fr_to_decimal).collect();
    let json = serde_json::json!({"proof": hex::encode(CompressedProof::from_proof(&proof).0), "public_inputs": public});
    std::fs::write(&file, json.to_string()).unwrap();
    let (ok, _, err) = weft_zk(&[
        "export-snarkjs",
        "--out",
        o,
        "--keys",
        k,
        "--proof",
        file.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(read("public.json"), serde_json::json!(public));

    // A proof that does not verify is refused.
    let mut wrong = public.clone();
    wrong[5] = "1".into();
    let json = serde_json::json!({"proof": hex::encode(CompressedProof::from_proof(&proof).0), "public_inputs": wrong});
    std::fs::write(&file, json.to_string()).unwrap();
    let (ok, _, err) = weft_zk(&[
        "export-snarkjs",
        "--out",
        o,
        "--keys",
        k,
        "--proof",
        file.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("does not verify"), "{err}");
}
