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
const INCLUSION_ROOT: &str = "a7346514f635523b73d3adb12bf49a26cf1a8063afc422025e203cde74e5ecbe";
const GENESIS_STATE_ROOT: &str = "5451e036dc09a72e2cf4b7546dcdad52cf7f29af0452a7f45ee7554e9971ec71";
const ESSENCE_BYTES: &str = "01000000e8abda769b010000000000000000000000000000000000000000000000000000000000000000000001e894a6a44dd95e168a08b828cd21f3ba43a4e5e420c0acb90a7d4e56de6661e7a7346514f635523b73d3adb12bf49a26cf1a8063afc422025e203cde74e5ecbe5451e036dc09a72e2cf4b7546dcdad52cf7f29af0452a7f45ee7554e9971ec711c72227f68af99f4f1398d06edca76fd649a1a937ff9cda87e0fe0c9073dd0f1";
const MILESTONE_ID: &str = "3593d546a2f6ac1905a0b95880d1d57dfe8caa07939a3db0cfc50b47921c74b7";
const MILESTONE_SIGNING_MESSAGE: &str = "776566742f6d696c6573746f6e652d7369676e61747572652f76313593d546a2f6ac1905a0b95880d1d57dfe8caa07939a3db0cfc50b47921c74b7";
const MILESTONE_SIGNATURE: &str = "e58799ac6d7eb58c87215460bf96a6b712567bcb102b59934190eef6d1a424f6824c86b9794a6ca737ac5c7a596cc462a59c3c6f3d197f1df7586c3c2c99d609";
const MB_SIGNING_MESSAGE: &str = "776566742f626c6f636b2d7369676e61747572652f763196cf627e555a95da31f8a24c267bcd7199837b33dbefe4df2d76e7c0157f17d1";
const MB_SIGNATURE: &str = "7b95e177090de145e224e85d531d42b24d4d05b7d9ddebbe711c66349a671e16ede53f81ad71f52b23f1cb9c9a9cfe7fa2b51c0a3ebb5dfbd19fa5d3314eaf0d";
const MB_BYTES: &str = "01e1a314d3b1b3f1d701e894a6a44dd95e168a08b828cd21f3ba43a4e5e420c0acb90a7d4e56de6661e7e8abda769b010000018139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39402000e01000001000000e8abda769b010000000000000000000000000000000000000000000000000000000000000000000001e894a6a44dd95e168a08b828cd21f3ba43a4e5e420c0acb90a7d4e56de6661e7a7346514f635523b73d3adb12bf49a26cf1a8063afc422025e203cde74e5ecbe5451e036dc09a72e2cf4b7546dcdad52cf7f29af0452a7f45ee7554e9971ec711c72227f68af99f4f1398d06edca76fd649a1a937ff9cda87e0fe0c9073dd0f1018139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394e58799ac6d7eb58c87215460bf96a6b712567bcb102b59934190eef6d1a424f6824c86b9794a6ca737ac5c7a596cc462a59c3c6f3d197f1df7586c3c2c99d60900000000000000007b95e177090de145e224e85d531d42b24d4d05b7d9ddebbe711c66349a671e16ede53f81ad71f52b23f1cb9c9a9cfe7fa2b51c0a3ebb5dfbd19fa5d3314eaf0d";
const MB_ID: &str = "7fbd365276ad96720c10e843ba54e7e7cd20831b52981af454b4f74b79a00f66";

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
    // Payload kind 3 (reserved, not defined in protocol version 1).
    assert_eq!(
        Block::from_bytes(&with(&b, 51, 0x03)),
        Err(DecodeError::UnknownTag {
            field: "payload kind",
            tag: 3
        })
    );
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
