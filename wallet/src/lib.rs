//! The holder's wallet: keys, an encrypted store, private registry sync and eligibility
//! presentations, as a library an app can embed (no terminal or file system in the core).
//!
//! Beneficiaries keep their keys on cheap phones that get lost, shared, searched and
//! seized. This crate is what an Android, iOS or web app embeds, and what the
//! `weft-wallet` CLI drives:
//!
//! - [`keys`]: the recovery phrase (BIP-39, 24 words) and the holder secret and household
//!   key derived from it; the household key's hand-over by QR.
//! - [`store`]: the one encrypted wallet file (Argon2id, XChaCha20-Poly1305, two
//!   equal-size slots for the real and the duress wallet, padded contents, a throttled
//!   PIN), behind the [`store::WalletStorage`] trait that an app implements.
//! - [`model`]: what the wallet keeps: credentials, cached registry paths, known roots.
//! - [`enrol`]: the commitments an agency's registration station needs, as JSON and CSV.
//! - [`sync`]: registry chunks (from a node, or a sync file carried to an offline camp)
//!   turned into fresh authentication paths.
//! - [`request`] and [`prove`]: a distribution point's presentation request (the
//!   normative protocol of `weft_credentials::presentation`), its plain-words consent
//!   text, and the proof packed as the presentation response.
//! - [`import`]: credentials from the issuer's signed W3C VC 2.0 document, checked
//!   against the issuer's DID document and, from a node, the registry.
//! - [`notes`] and [`payment`]: value notes (a value program's entitlement, paid to a
//!   one-time key the wallet keeps), the scan that finds them, the balance, and paying a
//!   shop's payment request by QR.
//! - [`qr`]: QR codes for the terminal and as PNG, and reading one back from a PNG.
//! - [`wallet`]: [`Wallet`], the unlocked wallet tying it all together.
//! - `file` (not on wasm): the atomic file storage the CLI uses.
//! - [`measure`]: the performance report and its fixture.
//!
//! The core takes its randomness (`RngCore + CryptoRng`), its clock (`now` arguments) and
//! its storage from the caller, so it builds for `wasm32-unknown-unknown`.

pub mod enrol;
#[cfg(not(target_arch = "wasm32"))]
pub mod file;
pub mod import;
pub mod keys;
pub mod measure;
pub mod model;
pub mod notes;
pub mod payment;
pub mod prove;
pub mod qr;
pub mod request;
pub mod store;
pub mod sync;
pub mod wallet;

pub use enrol::Enrolment;
pub use import::{IssuerEvidence, RegistryEvidence};
pub use keys::{HouseholdHandover, RecoveryPhrase};
pub use model::{FrHex, RegistryId, StoredCredential};
pub use notes::{ProgramBalance, ScanReport, ScannedMilestone, ValueNotes};
pub use payment::{Payment, PaymentRequest};
pub use request::{read_request, PresentationRequest, PresentationResponse};
pub use store::{KdfParams, MemoryStorage, StorageError, WalletStorage};
pub use sync::{ChunkResponse, SyncBundle, SyncReport};
pub use wallet::Wallet;

