//! The parties of an aid round, played against a node through its public API: an
//! agency with a schema, a registry and a program; households whose members (and
//! proxies) hold credentials; distribution points with their own DIDs and device keys.
//!
//! Why a module: `weft-node demo`, the end-to-end tests (`tests/tests/claims.rs`) and
//! `weft-bench claims` drive the same flow, so the demo shows exactly what the tests
//! check. Every step goes through the real interfaces: blocks are signed and submitted
//! over HTTP and confirmed by milestones, points sync and check a snapshot with
//! `weft_verifier::net::sync` and decide offline with `weft_verifier`, proofs are made
//! with the network's proving key. One shortcut: a household takes its registry path
//! from the agency's mirror of the tree ([`Agency::tree`]) instead of syncing chunks
//! (the wallet's job, tested in `wallet/`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use rand::{CryptoRng, RngCore};
use serde_json::{Map, Value};
use weft_circuits::presentation::Presentation;
use weft_circuits::{
    Credential, EligibilityCircuit, HolderSecrets, Keys, Statement, Witness, NUM_ATTRIBUTES,
};
use weft_client::{BlockMetadata, Client};
use weft_credentials::presentation::{PresentationRequest, PresentationResponse};
use weft_credentials::vc::CredentialRecord;
use weft_crypto::poseidon::fr_to_bytes_be;
use weft_crypto::registry::Registry;
use weft_crypto::OrganisationKey;
use weft_types::identity::role;
use weft_types::{
    Accreditation, Block, BlockBuilder, Committee, DeviceKey, Did, DidCreate, Issuance, NetworkId,
    Payload, Program, ProgramId, PublicKeyBytes, RegistryCreate, RegistryId, Revocation, Schema,
};
use weft_verifier::net::SubmitReport;
use weft_verifier::{Decision, PointConfig, Queue, Verifier};

use crate::core::now_ms;

/// Most leaves one issuance block carries (the ledger's limit).
pub const ISSUANCE_BATCH: usize = weft_types::registry::MAX_ISSUANCE_LEAVES;

/// A node seen through its API, and the accreditation authority's key.
pub struct Network {
    /// The node's API.
    pub client: Client,
    /// Its network id.
    pub network: NetworkId,
    /// The milestone committee (what points trust).
    pub committee: Committee,
    /// The accreditation authority (the genesis names it).
    pub authority: OrganisationKey,
    /// How long to wait for a confirmation.
    pub timeout: Duration,
}

impl Network {
    /// Reads the network id and committee from `GET /api/v1/info`.
    pub async fn connect(client: Client, authority: OrganisationKey) -> anyhow::Result<Network> {
        let info = client.info().await?;
        let network = info["networkId"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| info["networkId"].as_u64())
            .context("info without networkId")?;
        let committee: Committee = serde_json::from_value(serde_json::json!({
            "threshold": info["committee"]["threshold"],
            "members": info["committee"]["members"],
        }))
        .context("info without a committee")?;
        Ok(Network {
            client,
            network: NetworkId(network),
            committee,
            authority,
            timeout: Duration::from_secs(60),
        })
    }

    /// A block carrying `payload`, signed by `key`, on fresh tips.
    pub async fn signed(&self, key: &OrganisationKey, payload: Payload) -> anyhow::Result<Block> {
        let tips = self.client.tips(4).await?;
        Ok(key.sign_block(
            BlockBuilder::new(self.network, tips, now_ms())
                .payload(payload)
                .organisation(key.public_key()),
        ))
    }

    /// An anonymous block carrying `payload` (a household's transfer) on fresh tips,
    /// with the proof of work the node asks for (`powDifficulty` in its info; 0 in dev).
    pub async fn anonymous(&self, payload: Payload) -> anyhow::Result<Block> {
        let tips = self.client.tips(4).await?;
        let difficulty = self.client.info().await?["powDifficulty"]
            .as_u64()
            .unwrap_or(0) as u32;
        let mut block = BlockBuilder::new(self.network, tips, now_ms())
            .payload(payload)
            .anonymous();
        block.mine(difficulty);
        Ok(block)
    }

    /// Submits `block` and waits for its confirmation.
    pub async fn confirm(&self, block: &Block) -> anyhow::Result<BlockMetadata> {
        self.client.submit(block).await?;
        Ok(self
            .client
            .wait_confirmed(&block.id(), self.timeout)
            .await?)
    }

