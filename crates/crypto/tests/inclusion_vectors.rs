//! The cryptographic test vectors of `specs/protocol.md` §11: keys from seeds, the
//! deterministic Ed25519 signatures of the vector blocks and milestone, the inclusion
//! Merkle tree and its proofs, and the state roots of the vector genesis and of
//! milestone 1 applied to it.
//!
//! Every hex string is copied from the spec; the spec says these tests check them, so a
//! change to either must change both. The byte layouts themselves are checked in
//! `crates/types/tests/vectors.rs`.

use weft_crypto::{inclusion_root, verify, verify_batch, InclusionProof, MerkleError};
use weft_crypto::{MultisetHash, OrganisationKey};
use weft_ledger::{
    anchor_digest, keys, state_element, BlockOutcome, ConflictReason, Genesis, GenesisOrganisation,
    Ledger, MemoryState, MilestoneContext,
};
use weft_types::hash::blake2b256;
use weft_types::*;

const ORG_PUBLIC_KEY: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
const COMMITTEE_PUBLIC_KEY: &str =
    "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394";
const ISSUING_TIME: u64 = 1_767_225_600_000;

const A_SIGNING_MESSAGE: &str = "776566742f626c6f636b2d7369676e61747572652f7631b599f0fedc5ac49ae002bae944f003b50c6257904d3f5b1a20cb98e7c85421d5";
const A_SIGNATURE: &str = "4141e4bff6344cd87a6b7b058568cbb4af10cac1887d2124d85a17ea86989a2e2e79f4f72b8e6c2936b566863a0d78453c56d362d6a82996cd6b37c794449b0f";
const A_ID: &str = "e894a6a44dd95e168a08b828cd21f3ba43a4e5e420c0acb90a7d4e56de6661e7";
const A2_ID: &str = "ce223c60bc648e2d84fc4488ff79397ccf50d31dd59287ce1904cbd61234aa78";
const A2_SIGNATURE: &str = "c089773f2dd4ff435026e57c5e47d2f89aba8f4d5d5bb094473204849212ab02ab1463fdd5b4f69266882f4eeb475b6fd4d41af81329d8ba501f588aec60ed0e";
const B_ID: &str = "6265e3a3dd46b4c0de104ce56bce8e4a44f0695022af2e278ca1c4deab706691";

const MILESTONE_SIGNING_MESSAGE: &str = "776566742f6d696c6573746f6e652d7369676e61747572652f763103a970998f2de77f9ec9b9352666c1584a93b74cbeb551674bc6cd8ad54d91ea";
const MILESTONE_SIGNATURE: &str = "6ed737d13ed0dc5570a73f011089ec1461e8a04d124cd066021ecaa3cfcd1f7bd3ca5560390de97d4c7c41e16033eb9b22b1a641b1003b16a39369cf13684b05";
const MB_SIGNING_MESSAGE: &str = "776566742f626c6f636b2d7369676e61747572652f7631e84e3f3286797516ed87d1b6e36b191f04b7b5e27345be359191afb4608a2aa6";
const MB_SIGNATURE: &str = "2de11903825b8914f28b38877ca4af61a6c2af0da64c1b81364bf3202dcc02f78cfa7dafb153b68db3d8bd4e7a92d2e9e6ab0e2d5732c5e946ab0d4bf3ec1407";

// §11.4: the tree hashes MTH (RFC 6962 shape) and the inclusion roots that bind the size.
const MTH_EMPTY: &str = "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8";
const MTH_1: &str = "6bf22d230bc6f17e2dc9bdce220e8696630a067ab5029fb66d91e6ecd74c7c54";
const MTH_2: &str = "e7ee5228698f31758aa7e13445bc54d4c4b37303a90d5ca4677fad9976d1187b";
const MTH_3: &str = "a7346514f635523b73d3adb12bf49a26cf1a8063afc422025e203cde74e5ecbe";
const ROOT_0: &str = "e9e82c4cacaf35d3e3e598c72c15322b7db205ee1992d82dd81f884c36998df7";
const ROOT_1: &str = "de542118259dff678ed4185140054e3851266cb821be12733052e5441b018b23";
const ROOT_2: &str = "80fbc3a1fe02f146cfe8d2488167bc88d26365cba653fd2c34b7a36c1685a2d8";
const ROOT_3: &str = "7c262b790cdbb0f032f888d4691578a1d42596cb46d80327a578505b9d1e6594";
const LEAF_HASH_2: &str = "6f0fa4dfead22269e90aca62d63947541408feb856ddc41b446ff2e6367b720f";
const LEAF_HASH_3: &str = "7a927346c0aeeeb55e0f69d6fbd941f2dd4c8d153330d412c546de4af7feb53d";

