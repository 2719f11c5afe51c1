//! Property tests of the canonical codec: every valid block round-trips byte for byte, and
//! no mutation of a valid encoding is accepted unless it is itself canonical.

use proptest::prelude::*;
use weft_types::{
    Block, BlockId, Committee, CommitteeChange, CommitteeId, DecodeError, InclusionRoot, Issuer,
    Milestone, MilestoneEssence, MilestoneId, MilestoneSignature, NetworkId, Payload,
    PublicKeyBytes, SignatureBytes, StateRoot, TaggedData, MAX_BLOCK_BYTES, MAX_COMMITTEE_SIZE,
};

fn ids(max: usize) -> impl Strategy<Value = Vec<BlockId>> {
    proptest::collection::btree_set(any::<[u8; 32]>(), 1..=max)
        .prop_map(|s| s.into_iter().map(BlockId).collect())
}

fn tagged() -> impl Strategy<Value = Payload> {
    (
        proptest::collection::vec(any::<u8>(), 0..=64),
        proptest::collection::vec(any::<u8>(), 0..=600),
    )
        .prop_map(|(tag, data)| Payload::TaggedData(TaggedData { tag, data }))
}

fn signed_block() -> impl Strategy<Value = Block> {
    (
        any::<u64>(),
        ids(8),
        any::<u64>(),
        any::<[u8; 32]>(),
        tagged(),
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
    )
        .prop_map(|(net, parents, time, key, payload, nonce, s1, s2)| {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&s1);
            sig[32..].copy_from_slice(&s2);
            Block {
                protocol_version: 1,
                network_id: NetworkId(net),
                parents,
                issuing_time: time,
                issuer: Issuer::Organisation {
                    public_key: PublicKeyBytes(key),
                },
                payload,
                nonce,
                signature: Some(SignatureBytes(sig)),
            }
        })
}

fn anonymous_block() -> impl Strategy<Value = Block> {
    (any::<u64>(), ids(8), any::<u64>(), any::<u64>()).prop_map(|(net, parents, time, nonce)| {
        Block {
            protocol_version: 1,
            network_id: NetworkId(net),
            parents,
            issuing_time: time,
            issuer: Issuer::Anonymous,
            payload: Payload::None,
            nonce,
            signature: None,
        }
    })
}

fn milestone_block() -> impl Strategy<Value = Block> {
    (
        ids(8),
        1u32..1000,
        any::<u64>(),
        proptest::collection::btree_set(any::<[u8; 32]>(), 1..=5),
        any::<[u8; 32]>(),
    )
        .prop_map(|(parents, index, time, signers, root)| {
            let essence = MilestoneEssence {
                index,
                timestamp: time,
                previous_milestone_id: if index == 1 {
                    MilestoneId::NONE
                } else {
                    MilestoneId(root)
                },
                parents: parents.clone(),
                inclusion_root: InclusionRoot(root),
                state_root: StateRoot(root),
                committee_id: CommitteeId(root),
            };
            let signatures = signers
                .iter()
                .map(|k| MilestoneSignature {
                    public_key: PublicKeyBytes(*k),
                    signature: SignatureBytes([7; 64]),
                })
                .collect();
            let issuer = *signers.iter().next().unwrap_or(&[0; 32]);
            Block {
                protocol_version: 1,
                network_id: NetworkId(5),
                parents,
                issuing_time: time,
                issuer: Issuer::Organisation {
                    public_key: PublicKeyBytes(issuer),
                },
                payload: Payload::Milestone(Box::new(Milestone {
                    essence,
                    signatures,
                })),
                nonce: 0,
                signature: Some(SignatureBytes([9; 64])),
            }
        })
}

/// A committee of `n` members with any Byzantine-quorum threshold.
fn committee() -> impl Strategy<Value = Committee> {
    proptest::collection::btree_set(any::<[u8; 32]>(), 1..=MAX_COMMITTEE_SIZE)
        .prop_flat_map(|members| {
            let n = members.len();
            (Just(members), (2 * n / 3 + 1)..=n)
        })
        .prop_map(|(members, t)| {
            Committee::new(t as u16, members.into_iter().map(PublicKeyBytes).collect())
                .expect("a Byzantine quorum of distinct members")
        })
}

