//! Deciding at the counter, offline: ACCEPT with the entitlement to hand over, or
//! REJECT with a reason the person at the counter can act on.
//!
//! The checks mirror the ledger's claim rules (`weft_ledger::claims`) in the order a
//! person can act on them, using only the checked [`Snapshot`]: the request is the
//! one shown and still fresh, the program and round are served and open, the registry
//! is accepted and the root among its proven recent roots, the disclosures fit the
//! program, the proof holds for the statement `weft_credentials::claim::statement`
//! rebuilds from the program and the claim, and the nullifier is unused (in the
//! downloaded list and in the local queue). The ledger re-checks everything when the
//! claim is submitted; what the point cannot know offline (a device key revoked after
//! the sync, a double claim at another offline point) it learns at reconciliation.

use std::collections::{HashMap, HashSet};

use ark_bn254::Bn254;
use ark_groth16::PreparedVerifyingKey;
use weft_circuits::groth16::{prepared_verifying_key_from_bytes, CompressedProof};
use weft_credentials::claim::statement;
use weft_credentials::presentation::{to_claim, PresentationRequest, PresentationResponse};
use weft_types::{Claim, ProgramId, RegistryId};

use crate::snapshot::{ProgramEntry, RegistryEntry, Snapshot, SnapshotError};

/// Why a presentation is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RejectReason {
    /// The proof does not hold for this request: the household does not meet the
    /// program's conditions, or its credential expired or was issued too late (expiry
    /// is checked inside the proof and cannot be told apart).
    NotEligible,
    /// The household has claimed in this round already (here or, per the last sync,
    /// elsewhere).
    AlreadyClaimed,
    /// The credential's registry root is not among the proven recent ones: revoked,
    /// or older than the window.
    Revoked,
    /// Not a program or round this point serves now.
    WrongProgramOrRound,
    /// The request shown is too old.
    Expired,
    /// The answer was made for another request (nonce, point or time).
    RequestMismatch,
    /// The answer is malformed or its proof is not valid curve points.
    Tampered,
}

impl RejectReason {
    /// A short name (`alreadyClaimed`).
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::NotEligible => "notEligible",
            RejectReason::AlreadyClaimed => "alreadyClaimed",
            RejectReason::Revoked => "revoked",
            RejectReason::WrongProgramOrRound => "wrongProgramOrRound",
            RejectReason::Expired => "expired",
            RejectReason::RequestMismatch => "requestMismatch",
            RejectReason::Tampered => "tampered",
        }
    }

    /// What to tell the person at the counter.
    pub fn advice(&self) -> &'static str {
        match self {
            RejectReason::NotEligible => {
                "Not eligible: the household does not meet this program's conditions, or its credential has expired. Refer them to the agency's help desk."
            }
            RejectReason::AlreadyClaimed => {
                "Already claimed this round: this household has received this round's entitlement."
            }
            RejectReason::Revoked => {
                "Credential revoked or too old: sync this point and ask the holder to sync their wallet, then try again; if it persists, refer them to the issuer."
            }
            RejectReason::WrongProgramOrRound => {
                "Wrong program or round: this point does not serve it now. Check the program and the round's dates."
            }
            RejectReason::Expired => {
                "The request expired: show a new code and ask the holder to scan it again."
            }
            RejectReason::RequestMismatch => {
                "The answer is for another request: ask the holder to scan the code shown now."
            }
            RejectReason::Tampered => {
                "The answer is damaged or tampered with: ask the holder to present again."
            }
        }
    }
}

/// An accepted claim: what to hand over (or, for a value program, what the ledger pays
/// to the household's wallet: [`Acceptance::paid_as_value`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptance {
    /// The claim (unsigned: the point's device signs it when recording).
    pub claim: Claim,
    /// The quantity.
    pub quantity: u64,
    /// Its unit.
    pub unit: String,
}

/// The outcome at the counter (rare and followed by a disk flush: its size is no
/// concern).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Decision {
    /// Hand over the entitlement.
    Accept(Acceptance),
    /// Refuse, with a reason and details.
    Reject {
        /// The reason.
        reason: RejectReason,
        /// Details (for the log, never personal data).
        detail: String,
    },
}

impl Acceptance {
    /// Whether the entitlement is paid as value notes to the household's one-time key
    /// (a value program) rather than handed over at the counter.
    pub fn paid_as_value(&self) -> bool {
        self.claim.entitlement_key.is_some()
    }
}