/// §11.5: the genesis as stored (camelCase JSON).
const GENESIS_JSON: &str = r#"{"networkName":"weft-test","committee":{"threshold":1,"members":["8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"]},"authority":{"keys":[{"id":"key-1","publicKey":"ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1","purposes":7}],"services":[],"nonce":"0"},"organisations":[{"did":{"keys":[{"id":"key-1","publicKey":"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c","purposes":7}],"services":[],"nonce":"0"},"roles":3}],"recentRoots":64}"#;
const EMPTY_REGISTRIES_ROOT: &str =
    "e9e82c4cacaf35d3e3e598c72c15322b7db205ee1992d82dd81f884c36998df7";
const GENESIS_SUM: &str = "766aeef32fb73517fd49bcb602c9409a5d44a0aaa4c472c90377cbea827d1649";
const GENESIS_STATE_ROOT: &str = "fba4863522ad5e757dc205d2ee1bf2e965afd5a022245d1ba8dcbdc037605925";
const ANCHOR_DIGEST: &str = "65e4f3ba8f52ff0d2026d9d0b60fdff5d435e3dc97268fc8cf68432ae390f31c";
const M1_SUM: &str = "f4189690207f2b6633b1a453d4f706bed1033f01ac09432df937638549c9a251";
const M1_STATE_ROOT: &str = "d5ff70b3c7cec20ac5ddfcf4a3dddd8960d79ec1f10cf41452a09b4d51ad4e6a";
const M1_INCLUSION_ROOT: &str = "0bbfff79bece0472788cbf32c74889bf158db1d6aff60e5a4f904c8bfa7b31d9";

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("vector is hex")
}

fn h32(s: &str) -> [u8; 32] {
    unhex(s).try_into().expect("32 bytes")
}

fn org() -> OrganisationKey {
    OrganisationKey::from_seed(&[0x01; 32])
}

fn member() -> OrganisationKey {
    OrganisationKey::from_seed(&[0x02; 32])
}

fn tagged(nonce: u64) -> Block {
    let k = org();
    k.sign_block(
        BlockBuilder::new(
            NetworkId::from_name("weft-test"),
            vec![BlockId::GENESIS],
            ISSUING_TIME,
        )
        .payload(Payload::TaggedData(TaggedData {
            tag: b"procurement/v1".to_vec(),
            data: vec![0xab; 32],
        }))
        .nonce(nonce)
        .organisation(k.public_key()),
    )
}

fn authority() -> OrganisationKey {
    OrganisationKey::from_seed(&[0x03; 32])
}

fn genesis() -> Genesis {
    Genesis {
        network_name: "weft-test".into(),
        committee: Committee::new(1, vec![member().public_key()]).unwrap(),
        authority: DidCreate::with_key(authority().public_key(), 0),
        organisations: vec![GenesisOrganisation::with_key(org().public_key())],
        recent_roots: 64,
        eligibility_key: None,
        committee_epoch: 0,
    }
}

#[test]
fn keys_from_seeds() {
    assert_eq!(org().public_key().to_hex(), ORG_PUBLIC_KEY);
    assert_eq!(member().public_key().to_hex(), COMMITTEE_PUBLIC_KEY);
}

#[test]
fn block_signatures_are_deterministic_and_verify() {
    let a = tagged(0);
    assert_eq!(hex::encode(a.signing_message()), A_SIGNING_MESSAGE);
    let sig = a.signature.expect("signed");
    assert_eq!(sig.to_hex(), A_SIGNATURE);
    assert_eq!(a.id().to_hex(), A_ID);
    assert_eq!(weft_crypto::verify_block(&a), Ok(()));

    let a2 = tagged(1);
    assert_eq!(a2.signature.unwrap().to_hex(), A2_SIGNATURE);
    assert_eq!(a2.id().to_hex(), A2_ID);

    // Single and batch verification agree on the vectors, and on a tampered one.
    let m1 = unhex(A_SIGNING_MESSAGE);
    let m2 = unhex(MILESTONE_SIGNING_MESSAGE);
    let m3 = unhex(MB_SIGNING_MESSAGE);
    let entries = vec![
        (org().public_key(), m1.as_slice(), sig),
        (
            member().public_key(),
            m2.as_slice(),
            MILESTONE_SIGNATURE.parse().unwrap(),
        ),
        (
            member().public_key(),
            m3.as_slice(),
            MB_SIGNATURE.parse().unwrap(),
        ),
    ];
    assert_eq!(verify_batch(&entries, &mut rand::rngs::OsRng), Ok(()));
    let mut bad = entries.clone();
    bad[1].2 .0[63] ^= 0x01;
    assert!(verify(&bad[1].0, bad[1].1, &bad[1].2).is_err());
    assert_eq!(
        verify_batch(&bad, &mut rand::rngs::OsRng),
        Err(weft_crypto::SignatureError::BatchFailed(vec![1]))
    );
}