fn committee_change_block() -> impl Strategy<Value = Block> {
    (
        ids(8),
        any::<u64>(),
        committee(),
        1u32..=u32::MAX,
        proptest::collection::btree_set(any::<[u8; 32]>(), 1..=8),
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(parents, time, committee, effective_index, signers, issuer)| {
                let signatures = signers
                    .iter()
                    .map(|k| MilestoneSignature {
                        public_key: PublicKeyBytes(*k),
                        signature: SignatureBytes([3; 64]),
                    })
                    .collect();
                Block {
                    protocol_version: 1,
                    network_id: NetworkId(5),
                    parents,
                    issuing_time: time,
                    issuer: Issuer::Organisation {
                        public_key: PublicKeyBytes(issuer),
                    },
                    payload: Payload::CommitteeChange(Box::new(CommitteeChange {
                        committee,
                        effective_index,
                        signatures,
                    })),
                    nonce: 0,
                    signature: Some(SignatureBytes([9; 64])),
                }
            },
        )
}

fn any_block() -> impl Strategy<Value = Block> {
    prop_oneof![
        signed_block(),
        anonymous_block(),
        milestone_block(),
        committee_change_block()
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn valid_blocks_round_trip(block in any_block()) {
        prop_assert_eq!(block.check_structure(), Ok(()));
        let bytes = block.to_bytes();
        prop_assert!(bytes.len() <= MAX_BLOCK_BYTES);
        let decoded = Block::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&decoded, &block);
        prop_assert_eq!(decoded.to_bytes(), bytes);
        // The JSON form describes the same block.
        let json = serde_json::to_string(&block).unwrap();
        let back: Block = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, block);
    }

    #[test]
    fn every_truncation_is_rejected(block in any_block(), cut in any::<prop::sample::Index>()) {
        let bytes = block.to_bytes();
        let len = cut.index(bytes.len());
        prop_assert!(Block::from_bytes(&bytes[..len]).is_err());
    }

    #[test]
    fn trailing_bytes_are_rejected(block in any_block(), extra in proptest::collection::vec(any::<u8>(), 1..40)) {
        let mut bytes = block.to_bytes();
        bytes.extend_from_slice(&extra);
        prop_assert!(Block::from_bytes(&bytes).is_err());
    }

    #[test]
    fn mutations_are_rejected_or_canonical(block in any_block(), pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let mut bytes = block.to_bytes();
        let i = pos.index(bytes.len());
        bytes[i] ^= xor;
        if let Ok(decoded) = Block::from_bytes(&bytes) {
            // A flipped byte inside a free field (a key, a signature, data) can still be a
            // block; then it must be exactly that block.
            prop_assert_eq!(decoded.to_bytes(), bytes);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(b) = Block::from_bytes(&bytes) {
            prop_assert_eq!(b.to_bytes(), bytes);
        }
    }
}

