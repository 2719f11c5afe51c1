//! [`Wallet`]: an unlocked wallet over an app's storage.
//!
//! Every operation that changes the wallet validates its input first, builds the new
//! contents as a copy, writes them (one atomic `store`), and only then updates the
//! unlocked state: an error at any step leaves both the storage and the open wallet as
//! they were. The duress PIN opens a [`Wallet`] that behaves exactly like a real one
//! over its own (decoy) contents.

use rand::{CryptoRng, RngCore};
use weft_circuits::{HolderSecrets, Keys};
use weft_crypto::poseidon::Fr;
use zeroize::Zeroizing;

use crate::enrol::Enrolment;
use crate::import::IssuerEvidence;
use crate::keys::{HouseholdHandover, RecoveryPhrase};
use crate::model::{FrHex, WalletData};
use crate::notes::{
    unit_of_summary, KeyPurpose, NoteKey, ProgramBalance, ProgramLabel, ScanReport,
    ScannedMilestone, ValueNotes,
};
use crate::payment::{Payment, PaymentRequest};
use crate::prove::Consent;
use crate::request::{PresentationRequest, PresentationResponse};
use crate::store::{self, KdfParams, Opened, WalletStorage, DECOY_MARKER};
use crate::sync::{SyncBundle, SyncReport};
use crate::{Result, StoredCredential, WalletError};

/// An unlocked wallet. `Debug` prints nothing secret.
pub struct Wallet<S: WalletStorage> {
    storage: S,
    opened: Opened,
    phrase: RecoveryPhrase,
    secrets: HolderSecrets,
}

impl<S: WalletStorage> std::fmt::Debug for Wallet<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("credentials", &self.opened.data.credentials.len())
            .finish_non_exhaustive()
    }
}

/// The secrets of `data`: derived from its phrase, with the received household key.
fn secrets_of(data: &WalletData) -> Result<(RecoveryPhrase, HolderSecrets)> {
    let phrase = RecoveryPhrase::parse(&data.phrase)
        .map_err(|_| WalletError::Corrupt("the stored recovery phrase is invalid"))?;
    let mut s = phrase.secrets();
    if let Some(k) = data.household_key {
        s.household_key = k.0;
    }
    Ok((phrase, s))
}

