//! From a distribution point's request to the wallet's response: which credential
//! answers it, what the holder is told before consenting, and the proof.
//!
//! The holder must know what a presentation gives away before it is made: which
//! attributes are revealed (by name, with their values), which conditions are proved
//! without revealing the values, to which program, and that it spends the household's one
//! claim for the round. [`describe`] says that in plain words; [`respond`] makes the
//! response only from a credential whose path is against the registry root the wallet
//! last synced (`sync::check_fresh`).
//!
//! # The statement
//!
//! The wallet proves exactly the statement the point and the ledger rebuild with
//! `weft_credentials::claim::statement(program id, program, to_claim(request, response))`:
//! the request's half comes from [`PresentationRequest::circuit_request`] (schema and
//! program elements, round, the challenge of the claim the response will make, today =
//! the request's time in seconds, the issuance bound and the policy, all from the
//! request, which the point checks against its program), the response's half is the
//! credential's registry root, the household's nullifier for (program, round) and the
//! attributes of the request's disclosure mask.

use ark_ff::PrimeField;
use rand::{CryptoRng, RngCore};
use weft_circuits::presentation::Request;
use weft_circuits::{
    EligibilityCircuit, HolderSecrets, Keys, Predicate, Presentation, Statement, Witness,
    NUM_ATTRIBUTES,
};
use weft_credentials::claim::{program_field, schema_field};
use weft_crypto::poseidon::Fr;

use crate::model::{fr_hex, WalletData};
use crate::request::{disclosed_slots, PresentationRequest, PresentationResponse};
use crate::{Result, StoredCredential, WalletError};

/// What the holder is asked to consent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The credential that will be used.
    pub credential_id: String,
    /// The program's name.
    pub program: String,
    /// The round.
    pub round: u32,
    /// What the point says the household receives (its words, `25 kg rice`).
    pub summary: String,
    /// `(attribute name, value)` for each revealed attribute.
    pub revealed: Vec<(String, String)>,
    /// Each condition proved without revealing the value, in words.
    pub proved: Vec<String>,
    /// The whole text shown to the holder.
    pub text: String,
}

/// A value for people: a number when it is one below 2^64, else its short hex.
pub fn show_value(v: &Fr) -> String {
    let b = v.into_bigint();
    if b.0[1..].iter().all(|l| *l == 0) {
        b.0[0].to_string()
    } else {
        format!("{}… (a hashed value)", &fr_hex(v)[..14])
    }
}

fn words(p: &Predicate) -> String {
    let set = |vs: &[Fr]| vs.iter().map(show_value).collect::<Vec<_>>().join(", ");
    match p {
        Predicate::Eq(v) => format!("is {}", show_value(v)),
        Predicate::Ne(v) => format!("is not {}", show_value(v)),
        Predicate::Lt(c) => format!("is less than {c}"),
        Predicate::Le(c) => format!("is at most {c}"),
        Predicate::Gt(c) => format!("is more than {c}"),
        Predicate::Ge(c) => format!("is at least {c}"),
        Predicate::Between(lo, hi) => format!("is between {lo} and {hi}"),
        Predicate::In(vs) => format!("is one of: {}", set(vs)),
        Predicate::NotIn(vs) => format!("is none of: {}", set(vs)),
    }
}

/// The circuit's view of `req`, or [`WalletError::Request`].
pub fn circuit_request(req: &PresentationRequest) -> Result<Request> {
    req.circuit_request()
        .map_err(|e| WalletError::Request(e.to_string()))
}

/// The program's name, or [`WalletError::UnknownProgram`].
pub fn program_name(data: &WalletData, req: &PresentationRequest) -> Result<String> {
    let program = program_field(&req.program);
    data.programs
        .iter()
        .find(|p| p.id.0 == program)
        .map(|p| p.name.clone())
        .ok_or_else(|| WalletError::UnknownProgram(req.program.to_string()))
}

/// How far a credential got through [`choose`]'s checks: the error of the credential
/// that got furthest is the one the holder is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Schema,
    Registry,
    Keys,
    Revoked,
    Expired,
    IssuedLate,
    Policy,
    Stale,
}

