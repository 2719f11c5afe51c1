//! The agency's side of Weft as a library, so that the `weft-agency` CLI, the bench and
//! the tests drive the same code: the encrypted keystore, the agency's DID, schemas and
//! registries, bulk issuance from CSV with a crash-safe journal, revocation, and aid
//! programs (definitions checked, compiled and announced: [`program`]).
//!
//! Everything goes through the node's HTTP API ([`weft_client::Client`]); blocks are
//! signed here with the agency's key and their ledger outcome is awaited, so a command
//! reports success only once a milestone has applied its block.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod csv;
pub mod issue;
pub mod keystore;
pub mod program;

use std::time::Duration;

use weft_client::{Client, ClientError, DidResolution, DidVersion, LedgerOutcome};
use weft_crypto::OrganisationKey;
use weft_types::{
    Block, BlockBuilder, BlockId, Did, DidCreate, DidOperation, DidUpdate, NetworkId, Payload,
    PublicKeyBytes, RegistryCreate, RegistryId, Revocation, Schema, SchemaId,
};

/// How long a command waits for its block to be confirmed.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(60);

/// The seed of the dev network's well-known organisation key (as `weft-node run --dev`
/// derives it: `BLAKE2b-256("weft/dev-key/v1/" || "organisation")`). Public by design.
pub fn dev_organisation_seed() -> [u8; 32] {
    weft_types::hash::blake2b256(&[b"weft/dev-key/v1/", b"organisation"])
}

