//! The test vectors of `specs/protocol.md` §11, byte for byte.
//!
//! Every hex string here is copied from the spec; if one of these tests fails, either the
//! code or the spec is wrong, and they must be brought back in step together. The
//! signatures are inputs here (this crate does no cryptography): that they are the
//! deterministic Ed25519 signatures of the keys with seeds `[0x01; 32]` and `[0x02; 32]`
//! is checked in `crates/crypto/tests/inclusion_vectors.rs`.

use weft_types::codec::DecodeError;
use weft_types::*;

/// §11.1: the public key of the seed-`[0x01; 32]` organisation key.
const ORG_PUBLIC_KEY: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
/// §11.1: the public key of the seed-`[0x02; 32]` committee key.
const COMMITTEE_PUBLIC_KEY: &str =
    "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394";
/// §11.1: NetworkId::from_name("weft-test").
const NETWORK_ID: u64 = 15_560_415_763_873_702_881;
const NETWORK_ID_LE: &str = "e1a314d3b1b3f1d7";
const ISSUING_TIME: u64 = 1_767_225_600_000;

// §11.2: tagged-data block.
const A_SIGNING_MESSAGE: &str = "776566742f626c6f636b2d7369676e61747572652f7631b599f0fedc5ac49ae002bae944f003b50c6257904d3f5b1a20cb98e7c85421d5";
const A_SIGNATURE: &str = "4141e4bff6344cd87a6b7b058568cbb4af10cac1887d2124d85a17ea86989a2e2e79f4f72b8e6c2936b566863a0d78453c56d362d6a82996cd6b37c794449b0f";
const A_BYTES: &str = "01e1a314d3b1b3f1d701000000000000000000000000000000000000000000000000000000000000000000a8da769b010000018a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c0100310000000e70726f637572656d656e742f76312000abababababababababababababababababababababababababababababababab00000000000000004141e4bff6344cd87a6b7b058568cbb4af10cac1887d2124d85a17ea86989a2e2e79f4f72b8e6c2936b566863a0d78453c56d362d6a82996cd6b37c794449b0f";
const A_ID: &str = "e894a6a44dd95e168a08b828cd21f3ba43a4e5e420c0acb90a7d4e56de6661e7";
const A_JSON: &str = r#"{"protocolVersion":1,"networkId":"15560415763873702881","parents":["0000000000000000000000000000000000000000000000000000000000000000"],"issuingTime":"1767225600000","issuer":{"type":"organisation","publicKey":"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"},"payload":{"type":"taggedData","tag":"70726f637572656d656e742f7631","data":"abababababababababababababababababababababababababababababababab"},"nonce":"0","signature":"4141e4bff6344cd87a6b7b058568cbb4af10cac1887d2124d85a17ea86989a2e2e79f4f72b8e6c2936b566863a0d78453c56d362d6a82996cd6b37c794449b0f"}"#;

// §11.3: anonymous empty block, and the same block mined to 8 bits.
const B_BYTES: &str = "01e1a314d3b1b3f1d701000000000000000000000000000000000000000000000000000000000000000000a8da769b010000000000000000000000000000000000";
const B_ID: &str = "6265e3a3dd46b4c0de104ce56bce8e4a44f0695022af2e278ca1c4deab706691";
const B_POW_PREFIX: &str = "f7104a1f1601cfc2bd5a8c183c6a5164f8426cc9736232e9809749a747391954";
const B8_NONCE: u64 = 60;
const B8_BYTES: &str = "01e1a314d3b1b3f1d701000000000000000000000000000000000000000000000000000000000000000000a8da769b010000000000000000003c00000000000000";
const B8_ID: &str = "1caca557a1bad144c4b801f87bc6401d4f82d98f17f2090838df0c4096d93fb0";
const B_JSON: &str = r#"{"protocolVersion":1,"networkId":"15560415763873702881","parents":["0000000000000000000000000000000000000000000000000000000000000000"],"issuingTime":"1767225600000","issuer":{"type":"anonymous"},"payload":{"type":"none"},"nonce":"0","signature":null}"#;

