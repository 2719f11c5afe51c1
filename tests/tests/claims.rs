//! Programs and claims end to end through a dev node: an agency issues credentials to
//! households, announces a program, two distribution points sync, decide offline and
//! reconcile. Every reason a point refuses, the member-and-proxy rule, offline double
//! claims at two points, a tampered snapshot, a root older than the window and a
//! revoked device key.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Map, Value};
use weft_circuits::HolderSecrets;
use weft_credentials::policy::compile;
use weft_credentials::presentation::PresentationResponse;
use weft_crypto::poseidon::{fr_to_bytes_be, Fr};
use weft_crypto::OrganisationKey;
use weft_node::config::dev_key;
use weft_node::core::now_ms;
use weft_node::scenario::{accepted, one_round, Agency, Holder, IssueRequest, Network, Point};
use weft_tests::TestNode;
use weft_types::{AttributeDef, AttributeKind, Entitlement, Program, ProgramId, Schema, Tier};
use weft_verifier::{Decision, RejectReason, Snapshot, Verifier};
use PointRef::{A, B};

const POLICY: &str = "household_size >= 3 and region in [north, east]";

fn schema() -> Schema {
    let e = |v: &[&str]| AttributeKind::Enumeration {
        values: v.iter().map(|s| s.to_string()).collect(),
    };
    Schema {
        name: "household-registration".into(),
        version: "2.0".into(),
        attributes: vec![
            AttributeDef {
                name: "household_size".into(),
                kind: AttributeKind::Integer { bits: 8 },
            },
            AttributeDef {
                name: "region".into(),
                kind: e(&["north", "east", "south"]),
            },
            AttributeDef {
                name: "ration".into(),
                kind: e(&["standard", "large"]),
            },
            AttributeDef {
                name: "role".into(),
                kind: e(&["member", "proxy"]),
            },
        ],
    }
}

/// One household: its members' and proxies' credentials.
struct Household {
    holders: Vec<Holder>,
}

/// A node, an agency with a registry and a program, and two points that synced.
struct World {
    t: TestNode,
    net: Network,
    agency: Agency,
    program: ProgramId,
    a: Point,
    b: Point,
    rng: StdRng,
    _dirs: tempfile::TempDir,
}

fn attributes(size: u64, region: &str, ration: &str, role: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("household_size".into(), json!(size));
    m.insert("region".into(), json!(region));
    m.insert("ration".into(), json!(ration));
    m.insert("role".into(), json!(role));
    m
}

impl World {
    async fn new(recent_roots: u32) -> World {
        let t = TestNode::start_with(100, 0, |cfg| cfg.genesis.recent_roots = recent_roots).await;
        let net = Network::connect(t.client.clone(), dev_key("authority"))
            .await
            .unwrap();
        let agency = Agency::setup(&net, dev_key("organisation"), schema(), "e2e")
            .await
            .unwrap();
        let dirs = tempfile::tempdir().unwrap();
        let a = Point::create(
            &net,
            &dirs.path().join("a"),
            OrganisationKey::from_seed(&[0xA1; 32]),
            [0xA2; 32],
        )
        .await
        .unwrap();
        let b = Point::create(
            &net,
            &dirs.path().join("b"),
            OrganisationKey::from_seed(&[0xB1; 32]),
            [0xB2; 32],
        )
        .await
        .unwrap();
        let schema = schema();
        let compiled = compile(POLICY, &schema).unwrap();
        let start = now_ms() - 60_000;
        let program = Program {
            name: "winter food".into(),
            schema: schema.id(),
            issuers: vec![agency.did],
            policy_source: POLICY.into(),
            conditions: compiled.conditions,
            disclose: 0b100, // ration
            issued_before: (now_ms() / 1000 + 86_400) as u32,
            // Round 1 is open now; round 2 opens tomorrow.
            rounds: vec![one_round(1, start, 2), one_round(2, start + 86_400_000, 2)],
            grace_ms: 3_600_000,
            entitlement: Entitlement {
                quantity: 25,
                unit: "kg rice".into(),
                tiers: vec![Tier {
                    attribute: 2,
                    value: fr_to_bytes_be(&Fr::from(1u64)),
                    quantity: 50,
                }],
            },
            points: {
                let mut p = vec![a.config.point, b.config.point];
                p.sort();
                p
            },
            anonymous: false,
            value_notes: false,
            nonce: 0,
        };
        let program = agency.announce(&net, program).await.unwrap();
        let mut w = World {
            t,
            net,
            agency,
            program,
            a,
            b,
            rng: StdRng::seed_from_u64(42),
            _dirs: dirs,
        };
        w.sync_both().await;
        w
    }