/// An agency error.
#[derive(Debug, thiserror::Error)]
pub enum AgencyError {
    /// The node's API failed or refused.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// File system.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// JSON.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The keystore cannot be read, decrypted or written.
    #[error("keystore: {0}")]
    Keystore(String),
    /// A credential could not be built or signed.
    #[error("credential: {0}")]
    Credential(#[from] weft_credentials::CredentialError),
    /// The ledger confirmed the block as conflicting.
    #[error("the block was confirmed as conflicting: {reason} ({description})")]
    Conflicting {
        /// Stable reason.
        reason: String,
        /// Sentence.
        description: String,
    },
    /// A program definition is refused (the error names the field, or gives the
    /// policy's line and column).
    #[error(transparent)]
    Program(#[from] program::ProgramError),
    /// Bad input (CSV, schema file, arguments) or an inconsistent ledger answer.
    #[error("{0}")]
    Invalid(String),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A connection to a node with the network id it reports.
#[derive(Debug, Clone)]
pub struct Node {
    /// The API client.
    pub client: Client,
    /// The network's id (blocks are bound to it).
    pub network: NetworkId,
}

impl Node {
    /// Connects to the node at `url` and reads its network id.
    pub async fn connect(url: &str) -> Result<Node, AgencyError> {
        let client = Client::new(url);
        let info = client.info().await?;
        let network = info["networkId"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .map(NetworkId)
            .ok_or_else(|| AgencyError::Invalid("the node reports no network id".into()))?;
        Ok(Node { client, network })
    }

    /// A block with `payload` signed by `key`, on fresh tips plus `extra_parent`.
    pub async fn block(
        &self,
        key: &OrganisationKey,
        payload: Payload,
        extra_parent: Option<BlockId>,
    ) -> Result<Block, AgencyError> {
        let mut parents = self.client.tips(4).await?;
        if let Some(p) = extra_parent {
            if !parents.contains(&p) {
                parents.truncate(7);
                parents.push(p);
            }
        }
        parents.sort();
        parents.dedup();
        Ok(key.sign_block(
            BlockBuilder::new(self.network, parents, now_ms())
                .payload(payload)
                .organisation(key.public_key()),
        ))
    }

    /// Submits one block signed by `key` and waits until it is applied.
    pub async fn submit_applied(
        &self,
        key: &OrganisationKey,
        payload: Payload,
    ) -> Result<(BlockId, u32), AgencyError> {
        let block = self.block(key, payload, None).await?;
        let id = self.client.submit(&block).await?.block_id;
        match self.client.wait_outcome(&id, CONFIRM_TIMEOUT).await? {
            LedgerOutcome::Applied { milestone } => Ok((id, milestone)),
            LedgerOutcome::Conflicting {
                reason,
                description,
                ..
            } => Err(AgencyError::Conflicting {
                reason,
                description,
            }),
        }
    }

    /// Resolves a DID (current version).
    pub async fn resolve(&self, did: &Did) -> Result<DidResolution, AgencyError> {
        Ok(self.client.resolve_did(did, &DidVersion::Latest).await?)
    }
}

/// The public keys a resolved DID document lists (`verificationMethod`), by fragment.
pub fn document_keys(resolution: &DidResolution) -> Vec<(String, PublicKeyBytes)> {
    let mut out = Vec::new();
    if let Some(methods) = resolution.did_document["verificationMethod"].as_array() {
        for m in methods {
            let (Some(id), Some(mk)) = (m["id"].as_str(), m["publicKeyMultibase"].as_str()) else {
                continue;
            };
            let fragment = id.rsplit_once('#').map(|(_, f)| f).unwrap_or(id);
            if let Ok(pk) = weft_credentials::multikey_decode(mk) {
                out.push((fragment.to_string(), pk));
            }
        }
    }
    out
}

/// The agency's signing identity: its DID, a key the DID lists now, and its fragment.
pub struct Signer {
    /// The DID.
    pub did: Did,
    /// The key (held by the keystore).
    pub key: OrganisationKey,
    /// The key's fragment (`key-1`): the verification method is `did#fragment`.
    pub fragment: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("did", &self.did)
            .field("key", &self.key.public_key())
            .field("fragment", &self.fragment)
            .finish()
    }
}

impl Signer {
    /// The verification method id (`did:weft:…#key-1`).
    pub fn verification_method(&self) -> String {
        format!("{}#{}", self.did, self.fragment)
    }
}

/// Picks the keystore key that the agency's DID lists now.
pub async fn signer(node: &Node, ks: &keystore::Keystore) -> Result<Signer, AgencyError> {
    let did = ks
        .did
        .ok_or_else(|| AgencyError::Invalid("no DID yet: run `weft-agency did create`".into()))?;
    let resolution = node.resolve(&did).await?;
    if resolution.deactivated() {
        return Err(AgencyError::Invalid(format!("{did} is deactivated")));
    }
    for (fragment, pk) in document_keys(&resolution) {
        if let Some(key) = ks.key_for(&pk) {
            return Ok(Signer {
                did,
                key: OrganisationKey::from_seed(&key.seed()),
                fragment,
            });
        }
    }
    Err(AgencyError::Invalid(format!(
        "none of the keystore's keys is listed by {did}"
    )))
}

/// Creates the agency's DID with the keystore's first key (all purposes, `key-1`).
/// Returns the DID and the milestone that applied it.
pub async fn create_did(
    node: &Node,
    ks: &keystore::Keystore,
    nonce: u64,
) -> Result<(Did, u32), AgencyError> {
    let key = ks
        .first_key()
        .ok_or_else(|| AgencyError::Invalid("the keystore holds no key".into()))?;
    let create = DidCreate::with_key(key.public_key(), nonce);
    let did = create.did();
    let (_, milestone) = node.submit_applied(key, Payload::DidCreate(create)).await?;
    Ok((did, milestone))
}

/// Applies `operations` to the agency's DID (signed by its current key, at the
/// resolved version). Returns the milestone that applied it.
pub async fn update_did(
    node: &Node,
    signer: &Signer,
    operations: Vec<DidOperation>,
) -> Result<u32, AgencyError> {
    let resolution = node.resolve(&signer.did).await?;
    let sequence = resolution
        .version_id()
        .ok_or_else(|| AgencyError::Invalid("the resolution has no versionId".into()))?;
    let update = DidUpdate {
        did: signer.did,
        sequence,
        operations,
    };
    Ok(node
        .submit_applied(&signer.key, Payload::DidUpdate(update))
        .await?
        .1)
}

/// Publishes a schema; returns its id.
pub async fn publish_schema(
    node: &Node,
    signer: &Signer,
    schema: Schema,
) -> Result<SchemaId, AgencyError> {
    schema
        .check_limits()
        .map_err(|e| AgencyError::Invalid(format!("schema: {e}")))?;
    let id = schema.id();
    if node.client.schema(&id).await.is_ok() {
        return Ok(id);
    }
    node.submit_applied(&signer.key, Payload::Schema(schema))
        .await?;
    Ok(id)
}

/// Creates a registry; returns its id.
pub async fn create_registry(
    node: &Node,
    signer: &Signer,
    create: RegistryCreate,
) -> Result<RegistryId, AgencyError> {
    create
        .check_limits()
        .map_err(|e| AgencyError::Invalid(format!("registry: {e}")))?;
    let id = create.id(&signer.did);
    node.submit_applied(&signer.key, Payload::RegistryCreate(create))
        .await?;
    Ok(id)
}

/// Revokes leaves of a registry (zeroes them); returns the milestone.
pub async fn revoke(
    node: &Node,
    signer: &Signer,
    registry: RegistryId,
    mut indices: Vec<u64>,
) -> Result<u32, AgencyError> {
    indices.sort_unstable();
    indices.dedup();
    Ok(node
        .submit_applied(
            &signer.key,
            Payload::Revocation(Revocation { registry, indices }),
        )
        .await?
        .1)
}

/// The revoked positions of a registry: zero leaves below its size.
pub async fn revoked(node: &Node, registry: &RegistryId) -> Result<Vec<u64>, AgencyError> {
    let info = node.client.registry(registry).await?;
    let mut out = Vec::new();
    for c in 0..info.chunks {
        let chunk = node.client.chunk(registry, c).await?.chunk;
        let base = c << chunk.k;
        for (i, leaf) in chunk.leaves.iter().enumerate() {
            let index = base + i as u64;
            if index < info.issued && *leaf == weft_crypto::Fr::from(0u64) {
                out.push(index);
            }
        }
    }
    Ok(out)
}
