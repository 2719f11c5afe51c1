//! The node's API end to end: happy paths, events, and every kind of bad request.

use std::time::Duration;

use futures_util::StreamExt;
use weft_client::ClientError;
use weft_crypto::OrganisationKey;
use weft_tests::{anchor_on, TestNode};
use weft_types::{BlockBuilder, BlockId, NetworkId, Payload, TaggedData};

fn api_code(r: Result<impl std::fmt::Debug, ClientError>) -> (u16, String) {
    match r {
        Err(ClientError::Api { status, code, .. }) => (status, code),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_are_stored_confirmed_and_served_in_both_forms() {
    let t = TestNode::start(200, 0).await;
    let agency = t.agency();
    let a = t.anchor(&agency, b"invoice 1").await;
    let r = t.client.submit(&a).await.unwrap();
    assert_eq!(r.block_id, a.id());
    assert_eq!(r.solid, Some(true));
    // The JSON form of another block.
    let b = t.anchor(&agency, b"invoice 2").await;
    let r = t.client.submit_json(&b).await.unwrap();
    assert_eq!(r.block_id, b.id());
    // Resubmitting is harmless.
    assert!(t.client.submit(&a).await.unwrap().duplicate);

    let meta = t.confirmed(&a.id()).await;
    assert_eq!(meta.ledger_outcome, "applied");
    assert!(meta.solid);
    assert!(meta.white_flag_index.is_some());
    assert_eq!(t.client.block(&a.id()).await.unwrap(), a);
    assert_eq!(t.client.block_bytes(&a.id()).await.unwrap(), a.to_bytes());
    for p in &a.parents {
        if *p != BlockId::GENESIS {
            assert!(t.client.children(p).await.unwrap().contains(&a.id()));
        }
    }
    let index = meta.referenced_by_milestone.unwrap();
    let m = t.client.milestone(index, true).await.unwrap();
    assert!(m.blocks.unwrap().contains(&a.id()));
    let info = t.client.info().await.unwrap();
    assert_eq!(info["networkName"], "weft-dev");
    assert!(info["ledger"]["anchors"].as_u64().unwrap() >= 1);
    assert!(t.client.health().await.unwrap());
    let metrics = t.client.metrics().await.unwrap();
    for name in [
        "weft_blocks_received_total",
        "weft_blocks_confirmed_total",
        "weft_milestone_confirmation_seconds",
        "weft_tips",
        "weft_solidifier_queue",
        "weft_database_bytes",
    ] {
        assert!(metrics.contains(name), "metric {name} missing:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_anchor_is_confirmed_as_conflicting() {
    let t = TestNode::start(200, 0).await;
    let agency = t.agency();
    let first = t.anchor(&agency, b"po-77").await;
    t.client.submit(&first).await.unwrap();
    assert_eq!(t.confirmed(&first.id()).await.ledger_outcome, "applied");
    let second = t.anchor(&agency, b"po-77").await;
    t.client.submit(&second).await.unwrap();
    let meta = t.confirmed(&second.id()).await;
    assert_eq!(meta.ledger_outcome, "conflicting");
    assert_eq!(meta.conflict.unwrap().reason, "duplicateAnchor");
    // Still stored and served: conflicting blocks are never deleted.
    assert_eq!(t.client.block(&second.id()).await.unwrap(), second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_reports_blocks_milestones_and_confirmations() {
    let t = TestNode::start(200, 0).await;
    let mut events = t
        .client
        .events(&["blocks", "milestones", "confirmations"])
        .await
        .unwrap();
    let block = t.anchor(&t.agency(), b"evented").await;
    t.client.submit(&block).await.unwrap();
    let id = block.id().to_hex();
    let (mut saw_block, mut saw_milestone, mut saw_confirmation) = (false, false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !(saw_block && saw_milestone && saw_confirmation) {
        let next = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("events in time");
        let e = next.expect("stream open").expect("valid event");
        match e["type"].as_str() {
            Some("block") if e["blockId"] == id.as_str() => saw_block = true,
            Some("milestone") => saw_milestone = true,
            Some("confirmations")
                if e["blocks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|b| b["blockId"] == id.as_str()) =>
            {
                saw_confirmation = true
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_blocks_are_refused_with_a_reason_and_change_nothing() {
    let t = TestNode::start(200, 8).await;
    let agency = t.agency();
    let tips = t.client.tips(2).await.unwrap();
    let good = anchor_on(t.network, &agency, tips.clone(), b"ok");
    let bytes = good.to_bytes();

    // Encoding errors.
    assert_eq!(
        api_code(t.client.submit_bytes(vec![]).await),
        (400, "invalidBlock".into())
    );
    assert_eq!(
        api_code(
            t.client
                .submit_bytes(bytes[..bytes.len() - 1].to_vec())
                .await
        ),
        (400, "invalidBlock".into())
    );
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(
        api_code(t.client.submit_bytes(long).await),
        (400, "invalidBlock".into())
    );
    // Tampered signature, tampered content.
    let mut bad_sig = bytes.clone();
    let n = bad_sig.len();
    bad_sig[n - 1] ^= 1;
    assert_eq!(
        api_code(t.client.submit_bytes(bad_sig).await),
        (400, "invalidSignature".into())
    );
    let mut bad_data = good.clone();
    if let Payload::TaggedData(d) = &mut bad_data.payload {
        d.data = b"changed".to_vec();
    }
    assert_eq!(
        api_code(t.client.submit(&bad_data).await),
        (400, "invalidSignature".into())
    );
    // Another network.
    let other = anchor_on(
        NetworkId::from_name("elsewhere"),
        &agency,
        tips.clone(),
        b"x",
    );
    assert_eq!(
        api_code(t.client.submit(&other).await),
        (400, "wrongNetwork".into())
    );
    // An unregistered organisation.
    let stranger = OrganisationKey::from_seed(&[42; 32]);
    let s = anchor_on(t.network, &stranger, tips.clone(), b"x");
    assert_eq!(
        api_code(t.client.submit(&s).await),
        (400, "unknownIssuer".into())
    );
    // From the future.
    let future = agency.sign_block(
        BlockBuilder::new(
            t.network,
            tips.clone(),
            weft_node::core::now_ms() + 3_600_000,
        )
        .payload(Payload::TaggedData(TaggedData {
            tag: vec![],
            data: vec![1],
        }))
        .organisation(agency.public_key()),
    );
    assert_eq!(
        api_code(t.client.submit(&future).await),
        (400, "issuingTimeInFuture".into())
    );
    // Anonymous: tagged data is not allowed, and work is required.
    let anon_data = BlockBuilder::new(t.network, tips.clone(), 1)
        .payload(Payload::TaggedData(TaggedData {
            tag: vec![],
            data: vec![1],
        }))
        .anonymous();
    assert_eq!(
        api_code(t.client.submit(&anon_data).await),
        (400, "anonymousPayloadNotAllowed".into())
    );
    let mut lazy = BlockBuilder::new(t.network, tips.clone(), 1).anonymous();
    while lazy.pow_score() >= 8 {
        lazy.nonce += 1;
    }
    assert_eq!(
        api_code(t.client.submit(&lazy).await),
        (400, "insufficientWork".into())
    );
    let mut worked = BlockBuilder::new(t.network, tips.clone(), 1).anonymous();
    worked.mine(8);
    assert_eq!(t.client.submit(&worked).await.unwrap().solid, Some(true));
    // Bad JSON.
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/blocks", t.client.base());
    let r = http
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"parents\": 3}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalidJson");
    // Unsupported media type and oversized body.
    let r = http
        .post(&url)
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let (status, body) = weft_tests::post_announcing_length(t.client.base(), 200_000).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "payloadTooLarge");

    // None of it was stored.
    for b in [&bad_data, &other, &s, &future, &anon_data, &lazy] {
        assert_eq!(
            api_code(t.client.metadata(&b.id()).await),
            (404, "notFound".into())
        );
    }
    let rejected = t.client.metrics().await.unwrap();
    assert!(rejected
        .lines()
        .any(|l| l.starts_with("weft_blocks_rejected_total") && !l.ends_with(" 0")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_on_every_route_get_json_errors() {
    let t = TestNode::start(200, 0).await;
    let http = reqwest::Client::new();
    let base = t.client.base().to_string();
    let cases = [
        ("/api/v1/blocks/zz", 400, "invalidBlockId"),
        ("/api/v1/blocks/00", 400, "invalidBlockId"),
        (
            &*format!("/api/v1/blocks/{}", "11".repeat(32)),
            404,
            "notFound",
        ),
        (
            &*format!("/api/v1/blocks/{}/metadata", "11".repeat(32)),
            404,
            "notFound",
        ),
        ("/api/v1/blocks/xyz/metadata", 400, "invalidBlockId"),
        (
            &*format!("/api/v1/blocks/{}/children", "11".repeat(32)),
            404,
            "notFound",
        ),
        (
            &*format!("/api/v1/blocks/{}/children?limit=0", "00".repeat(32)),
            400,
            "invalidLimit",
        ),
        ("/api/v1/tips?count=0", 400, "invalidCount"),
        ("/api/v1/tips?count=9", 400, "invalidCount"),
        ("/api/v1/tips?count=two", 400, "invalidCount"),
        ("/api/v1/milestones/0", 400, "invalidIndex"),
        ("/api/v1/milestones/-1", 400, "invalidIndex"),
        ("/api/v1/milestones/4000000000", 404, "notFound"),
        ("/api/v1/milestones/1?blocks=maybe", 400, "invalidQuery"),
        ("/api/v1/ledger/anchors/beef", 400, "invalidDigest"),
        (
            &*format!("/api/v1/ledger/anchors/{}", "22".repeat(32)),
            404,
            "notFound",
        ),
        ("/api/v1/events?topics=gossip", 400, "invalidTopic"),
        ("/api/v1/nothing-here", 404, "notFound"),
    ];
    for (path, status, code) in cases {
        let r = http
            .get(format!("{base}{path}"))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{path}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    // Tips are 1..=8 distinct, sorted ids.
    let tips = t.client.tips(8).await.unwrap();
    assert!(!tips.is_empty() && tips.len() <= 8);
    assert!(tips.windows(2).all(|w| w[0] < w[1]));
    // The OpenAPI document is served.
    let doc: serde_json::Value = http
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_before_parents_wait_then_confirm() {
    let t = TestNode::start(200, 0).await;
    let agency = t.agency();
    let tips = t.client.tips(2).await.unwrap();
    let parent = anchor_on(t.network, &agency, tips, b"parent");
    let child = anchor_on(t.network, &agency, vec![parent.id()], b"child");
    let r = t.client.submit(&child).await.unwrap();
    assert_eq!(r.solid, Some(false));
    assert_eq!(r.missing_parents, vec![parent.id()]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = t.client.metadata(&child.id()).await.unwrap();
    assert!(
        !m.solid && m.referenced_by_milestone.is_none(),
        "an unsolid block is never confirmed"
    );
    t.client.submit(&parent).await.unwrap();
    assert_eq!(t.confirmed(&child.id()).await.ledger_outcome, "applied");
    assert_eq!(t.confirmed(&parent.id()).await.ledger_outcome, "applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_submits_in_order_with_one_result_per_block() {
    let t = TestNode::start(200, 0).await;
    let agency = t.agency();
    let tips = t.client.tips(2).await.unwrap();
    let first = anchor_on(t.network, &agency, tips, b"batch 1");
    // The second names the first, which arrives in the same request.
    let second = anchor_on(t.network, &agency, vec![first.id()], b"batch 2");
    let mut forged = anchor_on(t.network, &agency, vec![first.id()], b"batch 3");
    if let Payload::TaggedData(d) = &mut forged.payload {
        d.data = b"altered".to_vec();
    }
    let results = t
        .client
        .submit_many(&[first.clone(), second.clone(), forged, first.clone()])
        .await
        .unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0].as_ref().unwrap().block_id, first.id());
    assert_eq!(results[1].as_ref().unwrap().solid, Some(true));
    match &results[2] {
        Err(ClientError::Api { code, .. }) => assert_eq!(code, "invalidSignature"),
        other => panic!("forged block accepted: {other:?}"),
    }
    assert!(results[3].as_ref().unwrap().duplicate);
    assert_eq!(t.confirmed(&second.id()).await.ledger_outcome, "applied");

    // Malformed framing is refused whole, naming the frame.
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/blocks", t.client.base());
    for body in [
        vec![],
        vec![1, 0],
        vec![9, 0, 0, 0, 1, 2],
        vec![0xff, 0xff, 0xff, 0x7f],
    ] {
        let r = http
            .post(&url)
            .header("content-type", "application/vnd.weft.blocks")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body:?}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "invalidBatch");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_blocks_inclusion_proof_checks_offline_with_the_committee_keys() {
    use weft_crypto::certificate::{verify_inclusion, CertificateError};
    let t = TestNode::start(100, 0).await;
    let committee = t.node.config.genesis.committee.clone();
    let mut ids = Vec::new();
    for i in 0..5u8 {
        let b = t.anchor(&t.agency(), &[i; 32]).await;
        t.client.submit(&b).await.unwrap();
        ids.push(b.id());
    }
    for id in &ids {
        t.confirmed(id).await;
        let p = t.client.block_proof(id).await.unwrap();
        verify_inclusion(id, &p.milestone, &p.proof, &committee).unwrap();
        // Another block id, or a changed path, is not in the tree.
        let other = BlockId([9; 32]);
        assert!(matches!(
            verify_inclusion(&other, &p.milestone, &p.proof, &committee),
            Err(CertificateError::NotIncluded(_))
        ));
        let mut forged = p.milestone.clone();
        forged.essence.inclusion_root = weft_types::InclusionRoot([1; 32]);
        assert!(verify_inclusion(id, &forged, &p.proof, &committee).is_err());
        // Another committee does not certify it.
        let strangers =
            weft_types::Committee::new(1, vec![OrganisationKey::from_seed(&[3; 32]).public_key()])
                .unwrap();
        assert!(verify_inclusion(id, &p.milestone, &p.proof, &strangers).is_err());
    }
    // Unknown and not yet confirmed blocks: 404.
    let base = format!("http://{}", t.node.config.api);
    let r = reqwest::get(format!(
        "{base}/api/v1/blocks/{}/proof",
        BlockId([7; 32]).to_hex()
    ))
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = reqwest::get(format!("{base}/api/v1/blocks/zz/proof"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}