/// Milliseconds since the Unix epoch, for callers with a clock (not on wasm, where the
/// app passes its own).
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl<S: WalletStorage> Wallet<S> {
    /// Creates a wallet in an empty `storage` from `phrase` (a new one, or a phrase being
    /// restored), encrypted under `pin`; with `duress_pin`, a decoy wallet with its own
    /// fresh keys goes into the other slot. Refuses to overwrite an existing wallet.
    pub fn create<R: RngCore + CryptoRng>(
        mut storage: S,
        phrase: RecoveryPhrase,
        pin: &str,
        duress_pin: Option<&str>,
        kdf: KdfParams,
        rng: &mut R,
    ) -> Result<Self> {
        let mut data = WalletData::new(&phrase);
        let decoy = match duress_pin {
            Some(_) => Some(decoy_data(rng)?),
            None => None,
        };
        let opened = store::create(
            &mut storage,
            kdf,
            pin,
            &mut data,
            duress_pin.zip(decoy.as_ref()),
            rng,
        )?;
        let secrets = phrase.secrets();
        Ok(Wallet {
            storage,
            opened,
            phrase,
            secrets,
        })
    }

    /// Opens the wallet in `storage` with `pin` at `now_ms` (Unix ms). A wrong PIN is
    /// counted and slowed down (see [`crate::store`]); the duress PIN opens the decoy.
    pub fn unlock(mut storage: S, pin: &str, now_ms: u64) -> Result<Self> {
        let opened = store::unlock(&mut storage, pin, now_ms)?;
        let (phrase, secrets) = secrets_of(&opened.data)?;
        Ok(Wallet {
            storage,
            opened,
            phrase,
            secrets,
        })
    }

    /// The storage (for the app to close or move it).
    pub fn into_storage(self) -> S {
        self.storage
    }

    /// The contents (read-only).
    pub fn data(&self) -> &WalletData {
        &self.opened.data
    }

    /// The holder's secrets (for proving; never show them).
    pub fn secrets(&self) -> &HolderSecrets {
        &self.secrets
    }

    /// The recovery phrase (show only on the holder's explicit request).
    pub fn phrase(&self) -> &RecoveryPhrase {
        &self.phrase
    }

    /// What a registration station needs: the two commitments.
    pub fn enrolment(&self) -> Enrolment {
        Enrolment::of(&self.secrets)
    }

    /// Whether the household key was received from another member (then restoring from
    /// the phrase needs the household QR again).
    pub fn household_received(&self) -> bool {
        self.opened.data.household_key.is_some()
    }

    fn commit<R: RngCore + CryptoRng>(&mut self, data: WalletData, rng: &mut R) -> Result<()> {
        store::save(&mut self.storage, &mut self.opened, &data, rng)
    }

    /// The household key as a hand-over code for another member's wallet (secret).
    pub fn export_household(&self) -> HouseholdHandover {
        HouseholdHandover::new(self.secrets.household_key)
    }

    /// Adopts a household key received from another member. Refused when credentials
    /// bound to the current household key are stored (they would become unusable).
    pub fn import_household<R: RngCore + CryptoRng>(
        &mut self,
        code: &str,
        rng: &mut R,
    ) -> Result<()> {
        let h = HouseholdHandover::decode(code)?;
        let current = self.secrets.household_commitment();
        if h.commitment() == current {
            return Ok(());
        }
        let bound = self
            .opened
            .data
            .credentials
            .iter()
            .filter(|c| c.household_commitment.0 == current)
            .count();
        if bound > 0 {
            return Err(WalletError::HouseholdInUse(bound));
        }
        let mut data = self.opened.data.clone();
        data.household_key = Some(FrHex(h.key()));
        self.commit(data, rng)?;
        self.secrets.household_key = h.key();
        Ok(())
    }

    /// Stored credentials.
    pub fn credentials(&self) -> &[StoredCredential] {
        &self.opened.data.credentials
    }

    /// The credential with `id` ([`StoredCredential::id`]).
    pub fn credential(&self, id: &str) -> Result<&StoredCredential> {
        self.opened
            .data
            .credentials
            .iter()
            .find(|c| c.id() == id)
            .ok_or_else(|| WalletError::UnknownCredential(id.to_string()))
    }

    /// Stores a credential after checking it belongs to this holder and household, that
    /// a sync told the wallet its issuer owns its registry, and that it is not already
    /// stored. For credentials built by the app itself (tests, the measurements); a
    /// signed document goes through [`Wallet::import_document`].
    pub fn add_credential<R: RngCore + CryptoRng>(
        &mut self,
        credential: StoredCredential,
        rng: &mut R,
    ) -> Result<String> {
        if credential.holder_commitment.0 != self.secrets.holder_commitment() {
            return Err(WalletError::Credential(
                "it was issued to another holder (holder commitment differs)".into(),
            ));
        }
        if credential.household_commitment.0 != self.secrets.household_commitment() {
            return Err(WalletError::Credential(
                "it was issued to another household (household commitment differs)".into(),
            ));
        }
        crate::import::known_issuer(&self.opened.data, &credential.issuer, &credential.registry)?;
        let id = credential.id();
        if self.opened.data.credentials.iter().any(|c| c.id() == id) {
            return Err(WalletError::Credential(format!(
                "credential {id} is already stored"
            )));
        }
        let mut data = self.opened.data.clone();
        data.credentials.push(credential);
        self.commit(data, rng)?;
        Ok(id)
    }

    /// Imports the issuer's signed credential document (W3C VC 2.0, `eddsa-jcs-2022`)
    /// after checking it against `evidence` (see [`crate::import`]): the issuer's
    /// signature and standing, the contents, that it was issued to this wallet, and, with
    /// a node's registry evidence, the leaf in its registry chunk (which also syncs the
    /// credential's path). Any refusal leaves the wallet unchanged.
    pub fn import_document<R: RngCore + CryptoRng>(
        &mut self,
        document: &serde_json::Value,
        evidence: &IssuerEvidence,
        rng: &mut R,
    ) -> Result<String> {
        let (data, id) =
            crate::import::check(&self.opened.data, &self.secrets, document, evidence)?;
        self.commit(data, rng)?;
        Ok(id)
    }

    /// Removes a credential.
    pub fn remove_credential<R: RngCore + CryptoRng>(
        &mut self,
        id: &str,
        rng: &mut R,
    ) -> Result<()> {
        self.credential(id)?;
        let mut data = self.opened.data.clone();
        data.credentials.retain(|c| c.id() != id);
        self.commit(data, rng)
    }

    /// Applies a sync (a node's chunks or a distribution point's sync file).
    pub fn sync<R: RngCore + CryptoRng>(
        &mut self,
        bundle: &SyncBundle,
        rng: &mut R,
    ) -> Result<SyncReport> {
        let (data, report) = crate::sync::apply(&self.opened.data, bundle)?;
        self.commit(data, rng)?;
        Ok(report)
    }

    /// Which credential answers a distribution point's `request` (optionally the one
    /// with id `wanted`), and the plain-words text the holder consents to: which
    /// attributes are revealed, what is proved about the others, to which program, and
    /// that it uses the household's one claim for the round. Refuses, before any proving,
    /// a request for a program the wallet does not know, one no credential fits (schema,
    /// accepted registries, validity), one whose conditions the credential does not meet
    /// ([`WalletError::DoesNotMeet`]) and a credential not synced to the newest root the
    /// wallet knows ([`WalletError::StaleRegistry`]).
    pub fn describe(&self, request: &PresentationRequest, wanted: Option<&str>) -> Result<Consent> {
        let data = &self.opened.data;
        crate::prove::program_name(data, request)?;
        let circuit = crate::prove::circuit_request(request)?;
        let cred = crate::prove::choose(data, &self.secrets, request, &circuit, wanted)?;
        crate::prove::describe(data, cred, request)
    }

    /// Answers `request` with the credential [`Wallet::describe`] chose (call only after
    /// the holder's consent): proves the statement the point and the ledger rebuild from
    /// the claim (`weft_credentials::presentation::to_claim`) and returns the response
    /// to show the point (its `to_bytes()` is the QR code's content).
    pub fn respond<R: RngCore + CryptoRng>(
        &self,
        keys: &Keys,
        request: &PresentationRequest,
        wanted: Option<&str>,
        rng: &mut R,
    ) -> Result<PresentationResponse> {
        if request.value_notes {
            return Err(WalletError::Request(
                "a value program's answer carries a one-time key the wallet must keep: \
                 answer it with Wallet::answer"
                    .into(),
            ));
        }
        let data = &self.opened.data;
        crate::prove::program_name(data, request)?;
        let circuit = crate::prove::circuit_request(request)?;
        let cred = crate::prove::choose(data, &self.secrets, request, &circuit, wanted)?;
        crate::prove::respond(keys, data, &self.secrets, cred, request, rng)
    }

    /// Answers `request` like [`Wallet::respond`], and for a value program
    /// (`request.value_notes`) with a fresh one-time entitlement key: the proof binds
    /// its public half, the response carries it, and its secret is stored in the
    /// wallet (with the program, round, name and unit) before the response is returned,
    /// so the claim note the ledger mints to it can be opened by a later
    /// [`Wallet::scan_notes`]. `now_ms` dates the key.
    pub fn answer<R: RngCore + CryptoRng>(
        &mut self,
        keys: &Keys,
        request: &PresentationRequest,
        wanted: Option<&str>,
        now_ms: u64,
        rng: &mut R,
    ) -> Result<PresentationResponse> {
        if !request.value_notes {
            return self.respond(keys, request, wanted, rng);
        }
        let data = &self.opened.data;
        let name = crate::prove::program_name(data, request)?;
        let circuit = crate::prove::circuit_request(request)?;
        let cred = crate::prove::choose(data, &self.secrets, request, &circuit, wanted)?;
        let key = NoteKey::generate(
            request.program,
            KeyPurpose::Entitlement {
                round: request.round,
            },
            now_ms,
            rng,
        );
        let response = crate::prove::respond_with_key(
            keys,
            data,
            &self.secrets,
            cred,
            request,
            Some(key.public),
            rng,
        )?;
        let mut data = self.opened.data.clone();
        data.value.keys.push(key);
        data.value.labels.insert(
            request.program,
            ProgramLabel {
                name,
                unit: unit_of_summary(&request.summary),
            },
        );
        self.commit(data, rng)?;
        Ok(response)
    }

    /// The wallet's value notes (read-only).
    pub fn value(&self) -> &ValueNotes {
        &self.opened.data.value
    }

    /// The balance per program at `now_ms`.
    pub fn balances(&self, now_ms: u64) -> Vec<ProgramBalance> {
        self.opened.data.value.balances(now_ms)
    }

    /// Applies scanned milestones (in ascending order, from
    /// `ValueNotes::scanned + 1`): notes found, spends seen; saved once.
    pub fn scan_notes<R: RngCore + CryptoRng>(
        &mut self,
        milestones: &[ScannedMilestone],
        rng: &mut R,
    ) -> Result<ScanReport> {
        let mut data = self.opened.data.clone();
        let mut report = ScanReport::default();
        for m in milestones {
            data.value.scan(m, &mut report);
        }
        self.commit(data, rng)?;
        Ok(report)
    }

    /// Pays a shop's `request` at `now_ms`: builds the transfer (the shop's output and
    /// the change to a new key of the wallet's own) and saves the change key and the
    /// held-back notes before returning it. Refusals change nothing
    /// ([`ValueNotes::prepare_payment`]).
    pub fn pay<R: RngCore + CryptoRng>(
        &mut self,
        request: &PaymentRequest,
        now_ms: u64,
        rng: &mut R,
    ) -> Result<Payment> {
        let mut data = self.opened.data.clone();
        let payment = data.value.prepare_payment(request, now_ms, rng)?;
        self.commit(data, rng)?;
        Ok(payment)
    }

    /// Gives back the notes of a payment the ledger refused (they may be paid again).
    pub fn release_payment<R: RngCore + CryptoRng>(
        &mut self,
        nonce: &[u8; 16],
        rng: &mut R,
    ) -> Result<usize> {
        let mut data = self.opened.data.clone();
        let n = data.value.release(nonce);
        if n > 0 {
            self.commit(data, rng)?;
        }
        Ok(n)
    }

    /// Sets (or replaces) the duress PIN, with a fresh decoy wallet. Not available from
    /// the decoy itself.
    pub fn set_duress_pin<R: RngCore + CryptoRng>(
        &mut self,
        duress_pin: &str,
        rng: &mut R,
    ) -> Result<()> {
        let decoy = decoy_data(rng)?;
        self.opened
            .set_duress(&mut self.storage, duress_pin, &decoy, rng)
    }

    /// The household key as a field element (secret).
    pub fn household_key(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(weft_crypto::poseidon::fr_to_bytes_be(
            &self.secrets.household_key,
        ))
    }

    /// The nullifier this household would reveal for `(program, round)`.
    pub fn nullifier(&self, program: Fr, round: u64) -> Fr {
        self.secrets.nullifier(program, round)
    }
}

/// A decoy wallet: its own fresh phrase, nothing else, marked as the decoy.
fn decoy_data<R: RngCore + CryptoRng>(rng: &mut R) -> Result<WalletData> {
    let mut d = WalletData::new(&RecoveryPhrase::generate(rng)?);
    d.decoy_key = Some(DECOY_MARKER.to_string());
    Ok(d)
}