    /// Submits every block, then waits until all are confirmed and applied.
    pub async fn apply_all(&self, blocks: &[Block]) -> anyhow::Result<()> {
        for b in blocks {
            self.client.submit(b).await?;
        }
        for b in blocks {
            let meta = self.client.wait_confirmed(&b.id(), self.timeout).await?;
            ensure!(
                meta.ledger_outcome == "applied",
                "block {} was not applied: {}",
                b.id(),
                meta.conflict
                    .map(|c| format!("{} ({})", c.reason, c.description))
                    .unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Creates `key`'s DID and has the authority accredit it with `roles`.
    pub async fn organisation(&self, key: &OrganisationKey, roles: u8) -> anyhow::Result<Did> {
        let create = DidCreate::with_key(key.public_key(), 0);
        let did = create.did();
        let b = self.signed(key, Payload::DidCreate(create)).await?;
        self.apply_all(&[b]).await?;
        let grant = self
            .signed(
                &self.authority,
                Payload::Accreditation(Accreditation {
                    subject: did,
                    roles,
                }),
            )
            .await?;
        self.apply_all(&[grant]).await?;
        Ok(did)
    }

    /// The authority registers (`active`) or revokes a point's device key.
    pub async fn device_key(
        &self,
        point: Did,
        key: PublicKeyBytes,
        active: bool,
    ) -> anyhow::Result<()> {
        let b = self
            .signed(
                &self.authority,
                Payload::DeviceKey(DeviceKey { point, key, active }),
            )
            .await?;
        self.apply_all(&[b]).await
    }
}

/// An issuing agency with one registry, and a mirror of that registry's tree.
pub struct Agency {
    /// Its signing key.
    pub key: OrganisationKey,
    /// Its DID.
    pub did: Did,
    /// The schema it issues.
    pub schema: Schema,
    /// Its registry.
    pub registry: RegistryId,
    /// The registry's tree as the agency keeps it (the ledger holds the same root).
    pub tree: Registry,
    /// Issuance time written into credentials (Unix seconds); `None`: an hour ago.
    /// Fixed by benches that cache proofs across runs.
    pub issued_at: Option<u32>,
}

impl Agency {
    /// Publishes `schema` (unless the ledger has it) and creates a registry for it (the
    /// agency's DID must exist and be accredited as an issuer).
    pub async fn setup(
        net: &Network,
        key: OrganisationKey,
        schema: Schema,
        label: &str,
    ) -> anyhow::Result<Agency> {
        let did = DidCreate::with_key(key.public_key(), 0).did();
        let create = RegistryCreate {
            schema: schema.id(),
            depth: weft_types::registry::DEFAULT_REGISTRY_DEPTH,
            chunk_bits: weft_types::registry::DEFAULT_CHUNK_BITS,
            label: label.into(),
        };
        let registry = create.id(&did);
        let tree = Registry::new(create.depth)?;
        // A schema is published once, by whoever first needs it; others reuse it.
        if net.client.schema(&schema.id()).await.is_err() {
            let b = net.signed(&key, Payload::Schema(schema.clone())).await?;
            net.apply_all(&[b]).await?;
        }
        let b = net.signed(&key, Payload::RegistryCreate(create)).await?;
        net.apply_all(&[b]).await?;
        Ok(Agency {
            key,
            did,
            schema,
            registry,
            tree,
            issued_at: None,
        })
    }

    /// Issues credentials (attributes and the holder's two commitments each) in blocks
    /// of at most [`ISSUANCE_BATCH`] leaves; returns each credential's record.
    pub async fn issue<R: RngCore + CryptoRng>(
        &mut self,
        net: &Network,
        requests: Vec<IssueRequest>,
        rng: &mut R,
    ) -> anyhow::Result<Vec<CredentialRecord>> {
        let now_s = (now_ms() / 1000) as u32;
        let mut records = Vec::with_capacity(requests.len());
        for batch in requests.chunks(ISSUANCE_BATCH) {
            let first_index = self.tree.len();
            let mut leaves = Vec::with_capacity(batch.len());
            for (i, r) in batch.iter().enumerate() {
                let record = CredentialRecord::issue(
                    &self.schema,
                    self.did,
                    self.registry,
                    first_index + i as u64,
                    r.attributes.clone(),
                    r.holder_commitment,
                    r.household_commitment,
                    self.issued_at.unwrap_or(now_s.saturating_sub(3_600)),
                    r.expiry,
                    rng,
                )?;
                let leaf = record.credential.commitment();
                leaves.push(leaf);
                records.push(record);
            }
            self.tree.extend(&leaves)?;
            let payload = Payload::Issuance(Issuance {
                registry: self.registry,
                first_index,
                leaves: leaves.iter().map(fr_to_bytes_be).collect(),
            });
            // Each block names its first index: the next one is signed only after
            // this one is applied, so they can never be ordered the other way round.
            let b = net.signed(&self.key, payload).await?;
            net.apply_all(&[b]).await?;
        }
        let info = net.client.registry(&self.registry).await?;
        ensure!(
            info.root == format!("0x{}", hex::encode(fr_to_bytes_be(&self.tree.root()))),
            "the ledger's registry root differs from the agency's tree"
        );
        Ok(records)
    }

    /// Revokes credentials by index (their leaves become zero).
    pub async fn revoke(&mut self, net: &Network, indices: &[u64]) -> anyhow::Result<()> {
        let mut indices = indices.to_vec();
        indices.sort_unstable();
        indices.dedup();
        for i in &indices {
            self.tree.revoke(*i)?;
        }
        let b = net
            .signed(
                &self.key,
                Payload::Revocation(Revocation {
                    registry: self.registry,
                    indices,
                }),
            )
            .await?;
        net.apply_all(&[b]).await
    }

    /// Announces `program` (its issuers should name this agency); returns its id.
    pub async fn announce(&self, net: &Network, program: Program) -> anyhow::Result<ProgramId> {
        let id = program.id(&self.did);
        let b = net
            .signed(&self.key, Payload::Program(Box::new(program)))
            .await?;
        net.apply_all(&[b]).await?;
        Ok(id)
    }
}

/// What an agency's registration station hands to issuance for one credential.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// The attribute values (JSON, by schema name).
    pub attributes: Map<String, Value>,
    /// The holder's commitment (from the wallet's enrolment).
    pub holder_commitment: weft_crypto::Fr,
    /// The household key's commitment (the same for every member).
    pub household_commitment: weft_crypto::Fr,
    /// Expiry, Unix seconds.
    pub expiry: u32,
}

/// One credential holder: a household member or a proxy collector.
#[derive(Clone)]
pub struct Holder {
    /// The holder's secrets (its own holder secret; the household's key).
    pub secrets: HolderSecrets,
    /// The credential.
    pub credential: Credential,
    /// The credential's leaf index in the agency's registry.
    pub index: u64,
}

impl std::fmt::Debug for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Holder")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Holder {
    /// Answers `request` with a proof against `tree`'s current root, as the holder's
    /// wallet does. `checked`: refuse (as a wallet does) when the credential does not
    /// meet the request's policy; unchecked, the proof is made anyway and fails at the
    /// point — what a tampered wallet would send.
    pub fn respond<R: RngCore + CryptoRng>(
        &self,
        keys: &Keys,
        registry: RegistryId,
        tree: &Registry,
        request: &PresentationRequest,
        checked: bool,
        rng: &mut R,
    ) -> anyhow::Result<PresentationResponse> {
        self.respond_with_key(keys, registry, tree, request, checked, None, rng)
    }

    /// [`Holder::respond`] for a value program: the answer carries `entitlement_key`
    /// (a fresh one-time key whose secret the wallet keeps), bound into the proof's
    /// challenge, to which the ledger mints the round's entitlement.
    #[allow(clippy::too_many_arguments)]
    pub fn respond_with_key<R: RngCore + CryptoRng>(
        &self,
        keys: &Keys,
        registry: RegistryId,
        tree: &Registry,
        request: &PresentationRequest,
        checked: bool,
        entitlement_key: Option<[u8; 32]>,
        rng: &mut R,
    ) -> anyhow::Result<PresentationResponse> {
        let r = request.circuit_request_for(entitlement_key)?;
        let mut disclosed = [None; NUM_ATTRIBUTES];
        for (j, d) in disclosed.iter_mut().enumerate() {
            if request.disclose & (1 << j) != 0 {
                *d = Some(self.credential.attributes[j]);
            }
        }
        let statement = Statement {
            root: tree.root(),
            nullifier: self.secrets.nullifier(r.program, r.round),
            schema: r.schema,
            program: r.program,
            round: r.round,
            challenge: r.challenge,
            today: r.today,
            issued_before: r.issued_before,
            disclosed,
            policy: r.policy.clone(),
        };
        let circuit = EligibilityCircuit {
            depth: keys.depth,
            statement: statement.clone(),
            witness: Witness {
                credential: self.credential.clone(),
                secrets: self.secrets.clone(),
                path: tree.path(self.index)?,
            },
        };
        let proof = if checked {
            weft_circuits::prove(keys, circuit, rng)?
        } else {
            weft_circuits::groth16::prove_unchecked(keys, circuit, rng)?
        };
        let presentation = Presentation {
            proof: weft_circuits::CompressedProof::from_proof(&proof),
            root: statement.root,
            nullifier: statement.nullifier,
            disclosed: statement.disclosed,
        };
        let mut response =
            PresentationResponse::from_presentation(request, registry, &presentation);
        response.entitlement_key = entitlement_key;
        Ok(response)
    }

    /// Whether the credential meets `request`'s policy at the request's time (the
    /// wallet's check before it offers to prove).
    pub fn meets(&self, request: &PresentationRequest) -> bool {
        let Ok(r) = request.circuit_request() else {
            return false;
        };
        let c = &self.credential;
        c.expiry > r.today && c.issued_at <= r.issued_before && r.policy.holds(&c.attributes)
    }
}

/// A distribution point: its DID, device key, snapshot and durable claim queue.
pub struct Point {
    /// The point's organisation key (signs its DID's blocks).
    pub key: OrganisationKey,
    /// Its configuration (DID, device seed, trusted committee, pinned programs).
    pub config: PointConfig,
    /// Its durable queue.
    pub queue: Queue,
    /// The checked snapshot of the last sync.
    pub verifier: Option<Verifier>,
    /// Its data directory.
    pub dir: PathBuf,
}

impl std::fmt::Debug for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Point")
            .field("point", &self.config.point)
            .finish_non_exhaustive()
    }
}

