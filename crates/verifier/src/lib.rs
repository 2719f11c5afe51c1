//! The distribution point: checks holders' presentations offline, keeps the claims it
//! accepted in a durable queue, and reconciles them with the ledger when online.
//!
//! A point at a counter may be offline for days. So everything it decides, it decides
//! from a [`Snapshot`] downloaded while online and checked with nothing but the
//! committee's public keys and the pinned verifying key hash: a tampered snapshot is
//! refused, not used. The ledger stays the judge: the point only records what it
//! handed over ([`Queue`]) and later learns from the ledger which of its claims were
//! double claims made at another point while both were offline.
//!
//! A point in a value program (cash, vouchers) is also a shop: [`shop`] takes the
//! households' payments by QR, holds the notes and redeems them with the agency.
//!
//! The core (this library) has no terminal; the `weft-verifier` binary is a thin CLI.
//! The flow is specified in `specs/distribution-point.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod certificate;
pub mod config;
pub mod net;
pub mod qr;
pub mod queue;
pub mod shop;
pub mod snapshot;
pub mod verify;

pub use certificate::{verify_certificate, CertificateError};
pub use config::{dev_key_seed, ConfigError, PointConfig};
pub use queue::{ClaimRecord, ClaimState, Queue, QueueError};
pub use snapshot::{Snapshot, SnapshotError};
pub use verify::{Acceptance, Decision, RejectReason, Verifier};

use weft_credentials::presentation::{PresentationRequest, PresentationResponse};
use weft_crypto::OrganisationKey;

/// Verifies a presentation offline and, if accepted, signs the claim with the device
/// key and records it durably (flushed) before returning ACCEPT.
pub fn verify_and_record(
    verifier: &Verifier,
    queue: &Queue,
    device: &OrganisationKey,
    request: &PresentationRequest,
    response: &PresentationResponse,
    now: u64,
) -> Result<Decision, QueueError> {
    if request.device_key != device.public_key() {
        return Ok(Decision::Reject {
            reason: RejectReason::RequestMismatch,
            detail: "the request names another device key".into(),
        });
    }
    match verifier.verify(request, response, now) {
        Decision::Accept(a) => queue.accept(a, device, now),
        reject => Ok(reject),
    }
}

/// Decides on `response` offline, as `weft-verifier verify` does: it must answer a
/// request shown here (looked up by its nonce in the queue); an accepted claim is
/// recorded before this returns.
pub fn decide(
    verifier: &Verifier,
    queue: &Queue,
    device: &OrganisationKey,
    response: &PresentationResponse,
    now: u64,
) -> Result<Decision, QueueError> {
    match queue.request(&response.nonce)? {
        None => Ok(Decision::Reject {
            reason: RejectReason::RequestMismatch,
            detail: "no request with this nonce was shown here".into(),
        }),
        Some(request) => verify_and_record(verifier, queue, device, &request, response, now),
    }
}

/// The current Unix time in ms.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