fn reject(reason: RejectReason, detail: impl Into<String>) -> Decision {
    Decision::Reject {
        reason,
        detail: detail.into(),
    }
}

/// A checked snapshot ready for fast verification (the verifying key prepared once).
pub struct Verifier {
    snapshot: Snapshot,
    pvk: PreparedVerifyingKey<Bn254>,
    programs: HashMap<ProgramId, ProgramEntry>,
    registries: HashMap<RegistryId, RegistryEntry>,
    used: HashSet<(ProgramId, u32, [u8; 32])>,
    request_ttl_ms: u64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("programs", &self.programs.len())
            .field("registries", &self.registries.len())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Checks the snapshot against the configuration and prepares it.
    pub fn new(
        snapshot: Snapshot,
        config: &crate::config::PointConfig,
    ) -> Result<Verifier, SnapshotError> {
        snapshot.check(config)?;
        let pvk = prepared_verifying_key_from_bytes(&snapshot.verifying_key_bytes()?)
            .map_err(|e| SnapshotError::VerifyingKeyFormat(e.to_string()))?;
        let programs = snapshot
            .programs
            .iter()
            .map(|p| (p.id, p.clone()))
            .collect();
        let registries = snapshot
            .registries
            .iter()
            .map(|r| (r.proof.registry, r.clone()))
            .collect();
        let used = snapshot
            .nullifiers
            .iter()
            .flat_map(|l| l.nullifiers.iter().map(|n| (l.program, l.round, *n)))
            .collect();
        Ok(Verifier {
            snapshot,
            pvk,
            programs,
            registries,
            used,
            request_ttl_ms: config.request_ttl_ms,
        })
    }

    /// The snapshot.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// A program served.
    pub fn program(&self, id: &ProgramId) -> Option<&ProgramEntry> {
        self.programs.get(id)
    }

    /// The accepted registries of a program (the request's hint).
    pub fn accepted_registries(&self, program: &ProgramId) -> Vec<RegistryId> {
        let Some(p) = self.programs.get(program) else {
            return Vec::new();
        };
        let mut ids: Vec<RegistryId> = self
            .registries
            .values()
            .filter(|r| {
                p.program.issuers.contains(&r.issuer) && r.create.schema == p.program.schema
            })
            .map(|r| r.proof.registry)
            .collect();
        ids.sort();
        ids.truncate(weft_credentials::presentation::MAX_REQUEST_REGISTRIES);
        ids
    }

    /// A presentation request for `program`'s `round` at `now` (Unix ms) with a fresh
    /// `nonce`: the program's schema, conditions, disclosure mask and issuance bound,
    /// this point and its device key, the accepted registries as a hint. `None` when
    /// the point does not serve the program. The caller stores it
    /// ([`crate::Queue::put_request`]) before showing it.
    pub fn request(
        &self,
        config: &crate::config::PointConfig,
        program: &ProgramId,
        round: u32,
        nonce: [u8; 16],
        now: u64,
    ) -> Option<PresentationRequest> {
        let p = &self.programs.get(program)?.program;
        Some(PresentationRequest {
            program: *program,
            round,
            nonce,
            point: config.point,
            device_key: config.device_public_key(),
            time: now,
            registries: self.accepted_registries(program),
            schema: p.schema,
            conditions: p.conditions.clone(),
            disclose: p.disclose,
            issued_before: p.issued_before,
            summary: summary_text(&p.entitlement),
            value_notes: p.value_notes,
        })
    }

    /// Whether the downloaded list has this nullifier.
    pub fn used_at_sync(&self, program: &ProgramId, round: u32, nullifier: &[u8; 32]) -> bool {
        self.used.contains(&(*program, round, *nullifier))
    }