#[test]
fn milestone_signatures_are_deterministic_and_verify() {
    let k = member();
    let m = unhex(MILESTONE_SIGNING_MESSAGE);
    assert_eq!(k.sign(&m).to_hex(), MILESTONE_SIGNATURE);
    assert_eq!(
        verify(&k.public_key(), &m, &MILESTONE_SIGNATURE.parse().unwrap()),
        Ok(())
    );
    let mb = unhex(MB_SIGNING_MESSAGE);
    assert_eq!(k.sign(&mb).to_hex(), MB_SIGNATURE);
}

#[test]
fn inclusion_tree_vectors() {
    let ids = [
        BlockId([0x01; 32]),
        BlockId([0x02; 32]),
        BlockId([0x03; 32]),
    ];
    assert_eq!(inclusion_root(&[]).to_hex(), ROOT_0);
    assert_eq!(inclusion_root(&ids[..1]).to_hex(), ROOT_1);
    assert_eq!(inclusion_root(&ids[..2]).to_hex(), ROOT_2);
    assert_eq!(inclusion_root(&ids).to_hex(), ROOT_3);

    // The definition, spelled out: leaves 0x00 || id, nodes 0x01 || left || right,
    // split at the largest power of two below n; the root hashes the domain, the leaf
    // count (u32 LE) and the tree hash.
    let leaf = |id: &BlockId| blake2b256(&[&[0x00], &id.0]);
    let node = |l: &[u8; 32], r: &[u8; 32]| blake2b256(&[&[0x01], l, r]);
    let root = |n: u32, mth: &str| {
        hex::encode(blake2b256(&[
            b"weft/inclusion-root/v1",
            &n.to_le_bytes(),
            &h32(mth),
        ]))
    };
    assert_eq!(blake2b256(&[]), h32(MTH_EMPTY));
    assert_eq!(leaf(&ids[0]), h32(MTH_1));
    assert_eq!(leaf(&ids[1]), h32(LEAF_HASH_2));
    assert_eq!(leaf(&ids[2]), h32(LEAF_HASH_3));
    assert_eq!(node(&leaf(&ids[0]), &leaf(&ids[1])), h32(MTH_2));
    assert_eq!(node(&h32(MTH_2), &leaf(&ids[2])), h32(MTH_3));
    assert_eq!(root(0, MTH_EMPTY), ROOT_0);
    assert_eq!(root(1, MTH_1), ROOT_1);
    assert_eq!(root(2, MTH_2), ROOT_2);
    assert_eq!(root(3, MTH_3), ROOT_3);

    // The proofs of §11.4, siblings from the leaf up.
    let root3: InclusionRoot = ROOT_3.parse().unwrap();
    let expected: [&[&str]; 3] = [&[LEAF_HASH_2, LEAF_HASH_3], &[MTH_1, LEAF_HASH_3], &[MTH_2]];
    for (i, siblings) in expected.iter().enumerate() {
        let proof = InclusionProof::build(&ids, i).unwrap();
        assert_eq!(proof.index, i as u64);
        assert_eq!(proof.size, 3);
        let hexes: Vec<String> = proof.siblings.iter().map(hex::encode).collect();
        assert_eq!(hexes, *siblings, "proof of leaf {i}");
        assert_eq!(proof.verify(&ids[i], &root3), Ok(()));
        // The same proof for another leaf fails.
        assert_eq!(
            proof.verify(&ids[(i + 1) % 3], &root3),
            Err(MerkleError::RootMismatch)
        );
    }
    let proof = InclusionProof {
        index: 0,
        size: 3,
        siblings: vec![h32(LEAF_HASH_2), h32(LEAF_HASH_3)],
    };
    assert_eq!(proof.verify(&ids[0], &root3), Ok(()));
    // A size that changes the path's length is refused.
    let wrong_size = InclusionProof {
        size: 2,
        ..proof.clone()
    };
    assert_eq!(
        wrong_size.verify(&ids[0], &root3),
        Err(MerkleError::WrongPathLength {
            expected: 1,
            actual: 2
        })
    );
    // The position is authenticated: the proof of leaf 2 of 3 (one sibling, MTH_2, on
    // the left) computes MTH_3 as "leaf 1 of 2" too, but the root binds the size 3.
    let moved = InclusionProof {
        index: 1,
        size: 2,
        siblings: vec![h32(MTH_2)],
    };
    assert_eq!(
        moved.verify(&ids[2], &root3),
        Err(MerkleError::RootMismatch)
    );
    assert_ne!(root(2, MTH_3), ROOT_3);
    // Sizes beyond u32::MAX leaves are refused before any hashing.
    for size in [u64::from(u32::MAX) + 1, u64::MAX] {
        let hostile = InclusionProof {
            index: 0,
            size,
            siblings: vec![[0; 32]; 64],
        };
        assert!(matches!(
            hostile.verify(&ids[0], &root3),
            Err(MerkleError::IndexOutOfRange { .. })
        ));
    }
}

