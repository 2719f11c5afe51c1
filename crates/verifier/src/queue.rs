//! The durable claim queue (sled): nothing accepted is lost, nothing is sent twice.
//!
//! A claim is written, with its nullifier, in one transaction and flushed *before* the
//! point says ACCEPT, so a crash after the entitlement was handed over cannot lose it,
//! and the same household cannot be accepted twice at this point. Its state then moves
//! `queued → submitted(block) → confirmed(applied | conflicting(reason))`. The block
//! carrying a claim is built once and stored (flushed) *before* it is sent: after a
//! crash, the submitter re-sends the same bytes (the same block id, which the node
//! treats as a duplicate) or asks the node for that block's metadata; it never builds
//! a second block for the same claim.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use weft_credentials::presentation::PresentationRequest;
use weft_crypto::OrganisationKey;
use weft_types::codec::Writer;
use weft_types::hash::blake2b256;
use weft_types::{BlockId, Claim, ProgramId};

use crate::verify::{Acceptance, Decision, RejectReason};

/// Queue storage failure.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// sled failed.
    #[error("queue storage: {0}")]
    Storage(#[from] sled::Error),
    /// A stored record is malformed.
    #[error("queue record is malformed: {0}")]
    Corrupt(String),
}

/// Where a queued claim stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum ClaimState {
    /// Accepted here, not yet sent.
    Queued,
    /// Its block was built (and possibly sent).
    #[serde(rename_all = "camelCase")]
    Submitted {
        /// The block's id.
        block_id: BlockId,
        /// The block's canonical bytes (hex), re-sent as they are if needed.
        block: String,
    },
    /// The ledger confirmed it.
    #[serde(rename_all = "camelCase")]
    Confirmed {
        /// The block's id.
        block_id: BlockId,
        /// The confirming milestone.
        milestone: u32,
        /// `applied` or the conflict reason (`nullifierUsed`, `unknownDeviceKey`, ...).
        outcome: String,
    },
}

/// One accepted claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimRecord {
    /// BLAKE2b-256 of the signed claim's bytes (hex): the record's key.
    pub id: String,
    /// The signed claim.
    pub claim: Claim,
    /// The entitlement handed over.
    pub quantity: u64,
    /// Its unit.
    pub unit: String,
    /// When it was accepted (Unix ms; the claim's own time is the request's).
    pub accepted_at: u64,
    /// Where it stands.
    #[serde(flatten)]
    pub state: ClaimState,
}

/// The queue (a sled database in `dir/queue`).
#[derive(Debug, Clone)]
pub struct Queue {
    db: sled::Db,
    claims: sled::Tree,
    nullifiers: sled::Tree,
    requests: sled::Tree,
}

fn nullifier_key(program: &ProgramId, round: u32, nullifier: &[u8; 32]) -> Vec<u8> {
    [program.bytes().as_slice(), &round.to_be_bytes(), nullifier].concat()
}

fn claim_bytes(claim: &Claim) -> Vec<u8> {
    let mut w = Writer::default();
    claim.encode_into(&mut w);
    w.into_bytes()
}

impl Queue {
    /// Opens (or creates) the queue in `dir/queue`.
    pub fn open(dir: &Path) -> Result<Queue, QueueError> {
        let db = sled::Config::new().path(dir.join("queue")).open()?;
        Ok(Queue {
            claims: db.open_tree("claims")?,
            nullifiers: db.open_tree("nullifiers")?,
            requests: db.open_tree("requests")?,
            db,
        })
    }