/// The stored credential that answers `req`: this holder's, of the requested schema, in
/// one of the registries the request names (when it names any), not revoked, valid at
/// the request's time, issued before the bound, meeting the policy, and synced to the
/// newest root the wallet knows for its registry. When none does, the error is the one
/// of the credential that came closest: [`WalletError::DoesNotMeet`] when a credential
/// fails only the program's conditions, [`WalletError::StaleRegistry`] when it needs a
/// sync, [`WalletError::Revoked`], or [`WalletError::NoMatchingCredential`] with the
/// reason.
pub fn choose<'a>(
    data: &'a WalletData,
    secrets: &HolderSecrets,
    req: &PresentationRequest,
    circuit: &Request,
    wanted: Option<&str>,
) -> Result<&'a StoredCredential> {
    if let Some(w) = wanted {
        if !data.credentials.iter().any(|c| c.id() == w) {
            return Err(WalletError::UnknownCredential(w.to_string()));
        }
    }
    let schema = schema_field(&req.schema);
    let mut best: Option<(Stage, WalletError)> = None;
    let mut note = |stage: Stage, e: WalletError| {
        if best.as_ref().is_none_or(|(s, _)| stage > *s) {
            best = Some((stage, e));
        }
    };
    for c in &data.credentials {
        let id = c.id();
        if wanted.is_some_and(|w| id != w) {
            continue;
        }
        if c.schema.0 != schema {
            note(
                Stage::Schema,
                WalletError::NoMatchingCredential(format!(
                    "the wallet holds no credential of the program's schema {}",
                    req.schema.to_hex()
                )),
            );
            continue;
        }
        if !req.registries.is_empty() && !req.registries.iter().any(|r| r.0 == c.registry.0) {
            note(
                Stage::Registry,
                WalletError::NoMatchingCredential(format!(
                    "credential {id} is in registry {}, which the program does not accept",
                    c.registry
                )),
            );
            continue;
        }
        if c.holder_commitment.0 != secrets.holder_commitment()
            || c.household_commitment.0 != secrets.household_commitment()
        {
            note(
                Stage::Keys,
                WalletError::NoMatchingCredential(format!(
                    "credential {id} is bound to other keys"
                )),
            );
            continue;
        }
        if c.revoked {
            note(Stage::Revoked, WalletError::Revoked(id));
            continue;
        }
        if c.expiry < circuit.today {
            note(
                Stage::Expired,
                WalletError::NoMatchingCredential(format!("credential {id} has expired")),
            );
            continue;
        }
        if c.issued_at > circuit.issued_before {
            note(
                Stage::IssuedLate,
                WalletError::NoMatchingCredential(format!(
                    "credential {id} was issued after the program's deadline"
                )),
            );
            continue;
        }
        if !circuit.policy.holds(&c.credential().attributes) {
            note(
                Stage::Policy,
                WalletError::DoesNotMeet {
                    credential: id,
                    conditions: conditions_text(c, req, circuit).join("; "),
                },
            );
            continue;
        }
        if let Err(e) = crate::sync::check_fresh(data, c) {
            note(Stage::Stale, e);
            continue;
        }
        return Ok(c);
    }
    Err(best.map(|(_, e)| e).unwrap_or_else(|| {
        WalletError::NoMatchingCredential("the wallet holds no credential".into())
    }))
}

/// The request's conditions in words, with the credential's attribute names (decoded by
/// its schema when the wallet has it).
fn conditions_text(
    cred: &StoredCredential,
    req: &PresentationRequest,
    circuit: &Request,
) -> Vec<String> {
    match &cred.schema_definition {
        Some(schema) => req
            .conditions
            .iter()
            .map(|c| weft_credentials::policy::describe(std::slice::from_ref(c), schema))
            .collect(),
        None => circuit
            .policy
            .conditions
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    cred.attribute_name(c.attribute as usize),
                    words(&c.predicate)
                )
            })
            .collect(),
    }
}

/// The plain-words consent text for `req` answered by `cred`.
pub fn describe(
    data: &WalletData,
    cred: &StoredCredential,
    req: &PresentationRequest,
) -> Result<Consent> {
    let program = program_name(data, req)?;
    let circuit = circuit_request(req)?;
    let revealed: Vec<(String, String)> = disclosed_slots(req.disclose)
        .into_iter()
        .map(|j| (cred.attribute_name(j), cred.attribute_text(j)))
        .collect();
    let proved: Vec<String> = conditions_text(cred, req, &circuit)
        .into_iter()
        .map(|c| format!("your {c}"))
        .collect();
    let round = req.round;
    let mut text = format!(
        "A distribution point asks you to prove that you can receive aid from \"{program}\" (round {round}).\n"
    );
    if req.value_notes {
        let what = if req.summary.trim().is_empty() {
            "Your household's entitlement".to_string()
        } else {
            format!("Your household's entitlement ({})", req.summary.trim())
        };
        text.push_str(&format!(
            "{what} arrives as value in this wallet, not over the counter: it is paid to a new \
             one-time key that only this wallet holds and that nobody can link to your credential. \
             Sync your notes once the point has sent its claims to see it, then pay shops with it.\n"
        ));
    } else if !req.summary.trim().is_empty() {
        text.push_str(&format!(
            "It says your household receives: {}.\n",
            req.summary.trim()
        ));
    }
    if revealed.is_empty() {
        text.push_str("It will see none of your details.\n");
    } else {
        text.push_str("It will see:\n");
        for (n, v) in &revealed {
            text.push_str(&format!("  - your {n}: {v}\n"));
        }
    }
    text.push_str("It will learn only that these are true, not the values:\n");
    for p in &proved {
        text.push_str(&format!("  - {p}\n"));
    }
    text.push_str("  - your credential is valid and has not been revoked\n");
    text.push_str(&format!(
        "This uses your household's one claim for round {round} of \"{program}\": after this, \
         no one in your household can claim again in this round.\n"
    ));
    text.push_str("Nothing else about you is revealed.");
    Ok(Consent {
        credential_id: cred.id(),
        program,
        round,
        summary: req.summary.clone(),
        revealed,
        proved,
        text,
    })
}