/// The genesis entries of §11.5, in key order, as (key, value) hex.
const GENESIS_ENTRIES: [(&str, &str); 15] = [
    (
        "616363722f87ac7de67649de80da652641b2a8c5106d721f7bb727cd7f0f37246a396c6fc8",
        "0300000000",
    ),
    (
        "636f6d6d69747465652f8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394",
        "01",
    ),
    (
        "636f756e742f616e63686f7273",
        "0000000000000000",
    ),
    (
        "636f756e742f6170706c696564",
        "0000000000000000",
    ),
    (
        "636f756e742f636f6e666c696374696e67",
        "0000000000000000",
    ),
    (
        "6469642f499f9b49c624b97e808f1926f2176e8ed9bcb9522111332591c606fbb3c4559b",
        "010000000000000000000000000000000000000000000000000000000001056b65792d31ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d10700",
    ),
    (
        "6469642f87ac7de67649de80da652641b2a8c5106d721f7bb727cd7f0f37246a396c6fc8",
        "010000000000000000000000000000000000000000000000000000000001056b65792d318a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c0700",
    ),
    (
        "6469646b65792f8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c",
        "87ac7de67649de80da652641b2a8c5106d721f7bb727cd7f0f37246a396c6fc8070100000000",
    ),
    (
        "6469646b65792fed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1",
        "499f9b49c624b97e808f1926f2176e8ed9bcb9522111332591c606fbb3c4559b070100000000",
    ),
    (
        "6469647665722f499f9b49c624b97e808f1926f2176e8ed9bcb9522111332591c606fbb3c4559b00000001",
        "010000000000000000000000000000000000000000000000000000000001056b65792d31ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d10700",
    ),
    (
        "6469647665722f87ac7de67649de80da652641b2a8c5106d721f7bb727cd7f0f37246a396c6fc800000001",
        "010000000000000000000000000000000000000000000000000000000001056b65792d318a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c0700",
    ),
    (
        "67656e657369732f617574686f72697479",
        "499f9b49c624b97e808f1926f2176e8ed9bcb9522111332591c606fbb3c4559b",
    ),
    (
        "67656e657369732f636f6d6d6974746565",
        "1c72227f68af99f4f1398d06edca76fd649a1a937ff9cda87e0fe0c9073dd0f1",
    ),
    (
        "67656e657369732f6e6574776f726b",
        "776566742d74657374",
    ),
    (
        "67656e657369732f726563656e742d726f6f7473",
        "40000000",
    ),
];