    async fn sync_both(&mut self) {
        let p = [self.program];
        self.a.sync(&self.t.client, &p).await.unwrap();
        self.b.sync(&self.t.client, &p).await.unwrap();
    }

    /// Issues one household: a credential per role in `roles` (all with the same
    /// household key), then returns its holders.
    async fn household(
        &mut self,
        size: u64,
        region: &str,
        ration: &str,
        roles: &[&str],
    ) -> Household {
        let first = HolderSecrets::random(&mut self.rng);
        let mut secrets = Vec::new();
        let mut requests = Vec::new();
        for (i, role) in roles.iter().enumerate() {
            let s = if i == 0 {
                first.clone()
            } else {
                HolderSecrets {
                    holder_secret: HolderSecrets::random(&mut self.rng).holder_secret,
                    household_key: first.household_key,
                }
            };
            // A proxy's credential expires sooner (30 days) than a member's (a year).
            let days = if *role == "proxy" { 30 } else { 365 };
            requests.push(IssueRequest {
                attributes: attributes(size, region, ration, role),
                holder_commitment: s.holder_commitment(),
                household_commitment: s.household_commitment(),
                expiry: (now_ms() / 1000) as u32 + days * 86_400,
            });
            secrets.push(s);
        }
        let records = self
            .agency
            .issue(&self.net, requests, &mut self.rng)
            .await
            .unwrap();
        Household {
            holders: records
                .into_iter()
                .zip(secrets)
                .map(|(r, secrets)| Holder {
                    secrets,
                    credential: r.credential,
                    index: r.index,
                })
                .collect(),
        }
    }

    fn point(&self, which: PointRef) -> &Point {
        match which {
            PointRef::A => &self.a,
            PointRef::B => &self.b,
        }
    }

    /// `holder` answers a fresh request of `which` point for `round` (`checked`: as an
    /// honest wallet, refusing a policy it fails; unchecked: a tampered wallet).
    fn present(
        &mut self,
        which: PointRef,
        holder: &Holder,
        round: u32,
        checked: bool,
    ) -> PresentationResponse {
        let point = match which {
            PointRef::A => &self.a,
            PointRef::B => &self.b,
        };
        let request = point.request(&self.program, round, &mut self.rng).unwrap();
        self.answer(holder, &request, None, checked).unwrap()
    }

    /// `holder`'s answer to `request`, its path taken from `tree` (the agency's current
    /// tree when `None`); `checked` as in [`Holder::respond`].
    fn answer(
        &mut self,
        holder: &Holder,
        request: &weft_credentials::presentation::PresentationRequest,
        tree: Option<&weft_crypto::Registry>,
        checked: bool,
    ) -> anyhow::Result<PresentationResponse> {
        let keys = weft_circuits::groth16::dev_keys()?;
        let tree = tree.unwrap_or(&self.agency.tree);
        holder.respond(
            keys,
            self.agency.registry,
            tree,
            request,
            checked,
            &mut self.rng,
        )
    }

    /// `holder` claims at `which` point in round 1: the point's decision.
    fn claim(&mut self, which: PointRef, holder: &Holder) -> Decision {
        let response = self.present(which, holder, 1, true);
        self.point(which).decide(&response).unwrap()
    }

    async fn round(&self, round: u32) -> Value {
        self.t
            .client
            .round_report(&self.program, round)
            .await
            .unwrap()
    }
}

fn reason(d: &Decision) -> RejectReason {
    match d {
        Decision::Reject { reason, .. } => *reason,
        Decision::Accept(a) => panic!("accepted: {} {}", a.quantity, a.unit),
    }
}