#[test]
fn named_rejections() {
    let parent = BlockId([1; 32]);
    let base = Block {
        protocol_version: 1,
        network_id: NetworkId(1),
        parents: vec![parent],
        issuing_time: 0,
        issuer: Issuer::Anonymous,
        payload: Payload::None,
        nonce: 0,
        signature: None,
    };
    // Unsorted and repeated parents.
    let mut b = base.clone();
    b.parents = vec![BlockId([2; 32]), BlockId([1; 32])];
    assert!(matches!(
        Block::from_bytes(&b.to_bytes()),
        Err(DecodeError::NotStrictlyAscending { .. })
    ));
    b.parents = vec![parent, parent];
    assert!(matches!(
        Block::from_bytes(&b.to_bytes()),
        Err(DecodeError::NotStrictlyAscending { .. })
    ));
    // No parents, nine parents.
    b.parents = vec![];
    assert!(matches!(
        Block::from_bytes(&b.to_bytes()),
        Err(DecodeError::OutOfRange {
            field: "parent count",
            ..
        })
    ));
    b.parents = (0..9u8).map(|i| BlockId([i; 32])).collect();
    assert!(matches!(
        Block::from_bytes(&b.to_bytes()),
        Err(DecodeError::OutOfRange {
            field: "parent count",
            ..
        })
    ));
    // Unknown version, issuer kind, payload kind.
    let mut bytes = base.to_bytes();
    bytes[0] = 2;
    assert_eq!(
        Block::from_bytes(&bytes),
        Err(DecodeError::UnsupportedVersion(2))
    );
    let issuer_at = 1 + 8 + 1 + 32 + 8;
    let mut bytes = base.to_bytes();
    bytes[issuer_at] = 7;
    assert!(matches!(
        Block::from_bytes(&bytes),
        Err(DecodeError::UnknownTag {
            field: "issuer kind",
            ..
        })
    ));
    let mut bytes = base.to_bytes();
    bytes[issuer_at + 1] = 0xee;
    assert!(matches!(
        Block::from_bytes(&bytes),
        Err(DecodeError::UnknownTag {
            field: "payload kind",
            ..
        })
    ));
    // A payload length that claims more than there is.
    let mut bytes = base.to_bytes();
    bytes[issuer_at + 3] = 200;
    assert!(Block::from_bytes(&bytes).is_err());
    // Over-long tag and data, and a block over 32 KiB.
    let mut t = base.clone();
    t.issuer = Issuer::Organisation {
        public_key: PublicKeyBytes([3; 32]),
    };
    t.signature = Some(SignatureBytes([0; 64]));
    t.payload = Payload::TaggedData(TaggedData {
        tag: vec![0; 65],
        data: vec![],
    });
    assert!(matches!(
        t.check_structure(),
        Err(DecodeError::OutOfRange { .. })
    ));
    t.payload = Payload::TaggedData(TaggedData {
        tag: vec![],
        data: vec![0; 8193],
    });
    assert!(Block::from_bytes(&t.to_bytes()).is_err());
    assert!(matches!(
        Block::from_bytes(&vec![0u8; MAX_BLOCK_BYTES + 1]),
        Err(DecodeError::TooLong { .. })
    ));
    // Signature presence must match the issuer.
    let mut s = base.clone();
    s.signature = Some(SignatureBytes([0; 64]));
    assert!(matches!(
        s.check_structure(),
        Err(DecodeError::Inconsistent(_))
    ));
}

#[test]
fn committee_change_payload_json_and_kind() {
    let committee = Committee::new(
        3,
        vec![
            PublicKeyBytes([1; 32]),
            PublicKeyBytes([2; 32]),
            PublicKeyBytes([3; 32]),
        ],
    )
    .unwrap();
    let payload = Payload::CommitteeChange(Box::new(CommitteeChange {
        committee,
        effective_index: 7,
        signatures: vec![MilestoneSignature {
            public_key: PublicKeyBytes([4; 32]),
            signature: SignatureBytes([5; 64]),
        }],
    }));
    assert_eq!(payload.kind() as u16, 17);
    assert_eq!(
        weft_types::PayloadKind::from_u16(17),
        Some(weft_types::PayloadKind::CommitteeChange)
    );
    let json = serde_json::to_value(&payload).unwrap();
    assert_eq!(json["type"], "committeeChange");
    assert_eq!(json["effectiveIndex"], 7);
    assert_eq!(json["committee"]["threshold"], 3);
    assert_eq!(json["signatures"][0]["publicKey"], hex::encode([4u8; 32]));
    let back: Payload = serde_json::from_value(json).unwrap();
    assert_eq!(back, payload);
    // Kind 17 on the wire: u16 LE tag, u32 LE length, then the change's bytes.
    let mut w = weft_types::codec::Writer::default();
    payload.encode_into(&mut w);
    let bytes = w.into_bytes();
    assert_eq!(&bytes[..2], &[17, 0]);
    let Payload::CommitteeChange(c) = &payload else {
        unreachable!()
    };
    assert_eq!(&bytes[6..], &c.to_bytes()[..]);
    assert_eq!(
        u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]) as usize,
        bytes.len() - 6
    );
}
