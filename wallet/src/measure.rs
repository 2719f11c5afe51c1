//! The wallet's performance report (`weft-wallet bench --json`; `weft-bench wallet` can
//! call [`run`]): unlock, applying one registry chunk, and proving end to end.
//!
//! [`Fixture`] builds for wasm too (the harness `examples/wasm_prove.rs` times it from
//! JavaScript); [`run`], which reads the clock, is native only.
//!
//! - `unlock_ms`: [`crate::Wallet::unlock`] with the given Argon2id cost (one Argon2id
//!   run, both slots tried, the JSON parsed, the keys derived from the phrase).
//! - `sync_chunk_ms`: parse one node chunk answer (2^10 leaves, depth 24), check it hashes
//!   to its root, derive the path and save the wallet (re-encryption, no Argon2id).
//! - `prove_end_to_end_ms`: parse the point's request JSON, choose the credential, the
//!   consent text, the proof (native check, witness, Groth16) and the response's bytes
//!   and terminal QR code; the proving key is loaded once beforehand (`load_keys_ms`).

#[cfg(not(target_arch = "wasm32"))]
use rand::rngs::OsRng;
use rand::{CryptoRng, RngCore, SeedableRng};
use serde::Serialize;
use weft_circuits::groth16::fr_from_hash;
use weft_circuits::{Credential, Keys, NUM_ATTRIBUTES};
use weft_credentials::claim::{program_field, schema_field};
use weft_crypto::poseidon::Fr;
use weft_crypto::registry::Registry;
use weft_types::{Did, PolicyCondition, PredicateOp, ProgramId, PublicKeyBytes, SchemaId};

use crate::model::{IssuerInfo, ProgramInfo, RegistryId};
use crate::sync::RootEntry;
use crate::{
    ChunkResponse, FrHex, KdfParams, MemoryStorage, PresentationRequest, RecoveryPhrase, Result,
    StoredCredential, SyncBundle, Wallet,
};

/// The report (all times are medians of `runs`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Argon2id memory (KiB).
    pub argon2_m_kib: u32,
    /// Argon2id passes.
    pub argon2_t: u32,
    /// Argon2id lanes.
    pub argon2_p: u32,
    /// Unlock time.
    pub unlock_ms: f64,
    /// Applying one 2^10-leaf chunk.
    pub sync_chunk_ms: f64,
    /// Loading the proving key (once per app start).
    pub load_keys_ms: f64,
    /// Request to presentation.
    pub prove_end_to_end_ms: f64,
    /// Presentation size.
    pub presentation_bytes: usize,
    /// Rayon threads used for proving.
    pub threads: usize,
    /// Registry depth.
    pub depth: usize,
}

#[cfg(not(target_arch = "wasm32"))]
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// A throw-away wallet holding one credential in a depth-24 registry, a node's chunk
/// answer for it and a request: what the measurements (and the wasm harness) run on.
pub struct Fixture {
    /// The wallet (in memory).
    pub wallet: Option<Wallet<MemoryStorage>>,
    /// The node's answer for the chunk holding the credential (JSON).
    pub chunk_answer: Vec<u8>,
    /// The distribution point's request (its JSON form).
    pub request: String,
    milestone: u32,
}