fn point_counts(report: &Value, point: &weft_types::Did) -> (u64, u64, u64) {
    let p = report["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["point"] == json!(point))
        .cloned()
        .unwrap_or(json!({"claims": 0, "entitlement": 0, "doubleClaims": 0}));
    (
        p["claims"].as_u64().unwrap(),
        p["entitlement"].as_u64().unwrap(),
        p["doubleClaims"].as_u64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_point_accepts_once_per_household_and_refuses_with_every_reason() {
    let mut w = World::new(64).await;
    let large = w
        .household(5, "north", "large", &["member", "member", "proxy"])
        .await;
    let standard = w.household(3, "east", "standard", &["member"]).await;
    let small = w.household(2, "north", "standard", &["member"]).await;
    w.sync_both().await;

    // Eligible: ACCEPT with the tier the disclosed ration attribute selects.
    assert_eq!(accepted(&w.claim(A, &large.holders[0])).unwrap(), 50);
    assert_eq!(accepted(&w.claim(A, &standard.holders[0])).unwrap(), 25);

    // The same household again — the same member, the second member, the proxy.
    for h in &large.holders {
        assert_eq!(reason(&w.claim(A, h)), RejectReason::AlreadyClaimed);
    }

    // Ineligible: the honest wallet will not prove; a tampered one's proof fails.
    let request = w.a.request(&w.program, 1, &mut w.rng).unwrap();
    assert!(!small.holders[0].meets(&request));
    assert!(large.holders[0].meets(&request));
    assert!(w.answer(&small.holders[0], &request, None, true).is_err());
    let forced = w.present(A, &small.holders[0], 1, false);
    assert_eq!(
        reason(&w.a.decide(&forced).unwrap()),
        RejectReason::NotEligible
    );

    // A round that is not open.
    let early = w.present(A, &standard.holders[0], 2, true);
    assert_eq!(
        reason(&w.a.decide(&early).unwrap()),
        RejectReason::WrongProgramOrRound
    );

    // A request that is too old (shown more than ten minutes ago).
    let verifier = w.a.verifier.as_ref().unwrap();
    let old = verifier
        .request(&w.a.config, &w.program, 1, [9; 16], now_ms() - 11 * 60_000)
        .unwrap();
    w.a.queue.put_request(&old).unwrap();
    let fresh = w.household(4, "east", "standard", &["member"]).await;
    w.sync_both().await;
    let answer = w.answer(&fresh.holders[0], &old, None, true).unwrap();
    assert_eq!(reason(&w.a.decide(&answer).unwrap()), RejectReason::Expired);

    // An answer to another point's request.
    let for_b = w.present(B, &fresh.holders[0], 1, true);
    assert_eq!(
        reason(&w.a.decide(&for_b).unwrap()),
        RejectReason::RequestMismatch
    );

    // A tampered answer: the proof's bytes changed, the disclosed tier changed.
    let mut bad = w.present(A, &fresh.holders[0], 1, true);
    bad.proof[5] ^= 0x40;
    let d = reason(&w.a.decide(&bad).unwrap());
    assert!(
        matches!(d, RejectReason::Tampered | RejectReason::NotEligible),
        "{d:?}"
    );
    let mut upgraded = w.present(A, &fresh.holders[0], 1, true);
    upgraded.disclosed = vec![fr_to_bytes_be(&Fr::from(1u64))];
    assert_eq!(
        reason(&w.a.decide(&upgraded).unwrap()),
        RejectReason::NotEligible
    );
    // The binary form rejects a changed byte in its framing.
    let mut bytes = w.present(A, &fresh.holders[0], 1, true).to_bytes();
    bytes.push(0);
    assert!(weft_credentials::presentation::PresentationResponse::from_bytes(&bytes).is_err());

    // The fresh household's honest claim still goes through (nothing above used it).
    assert_eq!(accepted(&w.claim(A, &fresh.holders[0])).unwrap(), 25);

    // Revoked: the agency revokes a credential; the holder's old path's root stays
    // acceptable only while it is among the recent roots — see the window test.
    // Submit and reconcile: the ledger applies exactly the accepted claims.
    let report =
        w.a.submit(&w.t.client, Duration::from_secs(60))
            .await
            .unwrap();
    assert_eq!((report.applied, report.pending), (3, 0), "{report:?}");
    assert!(report.conflicts.is_empty(), "{:?}", report.conflicts);
    let round = w.round(1).await;
    assert_eq!(round["claims"], 3);
    assert_eq!(round["entitlement"], 50 + 25 + 25);
    assert_eq!(round["doubleClaims"], 0);
    assert_eq!(point_counts(&round, &w.a.config.point), (3, 100, 0));
    // Nothing about the households in the round's record: counts per point only.
    let text = round.to_string();
    for h in [&large, &standard, &fresh] {
        let n = fr_to_bytes_be(
            &h.holders[0]
                .secrets
                .nullifier(weft_credentials::claim::program_field(&w.program), 1),
        );
        assert!(!text.contains(&hex::encode(n)));
    }

    // After the next sync the point knows the ledger's nullifiers too.
    w.sync_both().await;
    assert_eq!(
        reason(&w.claim(B, &standard.holders[0])),
        RejectReason::AlreadyClaimed
    );
}

/// Which point (so that `present` can borrow the world mutably).
#[derive(Clone, Copy)]
enum PointRef {
    A,
    B,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_claims_at_two_offline_points_are_caught_at_reconciliation() {
    let mut w = World::new(64).await;
    // One household collects twice: its member at A, its proxy at B. Another
    // household's member goes to both points. A third claims only at B.
    let with_proxy = w
        .household(4, "north", "standard", &["member", "proxy"])
        .await;
    let twice = w.household(6, "east", "large", &["member"]).await;
    let once = w.household(3, "north", "standard", &["member"]).await;
    w.sync_both().await;

    // Both points are offline from here on: each accepts what it cannot know is a
    // double claim.
    assert_eq!(accepted(&w.claim(A, &with_proxy.holders[0])).unwrap(), 25);
    assert_eq!(accepted(&w.claim(A, &twice.holders[0])).unwrap(), 50);
    let time_at_a = now_ms();
    assert_eq!(accepted(&w.claim(B, &with_proxy.holders[1])).unwrap(), 25);
    assert_eq!(accepted(&w.claim(B, &twice.holders[0])).unwrap(), 50);
    assert_eq!(accepted(&w.claim(B, &once.holders[0])).unwrap(), 25);

    // Reconciliation: A first, then B.
    let ra =
        w.a.submit(&w.t.client, Duration::from_secs(60))
            .await
            .unwrap();
    assert_eq!((ra.applied, ra.conflicts.len()), (2, 0), "{ra:?}");
    let rb =
        w.b.submit(&w.t.client, Duration::from_secs(60))
            .await
            .unwrap();
    assert_eq!((rb.applied, rb.pending), (1, 0), "{rb:?}");
    assert_eq!(rb.conflicts.len(), 2, "{:?}", rb.conflicts);
    for c in &rb.conflicts {
        assert_eq!(c.reason, "nullifierUsed");
        assert_eq!(c.point, w.b.config.point);
        assert_eq!(
            c.other_point,
            Some(w.a.config.point),
            "names the first point"
        );
        assert!(
            c.other_time.unwrap() <= time_at_a,
            "and when it claimed there"
        );
        assert_eq!((c.program, c.round), (w.program, 1));
    }
    // The report names points and times only: nothing that identifies a household.
    let listed = serde_json::to_string(&rb.conflicts).unwrap();
    for h in [&with_proxy, &twice] {
        let n = h.holders[0]
            .secrets
            .nullifier(weft_credentials::claim::program_field(&w.program), 1);
        assert!(!listed.contains(&hex::encode(fr_to_bytes_be(&n))));
    }
    // Submitting again changes nothing: no claim is sent twice.
    let again =
        w.b.submit(&w.t.client, Duration::from_secs(5))
            .await
            .unwrap();
    assert_eq!(
        (again.sent, again.applied, again.conflicts.len()),
        (0, 1, 2)
    );

    let round = w.round(1).await;
    assert_eq!(round["claims"], 3, "{round}");
    assert_eq!(round["entitlement"], 25 + 50 + 25);
    assert_eq!(round["doubleClaims"], 2);
    assert_eq!(point_counts(&round, &w.a.config.point), (2, 75, 0));
    assert_eq!(point_counts(&round, &w.b.config.point), (1, 25, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_older_than_the_window_is_refused_and_revocation_takes_effect() {
    // Three recent roots per registry: a revocation takes effect after three more
    // root changes at the latest.
    let mut w = World::new(3).await;
    let revoked = w.household(5, "north", "standard", &["member"]).await;
    let tree_before = w.agency.tree.clone();
    let index = revoked.holders[0].index;
    w.agency.revoke(&w.net, &[index]).await.unwrap();
    // A point that synced now still has the old root among the recent ones (B stays
    // offline with this snapshot).
    w.sync_both().await;
    // Against today's tree the holder cannot prove at all: the leaf is zero.
    let request = w.a.request(&w.program, 1, &mut w.rng).unwrap();
    assert!(w.answer(&revoked.holders[0], &request, None, true).is_err());

    // Three more root changes push the old root out of the window.
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(w.household(3, "east", "standard", &["member"]).await);
    }
    w.a.sync(&w.t.client, &[w.program]).await.unwrap();

    // A, synced after the window moved: the stale root is refused.
    let request = w.a.request(&w.program, 1, &mut w.rng).unwrap();
    let stale = w
        .answer(&revoked.holders[0], &request, Some(&tree_before), true)
        .unwrap();
    assert_eq!(reason(&w.a.decide(&stale).unwrap()), RejectReason::Revoked);
    // A current credential is fine.
    assert_eq!(accepted(&w.claim(A, &others[0].holders[0])).unwrap(), 25);

    // B, offline with the older snapshot, accepts the stale proof; the ledger does
    // not: it confirms the claim as conflicting (staleRoot) and B reports it.
    let request = w.b.request(&w.program, 1, &mut w.rng).unwrap();
    let stale = w
        .answer(&revoked.holders[0], &request, Some(&tree_before), true)
        .unwrap();
    accepted(&w.b.decide(&stale).unwrap()).unwrap();
    let rb =
        w.b.submit(&w.t.client, Duration::from_secs(60))
            .await
            .unwrap();
    assert_eq!(rb.applied, 0, "{rb:?}");
    assert_eq!(rb.conflicts.len(), 1);
    assert_eq!(rb.conflicts[0].reason, "staleRoot");
    let round = w.round(1).await;
    assert_eq!(
        round["claims"], 0,
        "A has not submitted; B's claim did not count"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_key_is_refused_and_a_tampered_snapshot_is_not_used() {
    let mut w = World::new(64).await;
    let h = w.household(4, "north", "large", &["member"]).await;
    let g = w.household(4, "east", "standard", &["member"]).await;
    w.sync_both().await;

    // The tablet of point B is stolen: the authority revokes its device key. B (the
    // thief's copy, offline) still accepts; the ledger refuses every claim it signs.
    let device = w.b.config.device_public_key();
    w.net
        .device_key(w.b.config.point, device, false)
        .await
        .unwrap();
    accepted(&w.claim(B, &h.holders[0])).unwrap();
    let rb =
        w.b.submit(&w.t.client, Duration::from_secs(60))
            .await
            .unwrap();
    assert_eq!(rb.applied, 0, "{rb:?}");
    assert_eq!(rb.conflicts.len(), 1);
    assert_eq!(rb.conflicts[0].reason, "unknownDeviceKey");
    // The household was not marked as served: it can still claim at A.
    assert_eq!(accepted(&w.claim(A, &h.holders[0])).unwrap(), 50);
    let ra =
        w.a.submit(&w.t.client, Duration::from_secs(60))
            .await
            .unwrap();
    assert_eq!((ra.applied, ra.conflicts.len()), (1, 0), "{ra:?}");
    // A new sync tells B its device is no longer active.
    w.b.sync(&w.t.client, &[w.program]).await.unwrap();
    let snapshot = w.b.verifier.as_ref().unwrap().snapshot().clone();
    assert_eq!(snapshot.device_active, Some(false));

    // Tampered snapshots (as a file on the tablet) are refused, each with its reason.
    let a_snapshot = w.a.verifier.as_ref().unwrap().snapshot().clone();
    let refused = |s: Snapshot| {
        let dir = tempfile::tempdir().unwrap();
        s.save(dir.path()).unwrap();
        let loaded = Snapshot::load(dir.path()).unwrap();
        Verifier::new(loaded, &w.a.config).unwrap_err().to_string()
    };
    let mut s = a_snapshot.clone();
    s.registries[0].proof.recent_roots[0].root[31] ^= 1;
    assert!(refused(s).contains("not proven"), "a changed root");
    let mut s = a_snapshot.clone();
    s.registries[0].milestone.essence.timestamp += 1;
    assert!(refused(s).contains("not certified"), "a changed milestone");
    let mut s = a_snapshot.clone();
    s.programs[0].program.entitlement.quantity = 500;
    assert!(refused(s).contains("does not match"), "a changed program");
    let mut s = a_snapshot.clone();
    s.verifying_key = weft_circuits::groth16::dev_keys()
        .unwrap()
        .verifying_key_bytes()
        .iter()
        .rev()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        refused(s).contains("verifying key"),
        "another verifying key"
    );
    let mut s = a_snapshot.clone();
    s.point = w.b.config.point;
    assert!(
        refused(s).contains("made for point"),
        "another point's snapshot"
    );
    // The untouched snapshot still loads.
    Verifier::new(a_snapshot, &w.a.config).unwrap();
    let _ = g;
}

/// The `weft-verifier` binary next to this test's executable (`cargo test --workspace`
/// builds it with the verifier's own tests).
fn verifier_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join(format!("weft-verifier{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --release -p weft-verifier`",
        bin.display()
    );
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifier_killed_while_submitting_loses_nothing_and_sends_nothing_twice() {
    let mut w = World::new(64).await;
    let mut households = Vec::new();
    for i in 0..6 {
        let region = if i % 2 == 0 { "north" } else { "east" };
        households.push(w.household(3 + i, region, "standard", &["member"]).await);
    }
    w.sync_both().await;
    for h in &households {
        assert_eq!(accepted(&w.claim(A, &h.holders[0])).unwrap(), 25);
    }
    let program = w.program;
    let World { t, a, .. } = w;
    let dir = a.dir.clone();
    let point = a.config.point;
    drop(a); // closes the queue: the CLI opens it now.
    let node = format!("http://{}", t.node.config.api);
    let bin = verifier_binary();

    let status = || {
        let out = std::process::Command::new(&bin)
            .args(["--dir"])
            .arg(&dir)
            .arg("status")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // Killed (SIGKILL) at growing moments of its submission run, until a kill has
    // caught it halfway (some claims sent, some not yet confirmed), at least 4 times.
    let mut halfway = 0;
    let mut kills = 0;
    let mut delay_ms = 150u64;
    while kills < 4 || (halfway == 0 && kills < 12) {
        let mut child = std::process::Command::new(&bin)
            .args(["--dir"])
            .arg(&dir)
            .args([
                "submit",
                "--node",
                &node,
                "--wait",
                "20",
                "--pace-ms",
                "120",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let _ = child.kill();
        let _ = child.wait();
        kills += 1;
        delay_ms += 150;
        let s = status();
        if s != "queued 6, submitted 0, applied 0, conflicting 0"
            && s != "queued 0, submitted 0, applied 6, conflicting 0"
        {
            halfway += 1;
        }
    }
    assert!(
        halfway > 0,
        "no kill landed mid-submission in {kills} tries"
    );
    // Then allowed to finish.
    let out = std::process::Command::new(&bin)
        .args(["--dir"])
        .arg(&dir)
        .args(["submit", "--node", &node, "--wait", "60"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("applied 6, pending 0, conflicting 0"),
        "{text}"
    );

    // Every accepted claim counted once; none twice (a re-built block would have been
    // confirmed as a double claim).
    let round = t.client.round_report(&program, 1).await.unwrap();
    assert_eq!(round["claims"], 6, "{round}");
    assert_eq!(round["doubleClaims"], 0, "{round}");
    assert_eq!(point_counts(&round, &point), (6, 150, 0));
    assert_eq!(status(), "queued 0, submitted 0, applied 6, conflicting 0");
}

/// Sends `claim` (signed with `device` when given) in an anonymous block and returns
/// the ledger's verdict: `applied` or the conflict reason.
async fn ledger_verdict(
    w: &World,
    mut claim: weft_types::Claim,
    device: Option<&OrganisationKey>,
) -> String {
    if let (Some(d), Some(e)) = (device, claim.endorsement.clone()) {
        let msg = claim.signing_message(&e.point, &d.public_key());
        if let Some(e) = claim.endorsement.as_mut() {
            e.signature = d.sign(&msg);
        }
    }
    let tips = w.t.client.tips(4).await.unwrap();
    let mut block = weft_types::BlockBuilder::new(w.t.network, tips, now_ms())
        .payload(weft_types::Payload::Claim(Box::new(claim)))
        .anonymous();
    block.mine(0);
    w.t.client.submit(&block).await.unwrap();
    let meta =
        w.t.client
            .wait_confirmed(&block.id(), Duration::from_secs(30))
            .await
            .unwrap();
    meta.conflict
        .map(|c| c.reason)
        .unwrap_or(meta.ledger_outcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_applies_a_claim_only_if_every_rule_holds() {
    use weft_credentials::presentation::to_claim;
    let mut w = World::new(64).await;
    let h = w.household(5, "north", "large", &["member"]).await;
    let other = w.household(4, "east", "standard", &["member"]).await;
    // A second agency, accredited as an issuer, with a registry of the same schema: the
    // program does not accept it.
    let rival_key = OrganisationKey::from_seed(&[0xC1; 32]);
    w.net
        .organisation(&rival_key, weft_types::identity::role::ISSUER)
        .await
        .unwrap();
    let rival = Agency::setup(&w.net, rival_key, schema(), "rival")
        .await
        .unwrap();
    // An organisation with no role, and one accredited as a point but not in the
    // program's list (the dev organisation).
    let nobody_key = OrganisationKey::from_seed(&[0xD1; 32]);
    let nobody = w.net.organisation(&nobody_key, 0).await.unwrap();
    let unlisted = weft_types::DidCreate::with_key(dev_key("organisation").public_key(), 0).did();
    w.sync_both().await;

    let device = w.a.config.device_key();
    let request = w.a.request(&w.program, 1, &mut w.rng).unwrap();
    let response = w.answer(&h.holders[0], &request, None, true).unwrap();
    let valid = to_claim(&request, &response);
    let with = |f: &dyn Fn(&mut weft_types::Claim)| {
        let mut c = valid.clone();
        f(&mut c);
        c
    };

    let stranger = OrganisationKey::from_seed(&[0xE1; 32]);
    let cases: Vec<(&str, weft_types::Claim, Option<&OrganisationKey>)> = vec![
        (
            "unknownProgram",
            with(&|c| c.program = weft_types::ProgramId(weft_types::RegistryId([7; 32]))),
            Some(&device),
        ),
        ("unknownRound", with(&|c| c.round = 9), Some(&device)),
        ("roundClosed", with(&|c| c.round = 2), Some(&device)),
        (
            "notAccredited",
            with(&|c| c.endorsement.as_mut().unwrap().point = nobody),
            Some(&device),
        ),
        (
            "pointNotAllowed",
            with(&|c| c.endorsement.as_mut().unwrap().point = unlisted),
            Some(&device),
        ),
        ("unknownDeviceKey", valid.clone(), Some(&stranger)),
        ("invalidDeviceSignature", valid.clone(), None),
        (
            "unknownRegistry",
            with(&|c| c.registry = weft_types::RegistryId([8; 32])),
            Some(&device),
        ),
        (
            "issuerNotAccepted",
            with(&|c| c.registry = rival.registry),
            Some(&device),
        ),
        (
            "staleRoot",
            with(&|c| c.root = fr_to_bytes_be(&Fr::from(12345u64))),
            Some(&device),
        ),
        ("invalidProof", with(&|c| c.proof[10] ^= 1), Some(&device)),
        (
            "invalidProof",
            with(&|c| c.disclosed = vec![fr_to_bytes_be(&Fr::from(0u64))]),
            Some(&device),
        ),
        ("applied", valid.clone(), Some(&device)),
        ("nullifierUsed", valid.clone(), Some(&device)),
    ];
    for (expected, claim, key) in cases {
        // A device key that is not the endorsement's: the signature is made by `key`
        // over the endorsement with its own public key substituted.
        let mut claim = claim;
        if let (Some(k), Some(e)) = (key, claim.endorsement.as_mut()) {
            e.device_key = k.public_key();
        }
        assert_eq!(ledger_verdict(&w, claim, key).await, expected);
    }

    // A proof made for a weaker predicate table than the program's: the ledger rebuilds
    // the statement from the program, so the proof does not hold.
    let mut weaker = w.a.request(&w.program, 1, &mut w.rng).unwrap();
    weaker.conditions.truncate(1);
    let answer = w.answer(&other.holders[0], &weaker, None, true).unwrap();
    assert_eq!(
        ledger_verdict(&w, to_claim(&weaker, &answer), Some(&device)).await,
        "invalidProof"
    );
    let round = w.round(1).await;
    assert_eq!(
        (round["claims"].as_u64(), round["doubleClaims"].as_u64()),
        (Some(1), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holders_wallet_synced_from_the_points_file_answers_the_point() {
    use weft_wallet::{
        IssuerEvidence, KdfParams, MemoryStorage, RecoveryPhrase, SyncBundle, Wallet,
    };
    let mut w = World::new(64).await;
    let mut rng = rand::rngs::OsRng;
    let mut wallet = Wallet::create(
        MemoryStorage::default(),
        RecoveryPhrase::generate(&mut rng).unwrap(),
        "2468-1357",
        None,
        KdfParams::INSECURE_TEST,
        &mut rng,
    )
    .unwrap();
    // Registration: the wallet hands over its two commitments, nothing else.
    let enrolment = wallet.enrolment();
    let records = w
        .agency
        .issue(
            &w.net,
            vec![IssueRequest {
                attributes: attributes(4, "east", "large", "member"),
                holder_commitment: enrolment.holder(),
                household_commitment: enrolment.household(),
                expiry: (now_ms() / 1000) as u32 + 365 * 86_400,
            }],
            &mut w.rng,
        )
        .await
        .unwrap();
    w.sync_both().await;
    // The point's sync file reaches the camp; the wallet learns the issuer, the roots,
    // the program's name.
    let file = weft_verifier::net::holder_sync_file(&w.t.client, w.a.verifier.as_ref().unwrap())
        .await
        .unwrap();
    let bundle: SyncBundle = serde_json::from_value(file).unwrap();
    wallet.sync(&bundle, &mut rng).unwrap();
    // The credential document, signed by the agency, checked offline against its DID
    // document and imported; a second sync gives it its path.
    let unsigned = weft_credentials::vc::credential_document(&schema(), &records[0]).unwrap();
    let document = weft_credentials::sign(
        &unsigned,
        &w.agency.key,
        &weft_credentials::did::method_id(&w.agency.did, "key-1"),
        now_ms(),
    )
    .unwrap();
    let resolution =
        w.t.client
            .resolve_did(&w.agency.did, &weft_client::DidVersion::Latest)
            .await
            .unwrap();
    let evidence = IssuerEvidence {
        did_document: resolution.did_document.clone(),
        deactivated: false,
        schema: schema(),
        registry: None,
    };
    wallet
        .import_document(&document, &evidence, &mut rng)
        .unwrap();
    wallet.sync(&bundle, &mut rng).unwrap();

    // At the counter: the point's request as QR bytes, the holder's consent, the answer.
    let request = w.a.request(&w.program, 1, &mut w.rng).unwrap();
    let read = weft_wallet::read_request(&request.to_bytes()).unwrap();
    let consent = wallet.describe(&read, None).unwrap();
    assert!(consent.text.contains("winter food"), "{}", consent.text);
    let keys = weft_circuits::groth16::dev_keys().unwrap();
    let response = wallet.respond(keys, &read, None, &mut rng).unwrap();
    let bytes = response.to_bytes();
    assert!(bytes.len() < 400);
    let decoded = PresentationResponse::from_bytes(&bytes).unwrap();
    assert_eq!(accepted(&w.a.decide(&decoded).unwrap()).unwrap(), 50);
    // The same wallet again: the household has had its claim.
    let again = w.a.request(&w.program, 1, &mut w.rng).unwrap();
    let answer = wallet.respond(keys, &again, None, &mut rng).unwrap();
    assert_eq!(
        reason(&w.a.decide(&answer).unwrap()),
        RejectReason::AlreadyClaimed
    );
    let report =
        w.a.submit(&w.t.client, Duration::from_secs(60))
            .await
            .unwrap();
    assert_eq!((report.applied, report.conflicts.len()), (1, 0));
}