// §11.4: milestone 1.
const COMMITTEE_ID: &str = "1c72227f68af99f4f1398d06edca76fd649a1a937ff9cda87e0fe0c9073dd0f1";
const INCLUSION_ROOT: &str = "7c262b790cdbb0f032f888d4691578a1d42596cb46d80327a578505b9d1e6594";
const GENESIS_STATE_ROOT: &str = "5451e036dc09a72e2cf4b7546dcdad52cf7f29af0452a7f45ee7554e9971ec71";
const ESSENCE_BYTES: &str = "01000000e8abda769b010000000000000000000000000000000000000000000000000000000000000000000001e894a6a44dd95e168a08b828cd21f3ba43a4e5e420c0acb90a7d4e56de6661e77c262b790cdbb0f032f888d4691578a1d42596cb46d80327a578505b9d1e65945451e036dc09a72e2cf4b7546dcdad52cf7f29af0452a7f45ee7554e9971ec711c72227f68af99f4f1398d06edca76fd649a1a937ff9cda87e0fe0c9073dd0f1";
const MILESTONE_ID: &str = "03a970998f2de77f9ec9b9352666c1584a93b74cbeb551674bc6cd8ad54d91ea";
const MILESTONE_SIGNING_MESSAGE: &str = "776566742f6d696c6573746f6e652d7369676e61747572652f763103a970998f2de77f9ec9b9352666c1584a93b74cbeb551674bc6cd8ad54d91ea";
const MILESTONE_SIGNATURE: &str = "6ed737d13ed0dc5570a73f011089ec1461e8a04d124cd066021ecaa3cfcd1f7bd3ca5560390de97d4c7c41e16033eb9b22b1a641b1003b16a39369cf13684b05";
const MB_SIGNING_MESSAGE: &str = "776566742f626c6f636b2d7369676e61747572652f7631e84e3f3286797516ed87d1b6e36b191f04b7b5e27345be359191afb4608a2aa6";
const MB_SIGNATURE: &str = "2de11903825b8914f28b38877ca4af61a6c2af0da64c1b81364bf3202dcc02f78cfa7dafb153b68db3d8bd4e7a92d2e9e6ab0e2d5732c5e946ab0d4bf3ec1407";
const MB_BYTES: &str = "01e1a314d3b1b3f1d701e894a6a44dd95e168a08b828cd21f3ba43a4e5e420c0acb90a7d4e56de6661e7e8abda769b010000018139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39402000e01000001000000e8abda769b010000000000000000000000000000000000000000000000000000000000000000000001e894a6a44dd95e168a08b828cd21f3ba43a4e5e420c0acb90a7d4e56de6661e77c262b790cdbb0f032f888d4691578a1d42596cb46d80327a578505b9d1e65945451e036dc09a72e2cf4b7546dcdad52cf7f29af0452a7f45ee7554e9971ec711c72227f68af99f4f1398d06edca76fd649a1a937ff9cda87e0fe0c9073dd0f1018139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3946ed737d13ed0dc5570a73f011089ec1461e8a04d124cd066021ecaa3cfcd1f7bd3ca5560390de97d4c7c41e16033eb9b22b1a641b1003b16a39369cf13684b0500000000000000002de11903825b8914f28b38877ca4af61a6c2af0da64c1b81364bf3202dcc02f78cfa7dafb153b68db3d8bd4e7a92d2e9e6ab0e2d5732c5e946ab0d4bf3ec1407";
const MB_ID: &str = "2e131fa148ad3b59d8e95489e47c59fb69438c01e135722ef2bbee697a71683e";

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("vector is hex")
}

fn key(s: &str) -> PublicKeyBytes {
    s.parse().expect("vector is a key")
}

fn sig(s: &str) -> SignatureBytes {
    s.parse().expect("vector is a signature")
}

fn block_a() -> Block {
    BlockBuilder::new(
        NetworkId::from_name("weft-test"),
        vec![BlockId::GENESIS],
        ISSUING_TIME,
    )
    .payload(Payload::TaggedData(TaggedData {
        tag: b"procurement/v1".to_vec(),
        data: vec![0xab; 32],
    }))
    .organisation(key(ORG_PUBLIC_KEY))
    .sign(sig(A_SIGNATURE))
}

fn block_b() -> Block {
    BlockBuilder::new(
        NetworkId::from_name("weft-test"),
        vec![BlockId::GENESIS],
        ISSUING_TIME,
    )
    .anonymous()
}

fn essence() -> MilestoneEssence {
    MilestoneEssence {
        index: 1,
        timestamp: ISSUING_TIME + 1000,
        previous_milestone_id: MilestoneId::NONE,
        parents: vec![A_ID.parse().unwrap()],
        inclusion_root: INCLUSION_ROOT.parse().unwrap(),
        state_root: GENESIS_STATE_ROOT.parse().unwrap(),
        committee_id: COMMITTEE_ID.parse().unwrap(),
    }
}

