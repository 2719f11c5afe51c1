//! A committee change on the ledger, across processes: four validators and one standby
//! validator (`weft-node testnet --nodes 5 --validators 4 --standby 1
//! --committee-epoch 10`). The operators' CLI proposes adding the standby validator and
//! removing validator 0; three current members sign it, one submits it; from the
//! effective index on every milestone names the new committee and carries only its
//! members' signatures (node 0 never), all five nodes hold the same
//! history, and the new committee keeps certifying with node 0 gone, and with node 1
//! gone as well (then node 4's signature is needed for the threshold). A change signed
//! by too few members is refused before it is sent.

mod common;

use std::path::Path;
use std::process::Command;

use common::{node_binary, read_env, Testnet, ONE_AT_A_TIME};
use weft_types::Committee;

const INTERVAL_MS: u64 = 200;

/// Runs `weft-node committee …` with node `i`'s keys in the environment.
fn committee_cli(net: &Testnet, keys_of: usize, args: &[&str]) -> std::process::Output {
    Command::new(node_binary())
        .arg("committee")
        .args(args)
        .envs(read_env(&net.node_dir(keys_of).join("keys.env")))
        .output()
        .expect("weft-node runs")
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn proposal(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("proposal")).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committee_change_adds_a_standby_validator_and_removes_a_member() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut net = Testnet::create_with(
        5,
        INTERVAL_MS,
        &[
            "--validators",
            "4",
            "--standby",
            "1",
            "--committee-epoch",
            "10",
            "--unit-delay-ms",
            "50",
        ],
    );
    let all = [0, 1, 2, 3, 4];
    for i in all {
        net.start(i);
    }
    net.wait_up(&all).await;
    net.confirm(2, b"before the change", &all).await;
    let old: Committee =
        serde_json::from_value(net.clients[1].info().await.expect("info")["committee"].clone())
            .expect("committee");
    let key = |i: usize| net.validator_key(i).expect("a validator key");
    let (added, removed) = (key(4), key(0));
    assert!(!old.contains(&added) && old.contains(&removed));

    // Propose, sign by three current members, submit.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("change.json");
    let file_arg = file.to_str().expect("utf-8 path");
    let node1 = net.clients[1].base().to_string();
    ok(&committee_cli(
        &net,
        1,
        &[
            "propose",
            "--node",
            &node1,
            "--add",
            &added.to_string(),
            "--remove",
            &removed.to_string(),
            "--out",
            file_arg,
        ],
    ));
    let effective = proposal(&file)["change"]["effectiveIndex"]
        .as_u64()
        .expect("effective index") as u32;
    assert_eq!(effective % 10, 1, "an epoch start");
    for signer in [1, 2] {
        ok(&committee_cli(&net, signer, &["sign", file_arg]));
    }
    // Two of four (threshold 3) are not enough: refused before anything is sent.
    let early = committee_cli(&net, 1, &["submit", file_arg, "--node", &node1]);
    assert!(!early.status.success());
    assert!(
        String::from_utf8_lossy(&early.stderr).contains("signatures"),
        "{}",
        String::from_utf8_lossy(&early.stderr)
    );
    // The standby validator cannot sign for the committee it is not in yet.
    assert!(!committee_cli(&net, 4, &["sign", file_arg]).status.success());
    ok(&committee_cli(&net, 3, &["sign", file_arg]));
    let submitted = ok(&committee_cli(
        &net,
        1,
        &["submit", file_arg, "--node", &node1],
    ));
    assert!(submitted.contains("confirmed by milestone"), "{submitted}");
    let info = net.clients[2].info().await.expect("info");
    assert_eq!(
        info["nextCommittee"]["effectiveIndex"].as_u64(),
        Some(effective as u64),
        "{info}"
    );

    // Milestones come with blocks: keep confirming until every node is past the change.
    let mut k = 0u32;
    net.until("every node passes the effective index", || {
        k += 1;
        let data = format!("towards the change {k}");
        let net = &net;
        async move {
            net.confirm((k % 4) as usize + 1, data.as_bytes(), &[1, 2, 3, 4])
                .await;
            for i in all {
                if net.latest(i).await < effective + 3 {
                    return false;
                }
            }
            true
        }
    })
    .await;
    let new: Committee =
        serde_json::from_value(net.clients[3].info().await.expect("info")["committee"].clone())
            .expect("committee");
    assert!(new.contains(&added) && !new.contains(&removed));
    let upto = net.latest(0).await.min(net.latest(4).await);
    net.same_history(&all, upto).await;
    for index in effective - 3..=upto {
        let m = net.clients[2]
            .milestone(index, false)
            .await
            .expect("milestone");
        let committee = if index < effective { &old } else { &new };
        assert_eq!(m.committee_id, committee.id(), "milestone {index}");
        assert!(m.signatures.len() >= committee.threshold() as usize);
        for s in &m.signatures {
            assert!(committee.contains(&s.public_key), "milestone {index}");
        }
    }

    // The new committee does not need node 0.
    net.kill(0);
    net.confirm(4, b"without the removed validator", &[1, 2, 3, 4])
        .await;
    let (_, index) = net.confirm(1, b"and once more", &[1, 2, 3, 4]).await;
    let m = net.clients[4]
        .milestone(index, false)
        .await
        .expect("milestone");
    assert_eq!(m.committee_id, new.id());

    // With node 1 gone too, only nodes 2, 3 and 4 are left: exactly the threshold, so
    // every milestone from here on carries the added validator's signature (which of the
    // members sign a milestone otherwise depends on whose shares arrive first).
    net.kill(1);
    let (_, index) = net
        .confirm(2, b"the added validator is needed", &[2, 3, 4])
        .await;
    let m = net.clients[3]
        .milestone(index, false)
        .await
        .expect("milestone");
    assert_eq!(m.committee_id, new.id());
    assert_eq!(m.signatures.len(), new.threshold() as usize);
    assert!(
        m.signatures.iter().any(|s| s.public_key == added),
        "the added validator signs milestones"
    );
}