/// The circuit for `req` answered by `cred` (its path must be fresh): the statement the
/// point and the ledger rebuild (module notes) and the holder's witness.
pub fn circuit(
    data: &WalletData,
    secrets: &HolderSecrets,
    cred: &StoredCredential,
    req: &PresentationRequest,
    depth: usize,
) -> Result<EligibilityCircuit> {
    circuit_for(data, secrets, cred, req, None, depth)
}

/// [`circuit`] for an answer carrying `entitlement_key` (a value program's claim: the
/// key is bound into the proof's challenge).
pub fn circuit_for(
    data: &WalletData,
    secrets: &HolderSecrets,
    cred: &StoredCredential,
    req: &PresentationRequest,
    entitlement_key: Option<[u8; 32]>,
    depth: usize,
) -> Result<EligibilityCircuit> {
    crate::sync::check_fresh(data, cred)?;
    let request = req
        .circuit_request_for(entitlement_key)
        .map_err(|e| WalletError::Request(e.to_string()))?;
    let not_synced =
        || WalletError::StaleRegistry(format!("credential {} is not synced", cred.id()));
    let path = cred.registry_path().ok_or_else(not_synced)?;
    let root = cred
        .path
        .as_ref()
        .map(|p| p.root.0)
        .ok_or_else(not_synced)?;
    if path.siblings.len() != depth {
        return Err(WalletError::Sync(format!(
            "the registry has depth {}, the proving key depth {depth}",
            path.siblings.len()
        )));
    }
    let credential = cred.credential();
    let mut disclosed = [None; NUM_ATTRIBUTES];
    for j in disclosed_slots(req.disclose) {
        disclosed[j] = Some(credential.attributes[j]);
    }
    let statement = Statement {
        root,
        nullifier: secrets.nullifier(request.program, request.round),
        schema: request.schema,
        program: request.program,
        round: request.round,
        challenge: request.challenge,
        today: request.today,
        issued_before: request.issued_before,
        disclosed,
        policy: request.policy,
    };
    Ok(EligibilityCircuit {
        depth,
        statement,
        witness: Witness {
            credential,
            secrets: secrets.clone(),
            path,
        },
    })
}

/// Proves `req` with `cred` (after [`describe`] and the holder's consent) and packs the
/// response the point reads.
pub fn respond<R: RngCore + CryptoRng>(
    keys: &Keys,
    data: &WalletData,
    secrets: &HolderSecrets,
    cred: &StoredCredential,
    req: &PresentationRequest,
    rng: &mut R,
) -> Result<PresentationResponse> {
    respond_with_key(keys, data, secrets, cred, req, None, rng)
}

/// [`respond`] for a value program: the response carries `entitlement_key` (the public
/// half of a one-time key the wallet keeps), bound into the proof's challenge; the
/// ledger mints the round's entitlement to it when the claim is confirmed.
pub fn respond_with_key<R: RngCore + CryptoRng>(
    keys: &Keys,
    data: &WalletData,
    secrets: &HolderSecrets,
    cred: &StoredCredential,
    req: &PresentationRequest,
    entitlement_key: Option<[u8; 32]>,
    rng: &mut R,
) -> Result<PresentationResponse> {
    program_name(data, req)?;
    let c = circuit_for(data, secrets, cred, req, entitlement_key, keys.depth)?;
    let p = Presentation::prove(keys, c, rng)?;
    let mut response =
        PresentationResponse::from_presentation(req, weft_types::RegistryId(cred.registry.0), &p);
    response.entitlement_key = entitlement_key;
    Ok(response)
}