    /// Remembers a shown request (by nonce), flushed.
    pub fn put_request(&self, request: &PresentationRequest) -> Result<(), QueueError> {
        self.requests.insert(request.nonce, request.to_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// A shown request by its nonce.
    pub fn request(&self, nonce: &[u8; 16]) -> Result<Option<PresentationRequest>, QueueError> {
        self.requests
            .get(nonce)?
            .map(|b| {
                PresentationRequest::from_bytes(&b).map_err(|e| QueueError::Corrupt(e.to_string()))
            })
            .transpose()
    }

    /// Whether this point accepted a claim with this nullifier.
    pub fn has_nullifier(
        &self,
        program: &ProgramId,
        round: u32,
        nullifier: &[u8; 32],
    ) -> Result<bool, QueueError> {
        Ok(self
            .nullifiers
            .contains_key(nullifier_key(program, round, nullifier))?)
    }

    /// Signs an accepted claim with the device key and records it with its nullifier
    /// in one transaction, flushed; `AlreadyClaimed` if the nullifier is recorded.
    pub fn accept(
        &self,
        acceptance: Acceptance,
        device: &OrganisationKey,
        now: u64,
    ) -> Result<Decision, QueueError> {
        let mut claim = acceptance.claim.clone();
        let Some(e) = claim.endorsement.clone() else {
            return Err(QueueError::Corrupt(
                "a point's claim has no endorsement".into(),
            ));
        };
        let message = claim.signing_message(&e.point, &e.device_key);
        if let Some(e) = claim.endorsement.as_mut() {
            e.signature = device.sign(&message);
        }
        let id = hex::encode(blake2b256(&[&claim_bytes(&claim)]));
        let record = ClaimRecord {
            id: id.clone(),
            claim: claim.clone(),
            quantity: acceptance.quantity,
            unit: acceptance.unit.clone(),
            accepted_at: now,
            state: ClaimState::Queued,
        };
        let value = serde_json::to_vec(&record).map_err(|e| QueueError::Corrupt(e.to_string()))?;
        let nkey = nullifier_key(&claim.program, claim.round, &claim.nullifier);
        let outcome = (&self.claims, &self.nullifiers).transaction(|(claims, nullifiers)| {
            if nullifiers.get(&nkey)?.is_some() {
                return Err(ConflictableTransactionError::Abort(()));
            }
            nullifiers.insert(nkey.as_slice(), id.as_bytes())?;
            claims.insert(id.as_bytes(), value.as_slice())?;
            Ok(())
        });
        match outcome {
            Ok(()) => {}
            Err(TransactionError::Abort(())) => {
                return Ok(Decision::Reject {
                    reason: RejectReason::AlreadyClaimed,
                    detail: "this point accepted the household's claim already".into(),
                })
            }
            Err(TransactionError::Storage(e)) => return Err(e.into()),
        }
        self.db.flush()?;
        Ok(Decision::Accept(Acceptance {
            claim,
            ..acceptance
        }))
    }

    /// Every record, in key order.
    pub fn records(&self) -> Result<Vec<ClaimRecord>, QueueError> {
        self.claims
            .iter()
            .map(|kv| {
                let (_, v) = kv?;
                serde_json::from_slice(&v).map_err(|e| QueueError::Corrupt(e.to_string()))
            })
            .collect()
    }

    /// Replaces a record's state, flushed.
    pub fn set_state(&self, id: &str, state: ClaimState) -> Result<(), QueueError> {
        let Some(v) = self.claims.get(id.as_bytes())? else {
            return Err(QueueError::Corrupt(format!("no record {id}")));
        };
        let mut rec: ClaimRecord =
            serde_json::from_slice(&v).map_err(|e| QueueError::Corrupt(e.to_string()))?;
        rec.state = state;
        let value = serde_json::to_vec(&rec).map_err(|e| QueueError::Corrupt(e.to_string()))?;
        self.claims.insert(id.as_bytes(), value)?;
        self.db.flush()?;
        Ok(())
    }

    /// Records a claim as it is (already signed): for imports and tests.
    pub fn insert_signed(
        &self,
        claim: Claim,
        quantity: u64,
        unit: &str,
        now: u64,
    ) -> Result<ClaimRecord, QueueError> {
        let id = hex::encode(blake2b256(&[&claim_bytes(&claim)]));
        let record = ClaimRecord {
            id: id.clone(),
            claim: claim.clone(),
            quantity,
            unit: unit.to_string(),
            accepted_at: now,
            state: ClaimState::Queued,
        };
        let value = serde_json::to_vec(&record).map_err(|e| QueueError::Corrupt(e.to_string()))?;
        self.nullifiers.insert(
            nullifier_key(&claim.program, claim.round, &claim.nullifier),
            id.as_bytes(),
        )?;
        self.claims.insert(id.as_bytes(), value)?;
        self.db.flush()?;
        Ok(record)
    }
}