/// Asserts `bytes` is canonical: it decodes, and encodes back to itself.
fn assert_round_trip(bytes: &[u8]) -> Block {
    let block = Block::from_bytes(bytes).expect("vector decodes");
    assert_eq!(block.to_bytes(), bytes, "re-encoding changes the bytes");
    block
}

#[test]
fn network_id_of_weft_test() {
    let id = NetworkId::from_name("weft-test");
    assert_eq!(id.0, NETWORK_ID);
    assert_eq!(hex::encode(id.0.to_le_bytes()), NETWORK_ID_LE);
}

#[test]
fn tagged_data_block_vector() {
    let unsigned = BlockBuilder::new(
        NetworkId::from_name("weft-test"),
        vec![BlockId::GENESIS],
        ISSUING_TIME,
    )
    .payload(Payload::TaggedData(TaggedData {
        tag: b"procurement/v1".to_vec(),
        data: vec![0xab; 32],
    }))
    .organisation(key(ORG_PUBLIC_KEY));
    assert_eq!(hex::encode(unsigned.signing_message()), A_SIGNING_MESSAGE);

    let a = block_a();
    assert_eq!(a.check_structure(), Ok(()));
    assert_eq!(hex::encode(a.to_bytes()), A_BYTES);
    assert_eq!(a.to_bytes().len(), 210);
    assert_eq!(a.id().to_hex(), A_ID);
    assert_eq!(hex::encode(a.signing_message()), A_SIGNING_MESSAGE);
    // The signing message is the domain string and the digest of the bytes before the
    // signature (the last 64 bytes).
    let bytes = unhex(A_BYTES);
    let mut expected = b"weft/block-signature/v1".to_vec();
    expected.extend_from_slice(&hash::blake2b256(&[&bytes[..bytes.len() - 64]]));
    assert_eq!(a.signing_message(), expected);

    assert_eq!(assert_round_trip(&bytes), a);
    assert_eq!(serde_json::to_string(&a).unwrap(), A_JSON);
    assert_eq!(serde_json::from_str::<Block>(A_JSON).unwrap(), a);
}

#[test]
fn anonymous_block_vector() {
    let b = block_b();
    assert_eq!(b.check_structure(), Ok(()));
    assert_eq!(hex::encode(b.to_bytes()), B_BYTES);
    assert_eq!(b.to_bytes().len(), 65);
    assert_eq!(b.id().to_hex(), B_ID);
    assert_eq!(hex::encode(b.pow_prefix_digest()), B_POW_PREFIX);
    // The pre-nonce digest covers every byte but the last 8 (the nonce).
    let bytes = unhex(B_BYTES);
    assert_eq!(
        hash::blake2b256(&[&bytes[..bytes.len() - 8]]),
        b.pow_prefix_digest()
    );
    assert_eq!(b.pow_score(), 0);
    assert_eq!(assert_round_trip(&bytes), b);
    assert_eq!(serde_json::to_string(&b).unwrap(), B_JSON);

    // Nonce 60 is the smallest with 8 leading zero bits.
    let mut mined = b.clone();
    mined.mine(8);
    assert_eq!(mined.nonce, B8_NONCE);
    assert_eq!(mined.pow_score(), 8);
    let prefix = b.pow_prefix_digest();
    assert!((0..B8_NONCE).all(|n| pow_score(&prefix, n) < 8));
    assert_eq!(hex::encode(mined.to_bytes()), B8_BYTES);
    assert_eq!(mined.id().to_hex(), B8_ID);
    assert_round_trip(&unhex(B8_BYTES));
}

