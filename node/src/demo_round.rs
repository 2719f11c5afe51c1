//! The aid round of `weft-node demo`: an agency registers households, announces a
//! cash program, two distribution points (one offline) serve the round, double claims
//! are caught, the entitlement arrives in households' wallets as confidential value
//! notes, some of it is spent at a shop that redeems it, and a donor report comes out
//! with counts, public totals and the conservation check only.
//!
//! The demo drives [`crate::scenario`], the same parties the end-to-end tests check.
//! Households are simulated from a seeded generator (so two runs tell the same story);
//! their proofs are real Groth16 proofs with the network's proving key, and cost about
//! a quarter of a second each on two cores, which is what bounds the demo's time.
//! Ineligible households' wallets tell them they do not qualify; a sample of them use
//! a tampered wallet that proves anyway, and the point refuses them.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Map, Value};
use weft_circuits::HolderSecrets;
use weft_credentials::policy::compile;
use weft_crypto::poseidon::{fr_to_bytes_be, Fr};
use weft_crypto::OrganisationKey;
use weft_entitlements::{OwnedNote, OwnerSecretKey, Recipient};
use weft_types::hash::blake2b256;
use weft_types::{AttributeDef, AttributeKind, Entitlement, Payload, Program, Schema, Tier};
use weft_verifier::{Decision, RejectReason};

use crate::config::dev_key;
use crate::core::now_ms;
use crate::scenario::{one_round, Agency, Holder, IssueRequest, Network, Point};

/// The program's name.
pub const PROGRAM_NAME: &str = "winter cash, camp 7";

/// The program's rule, in the policy language (specs/credentials.md).
pub const POLICY: &str =
    "household_size >= 6 and region in [north, east] and not displaced_since after 2026-06-01";

