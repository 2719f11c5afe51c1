//! Presentations at the counter: a response fits one QR code (rendered to pixels and
//! to PNG, read back), and a milestone certificate is checked offline.

use weft_credentials::presentation::{PresentationResponse, PRESENTATION_VERSION};
use weft_crypto::poseidon::{fr_to_bytes_be, Fr};
use weft_crypto::OrganisationKey;
use weft_types::{
    BlockId, Committee, InclusionRoot, Milestone, MilestoneEssence, MilestoneId,
    MilestoneSignature, RegistryId, StateRoot,
};
use weft_verifier::{qr, verify_certificate, CertificateError};

fn response() -> PresentationResponse {
    let mut proof = [0u8; 128];
    for (i, b) in proof.iter_mut().enumerate() {
        *b = (i * 7) as u8;
    }
    PresentationResponse {
        nonce: [3; 16],
        registry: RegistryId([4; 32]),
        root: fr_to_bytes_be(&Fr::from(123_456_789u64)),
        nullifier: fr_to_bytes_be(&-Fr::from(5u64)),
        disclosed: vec![
            fr_to_bytes_be(&Fr::from(5u64)),
            fr_to_bytes_be(&Fr::from(120_000u64)),
        ],
        proof,
        entitlement_key: None,
    }
}

#[test]
fn a_response_survives_a_qr_code() {
    let resp = response();
    let bytes = resp.to_bytes();
    assert_eq!(bytes[0], PRESENTATION_VERSION);
    assert!(bytes.len() <= 300, "{} bytes", bytes.len());
    let (side, px) = qr::render_pixels(&bytes, 4).unwrap();
    let read = qr::decode_pixels(side, side, &px).unwrap();
    assert_eq!(read, bytes);
    assert_eq!(PresentationResponse::from_bytes(&read).unwrap(), resp);
    let png = qr::render_png(&bytes).unwrap();
    assert_eq!(qr::decode_png(&png).unwrap(), bytes);
    assert!(qr::render_text(&bytes).unwrap().contains('█'));
}

#[test]
fn certificates_are_checked_offline() {
    let keys: Vec<_> = (1..=4u8)
        .map(|i| OrganisationKey::from_seed(&[i; 32]))
        .collect();
    let committee = Committee::new(3, keys.iter().map(|k| k.public_key()).collect()).unwrap();
    let essence = MilestoneEssence {
        index: 4,
        timestamp: 9,
        previous_milestone_id: MilestoneId::NONE,
        parents: vec![BlockId::GENESIS],
        inclusion_root: InclusionRoot([1; 32]),
        state_root: StateRoot([2; 32]),
        committee_id: committee.id(),
    };
    let mut signatures: Vec<_> = keys[..3]
        .iter()
        .map(|k| MilestoneSignature {
            public_key: k.public_key(),
            signature: k.sign(&essence.signing_message()),
        })
        .collect();
    signatures.sort_by_key(|s| s.public_key);
    let ok = Milestone {
        essence,
        signatures,
    };
    assert_eq!(verify_certificate(&ok, &committee), Ok(()));
    let mut tampered = ok.clone();
    tampered.essence.state_root = StateRoot([3; 32]);
    assert!(matches!(
        verify_certificate(&tampered, &committee),
        Err(CertificateError::BadSignature(_))
    ));
    let mut short = ok.clone();
    short.signatures.pop();
    assert!(matches!(
        verify_certificate(&short, &committee),
        Err(CertificateError::BelowThreshold { got: 2, needed: 3 })
    ));
}