#[test]
fn milestone_vector() {
    let committee = Committee::new(1, vec![key(COMMITTEE_PUBLIC_KEY)]).unwrap();
    assert_eq!(committee.id().to_hex(), COMMITTEE_ID);
    let mut w = b"weft/committee/v1".to_vec();
    w.extend_from_slice(&1u16.to_le_bytes());
    w.push(1);
    w.extend_from_slice(&unhex(COMMITTEE_PUBLIC_KEY));
    assert_eq!(hash::blake2b256(&[&w]), committee.id().0);

    let e = essence();
    assert_eq!(hex::encode(e.to_bytes()), ESSENCE_BYTES);
    assert_eq!(e.to_bytes().len(), 4 + 8 + 32 + 1 + 32 + 32 + 32 + 32);
    assert_eq!(e.id().to_hex(), MILESTONE_ID);
    assert_eq!(
        e.id().0,
        hash::blake2b256(&[b"weft/milestone/v1", &unhex(ESSENCE_BYTES)])
    );
    assert_eq!(hex::encode(e.signing_message()), MILESTONE_SIGNING_MESSAGE);

    let milestone = Milestone {
        essence: e.clone(),
        signatures: vec![MilestoneSignature {
            public_key: key(COMMITTEE_PUBLIC_KEY),
            signature: sig(MILESTONE_SIGNATURE),
        }],
    };
    let unsigned = BlockBuilder::new(
        NetworkId::from_name("weft-test"),
        vec![A_ID.parse().unwrap()],
        ISSUING_TIME + 1000,
    )
    .payload(Payload::Milestone(Box::new(milestone)))
    .organisation(key(COMMITTEE_PUBLIC_KEY));
    assert_eq!(hex::encode(unsigned.signing_message()), MB_SIGNING_MESSAGE);
    let mb = unsigned.sign(sig(MB_SIGNATURE));
    assert_eq!(mb.check_structure(), Ok(()));
    assert_eq!(hex::encode(mb.to_bytes()), MB_BYTES);
    assert_eq!(mb.id().to_hex(), MB_ID);
    let decoded = assert_round_trip(&unhex(MB_BYTES));
    assert_eq!(decoded, mb);
    match decoded.payload {
        Payload::Milestone(m) => assert_eq!(m.id().to_hex(), MILESTONE_ID),
        other => panic!("not a milestone: {other:?}"),
    }
}

/// §11.6: mutations of the vectors that every decoder must reject.
#[test]
fn rejection_vectors() {
    let b = unhex(B_BYTES);
    let a = unhex(A_BYTES);
    let with = |base: &[u8], at: usize, byte: u8| {
        let mut v = base.to_vec();
        v[at] = byte;
        v
    };

    // Protocol version 2.
    assert_eq!(
        Block::from_bytes(&with(&b, 0, 0x02)),
        Err(DecodeError::UnsupportedVersion(2))
    );
    // Parent count 0 and 9.
    for count in [0u8, 9] {
        assert!(matches!(
            Block::from_bytes(&with(&b, 9, count)),
            Err(DecodeError::OutOfRange {
                field: "parent count",
                ..
            })
        ));
    }
    // Issuer kind 2.
    assert_eq!(
        Block::from_bytes(&with(&b, 50, 0x02)),
        Err(DecodeError::UnknownTag {
            field: "issuer kind",
            tag: 2
        })
    );
    // Payload kind 18 (unassigned; 17 is the committee change).
    assert_eq!(
        Block::from_bytes(&with(&b, 51, 0x12)),
        Err(DecodeError::UnknownTag {
            field: "payload kind",
            tag: 18
        })
    );
    // Payload kind 17 with an empty body: a committee change cut short.
    assert!(matches!(
        Block::from_bytes(&with(&b, 51, 0x11)),
        Err(DecodeError::Truncated {
            field: "committee threshold",
            ..
        })
    ));
    // A trailing byte.
    let mut long = b.clone();
    long.push(0);
    assert_eq!(
        Block::from_bytes(&long),
        Err(DecodeError::TrailingBytes {
            what: "block",
            count: 1
        })
    );
    // One byte short (inside the nonce).
    assert!(matches!(
        Block::from_bytes(&b[..b.len() - 1]),
        Err(DecodeError::Truncated { field: "nonce", .. })
    ));
    // An organisation block without its signature.
    assert!(matches!(
        Block::from_bytes(&a[..a.len() - 64]),
        Err(DecodeError::Truncated {
            field: "signature",
            ..
        })
    ));
    // An empty payload declared one byte long (with that byte present): the body must be
    // consumed exactly.
    let mut padded = b[..53].to_vec();
    padded.extend_from_slice(&1u32.to_le_bytes());
    padded.push(0);
    padded.extend_from_slice(&b[57..]);
    assert_eq!(
        Block::from_bytes(&padded),
        Err(DecodeError::TrailingBytes {
            what: "payload body",
            count: 1
        })
    );
    // Tagged data with a declared payload length one too short.
    assert!(Block::from_bytes(&with(&a, 85, 0x30)).is_err());
    // Two equal parents.
    let mut two = b[..9].to_vec();
    two.push(2);
    two.extend_from_slice(&[0u8; 64]);
    two.extend_from_slice(&b[42..]);
    assert_eq!(
        Block::from_bytes(&two),
        Err(DecodeError::NotStrictlyAscending {
            field: "parents",
            position: 1
        })
    );
    // Over 32 KiB.
    assert!(matches!(
        Block::from_bytes(&vec![1u8; MAX_BLOCK_BYTES + 1]),
        Err(DecodeError::TooLong { .. })
    ));
}