impl Fixture {
    /// Builds the fixture with the Argon2id cost `kdf` (deterministic for `seed`).
    pub fn new(kdf: KdfParams, seed: u64) -> Result<Self> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let depth = weft_circuits::DEFAULT_DEPTH;
        let mut entropy = [0u8; 32];
        rng.fill_bytes(&mut entropy);
        let phrase = RecoveryPhrase::from_entropy(&entropy)?;
        let mut w = Wallet::create(
            MemoryStorage::default(),
            phrase,
            "2468",
            None,
            kdf,
            &mut rng,
        )?;
        let e = w.enrolment();
        let schema_id = SchemaId([3u8; 32]);
        let program_id = ProgramId(weft_types::RegistryId([4u8; 32]));
        let schema = schema_field(&schema_id);
        let program = program_field(&program_id);
        let mut attributes = [Fr::from(0u64); NUM_ATTRIBUTES];
        attributes[0] = Fr::from(34u64);
        attributes[1] = Fr::from(5u64);
        let c = Credential::issue(
            schema,
            attributes,
            u32::MAX,
            1,
            e.holder(),
            e.household(),
            &mut rng,
        );
        let index = 1500u64;
        let mut leaves: Vec<Fr> = (0..3000u64)
            .map(|i| fr_from_hash(&i.to_le_bytes()))
            .collect();
        leaves[index as usize] = c.commitment();
        let registry = Registry::from_leaves(depth as u8, leaves)
            .map_err(|e| crate::WalletError::Sync(e.to_string()))?;
        let id = RegistryId([1u8; 32]);
        let mut setup = SyncBundle::new();
        setup.issuers.push(IssuerInfo {
            did: "did:weft:bench".into(),
            registries: vec![id],
        });
        setup.programs.push(ProgramInfo {
            id: FrHex(program),
            name: "Bench".into(),
        });
        w.sync(&setup, &mut rng)?;
        let mut attrs = [FrHex::default(); NUM_ATTRIBUTES];
        for (a, b) in attrs.iter_mut().zip(c.attributes.iter()) {
            *a = FrHex(*b);
        }
        w.add_credential(
            StoredCredential {
                schema: FrHex(schema),
                attributes: attrs,
                expiry: c.expiry,
                issued_at: c.issued_at,
                holder_commitment: FrHex(c.holder_commitment),
                household_commitment: FrHex(c.household_commitment),
                salt: FrHex(c.salt),
                registry: id,
                leaf_index: index,
                issuer: "did:weft:bench".into(),
                attribute_names: vec![],
                schema_definition: None,
                document: serde_json::Value::Null,
                path: None,
                revoked: false,
            },
            &mut rng,
        )?;
        let k = 10u8;
        let chunk = registry
            .chunk(k, index >> k)
            .map_err(|e| crate::WalletError::Sync(e.to_string()))?;
        let chunk_answer = serde_json::to_vec(&ChunkResponse {
            registry: id,
            k,
            index: chunk.index,
            leaves: chunk.leaves.iter().map(|l| FrHex(*l)).collect(),
            siblings: chunk.siblings.iter().map(|s| FrHex(*s)).collect(),
            root: FrHex(registry.root()),
            milestone: 1,
        })
        .unwrap_or_default();
        let request = PresentationRequest {
            program: program_id,
            round: 1,
            nonce: [5u8; 16],
            point: Did([6u8; 32]),
            device_key: PublicKeyBytes([7u8; 32]),
            time: 1_764_000_000_000,
            registries: vec![weft_types::RegistryId(id.0)],
            schema: schema_id,
            conditions: vec![
                PolicyCondition {
                    attribute: 0,
                    predicate: PredicateOp::Ge { value: 18 },
                },
                PolicyCondition {
                    attribute: 1,
                    predicate: PredicateOp::Between { lo: 3, hi: 12 },
                },
            ],
            disclose: 0b10,
            issued_before: 1_764_000_000,
            summary: "25 kg rice".into(),
            value_notes: false,
        }
        .to_json()
        .to_string();
        let mut f = Fixture {
            wallet: Some(w),
            chunk_answer,
            request,
            milestone: 0,
        };
        f.sync_once(&mut rng)?;
        Ok(f)
    }

    fn wallet(&mut self) -> Result<&mut Wallet<MemoryStorage>> {
        self.wallet.as_mut().ok_or(crate::WalletError::NoWallet)
    }

    /// Applies the chunk answer (as a newer milestone each time) and saves the wallet.
    pub fn sync_once<R: RngCore + CryptoRng>(&mut self, rng: &mut R) -> Result<()> {
        self.milestone += 1;
        let mut c = ChunkResponse::from_json(&self.chunk_answer)?;
        c.milestone = self.milestone;
        let mut b = SyncBundle::new();
        b.roots.push(RootEntry {
            registry: c.registry,
            root: c.root,
            milestone: c.milestone,
        });
        b.chunks.push(c);
        self.wallet()?.sync(&b, rng)?;
        Ok(())
    }

    /// Checks response bytes as the distribution point does (crates/verifier): strict
    /// decoding, the nonce echoed, the statement rebuilt by
    /// `weft_credentials::claim::statement` from the program (here: the request's
    /// policy fields) and `to_claim(request, response)`, the proof verified under the
    /// keys' verifying key.
    pub fn check_response(&self, keys: &Keys, bytes: &[u8]) -> Result<()> {
        let bad = |s: &str| crate::WalletError::Request(format!("the response fails: {s}"));
        let req = crate::read_request(self.request.as_bytes())?;
        let resp = crate::PresentationResponse::from_bytes(bytes)
            .map_err(|e| crate::WalletError::Request(e.to_string()))?;
        if resp.nonce != req.nonce {
            return Err(bad("another request's nonce"));
        }
        let program = weft_types::Program {
            name: "Bench".into(),
            schema: req.schema,
            issuers: vec![],
            policy_source: String::new(),
            conditions: req.conditions.clone(),
            disclose: req.disclose,
            issued_before: req.issued_before,
            rounds: vec![],
            grace_ms: 0,
            entitlement: weft_types::Entitlement {
                quantity: 1,
                unit: "kit".into(),
                tiers: vec![],
            },
            points: vec![],
            anonymous: false,
            value_notes: false,
            nonce: 0,
        };
        let claim = weft_credentials::presentation::to_claim(&req, &resp);
        let st = weft_credentials::claim::statement(&req.program, &program, &claim)
            .ok_or_else(|| bad("disclosures"))?;
        let proof = weft_circuits::CompressedProof(resp.proof).to_proof()?;
        weft_circuits::verify(&keys.pvk, &st.public_inputs()?, &proof)?;
        Ok(())
    }

    /// Request JSON to response bytes and their terminal QR code.
    pub fn prove_once<R: RngCore + CryptoRng>(
        &mut self,
        keys: &Keys,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let req = crate::read_request(self.request.as_bytes())?;
        let w = self.wallet()?;
        let consent = w.describe(&req, None)?;
        let p = w.respond(keys, &req, Some(&consent.credential_id), rng)?;
        let b = p.to_bytes();
        let _ = crate::qr::terminal(&b)?;
        Ok(b)
    }

    /// Locks and unlocks the wallet (one Argon2id run).
    pub fn unlock_once(&mut self) -> Result<()> {
        let w = self.wallet.take().ok_or(crate::WalletError::NoWallet)?;
        let w = Wallet::unlock(w.into_storage(), "2468", 0)?;
        self.wallet = Some(w);
        Ok(())
    }
}

