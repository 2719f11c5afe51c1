//! From a request to a presentation: which credential answers it, what the holder is told
//! before consenting, and the proof.
//!
//! The holder must know what a presentation gives away before it is made: which
//! attributes are revealed (by name, with their values), which conditions are proved
//! without revealing the values, to which program, and that it spends the household's one
//! claim for the round. [`describe`] says that in plain words; [`prove`] makes the
//! presentation only from a credential whose path is fresh (`sync::check_fresh`).

use ark_ff::PrimeField;
use rand::{CryptoRng, RngCore};
use weft_circuits::{
    EligibilityCircuit, HolderSecrets, Keys, Predicate, Presentation, Statement, Witness,
    NUM_ATTRIBUTES,
};
use weft_crypto::poseidon::Fr;

use crate::model::{fr_hex, WalletData};
use crate::request::PresentationRequest;
use crate::{Result, StoredCredential, WalletError};

/// What the holder is asked to consent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The credential that will be used.
    pub credential_id: String,
    /// The program's name.
    pub program: String,
    /// The round.
    pub round: u64,
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

/// The program's name, or [`WalletError::UnknownProgram`].
pub fn program_name(data: &WalletData, program: &Fr) -> Result<String> {
    data.programs
        .iter()
        .find(|p| p.id.0 == *program)
        .map(|p| p.name.clone())
        .ok_or_else(|| WalletError::UnknownProgram(fr_hex(program)))
}

/// The stored credential that can answer `req`: this holder's, of the requested schema,
/// not revoked, valid today, issued before the bound, satisfying the policy. The error
/// says why none can.
pub fn choose<'a>(
    data: &'a WalletData,
    secrets: &HolderSecrets,
    req: &PresentationRequest,
    wanted: Option<&str>,
) -> Result<&'a StoredCredential> {
    let r = &req.request;
    let mut reason = "the wallet holds no credential".to_string();
    let mut revoked = None;
    for c in &data.credentials {
        if wanted.is_some_and(|w| c.id() != w) {
            continue;
        }
        if c.schema.0 != r.schema {
            reason = format!("no credential of schema {}", fr_hex(&r.schema));
            continue;
        }
        if c.holder_commitment.0 != secrets.holder_commitment()
            || c.household_commitment.0 != secrets.household_commitment()
        {
            reason = format!("credential {} is bound to other keys", c.id());
            continue;
        }
        if c.revoked {
            revoked = Some(c.id());
            continue;
        }
        if c.expiry < r.today {
            reason = format!("credential {} has expired", c.id());
            continue;
        }
        if c.issued_at > r.issued_before {
            reason = format!(
                "credential {} was issued after this round's deadline",
                c.id()
            );
            continue;
        }
        let cred = c.credential();
        if !r.policy.holds(&cred.attributes) {
            reason = format!(
                "credential {} does not meet the program's conditions",
                c.id()
            );
            continue;
        }
        return Ok(c);
    }
    if let Some(w) = wanted {
        if !data.credentials.iter().any(|c| c.id() == w) {
            return Err(WalletError::UnknownCredential(w.to_string()));
        }
    }
    match revoked {
        Some(id) => Err(WalletError::Revoked(id)),
        None => Err(WalletError::NoMatchingCredential(reason)),
    }
}

/// The plain-words consent text for `req` answered by `cred`.
pub fn describe(
    data: &WalletData,
    cred: &StoredCredential,
    req: &PresentationRequest,
) -> Result<Consent> {
    let r = &req.request;
    let program = program_name(data, &r.program)?;
    let revealed: Vec<(String, String)> = req
        .disclose
        .iter()
        .map(|&j| {
            (
                cred.attribute_name(j as usize),
                show_value(&cred.attributes[j as usize].0),
            )
        })
        .collect();
    let proved: Vec<String> = r
        .policy
        .conditions
        .iter()
        .map(|c| {
            format!(
                "your {} {}",
                cred.attribute_name(c.attribute as usize),
                words(&c.predicate)
            )
        })
        .collect();
    let mut text = format!(
        "A distribution point asks you to prove that you can receive aid from \"{program}\" (round {}).\n",
        r.round
    );
    if revealed.is_empty() {
        text.push_str("It will see none of your details.\n");
    } else {
        text.push_str("It will see:\n");
        for (n, v) in &revealed {
            text.push_str(&format!("  - your {n}: {v}\n"));
        }
    }
    if !proved.is_empty() {
        text.push_str("It will learn only that these are true, not the values:\n");
        for p in &proved {
            text.push_str(&format!("  - {p}\n"));
        }
    }
    text.push_str("  - your credential is valid and has not been revoked\n");
    text.push_str(&format!(
        "This uses your household's one claim for round {} of \"{program}\": after this, \
         no one in your household can claim again in this round.\n",
        r.round
    ));
    text.push_str("Nothing else about you is revealed.");
    Ok(Consent {
        credential_id: cred.id(),
        program,
        round: r.round,
        revealed,
        proved,
        text,
    })
}

/// The circuit for `req` answered by `cred` (its path must be fresh).
pub fn circuit(
    data: &WalletData,
    secrets: &HolderSecrets,
    cred: &StoredCredential,
    req: &PresentationRequest,
    depth: usize,
) -> Result<EligibilityCircuit> {
    crate::sync::check_fresh(data, cred, req.accepted_roots.as_deref())?;
    let path = cred
        .registry_path()
        .ok_or_else(|| WalletError::StaleRegistry("credential not synced".into()))?;
    if path.siblings.len() != depth {
        return Err(WalletError::Sync(format!(
            "the registry has depth {}, the proving key depth {depth}",
            path.siblings.len()
        )));
    }
    let root = cred
        .path
        .as_ref()
        .map(|p| p.root.0)
        .ok_or_else(|| WalletError::StaleRegistry("credential not synced".into()))?;
    let credential = cred.credential();
    let mut disclosed = [None; NUM_ATTRIBUTES];
    for &j in &req.disclose {
        disclosed[j as usize] = Some(credential.attributes[j as usize]);
    }
    let r = &req.request;
    let statement = Statement {
        root,
        nullifier: secrets.nullifier(r.program, r.round),
        schema: r.schema,
        program: r.program,
        round: r.round,
        challenge: r.challenge,
        today: r.today,
        issued_before: r.issued_before,
        disclosed,
        policy: r.policy.clone(),
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

/// Proves `req` with `cred` (after [`describe`] and the holder's consent).
pub fn prove<R: RngCore + CryptoRng>(
    keys: &Keys,
    data: &WalletData,
    secrets: &HolderSecrets,
    cred: &StoredCredential,
    req: &PresentationRequest,
    rng: &mut R,
) -> Result<Presentation> {
    program_name(data, &req.request.program)?;
    let c = circuit(data, secrets, cred, req, keys.depth)?;
    Ok(Presentation::prove(keys, c, rng)?)
}