/// What a registration station records about a household member.
pub fn camp_schema() -> Schema {
    let e = |v: &[&str]| AttributeKind::Enumeration {
        values: v.iter().map(|s| s.to_string()).collect(),
    };
    Schema {
        name: "camp-registration".into(),
        version: "1.0".into(),
        attributes: vec![
            AttributeDef {
                name: "household_size".into(),
                kind: AttributeKind::Integer { bits: 8 },
            },
            AttributeDef {
                name: "region".into(),
                kind: e(&["north", "east", "south", "west"]),
            },
            AttributeDef {
                name: "displaced_since".into(),
                kind: AttributeKind::Date,
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

/// A simulated household.
struct Household {
    holders: Vec<Holder>,
    eligible: bool,
}

fn date(days_after_2023: u64) -> String {
    let d = time::Date::from_calendar_date(2023, time::Month::January, 1)
        .map(|d| d + time::Duration::days(days_after_2023 as i64))
        .unwrap_or(time::Date::MIN);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The counts the demo prints (`--json` fields of issue 8).
#[derive(Debug, Default, serde::Serialize)]
pub struct RoundSummary {
    /// Households registered.
    pub households: usize,
    /// Credentials issued (members and proxies).
    pub credentials_issued: usize,
    /// Households the policy admits.
    pub eligible_households: usize,
    /// ACCEPT decisions at the counters (offline double claims included: the point
    /// could not know).
    pub claims_accepted: usize,
    /// Presentations refused as not eligible at a counter (tampered wallets).
    pub claims_refused_ineligible: usize,
    /// Ineligible households whose own wallet told them they do not qualify.
    pub ineligible_told_by_wallet: usize,
    /// Second claims tried: at the same point, and at the other (offline) point.
    pub double_claims_attempted: usize,
    /// Of those, caught: refused at the counter, or found at reconciliation.
    pub double_claims_caught: usize,
    /// Double claims made at two points while one was offline, found by the ledger.
    pub offline_double_claims_detected: usize,
    /// Claims the ledger counts (one per household).
    pub claims_on_ledger: u64,
    /// Entitlement the ledger counts, in the program's unit.
    pub entitlement_on_ledger: u64,
    /// Seconds spent proving (all households together).
    pub proving_s: f64,
    /// Value minted to households' one-time keys by their claims (program unit).
    pub value_minted: u128,
    /// Payments households made at the shop (hidden amounts).
    pub shop_payments: usize,
    /// Second spends of a note already spent, refused by the node.
    pub double_spends_refused: usize,
    /// Value the shop redeemed (public: the agency pays it out).
    pub value_redeemed: u128,
    /// The ledger's audit: unspent notes commit to exactly minted minus redeemed.
    pub conservation_ok: bool,
}

/// Runs the round with `households` households; writes `presentation.json`,
/// `presentation.png` and `donor-report.json` into `out`. Returns the summary and the
/// donor report.
pub async fn run(
    net: &Network,
    data_dir: &Path,
    households: usize,
    out: Option<&Path>,
    say: &dyn Fn(String),
) -> anyhow::Result<(RoundSummary, Value)> {
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let mut summary = RoundSummary {
        households,
        ..RoundSummary::default()
    };
    let keys = tokio::task::spawn_blocking(weft_circuits::groth16::dev_keys)
        .await?
        .context("the dev proving key")?;

    // The agency (the dev organisation, accredited as an issuer in the dev genesis),
    // its schema and registry; two points with their own DIDs and device keys.
    let schema = camp_schema();
    let mut agency = Agency::setup(net, dev_key("organisation"), schema.clone(), "camp-7").await?;
    let point_key = |name: &str| {
        OrganisationKey::from_seed(&blake2b256(&[b"weft/demo/point/", name.as_bytes()]))
    };
    let seed = |name: &str| blake2b256(&[b"weft/demo/device/", name.as_bytes()]);
    let mut north = Point::create(
        net,
        &data_dir.join("point-north"),
        point_key("north"),
        seed("north"),
    )
    .await?;
    let mut east = Point::create(
        net,
        &data_dir.join("point-east"),
        point_key("east"),
        seed("east"),
    )
    .await?;
    say(format!(
        "Agency {} registers households in registry {}…; points {} (online) and {} (offline).",
        agency.did,
        &agency.registry.to_hex()[..16],
        north.config.point,
        east.config.point
    ));

    // Registration: every member's wallet hands over two commitments; the agency
    // records the attributes and issues. 15% of households register a second member,
    // 5% a proxy who collects for them (a 30-day credential).
    let mut plans = Vec::with_capacity(households);
    let mut requests = Vec::new();
    let now_s = (now_ms() / 1000) as u32;
    for _ in 0..households {
        let size: u64 = rng.gen_range(1..=8);
        let region = ["north", "east", "south", "west"][rng.gen_range(0..4)];
        let since = date(rng.gen_range(0..1_400));
        let ration = if size >= 7 { "large" } else { "standard" };
        let mut roles = vec!["member"];
        if rng.gen_bool(0.15) {
            roles.push("member");
        }
        if rng.gen_bool(0.05) {
            roles.push("proxy");
        }
        let household_secrets = HolderSecrets::random(&mut rng);
        let mut secrets = Vec::new();
        for (i, role) in roles.iter().enumerate() {
            let s = if i == 0 {
                household_secrets.clone()
            } else {
                HolderSecrets {
                    holder_secret: HolderSecrets::random(&mut rng).holder_secret,
                    household_key: household_secrets.household_key,
                }
            };
            let mut attributes = Map::new();
            attributes.insert("household_size".into(), json!(size));
            attributes.insert("region".into(), json!(region));
            attributes.insert("displaced_since".into(), json!(since));
            attributes.insert("ration".into(), json!(ration));
            attributes.insert("role".into(), json!(role));
            let days = if *role == "proxy" { 30 } else { 365 };
            requests.push(IssueRequest {
                attributes,
                holder_commitment: s.holder_commitment(),
                household_commitment: s.household_commitment(),
                expiry: now_s + days * 86_400,
            });
            secrets.push(s);
        }
        plans.push(secrets);
    }
    summary.credentials_issued = requests.len();
    let records = agency.issue(net, requests, &mut rng).await?;
    let mut records = records.into_iter();
    let mut all: Vec<Household> = Vec::with_capacity(households);
    for secrets in plans {
        let mut holders = Vec::new();
        for s in secrets {
            let r = records.next().context("fewer records than requests")?;
            holders.push(Holder {
                secrets: s,
                credential: r.credential,
                index: r.index,
            });
        }
        all.push(Household {
            holders,
            eligible: false,
        });
    }
    say(format!(
        "Issued {} credentials to {households} households: the ledger holds {} commitments and one root, no attribute.",
        summary.credentials_issued, summary.credentials_issued
    ));

    // The program: who qualifies, what they get, where.
    let compiled = compile(POLICY, &schema).map_err(|e| anyhow::anyhow!("policy: {e}"))?;
    let opens = now_ms() - 60_000;
    let mut points = vec![north.config.point, east.config.point];
    points.sort();
    let program = Program {
        name: PROGRAM_NAME.into(),
        schema: schema.id(),
        issuers: vec![agency.did],
        policy_source: POLICY.into(),
        conditions: compiled.conditions.clone(),
        disclose: 1 << 3, // ration: standard or large
        issued_before: now_s + 3_600,
        rounds: vec![
            one_round(1, opens, 6),
            one_round(2, opens + 30 * 86_400_000, 6),
        ],
        grace_ms: 24 * 3_600_000,
        entitlement: Entitlement {
            quantity: 2_500,
            unit: "USD cents".into(),
            tiers: vec![Tier {
                attribute: 3,
                value: fr_to_bytes_be(&Fr::from(1u64)),
                quantity: 5_000,
            }],
        },
        points,
        anonymous: false,
        value_notes: true,
        nonce: 0,
    };
    let program_id = agency.announce(net, program).await?;
    say(format!(
        "Program {}…: \"{POLICY}\" ({}); USD 25, USD 50 for a large ration, paid as confidential value notes.",
        &program_id.to_string()[..16],
        compiled.describe(&schema)
    ));
    north.sync(&net.client, &[program_id]).await?;
    east.sync(&net.client, &[program_id]).await?;
    say("Both points synced a snapshot checked against the committee's keys; point east goes offline.".into());

    // Who qualifies: each wallet checks the policy against its own credential.
    let probe = north.request(&program_id, 1, &mut rng)?;
    for h in &mut all {
        h.eligible = h.holders[0].meets(&probe);
    }
    summary.eligible_households = all.iter().filter(|h| h.eligible).count();

    let mut proving = Duration::ZERO;
    let mut presentation_sample = None;
    // One claim at the counter: request, proof (timed) carrying a fresh one-time key
    // for the entitlement (its secret stays with the household), decision.
    let mut counter = |point: &Point,
                       holder: &Holder,
                       checked: bool,
                       rng: &mut ChaCha20Rng|
     -> anyhow::Result<(Decision, OwnerSecretKey)> {
        let request = point.request(&program_id, 1, rng)?;
        let key = OwnerSecretKey::random(rng);
        let t = Instant::now();
        let response = holder.respond_with_key(
            keys,
            agency.registry,
            &agency.tree,
            &request,
            checked,
            Some(key.public_key().to_bytes()),
            rng,
        )?;
        proving += t.elapsed();
        if presentation_sample.is_none() {
            presentation_sample = Some((request.clone(), response.clone()));
        }
        Ok((point.decide(&response)?, key))
    };

    // Eligible households claim: three in five at north, the rest at east.
    let mut at_north = Vec::new();
    let mut served = Vec::new();
    // Each household's wallet: the note its claim will have minted to its key.
    let mut wallets: Vec<OwnedNote> = Vec::new();
    for (i, h) in all.iter().enumerate().filter(|(_, h)| h.eligible) {
        let at_east = served.len() % 5 >= 3;
        // Whoever of the household comes: usually the first member.
        let who = &h.holders[served.len() % h.holders.len()];
        let point = if at_east { &east } else { &north };
        match counter(point, who, true, &mut rng)? {
            (Decision::Accept(a), key) => {
                summary.claims_accepted += 1;
                wallets.push(OwnedNote::from_claim(program_id.bytes(), key, a.quantity));
            }
            (Decision::Reject { reason, detail }, _) => {
                anyhow::bail!(
                    "an eligible household was refused ({}): {detail}",
                    reason.code()
                )
            }
        }
        if !at_east {
            at_north.push(i);
        }
        served.push((i, at_east));
    }
    say(format!(
        "{} eligible households claimed: {} at north, {} at east (offline).",
        served.len(),
        at_north.len(),
        served.len() - at_north.len()
    ));

    // Some come back to the same point (another member, or the same one).
    let same_point = (served.len() / 20).clamp(1, 10).min(served.len());
    for &(i, at_east) in served.iter().take(same_point) {
        let h = &all[i];
        let who = h.holders.last().context("a household without holders")?;
        let point = if at_east { &east } else { &north };
        summary.double_claims_attempted += 1;
        match counter(point, who, true, &mut rng)?.0 {
            Decision::Reject {
                reason: RejectReason::AlreadyClaimed,
                ..
            } => summary.double_claims_caught += 1,
            other => anyhow::bail!("a second claim at the same point was not refused: {other:?}"),
        }
    }
    // Some who claimed at north walk to east, which is offline and cannot know.
    let cross = (at_north.len() / 20).clamp(1, 10).min(at_north.len());
    for &i in at_north.iter().rev().take(cross) {
        let h = &all[i];
        let who = h.holders.last().context("a household without holders")?;
        summary.double_claims_attempted += 1;
        match counter(&east, who, true, &mut rng)?.0 {
            Decision::Accept(_) => summary.claims_accepted += 1,
            other => {
                anyhow::bail!("the offline point refused a claim it could not know: {other:?}")
            }
        }
    }
    // Ineligible households: their wallet says no; a sample try with a tampered wallet.
    let ineligible: Vec<usize> = (0..all.len()).filter(|&i| !all[i].eligible).collect();
    let forced = (ineligible.len() / 50).clamp(1, 15).min(ineligible.len());
    for &i in ineligible.iter().take(forced) {
        match counter(&north, &all[i].holders[0], false, &mut rng)?.0 {
            Decision::Reject {
                reason: RejectReason::NotEligible,
                ..
            } => summary.claims_refused_ineligible += 1,
            other => anyhow::bail!("an ineligible household was not refused: {other:?}"),
        }
    }
    summary.ineligible_told_by_wallet = ineligible.len() - forced;
    summary.proving_s = proving.as_secs_f64();
    say(format!(
        "Counters: {} accepted; {} second claims at the same point refused; {} ineligible presentations refused ({} more households were told by their wallet that they do not qualify). {:.1} s of proving for {} presentations.",
        summary.claims_accepted,
        same_point,
        summary.claims_refused_ineligible,
        summary.ineligible_told_by_wallet,
        summary.proving_s,
        served.len() + same_point + cross + forced
    ));

    // Reconciliation: north (online) submits; east comes back online and submits.
    let rn = north.submit(&net.client, Duration::from_secs(120)).await?;
    ensure!(
        rn.pending == 0 && rn.conflicts.is_empty(),
        "north: {} pending, {} conflicts",
        rn.pending,
        rn.conflicts.len()
    );
    let re = east.submit(&net.client, Duration::from_secs(120)).await?;
    ensure!(re.pending == 0, "east: {} claims unconfirmed", re.pending);
    summary.offline_double_claims_detected = re
        .conflicts
        .iter()
        .filter(|c| c.reason == "nullifierUsed")
        .count();
    summary.double_claims_caught += summary.offline_double_claims_detected;
    for c in re.conflicts.iter().take(3) {
        say(format!(
            "  double claim: first at {} (t={}), then at {} (t={}) while offline",
            c.other_point.map(|p| p.to_string()).unwrap_or_default(),
            c.other_time.unwrap_or(0),
            c.point,
            c.time
        ));
    }
    say(format!(
        "Reconciled: north {} applied; east {} applied, {} double claims found by the ledger (listed by point and time only).",
        rn.applied,
        re.applied,
        summary.offline_double_claims_detected
    ));

    // The entitlement is in the households' wallets; some spend at a shop (north's
    // organisation), which redeems; the ledger's audit must still balance.
    let value = pay_and_redeem(net, &north, &program_id, &wallets, &mut rng).await?;
    summary.shop_payments = value.payments;
    summary.double_spends_refused = value.double_spends_refused;
    let audit = net.client.program_audit(program_id.bytes()).await?;
    let amount = |k: &str| {
        audit[k]
            .as_str()
            .and_then(|s| s.parse::<u128>().ok())
            .unwrap_or(0)
    };
    summary.value_minted = amount("minted");
    summary.value_redeemed = amount("redeemed");
    summary.conservation_ok = audit["conservationOk"] == json!(true);
    ensure!(
        summary.conservation_ok,
        "the value audit failed: {}",
        audit["problem"]
    );
    ensure!(
        summary.value_redeemed == value.redeemed as u128,
        "the ledger redeemed {} but the shop asked for {}",
        summary.value_redeemed,
        value.redeemed
    );
    say(format!(
        "Value: {} USD cents minted to {} one-time keys; {} payments at the shop (amounts hidden), {} redeemed by the shop; a second spend of a spent note refused ({}). Audit over {} unspent notes: conservation {}.",
        summary.value_minted,
        audit["claimNotes"],
        summary.shop_payments,
        summary.value_redeemed,
        summary.double_spends_refused,
        audit["unspentNotes"],
        if summary.conservation_ok { "holds" } else { "FAILS" }
    ));

    // The donor report: the ledger's counts, nothing else.
    let round = net.client.round_report(&program_id, 1).await?;
    summary.claims_on_ledger = round["claims"].as_u64().unwrap_or(0);
    summary.entitlement_on_ledger = round["entitlement"].as_u64().unwrap_or(0);
    let report = json!({
        "program": program_id,
        "programName": PROGRAM_NAME,
        "policy": POLICY,
        "round": 1,
        "unit": round["unit"],
        "claims": round["claims"],
        "entitlement": round["entitlement"],
        "doubleClaimsCaughtByLedger": round["doubleClaims"],
        "points": round["points"],
        "milestone": round["milestone"],
        "registry": {"id": agency.registry, "credentialsIssued": summary.credentials_issued},
        "value": {
            "minted": audit["minted"],
            "redeemed": audit["redeemed"],
            "outstanding": audit["outstanding"],
            "payments": audit["transfers"],
            "conservationOk": summary.conservation_ok,
        },
    });
    // The report must not carry anything that links to a household: check it for
    // every nullifier and commitment of this run.
    let text = report.to_string();
    let program_fr = weft_credentials::claim::program_field(&program_id);
    for h in &all {
        for holder in &h.holders {
            for secret_linked in [
                holder.secrets.nullifier(program_fr, 1),
                holder.credential.commitment(),
                holder.secrets.holder_commitment(),
                holder.secrets.household_commitment(),
            ] {
                ensure!(
                    !text.contains(&hex::encode(fr_to_bytes_be(&secret_linked))),
                    "the donor report carries a household's value"
                );
            }
        }
    }
    for note in &wallets {
        ensure!(
            !text.contains(&hex::encode(note.id())),
            "the donor report carries a household's note"
        );
    }
    ensure!(
        summary.claims_on_ledger == served.len() as u64,
        "the ledger counts {} claims for {} households served",
        summary.claims_on_ledger,
        served.len()
    );
    say(format!(
        "Donor report: {} claims, {} {} delivered, {} double claims caught by the ledger, per point: {}. No names, no ids, no nullifiers.",
        summary.claims_on_ledger,
        summary.entitlement_on_ledger,
        round["unit"].as_str().unwrap_or(""),
        round["doubleClaims"],
        round["points"]
            .as_array()
            .map(|ps| ps
                .iter()
                .map(|p| format!("{} claims", p["claims"]))
                .collect::<Vec<_>>()
                .join(" / "))
            .unwrap_or_default()
    ));

    if let (Some(dir), Some((request, response))) = (out, presentation_sample) {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("presentation.json"),
            serde_json::to_vec_pretty(&json!({
                "request": request.to_json(),
                "response": response.to_json(),
                "responseBytes": response.to_bytes().len(),
            }))?,
        )?;
        std::fs::write(
            dir.join("presentation.png"),
            weft_verifier::qr::render_png(&response.to_bytes())?,
        )?;
        std::fs::write(
            dir.join("donor-report.json"),
            serde_json::to_vec_pretty(&report)?,
        )?;
    }
    Ok((summary, report))
}

/// What the shop part of the round did.
struct ShopDay {
    payments: usize,
    double_spends_refused: usize,
    redeemed: u64,
}

/// Households pay the shop from their claim notes (a transfer each: the shop's output
/// and the change to a new key of the household, amounts hidden); one tries to spend
/// its note a second time and is refused; the shop redeems what it received.
async fn pay_and_redeem(
    net: &Network,
    shop: &Point,
    program: &weft_types::ProgramId,
    wallets: &[OwnedNote],
    rng: &mut ChaCha20Rng,
) -> anyhow::Result<ShopDay> {
    let program = *program.bytes();
    let mut day = ShopDay {
        payments: 0,
        double_spends_refused: 0,
        redeemed: 0,
    };
    let mut blocks = Vec::new();
    let mut received = Vec::new();
    let mut first_payment = None;
    // At most 16 payments: one redeem spends them all.
    for note in wallets.iter().take(weft_types::notes::MAX_NOTE_INPUTS) {
        let price = rng.gen_range(1..=note.amount());
        let shop_key = OwnerSecretKey::random(rng);
        let change_key = OwnerSecretKey::random(rng);
        let shop_pk = shop_key.public_key();
        let payment = weft_entitlements::transfer(
            program,
            std::slice::from_ref(note),
            &[
                Recipient {
                    owner: shop_pk,
                    amount: price,
                },
                Recipient {
                    owner: change_key.public_key(),
                    amount: note.amount() - price,
                },
            ],
            rng,
        )?;
        // The shop opens its output (it knows its key) and checks the price.
        let mine = payment
            .outputs
            .iter()
            .find_map(|o| OwnedNote::decrypt(&program, o, &shop_key))
            .context("the payment has no output for the shop")?;
        ensure!(mine.amount() == price, "the shop was paid the wrong amount");
        received.push(mine);
        if first_payment.is_none() {
            first_payment = Some(note.clone());
        }
        blocks.push(net.anonymous(Payload::Transfer(Box::new(payment))).await?);
    }
    net.apply_all(&blocks).await?;
    day.payments = blocks.len();
    // A household pays again with the note it already spent: refused at once.
    if let Some(spent) = first_payment {
        let again = weft_entitlements::transfer(
            program,
            std::slice::from_ref(&spent),
            &[Recipient {
                owner: OwnerSecretKey::random(rng).public_key(),
                amount: spent.amount(),
            }],
            rng,
        )?;
        let block = net.anonymous(Payload::Transfer(Box::new(again))).await?;
        match net.client.submit(&block).await {
            Err(e) if e.to_string().contains("noteSpent") => day.double_spends_refused += 1,
            other => anyhow::bail!("a second spend of a spent note was not refused: {other:?}"),
        }
    }
    if received.is_empty() {
        return Ok(day);
    }
    // The shop redeems everything it received; the agency pays it that public amount.
    let total: u64 = received.iter().map(OwnedNote::amount).sum();
    let redeem =
        weft_entitlements::redeem(program, &received, total, shop.key.public_key().0, &[], rng)?;
    let block = net
        .signed(&shop.key, Payload::Redeem(Box::new(redeem)))
        .await?;
    net.apply_all(&[block]).await?;
    day.redeemed = total;
    Ok(day)
}