/// §11.7: mutations of the milestone block of §11.4 (essence at offset 89) that every
/// decoder, and `Block::check_structure`, must reject.
#[test]
fn milestone_rejection_vectors() {
    let mb = unhex(MB_BYTES);
    let with = |at: usize, byte: u8| {
        let mut v = mb.clone();
        v[at] = byte;
        v
    };
    const ZERO_PREVIOUS: DecodeError =
        DecodeError::Inconsistent("exactly milestone 1 has a zero previous milestone id");

    // Index 2 with a zero previous milestone id.
    assert_eq!(Block::from_bytes(&with(89, 0x02)), Err(ZERO_PREVIOUS));
    // Index 1 with a non-zero previous milestone id (first byte at 89 + 4 + 8 = 101).
    assert_eq!(Block::from_bytes(&with(101, 0x01)), Err(ZERO_PREVIOUS));
    // Index 0.
    assert!(matches!(
        Block::from_bytes(&with(89, 0x00)),
        Err(DecodeError::OutOfRange {
            field: "milestone index",
            ..
        })
    ));
    // The same signer twice: signature count 2 (offset 262), the entry repeated, payload
    // length 270 + 96 = 366.
    let mut twice = mb[..263].to_vec();
    twice[85..89].copy_from_slice(&366u32.to_le_bytes());
    twice[262] = 2;
    twice.extend_from_slice(&mb[263..359]);
    twice.extend_from_slice(&mb[263..]);
    assert_eq!(
        Block::from_bytes(&twice),
        Err(DecodeError::NotStrictlyAscending {
            field: "milestone signers",
            position: 1
        })
    );

    // Built in code rather than decoded, the same rules hold in check_structure.
    let carrying = |essence: MilestoneEssence, signatures: Vec<MilestoneSignature>| {
        BlockBuilder::new(
            NetworkId::from_name("weft-test"),
            essence.parents.clone(),
            essence.timestamp,
        )
        .payload(Payload::Milestone(Box::new(Milestone {
            essence,
            signatures,
        })))
        .organisation(key(COMMITTEE_PUBLIC_KEY))
        .sign(sig(MB_SIGNATURE))
    };
    let one = vec![MilestoneSignature {
        public_key: key(COMMITTEE_PUBLIC_KEY),
        signature: sig(MILESTONE_SIGNATURE),
    }];
    let second = MilestoneEssence {
        index: 2,
        ..essence()
    };
    assert_eq!(second.check(), Err(ZERO_PREVIOUS));
    let block = carrying(second, one.clone());
    assert_eq!(block.check_structure(), Err(ZERO_PREVIOUS));
    assert_eq!(hex::encode(block.to_bytes()), hex::encode(with(89, 0x02)));
    assert_eq!(Block::from_bytes(&block.to_bytes()), Err(ZERO_PREVIOUS));
    // Index 2 with a previous id is fine as far as the format goes.
    let chained = MilestoneEssence {
        index: 2,
        previous_milestone_id: MILESTONE_ID.parse().unwrap(),
        ..essence()
    };
    assert_eq!(chained.check(), Ok(()));
    let block = carrying(chained, one.clone());
    assert_eq!(block.check_structure(), Ok(()));
    assert_round_trip(&block.to_bytes());
    // A repeated signer, built in code.
    let repeated = carrying(essence(), vec![one[0], one[0]]);
    assert_eq!(
        repeated.check_structure(),
        Err(DecodeError::NotStrictlyAscending {
            field: "milestone signers",
            position: 1
        })
    );
    assert_eq!(
        Block::from_bytes(&repeated.to_bytes()),
        Err(DecodeError::NotStrictlyAscending {
            field: "milestone signers",
            position: 1
        })
    );
    assert_eq!(repeated.to_bytes(), twice);
}