/// Why a wallet operation was refused. Every error leaves the stored wallet unchanged,
/// except that a wrong PIN is counted (see [`store`]).
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The PIN or passphrase opens neither slot of the wallet.
    #[error("wrong PIN ({failed_attempts} failed in a row){}", wait_note(*retry_after_ms))]
    WrongPin {
        /// Failed attempts since the last successful unlock, this one included.
        failed_attempts: u32,
        /// How long the caller must wait before the next attempt.
        retry_after_ms: u64,
    },
    /// Too many wrong PINs: the next attempt is allowed only later.
    #[error("too many wrong PINs: try again in {retry_after_ms} ms")]
    RetryLater {
        /// Milliseconds still to wait.
        retry_after_ms: u64,
    },
    /// A PIN or passphrase that cannot be used (too short, or the duress PIN equals it).
    #[error("unusable PIN: {0}")]
    BadPin(&'static str),
    /// The wallet file is damaged (checksum, length or structure); nothing was changed.
    #[error("the wallet file is damaged: {0}")]
    Corrupt(&'static str),
    /// The wallet file was written by a newer version of the wallet.
    #[error("unsupported wallet file version {0}")]
    UnsupportedVersion(u8),
    /// There is no wallet in the storage.
    #[error("no wallet here: create one first (`weft-wallet init`)")]
    NoWallet,
    /// A wallet already exists in the storage; it is never overwritten.
    #[error("a wallet already exists here; it is never overwritten")]
    AlreadyExists,
    /// The storage backend failed.
    #[error("wallet storage failed: {0}")]
    Storage(#[from] StorageError),
    /// The wallet's contents do not fit the fixed size the duress slot allows.
    #[error("the wallet is full")]
    Full,
    /// The recovery phrase is not a valid 24-word BIP-39 English phrase.
    #[error("invalid recovery phrase: {0}")]
    Phrase(String),
    /// A household key hand-over code that cannot be read.
    #[error("invalid household key code: {0}")]
    Household(&'static str),
    /// Replacing the household key would orphan credentials issued for the current one.
    #[error("{0} stored credential(s) are bound to the current household key; the household key cannot be replaced")]
    HouseholdInUse(usize),
    /// A credential that cannot be stored (wrong holder, malformed, duplicate).
    #[error("credential refused: {0}")]
    Credential(String),
    /// The credential's issuer is deactivated on the ledger.
    #[error("issuer {0} is deactivated: its credentials are no longer accepted")]
    IssuerDeactivated(String),
    /// The issuer's Data Integrity signature on a credential document does not verify.
    #[error("the issuer's signature does not verify: {0}")]
    Signature(String),
    /// The credential's issuer is not among the issuers the wallet knows from the ledger.
    #[error("unknown issuer: {0}")]
    UnknownIssuer(String),
    /// No stored credential has that id.
    #[error("no credential with id {0}")]
    UnknownCredential(String),
    /// A registry chunk or sync file that is malformed or does not hash to its root.
    #[error("bad registry data: {0}")]
    Sync(String),
    /// The registry holds a different leaf where the credential should be.
    #[error("the registry holds a different leaf at the position of credential {0}")]
    LeafMismatch(String),
    /// The credential's leaf is zero: its issuer revoked it.
    #[error("credential {0} has been revoked by its issuer")]
    Revoked(String),
    /// The registry data is older than what the wallet or the verifier needs.
    #[error("stale registry: {0}")]
    StaleRegistry(String),
    /// The request names a program this wallet does not know.
    #[error(
        "unknown program {0}: sync the program list from a node or a distribution point first"
    )]
    UnknownProgram(String),
    /// A presentation request that cannot be read.
    #[error("invalid presentation request: {0}")]
    Request(String),
    /// The credential that fits the request does not meet the program's conditions: the
    /// wallet refuses before proving.
    #[error("credential {credential} does not meet the program's conditions ({conditions})")]
    DoesNotMeet {
        /// The credential's id.
        credential: String,
        /// The program's conditions, in words.
        conditions: String,
    },
    /// No stored credential can answer the request.
    #[error("no credential can answer this request: {0}")]
    NoMatchingCredential(String),
    /// A QR code that cannot be made or read.
    #[error("QR code: {0}")]
    Qr(String),
    /// A payment request or payment that cannot be read or made.
    #[error("payment: {0}")]
    Payment(String),
    /// The shop's payment request has expired.
    #[error("the payment request expired {seconds_ago} s ago: ask the shop for a new one")]
    PaymentExpired {
        /// How long ago.
        seconds_ago: u64,
    },
    /// The request asks for value of a program the wallet holds no notes of.
    #[error("wrong program: this wallet holds no value of program {0} (sync your notes, or check the shop's request)")]
    WrongProgram(String),
    /// The wallet's spendable notes of the program do not cover the amount.
    #[error(
        "insufficient balance: you can spend {available}{}, the shop asks for {asked}{}",
        unit_suffix(unit),
        unit_suffix(unit)
    )]
    InsufficientBalance {
        /// What the wallet can spend now.
        available: u128,
        /// What the shop asks.
        asked: u64,
        /// The program's unit, if known.
        unit: String,
    },
    /// Proving failed (the circuit's own error).
    #[error(transparent)]
    Circuit(#[from] weft_circuits::CircuitError),
}

fn wait_note(ms: u64) -> String {
    if ms == 0 {
        String::new()
    } else {
        format!(
            "; the next try is allowed in {:.0} s",
            (ms as f64 / 1000.0).ceil()
        )
    }
}

fn unit_suffix(unit: &str) -> String {
    if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    }
}

/// Shorthand for results in this crate.
pub type Result<T> = std::result::Result<T, WalletError>;
