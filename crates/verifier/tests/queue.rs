//! The durable queue: one claim per household and round at this point, records and
//! states survive reopening (as after a crash), the device signs what the ledger checks.

use weft_crypto::OrganisationKey;
use weft_types::{
    Claim, Did, PointEndorsement, ProgramId, PublicKeyBytes, RegistryId, SignatureBytes,
};
use weft_verifier::{Acceptance, ClaimState, Decision, Queue, RejectReason};

fn claim(device: &PublicKeyBytes, nullifier: u8) -> Claim {
    Claim {
        program: ProgramId(RegistryId([1; 32])),
        round: 1,
        registry: RegistryId([2; 32]),
        root: [0; 32],
        nullifier: [nullifier; 32],
        disclosed: vec![],
        nonce: vec![3; 16],
        time: 1_000,
        proof: vec![0; 128],
        entitlement_key: None,
        endorsement: Some(PointEndorsement {
            point: Did([4; 32]),
            device_key: *device,
            signature: SignatureBytes([0; 64]),
        }),
    }
}

#[test]
fn the_queue_accepts_a_household_once_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let device = OrganisationKey::from_seed(&[9; 32]);
    let accept = |q: &Queue, n: u8| {
        q.accept(
            Acceptance {
                claim: claim(&device.public_key(), n),
                quantity: 25,
                unit: "kg rice".into(),
            },
            &device,
            5,
        )
        .unwrap()
    };
    let id = {
        let q = Queue::open(dir.path()).unwrap();
        let Decision::Accept(a) = accept(&q, 7) else {
            panic!("first claim accepted")
        };
        let e = a.claim.endorsement.clone().unwrap();
        weft_crypto::verify(
            &e.device_key,
            &a.claim.signing_message(&e.point, &e.device_key),
            &e.signature,
        )
        .unwrap();
        assert!(matches!(
            accept(&q, 7),
            Decision::Reject {
                reason: RejectReason::AlreadyClaimed,
                ..
            }
        ));
        assert!(matches!(accept(&q, 8), Decision::Accept(_)));
        let recs = q.records().unwrap();
        assert_eq!(recs.len(), 2);
        q.set_state(
            &recs[0].id,
            ClaimState::Submitted {
                block_id: weft_types::BlockId([5; 32]),
                block: "00".into(),
            },
        )
        .unwrap();
        recs[0].id.clone()
    };
    let q = Queue::open(dir.path()).unwrap();
    let recs = q.records().unwrap();
    assert_eq!(recs.len(), 2, "nothing lost on reopening");
    let r = recs.iter().find(|r| r.id == id).unwrap();
    assert!(matches!(r.state, ClaimState::Submitted { .. }));
    assert!(matches!(
        accept(&q, 8),
        Decision::Reject {
            reason: RejectReason::AlreadyClaimed,
            ..
        }
    ));
}