impl Point {
    /// Creates the point's DID, has it accredited as a distribution point and its
    /// device key registered, and opens its queue in `dir`.
    pub async fn create(
        net: &Network,
        dir: &Path,
        key: OrganisationKey,
        device_seed: [u8; 32],
    ) -> anyhow::Result<Point> {
        let did = net.organisation(&key, role::DISTRIBUTION_POINT).await?;
        let mut config = PointConfig::dev(device_seed);
        config.point = did;
        config.committee = net.committee.clone();
        // Claims go in anonymous blocks: the device's signature inside the claim is
        // what vouches for them.
        config.block_key_seed = None;
        net.device_key(did, config.device_public_key(), true)
            .await?;
        std::fs::create_dir_all(dir)?;
        config.save(dir)?;
        Ok(Point {
            key,
            queue: Queue::open(dir)?,
            config,
            verifier: None,
            dir: dir.to_path_buf(),
        })
    }

    /// Downloads and checks a snapshot for `programs` (added to the pinned ones).
    pub async fn sync(&mut self, client: &Client, programs: &[ProgramId]) -> anyhow::Result<()> {
        for p in programs {
            if !self.config.programs.contains(p) {
                self.config.programs.push(*p);
            }
        }
        let snapshot = weft_verifier::net::sync(client, &mut self.config, now_ms()).await?;
        snapshot.save(&self.dir)?;
        self.config.save(&self.dir)?;
        self.verifier = Some(Verifier::new(snapshot, &self.config)?);
        Ok(())
    }