#[test]
fn genesis_json_vector() {
    assert_eq!(serde_json::to_string(&genesis()).unwrap(), GENESIS_JSON);
    assert_eq!(
        serde_json::from_str::<Genesis>(GENESIS_JSON).unwrap(),
        genesis()
    );
    // The committee is read through Committee::new: a threshold that is not a Byzantine
    // quorum, or a repeated member, is refused.
    let member = COMMITTEE_PUBLIC_KEY;
    for committee in [
        format!(r#"{{"threshold":0,"members":["{member}"]}}"#),
        format!(r#"{{"threshold":2,"members":["{member}"]}}"#),
        format!(r#"{{"threshold":2,"members":["{member}","{member}"]}}"#),
        r#"{"threshold":1,"members":[]}"#.to_string(),
    ] {
        let json = GENESIS_JSON.replace(
            &format!(r#"{{"threshold":1,"members":["{member}"]}}"#),
            &committee,
        );
        assert_ne!(json, GENESIS_JSON);
        assert!(
            serde_json::from_str::<Genesis>(&json).is_err(),
            "{committee} accepted"
        );
    }
    // The snake_case form of earlier versions is not read.
    let snake = GENESIS_JSON.replace("networkName", "network_name");
    assert!(serde_json::from_str::<Genesis>(&snake).is_err());
}

#[test]
fn genesis_state_root_vector() {
    let (diff, commitment) = Ledger::genesis_state(&genesis());
    let entries: Vec<(String, String)> = diff
        .writes
        .iter()
        .map(|(k, v)| (hex::encode(k), hex::encode(v.as_ref().expect("a put"))))
        .collect();
    let expected: Vec<(String, String)> = GENESIS_ENTRIES
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(entries, expected);
    assert_eq!(hex::encode(commitment.sum_bytes()), GENESIS_SUM);
    assert_eq!(commitment.count(), GENESIS_ENTRIES.len() as u64);
    assert_eq!(
        Ledger::genesis_root(&commitment).to_hex(),
        GENESIS_STATE_ROOT
    );

    // Independently, from the spec's formulas: element = u32 LE key length || key ||
    // value; the commitment is the sum of their group hashes; the root hashes the
    // compressed sum and the count.
    let mut m = MultisetHash::new();
    for (k, v) in GENESIS_ENTRIES.iter().rev() {
        let element = [
            &(unhex(k).len() as u32).to_le_bytes()[..],
            &unhex(k),
            &unhex(v),
        ]
        .concat();
        assert_eq!(element, state_element(&unhex(k), &unhex(v)));
        m.insert(&element);
    }
    assert_eq!(hex::encode(m.sum_bytes()), GENESIS_SUM);
    // No registry yet: the registry commitment is the empty inclusion tree's root.
    let registries = inclusion_root(&[]);
    assert_eq!(registries.to_hex(), EMPTY_REGISTRIES_ROOT);
    let root = blake2b256(&[
        b"weft/state-root/v2",
        &m.sum_bytes(),
        &(GENESIS_ENTRIES.len() as u64).to_le_bytes(),
        &registries.0,
    ]);
    assert_eq!(hex::encode(root), GENESIS_STATE_ROOT);
}

#[test]
fn first_milestone_ledger_vector() {
    let (diff, commitment) = Ledger::genesis_state(&genesis());
    let mut state = MemoryState::default();
    state.apply(&diff);
    let a = tagged(0);
    let a2 = tagged(1);
    let b = BlockBuilder::new(
        NetworkId::from_name("weft-test"),
        vec![BlockId::GENESIS],
        ISSUING_TIME,
    )
    .anonymous();
    assert_eq!(b.id().to_hex(), B_ID);
    let order = [a.id(), b.id(), a2.id()];
    assert_eq!(inclusion_root(&order).to_hex(), M1_INCLUSION_ROOT);

    let digest = anchor_digest(b"procurement/v1", &[0xab; 32]);
    assert_eq!(hex::encode(digest), ANCHOR_DIGEST);
    assert_eq!(
        digest,
        blake2b256(&[b"weft/anchor/v1", &[14], b"procurement/v1", &[0xab; 32]])
    );

    let out = Ledger::default()
        .apply_milestone(
            &state,
            commitment,
            MilestoneContext {
                index: 1,
                timestamp: ISSUING_TIME + 1000,
            },
            &[(a.id(), &a), (b.id(), &b), (a2.id(), &a2)],
        )
        .unwrap();
    assert_eq!(
        out.outcomes,
        vec![
            BlockOutcome::Applied,
            BlockOutcome::Applied,
            BlockOutcome::Conflicting(ConflictReason::DuplicateAnchor),
        ]
    );
    assert_eq!(ConflictReason::DuplicateAnchor.code(), 2);
    let writes: Vec<(Vec<u8>, String)> = out
        .diff
        .writes
        .iter()
        .map(|(k, v)| (k.clone(), hex::encode(v.as_ref().expect("a put"))))
        .collect();
    assert_eq!(
        writes,
        vec![
            (keys::anchor(&digest), format!("{A_ID}01000000"),),
            (keys::ANCHORS.to_vec(), "0100000000000000".to_string()),
            (keys::APPLIED.to_vec(), "0200000000000000".to_string()),
            (keys::CONFLICTING.to_vec(), "0100000000000000".to_string()),
        ]
    );
    assert_eq!(hex::encode(out.commitment.sum_bytes()), M1_SUM);
    assert_eq!(out.commitment.count(), GENESIS_ENTRIES.len() as u64 + 1);
    assert_eq!(out.state_root.to_hex(), M1_STATE_ROOT);
}
