//! Confidential entitlements through a real node's API: a value program's mint, a
//! household's payment, a shop's redemption, every refusal at admission (with the
//! ledger's reason as the error code, and nothing changed), the notes a wallet scans,
//! and the audit — by the route and by `weft-node audit` as a separate process.

mod common;
use common::node_binary;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::Value;
use weft_entitlements::{mint, redeem, transfer, OwnedNote, OwnerSecretKey, Recipient};
use weft_node::config::dev_key;
use weft_node::scenario::{one_round, Agency, Network};
use weft_tests::TestNode;
use weft_types::notes::{Mint, Transfer};
use weft_types::{
    AttributeDef, AttributeKind, Entitlement, Payload, PolicyCondition, PredicateOp, Program,
    ProgramId, Schema,
};

fn schema() -> Schema {
    Schema {
        name: "household".into(),
        version: "1".into(),
        attributes: vec![AttributeDef {
            name: "household_size".into(),
            kind: AttributeKind::Integer { bits: 8 },
        }],
    }
}

fn program(agency: &Agency, value_notes: bool) -> Program {
    Program {
        name: if value_notes { "cash" } else { "flour" }.into(),
        schema: schema().id(),
        issuers: vec![agency.did],
        policy_source: "household_size >= 3".into(),
        conditions: vec![PolicyCondition {
            attribute: 0,
            predicate: PredicateOp::Ge { value: 3 },
        }],
        disclose: 0,
        issued_before: u32::MAX,
        rounds: vec![one_round(1, weft_node::core::now_ms(), 1)],
        grace_ms: 0,
        entitlement: Entitlement {
            quantity: 5_000,
            unit: "USD cents".into(),
            tiers: vec![],
        },
        points: vec![],
        anonymous: false,
        value_notes,
        nonce: 0,
    }
}

