//! Weft's milestone consensus: the committee agrees on milestones with AlephBFT.
//!
//! A milestone is final when 2f+1 of the committee's 3f+1 validators signed its essence.
//! What the essence confirms (index, time, the tips whose past cone it takes) must first
//! be agreed, or validators would sign different essences and nothing would ever be
//! certified. This crate does that agreement with a maintained asynchronous BFT engine,
//! [`aleph_bft`], and collects the signatures afterwards (`specs/consensus.md`):
//!
//! - [`proposal`]: what a validator offers when a milestone is due, and its codec;
//! - [`sequence`]: the pure rules turning the engine's order into [`AgreedMilestone`]s;
//! - [`session`]: one engine session wired to the node through channels;
//! - [`network`], [`keychain`], [`backup`]: what the engine needs (transport-agnostic
//!   messages, the committee's Ed25519 keys, the crash-recovery backup);
//! - [`certificate`]: the [`CertificateCollector`] turning signatures into certified
//!   milestones, with equivocation evidence.
//!
//! Nothing here touches the Tangle or the ledger: the node computes roots and essences.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backup;
pub mod certificate;
pub mod keychain;
pub mod network;
pub mod proposal;
pub mod sequence;
pub mod session;

pub use backup::{BackupError, MemoryBackup, UnitBackup};
pub use certificate::{
    CertificateCollector, CollectError, Collected, EquivocationEvidence, SignatureShare,
    COLLECTION_WINDOW,
};
pub use keychain::{Blake2bHasher, CommitteeKeychain, Ed25519Signature, KeychainError};
pub use network::{
    decode_message, encode_message, proposals_in, ConsensusMessage, IncomingMessage, MessageError,
    MessageRecipient, OutgoingMessage, PeerReport, TipAvailability, MAX_MESSAGE_BYTES,
};
pub use proposal::{Proposal, ProposalError, MAX_PROPOSAL_BYTES, MAX_PROPOSAL_TIPS};
pub use sequence::{
    AgreedMilestone, FinalizationRules, FinalizedProposal, MilestoneSequencer, SequenceEvent,
    SequenceStart,
};
pub use session::{
    start_session, RunningSession, SessionError, SessionIo, SessionParams, SessionTiming,
    TokioSpawner,
};