/// Measures with `kdf`, at registry depth 24, with proving keys from `setup(seed)` (or
/// `proving_key` bytes when given), `runs` times each.
#[cfg(not(target_arch = "wasm32"))]
pub fn run(kdf: KdfParams, proving_key: Option<&[u8]>, runs: usize) -> Result<Report> {
    use std::time::Instant;
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    let runs = runs.max(1);
    let depth = weft_circuits::DEFAULT_DEPTH;
    let pk = match proving_key {
        Some(b) => b.to_vec(),
        None => weft_circuits::groth16::setup(b"weft-wallet bench", depth)?.proving_key_bytes(),
    };
    let t = Instant::now();
    let keys = Keys::from_proving_key_bytes(&pk)?;
    let load_keys_ms = ms(t);
    let mut f = Fixture::new(kdf, 1)?;
    let mut rng = OsRng;
    let (mut sync, mut prove, mut unlock) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0;
    for _ in 0..runs {
        let t = Instant::now();
        f.sync_once(&mut rng)?;
        sync.push(ms(t));
        let t = Instant::now();
        bytes = f.prove_once(&keys, &mut rng)?.len();
        prove.push(ms(t));
        let t = Instant::now();
        f.unlock_once()?;
        unlock.push(ms(t));
    }
    Ok(Report {
        argon2_m_kib: kdf.m_kib,
        argon2_t: kdf.t,
        argon2_p: kdf.p,
        unlock_ms: median(unlock),
        sync_chunk_ms: median(sync),
        load_keys_ms,
        prove_end_to_end_ms: median(prove),
        presentation_bytes: bytes,
        threads: rayon_threads(),
        depth,
    })
}

#[cfg(not(target_arch = "wasm32"))]
fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}