/// The node's answer to a refused submission: (error code, message).
async fn refused(
    net: &Network,
    payload: Payload,
    signer: Option<&weft_crypto::OrganisationKey>,
) -> (String, String) {
    let block = match signer {
        Some(k) => net.signed(k, payload).await.unwrap(),
        None => net.anonymous(payload).await.unwrap(),
    };
    match net.client.submit(&block).await {
        Err(weft_client::ClientError::Api { code, message, .. }) => (code, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn open(
    program: &ProgramId,
    outputs: &[weft_types::notes::NoteOutput],
    key: &OwnerSecretKey,
) -> OwnedNote {
    outputs
        .iter()
        .find_map(|o| OwnedNote::decrypt(program.bytes(), o, key))
        .expect("an output for this key")
}

async fn audit(net: &Network, program: &ProgramId) -> Value {
    net.client.program_audit(program.bytes()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn value_moves_from_agency_to_household_to_shop_and_the_books_balance() {
    let t = TestNode::start(100, 0).await;
    let net = Network::connect(t.client.clone(), dev_key("authority"))
        .await
        .unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(44);
    // The dev organisation is the agency (issuer) and, here, also the shop (point).
    let agency = Agency::setup(&net, dev_key("organisation"), schema(), "cash")
        .await
        .unwrap();
    let cash = agency.announce(&net, program(&agency, true)).await.unwrap();
    let flour = agency
        .announce(&net, program(&agency, false))
        .await
        .unwrap();

    // The agency mints two households' entitlements: public total, hidden amounts.
    let (a, b) = (
        OwnerSecretKey::random(&mut rng),
        OwnerSecretKey::random(&mut rng),
    );
    let m: Mint = mint(
        *cash.bytes(),
        &[
            Recipient {
                owner: a.public_key(),
                amount: 5_000,
            },
            Recipient {
                owner: b.public_key(),
                amount: 2_500,
            },
        ],
        &mut rng,
    )
    .unwrap();
    let block = net
        .signed(&agency.key, Payload::Mint(Box::new(m.clone())))
        .await
        .unwrap();
    net.apply_all(std::slice::from_ref(&block)).await.unwrap();
    let note_a = open(&cash, &m.outputs, &a);
    assert_eq!(note_a.amount(), 5_000);

    // A wallet finds its note by scanning the milestone's notes (it asks for all of
    // them, never for its own).
    let confirmed_at = t
        .confirmed(&block.id())
        .await
        .referenced_by_milestone
        .unwrap();
    let scanned = t.client.milestone_notes(confirmed_at).await.unwrap();
    assert_eq!(scanned.created.len(), 2);
    let found: Vec<OwnedNote> = scanned
        .created
        .iter()
        .filter_map(|c| OwnedNote::decrypt(cash.bytes(), &c.output()?, &a))
        .collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id(), note_a.id());

    // Household A pays a shop 1,800 and keeps 3,200 as change.
    let shop = OwnerSecretKey::random(&mut rng);
    let change = OwnerSecretKey::random(&mut rng);
    let pay: Transfer = transfer(
        *cash.bytes(),
        std::slice::from_ref(&note_a),
        &[
            Recipient {
                owner: shop.public_key(),
                amount: 1_800,
            },
            Recipient {
                owner: change.public_key(),
                amount: 3_200,
            },
        ],
        &mut rng,
    )
    .unwrap();
    let before = audit(&net, &cash).await;

    // Every bad payment is refused at once with the ledger's reason, and changes nothing.
    let mut bad = pay.clone();
    bad.range_proof[100] ^= 1;
    let (code, msg) = refused(&net, Payload::Transfer(Box::new(bad)), None).await;
    assert_eq!(code, "invalidRangeProof", "{msg}");
    let mut bad = pay.clone();
    bad.kernel.excess = pay.outputs[0].commitment;
    let (code, msg) = refused(&net, Payload::Transfer(Box::new(bad)), None).await;
    assert_eq!(code, "unbalanced", "{msg}");
    let mut bad = pay.clone();
    bad.inputs[0].signature[0] ^= 1;
    let (code, msg) = refused(&net, Payload::Transfer(Box::new(bad)), None).await;
    assert_eq!(code, "notNoteOwner", "{msg}");
    // A note that was never minted.
    let ghost = OwnedNote::from_claim(cash.bytes(), OwnerSecretKey::random(&mut rng), 9_999);
    let forged = transfer(
        *cash.bytes(),
        &[ghost],
        &[Recipient {
            owner: shop.public_key(),
            amount: 9_999,
        }],
        &mut rng,
    )
    .unwrap();
    let (code, msg) = refused(&net, Payload::Transfer(Box::new(forged)), None).await;
    assert_eq!(code, "noteSpent", "{msg}");
    assert!(msg.contains("not a confirmed note"), "{msg}");
    // Minting for an in-kind program, and by someone who does not own the program.
    let m2 = mint(
        *flour.bytes(),
        &[Recipient {
            owner: a.public_key(),
            amount: 1,
        }],
        &mut rng,
    )
    .unwrap();
    let (code, _) = refused(&net, Payload::Mint(Box::new(m2)), Some(&agency.key)).await;
    assert_eq!(code, "notAValueProgram");
    let after = audit(&net, &cash).await;
    assert_eq!(before["minted"], after["minted"]);
    assert_eq!(before["unspentNotes"], after["unspentNotes"]);

    // The good payment applies; paying again with the same note is refused.
    let block = net
        .anonymous(Payload::Transfer(Box::new(pay.clone())))
        .await
        .unwrap();
    net.apply_all(&[block]).await.unwrap();
    let again = transfer(
        *cash.bytes(),
        std::slice::from_ref(&note_a),
        &[Recipient {
            owner: shop.public_key(),
            amount: 5_000,
        }],
        &mut rng,
    )
    .unwrap();
    let (code, msg) = refused(&net, Payload::Transfer(Box::new(again)), None).await;
    assert_eq!(code, "noteSpent", "{msg}");
    let status = t
        .client
        .note_status(cash.bytes(), &note_a.id())
        .await
        .unwrap();
    assert_eq!(status.status, "spent");

    // The shop redeems what it received; the agency pays it 1,800.
    let received = open(&cash, &pay.outputs, &shop);
    let r = redeem(
        *cash.bytes(),
        &[received],
        1_800,
        agency.key.public_key().0,
        &[],
        &mut rng,
    )
    .unwrap();
    let block = net
        .signed(&agency.key, Payload::Redeem(Box::new(r)))
        .await
        .unwrap();
    net.apply_all(&[block]).await.unwrap();

    let report = audit(&net, &cash).await;
    assert_eq!(report["conservationOk"], true, "{report}");
    assert_eq!(report["minted"], "7500");
    assert_eq!(report["redeemed"], "1800");
    assert_eq!(report["outstanding"], "5700");
    assert_eq!(report["unspentNotes"], 2, "B's note and A's change");
    assert_eq!(report["transfers"], 1);

    // `weft-node audit`, a separate process, checks the identity on the node's sums.
    let out = tokio::task::spawn_blocking({
        let base = t.client.base().to_string();
        move || {
            std::process::Command::new(node_binary())
                .args(["audit", "--json", "--node", &base])
                .output()
                .expect("weft-node audit runs")
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["conservationOk"], true);
    assert_eq!(printed["programs"].as_array().unwrap().len(), 1);
}