    /// Decides on `response` to the shown `request` at `now` (Unix ms), offline. The
    /// local queue's nullifiers are checked by the caller ([`crate::Queue::accept`]).
    pub fn verify(
        &self,
        request: &PresentationRequest,
        response: &PresentationResponse,
        now: u64,
    ) -> Decision {
        if response.nonce != request.nonce {
            return reject(
                RejectReason::RequestMismatch,
                "the answer echoes another request's nonce",
            );
        }
        if request.point != self.snapshot.point {
            return reject(
                RejectReason::RequestMismatch,
                "the request names another point",
            );
        }
        if now > request.time.saturating_add(self.request_ttl_ms) {
            return reject(
                RejectReason::Expired,
                format!("the request is {} s old", (now - request.time) / 1000),
            );
        }
        let Some(entry) = self.programs.get(&request.program) else {
            return reject(
                RejectReason::WrongProgramOrRound,
                "this point does not serve the program",
            );
        };
        let program = &entry.program;
        let Some(round) = program.round(request.round) else {
            return reject(
                RejectReason::WrongProgramOrRound,
                "the program has no such round",
            );
        };
        if request.time < round.opens || request.time >= round.closes {
            return reject(
                RejectReason::WrongProgramOrRound,
                "the round is not open at the request's time",
            );
        }
        if request.value_notes != program.value_notes {
            return reject(
                RejectReason::RequestMismatch,
                "the request does not say how the program pays (value notes or in kind)",
            );
        }
        match (program.value_notes, &response.entitlement_key) {
            (true, None) => {
                return reject(
                    RejectReason::RequestMismatch,
                    "a value program's answer must carry the household's one-time entitlement key",
                )
            }
            (false, Some(_)) => {
                return reject(
                    RejectReason::RequestMismatch,
                    "the answer carries an entitlement key, but the program pays in kind",
                )
            }
            (true, Some(key)) => {
                if weft_entitlements::OwnerPublicKey::from_bytes(key).is_err() {
                    return reject(
                        RejectReason::Tampered,
                        "the entitlement key is not a valid one-time key",
                    );
                }
            }
            (false, None) => {}
        }
        if request.schema != program.schema
            || request.conditions != program.conditions
            || request.disclose != program.disclose
            || request.issued_before != program.issued_before
        {
            return reject(
                RejectReason::RequestMismatch,
                "the request does not carry the program's policy",
            );
        }
        let Some(reg) = self.registries.get(&response.registry) else {
            return reject(
                RejectReason::NotEligible,
                "the credential's registry is not one the program accepts",
            );
        };
        if !program.issuers.contains(&reg.issuer) || reg.create.schema != program.schema {
            return reject(
                RejectReason::NotEligible,
                "the credential's issuer is not accepted by the program",
            );
        }
        if !reg
            .proof
            .recent_roots
            .iter()
            .any(|r| r.root == response.root)
        {
            return reject(
                RejectReason::Revoked,
                "the credential's root is not among the registry's recent roots",
            );
        }
        let claim = to_claim(request, response);
        let Some(st) = statement(&request.program, program, &claim) else {
            return reject(
                RejectReason::RequestMismatch,
                "the disclosed values do not fit the program's disclosure mask",
            );
        };
        let Ok(proof) = CompressedProof(response.proof).to_proof() else {
            return reject(
                RejectReason::Tampered,
                "the proof is not valid curve points",
            );
        };
        let Ok(inputs) = st.public_inputs() else {
            return reject(RejectReason::Tampered, "the public inputs are malformed");
        };
        if weft_circuits::verify(&self.pvk, &inputs, &proof).is_err() {
            return reject(
                RejectReason::NotEligible,
                "the proof does not hold for this request",
            );
        }
        if self.used_at_sync(&request.program, request.round, &response.nullifier) {
            return reject(
                RejectReason::AlreadyClaimed,
                "the ledger had this household's claim at the last sync",
            );
        }
        let quantity = program
            .entitlement
            .tiers
            .iter()
            .find(|t| {
                let pos = (0..t.attribute)
                    .filter(|j| program.disclose & (1 << j) != 0)
                    .count();
                response.disclosed.get(pos) == Some(&t.value)
            })
            .map(|t| t.quantity)
            .unwrap_or(program.entitlement.quantity);
        Decision::Accept(Acceptance {
            claim,
            quantity,
            unit: program.entitlement.unit.clone(),
        })
    }
}

/// The request's entitlement summary (at most `MAX_SUMMARY_BYTES`, cut on a character
/// boundary): "25 kg rice", with "or more" when tiers may give more.
fn summary_text(e: &weft_types::Entitlement) -> String {
    let more = e.tiers.iter().any(|t| t.quantity > e.quantity);
    let mut s = format!(
        "{} {}{}",
        e.quantity,
        e.unit,
        if more { " (or more by tier)" } else { "" }
    );
    let max = weft_credentials::presentation::MAX_SUMMARY_BYTES;
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}
