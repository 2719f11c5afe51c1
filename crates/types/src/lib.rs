//! Weft's protocol types and their canonical binary codec.
//!
//! Every node, wallet and verifier must agree byte for byte on what a block is, so the
//! encoding lives here, in one place, with no I/O and no cryptography beyond the
//! BLAKE2b-256 that defines identifiers. `specs/protocol.md` is the normative text; the
//! tests in this crate check its test vectors.

pub mod block;
pub mod codec;
pub mod hash;
pub mod id;
pub mod identity;
pub mod milestone;
pub mod notes;
pub mod payload;
pub mod program;
pub mod registry;

pub use block::{
    pow_score, Block, BlockBuilder, Issuer, UnsignedBlock, BLOCK_SIGNATURE_DOMAIN, MAX_BLOCK_BYTES,
    MAX_PARENTS, PROTOCOL_VERSION,
};
pub use codec::DecodeError;
pub use id::{
    BlockId, CommitteeId, InclusionRoot, MilestoneId, NetworkId, PublicKeyBytes, RegistryId,
    SchemaId, SignatureBytes, StateRoot,
};
pub use identity::{
    Accreditation, DeviceKey, Did, DidCreate, DidDeactivate, DidKey, DidOperation, DidService,
    DidUpdate,
};
pub use milestone::{
    Committee, CommitteeChange, CommitteeError, Milestone, MilestoneEssence, MilestoneSignature,
    COMMITTEE_CHANGE_DOMAIN, MAX_COMMITTEE_SIZE,
};
pub use payload::{Payload, PayloadKind, TaggedData, MAX_TAGGED_DATA_BYTES, MAX_TAG_BYTES};
pub use program::{
    Claim, Entitlement, PointEndorsement, PolicyCondition, PredicateOp, Program, ProgramId, Round,
    Tier, MAX_CONDITIONS, MAX_SET_VALUES,
};
pub use registry::{AttributeDef, AttributeKind, Issuance, RegistryCreate, Revocation, Schema};