    /// Shows a fresh request for `program`'s `round` (stored before it is shown).
    pub fn request<R: RngCore>(
        &self,
        program: &ProgramId,
        round: u32,
        rng: &mut R,
    ) -> anyhow::Result<PresentationRequest> {
        let verifier = self.verifier.as_ref().context("the point has not synced")?;
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        let request = verifier
            .request(&self.config, program, round, nonce, now_ms())
            .context("the point does not serve this program")?;
        self.queue.put_request(&request)?;
        Ok(request)
    }

    /// Decides on an answer offline, as `weft-verifier verify` does: the answer must
    /// echo a request shown here; an accepted claim is recorded before this returns.
    pub fn decide(&self, response: &PresentationResponse) -> anyhow::Result<Decision> {
        let verifier = self.verifier.as_ref().context("the point has not synced")?;
        Ok(weft_verifier::decide(
            verifier,
            &self.queue,
            &self.config.device_key(),
            response,
            now_ms(),
        )?)
    }

    /// Sends the queue to the node and waits up to `wait` for the confirmations.
    pub async fn submit(&self, client: &Client, wait: Duration) -> anyhow::Result<SubmitReport> {
        Ok(
            weft_verifier::net::submit(client, &self.config, &self.queue, wait, Duration::ZERO)
                .await?,
        )
    }
}

/// A program's rounds helper: one round open from `opens` for `hours`.
pub fn one_round(number: u32, opens: u64, hours: u64) -> weft_types::Round {
    weft_types::Round {
        number,
        opens,
        closes: opens + hours * 3_600_000,
    }
}

/// Fails unless `decision` is an acceptance; returns the quantity handed over.
pub fn accepted(decision: &Decision) -> anyhow::Result<u64> {
    match decision {
        Decision::Accept(a) => Ok(a.quantity),
        Decision::Reject { reason, detail } => bail!("refused ({}): {detail}", reason.code()),
    }
}
