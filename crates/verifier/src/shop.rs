//! The shop: a distribution point that also takes payments in a value program's notes
//! and redeems them with the agency.
//!
//! Why here: a shop in a cash or voucher program is an accredited distribution point
//! (the ledger accepts a redeem only from an organisation with that role), and it
//! already has the point's configuration, keys and node access. The flow, normative
//! in `specs/entitlements.md` §11 and `specs/distribution-point.md` §8:
//!
//! 1. [`ShopStore::new_request`]: a payment request (`weft_wallet::PaymentRequest`) for
//!    an amount, to a fresh one-time key whose secret stays in the shop's store.
//! 2. [`ShopStore::check_payment`]: the household's payment answers a request of this
//!    shop that is open and unexpired, in the request's program; the transfer verifies
//!    (`weft_entitlements::verify_transfer`: range proof, balance, owners); one output
//!    opens with the request's key to exactly the requested amount.
//! 3. [`deliver`]: the transfer goes to the node (in an anonymous block, or signed with
//!    the point's block key when one is configured), the ledger's answer decides: PAID
//!    (the note is the shop's) or REFUSED with the ledger's reason (`noteSpent`, …).
//! 4. [`redeem`]: notes burnt for a public amount the agency pays to the shop, signed by
//!    the point's organisation key.
//!
//! The store is one JSON file (`shop.json` in the point's directory), written like the
//! configuration that holds the device seed: atomically, mode 0600, secrets zeroized in
//! memory and never printed. Anyone who can read it can spend the shop's notes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use weft_client::{Client, ClientError, LedgerOutcome};
use weft_entitlements::{
    verify_transfer, EntitlementError, OwnedNote, OwnerPublicKey, OwnerSecretKey, Recipient,
};
use weft_types::notes::{Redeem, MAX_NOTE_INPUTS};
use weft_types::{Block, BlockBuilder, BlockId, NetworkId, Payload, ProgramId};
use weft_wallet::notes::{hex_bytes, Secret32};
use weft_wallet::payment::{Payment, PaymentRequest};
use zeroize::Zeroizing;

use crate::config::{write_private, PointConfig};

/// Why the shop's store or a shop operation failed (not a refusal of a payment, which
/// is a [`Refusal`]).
#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    /// The store file.
    #[error("{path}: {message}")]
    Store {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The node's API.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The node answered something unexpected.
    #[error("unexpected answer: {0}")]
    Decode(String),
    /// The shop does not hold enough of the program's value.
    #[error("the shop holds {held} of this program, {asked} asked")]
    Insufficient {
        /// Held (not being redeemed).
        held: u128,
        /// Asked.
        asked: u64,
    },
    /// A redeem must be signed by the point's organisation key, and none is configured.
    #[error("no organisation block key is configured for this point (blockKeySeed in config.json): a redeem must be signed by the point's organisation key, which the ledger knows as a distribution point")]
    NoBlockKey,
    /// Building a payload failed.
    #[error("cannot build: {0}")]
    Build(#[from] EntitlementError),
    /// A request that cannot be made.
    #[error("{0}")]
    Request(String),
}

/// A payment refused, with a stable code (the ledger's reason when it is the ledger's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `unknownRequest`, `requestUsed`, `expired`, `wrongProgram`, `notPaidHere`,
    /// `wrongAmount`, `malformedNote`, `invalidRangeProof`, `unbalanced`,
    /// `notNoteOwner`, or a ledger reason (`noteSpent`, …).
    pub code: String,
    /// Details for the person at the counter (never a secret).
    pub detail: String,
}

fn refuse(code: &str, detail: impl Into<String>) -> Refusal {
    Refusal {
        code: code.into(),
        detail: detail.into(),
    }
}

/// The ledger's reason for a transfer that does not verify (as `weft_ledger::notes`
/// records it).
pub fn reason_of(e: &EntitlementError) -> &'static str {
    match e {
        EntitlementError::RangeProof => "invalidRangeProof",
        EntitlementError::Balance | EntitlementError::KernelSignature => "unbalanced",
        EntitlementError::NotOwner { .. } => "notNoteOwner",
        _ => "malformedNote",
    }
}

/// Where a payment request stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum RequestState {
    /// Waiting for a payment.
    Open,
    /// A payment's block was built (and possibly sent).
    #[serde(rename_all = "camelCase")]
    Submitted {
        /// The block.
        block_id: BlockId,
        /// Its bytes (hex), re-sent as they are.
        block: String,
    },
    /// Paid: the note is the shop's.
    #[serde(rename_all = "camelCase")]
    Paid {
        /// The confirming milestone.
        milestone: u32,
        /// The note received.
        #[serde(with = "hex_bytes")]
        note: [u8; 32],
    },
}

/// A payment request the shop showed, with its one-time key's secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopRequest {
    /// The request's binary form (hex).
    pub request: String,
    /// The secret of its `payTo` key.
    pub secret: Secret32,
    /// When it was made (Unix ms).
    pub created_ms: u64,
    /// Where it stands.
    #[serde(flatten)]
    pub state: RequestState,
}

impl ShopRequest {
    /// The request.
    pub fn request(&self) -> Option<PaymentRequest> {
        PaymentRequest::from_bytes(&hex::decode(&self.request).ok()?).ok()
    }
}

/// Where a shop's note stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum NoteState {
    /// Held, spendable.
    Held,
    /// In a redeem not yet confirmed.
    #[serde(rename_all = "camelCase")]
    Redeeming {
        /// The redeem's block.
        block_id: BlockId,
    },
    /// Redeemed.
    #[serde(rename_all = "camelCase")]
    Redeemed {
        /// The confirming milestone.
        milestone: u32,
    },
}

/// A note the shop owns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopNote {
    /// Its program.
    pub program: ProgramId,
    /// Its id.
    #[serde(with = "hex_bytes")]
    pub id: [u8; 32],
    /// Its amount.
    pub amount: u64,
    /// The owner key's secret.
    pub key: Secret32,
    /// The blinding.
    pub blinding: Secret32,
    /// The milestone that created it.
    pub received_at: u32,
    /// Where it stands.
    #[serde(flatten)]
    pub state: NoteState,
}

impl ShopNote {
    fn of(note: &OwnedNote, program: ProgramId, milestone: u32) -> ShopNote {
        let opening = note.opening().to_bytes();
        let mut blinding = Secret32([0; 32]);
        blinding.0.copy_from_slice(&opening[8..]);
        ShopNote {
            program,
            id: note.id(),
            amount: note.amount(),
            key: Secret32(*note.key().to_bytes()),
            blinding,
            received_at: milestone,
            state: NoteState::Held,
        }
    }

    /// The spendable form (`None` if the stored secrets are damaged).
    pub fn owned(&self) -> Option<OwnedNote> {
        let key = OwnerSecretKey::from_bytes(&self.key.0)?;
        let mut plain = Zeroizing::new([0u8; 40]);
        plain[..8].copy_from_slice(&self.amount.to_le_bytes());
        plain[8..].copy_from_slice(&self.blinding.0);
        let opening = weft_entitlements::Opening::from_bytes(&plain)?;
        let n = OwnedNote::new(self.program.bytes(), key, opening);
        (n.id() == self.id).then_some(n)
    }
}

/// A redeem the shop made.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedeemRecord {
    /// The program.
    pub program: ProgramId,
    /// The public amount.
    pub amount: u64,
    /// Whom the agency pays.
    #[serde(with = "hex_bytes")]
    pub payee: [u8; 32],
    /// The notes burnt.
    pub inputs: Vec<String>,
    /// The change key's secret, if there is change.
    #[serde(default)]
    pub change_key: Option<Secret32>,
    /// The block.
    pub block_id: BlockId,
    /// Its bytes (hex).
    pub block: String,
    /// `submitted`, `applied`, or the ledger's reason.
    pub outcome: String,
}

/// The shop's store (`shop.json`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopStore {
    /// Payment requests shown.
    #[serde(default)]
    pub requests: Vec<ShopRequest>,
    /// Notes received.
    #[serde(default)]
    pub notes: Vec<ShopNote>,
    /// Redeems made.
    #[serde(default)]
    pub redeems: Vec<RedeemRecord>,
    #[serde(skip)]
    path: PathBuf,
}

/// One program's holdings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopBalance {
    /// The program.
    pub program: ProgramId,
    /// Notes held.
    pub notes: usize,
    /// Their total.
    pub total: u128,
    /// Value in redeems not yet confirmed.
    pub redeeming: u128,
    /// Value redeemed so far.
    pub redeemed: u128,
}

/// A payment that passed the shop's checks: which request it pays and the note the
/// shop receives.
#[derive(Debug)]
pub struct CheckedPayment {
    /// The request's position in the store.
    pub index: usize,
    /// The request.
    pub request: PaymentRequest,
    /// The shop's note, opened.
    pub note: OwnedNote,
}

impl ShopStore {
    /// Opens `dir/shop.json` (empty if there is none yet).
    pub fn open(dir: &Path) -> Result<ShopStore, ShopError> {
        let path = dir.join("shop.json");
        let store_err = |message: String| ShopError::Store {
            path: path.display().to_string(),
            message,
        };
        let mut store = match std::fs::read(&path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                serde_json::from_slice::<ShopStore>(&bytes).map_err(|e| store_err(e.to_string()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ShopStore::default(),
            Err(e) => return Err(store_err(e.to_string())),
        };
        store.path = path;
        Ok(store)
    }

    /// Writes the store (atomically, mode 0600).
    pub fn save(&self) -> Result<(), ShopError> {
        let text =
            Zeroizing::new(
                serde_json::to_vec_pretty(self).map_err(|e| ShopError::Store {
                    path: self.path.display().to_string(),
                    message: e.to_string(),
                })?,
            );
        write_private(&self.path, &text).map_err(|e| ShopError::Store {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// A new payment request for `amount` of `program`, valid for `ttl_ms` from
    /// `now_ms`, to a fresh one-time key (kept here); saved before it is returned.
    pub fn new_request<R: RngCore + CryptoRng>(
        &mut self,
        config: &PointConfig,
        program: ProgramId,
        amount: u64,
        now_ms: u64,
        ttl_ms: u64,
        rng: &mut R,
    ) -> Result<PaymentRequest, ShopError> {
        if amount == 0 {
            return Err(ShopError::Request(
                "amount 0: a payment must be for more than nothing".into(),
            ));
        }
        let key = OwnerSecretKey::random(rng);
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        let request = PaymentRequest {
            program,
            amount,
            pay_to: key.public_key().to_bytes(),
            shop: config.point,
            nonce,
            expires: now_ms.saturating_add(ttl_ms),
        };
        self.requests.push(ShopRequest {
            request: hex::encode(request.to_bytes()),
            secret: Secret32(*key.to_bytes()),
            created_ms: now_ms,
            state: RequestState::Open,
        });
        self.save()?;
        Ok(request)
    }

    /// The shop's checks on a payment at `now_ms`, before anything is sent (module
    /// notes, step 2). Changes nothing.
    pub fn check_payment(&self, payment: &Payment, now_ms: u64) -> Result<CheckedPayment, Refusal> {
        let Some((index, record)) = self
            .requests
            .iter()
            .enumerate()
            .find(|(_, r)| r.request().is_some_and(|q| q.nonce == payment.nonce))
        else {
            return Err(refuse(
                "unknownRequest",
                "this payment answers no payment request shown here",
            ));
        };
        let request = record
            .request()
            .ok_or_else(|| refuse("unknownRequest", "the stored request does not read"))?;
        match &record.state {
            RequestState::Open => {}
            RequestState::Submitted { .. } | RequestState::Paid { .. } => {
                return Err(refuse(
                    "requestUsed",
                    "this payment request has been paid already (or a payment for it is being confirmed)",
                ))
            }
        }
        if request.expired(now_ms) {
            return Err(refuse(
                "expired",
                "the payment request has expired: make a new one",
            ));
        }
        let transfer = &payment.transfer;
        if transfer.program != *request.program.bytes() {
            return Err(refuse(
                "wrongProgram",
                "the payment is in another program's value than the request's",
            ));
        }
        verify_transfer(transfer).map_err(|e| refuse(reason_of(&e), e.to_string()))?;
        let key = OwnerSecretKey::from_bytes(&record.secret.0)
            .ok_or_else(|| refuse("unknownRequest", "the stored request key is damaged"))?;
        let note = transfer
            .outputs
            .iter()
            .find_map(|o| OwnedNote::decrypt(&transfer.program, o, &key))
            .ok_or_else(|| {
                refuse(
                    "notPaidHere",
                    "no output of the payment is addressed to this request's key",
                )
            })?;
        if note.amount() != request.amount {
            return Err(refuse(
                "wrongAmount",
                format!(
                    "the payment gives the shop {}, the request asks for {}",
                    note.amount(),
                    request.amount
                ),
            ));
        }
        Ok(CheckedPayment {
            index,
            request,
            note,
        })
    }

    /// Records a confirmed payment: the request paid, the note held.
    pub fn paid(&mut self, checked: &CheckedPayment, milestone: u32) -> Result<(), ShopError> {
        if let Some(r) = self.requests.get_mut(checked.index) {
            r.state = RequestState::Paid {
                milestone,
                note: checked.note.id(),
            };
        }
        if !self.notes.iter().any(|n| n.id == checked.note.id()) {
            self.notes.push(ShopNote::of(
                &checked.note,
                checked.request.program,
                milestone,
            ));
        }
        self.save()
    }

    /// Holdings per program.
    pub fn balances(&self) -> Vec<ShopBalance> {
        let mut programs: Vec<ProgramId> = self.notes.iter().map(|n| n.program).collect();
        programs.sort();
        programs.dedup();
        programs
            .into_iter()
            .map(|program| {
                let mut b = ShopBalance {
                    program,
                    notes: 0,
                    total: 0,
                    redeeming: 0,
                    redeemed: 0,
                };
                for n in self.notes.iter().filter(|n| n.program == program) {
                    match n.state {
                        NoteState::Held => {
                            b.notes += 1;
                            b.total += n.amount as u128;
                        }
                        NoteState::Redeeming { .. } => b.redeeming += n.amount as u128,
                        NoteState::Redeemed { .. } => b.redeemed += n.amount as u128,
                    }
                }
                b
            })
            .collect()
    }

    /// Builds a redeem of `amount` of `program` to `payee` from held notes (largest
    /// first), with any change to a fresh key of the shop's own.
    pub fn build_redeem<R: RngCore + CryptoRng>(
        &self,
        program: ProgramId,
        amount: u64,
        payee: [u8; 32],
        rng: &mut R,
    ) -> Result<BuiltRedeem, ShopError> {
        if amount == 0 {
            return Err(ShopError::Request("amount 0: nothing to redeem".into()));
        }
        let mut held: Vec<&ShopNote> = self
            .notes
            .iter()
            .filter(|n| n.program == program && n.state == NoteState::Held)
            .collect();
        let total: u128 = held.iter().map(|n| n.amount as u128).sum();
        if total < amount as u128 {
            return Err(ShopError::Insufficient {
                held: total,
                asked: amount,
            });
        }
        held.sort_by(|a, b| b.amount.cmp(&a.amount).then(a.id.cmp(&b.id)));
        let mut picked = Vec::new();
        let mut sum: u128 = 0;
        for n in held {
            if sum >= amount as u128 {
                break;
            }
            sum += n.amount as u128;
            picked.push(n);
        }
        if picked.len() > MAX_NOTE_INPUTS {
            return Err(ShopError::Request(format!(
                "more than {MAX_NOTE_INPUTS} notes needed: redeem a smaller amount first"
            )));
        }
        let inputs = picked
            .iter()
            .map(|n| n.owned())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ShopError::Store {
                path: self.path.display().to_string(),
                message: "a stored note does not open".into(),
            })?;
        let change = (sum - amount as u128) as u64;
        let (change_key, recipients) = if change > 0 {
            let k = OwnerSecretKey::random(rng);
            let r = vec![Recipient {
                owner: k.public_key(),
                amount: change,
            }];
            (Some(k), r)
        } else {
            (None, Vec::new())
        };
        let redeem =
            weft_entitlements::redeem(*program.bytes(), &inputs, amount, payee, &recipients, rng)?;
        Ok(BuiltRedeem {
            redeem,
            inputs: picked.iter().map(|n| n.id).collect(),
            change_key,
        })
    }
}

/// A redeem built from held notes, before it is sent.
#[derive(Debug)]
pub struct BuiltRedeem {
    /// The payload.
    pub redeem: Redeem,
    /// The ids of the notes it burns.
    pub inputs: Vec<[u8; 32]>,
    /// The change's key, if there is change.
    pub change_key: Option<OwnerSecretKey>,
}

/// The network id and proof-of-work difficulty from `GET /api/v1/info`.
pub async fn network_of(client: &Client) -> Result<(NetworkId, u32), ShopError> {
    let info = client.info().await?;
    let network = info["networkId"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| info["networkId"].as_u64())
        .ok_or_else(|| ShopError::Decode("info without networkId".into()))?;
    let pow = info["powDifficulty"].as_u64().unwrap_or(0) as u32;
    Ok((NetworkId(network), pow))
}

/// A block carrying `payload`: signed with the point's block key if configured (or
/// required), else anonymous with the node's proof of work.
async fn block_for(
    client: &Client,
    config: &PointConfig,
    payload: Payload,
    signed: bool,
) -> Result<Block, ShopError> {
    let (network, pow) = network_of(client).await?;
    let tips = client.tips(4).await?;
    let builder = BlockBuilder::new(network, tips, crate::now_ms()).payload(payload);
    Ok(match config.block_key() {
        Some(key) => key.sign_block(builder.organisation(key.public_key())),
        None if signed => return Err(ShopError::NoBlockKey),
        None => {
            let mut b = builder.anonymous();
            b.mine(pow);
            b
        }
    })
}

/// The ledger's answer to a payment or redeem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied at this milestone.
    Applied(u32),
    /// Refused (at admission or at confirmation).
    Refused(Refusal),
    /// Sent, not confirmed within the wait.
    Pending,
}

/// Sends `bytes` (block `id`) and waits up to `wait` for the ledger's answer.
async fn send_and_wait(
    client: &Client,
    id: &BlockId,
    bytes: Vec<u8>,
    wait: Duration,
) -> Result<Outcome, ShopError> {
    match client.submit_bytes(bytes).await {
        Ok(_) => {}
        Err(ClientError::Api {
            status: 400,
            code,
            message,
        }) => return Ok(Outcome::Refused(refuse(&code, message))),
        Err(e) => return Err(e.into()),
    }
    match client.wait_outcome(id, wait).await {
        Ok(LedgerOutcome::Applied { milestone }) => Ok(Outcome::Applied(milestone)),
        Ok(LedgerOutcome::Conflicting {
            reason,
            description,
            ..
        }) => Ok(Outcome::Refused(refuse(&reason, description))),
        Err(ClientError::Decode(_)) => Ok(Outcome::Pending),
        Err(e) => Err(e.into()),
    }
}

/// Whether the ledger has the note (created, spent or not): then the payment that
/// creates it was confirmed, whoever delivered it. The milestone that created it, if
/// still unspent.
async fn on_ledger(
    client: &Client,
    program: &ProgramId,
    note: &[u8; 32],
) -> Result<Option<u32>, ShopError> {
    match client.note_status(program.bytes(), note).await {
        Ok(s) => Ok(Some(s.created_at.or(s.spent_at).unwrap_or(0))),
        Err(ClientError::Api { status: 404, .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Delivers a checked payment to the node and records the outcome (module notes, step
/// 3). If the household submitted it already, the shop finds its note on the ledger and
/// sends nothing. The block is stored before it is sent; a refusal reopens the request
/// (the household may pay again with other notes).
pub async fn deliver(
    client: &Client,
    config: &PointConfig,
    store: &mut ShopStore,
    checked: &CheckedPayment,
    payment: &Payment,
    wait: Duration,
) -> Result<Outcome, ShopError> {
    let program = checked.request.program;
    let note = checked.note.id();
    if let Some(m) = on_ledger(client, &program, &note).await? {
        store.paid(checked, m)?;
        return Ok(Outcome::Applied(m));
    }
    let block = block_for(
        client,
        config,
        Payload::Transfer(Box::new(payment.transfer.clone())),
        false,
    )
    .await?;
    let bytes = block.to_bytes();
    if let Some(r) = store.requests.get_mut(checked.index) {
        r.state = RequestState::Submitted {
            block_id: block.id(),
            block: hex::encode(&bytes),
        };
    }
    store.save()?;
    let outcome = send_and_wait(client, &block.id(), bytes, wait).await?;
    match &outcome {
        Outcome::Applied(m) => store.paid(checked, *m)?,
        Outcome::Refused(_) => {
            // Delivered by someone else after all (the household's own submission)?
            if let Some(m) = on_ledger(client, &program, &note).await? {
                store.paid(checked, m)?;
                return Ok(Outcome::Applied(m));
            }
            if let Some(r) = store.requests.get_mut(checked.index) {
                r.state = RequestState::Open;
            }
            store.save()?;
        }
        Outcome::Pending => {}
    }
    Ok(outcome)
}

/// Redeems `amount` of `program` for `payee` (module notes, step 4): builds the redeem,
/// signs its block with the point's organisation key (required), stores it, sends it
/// and waits up to `wait`. Applied: the notes are burnt and any change is held; refused:
/// the notes are held again.
#[allow(clippy::too_many_arguments)]
pub async fn redeem<R: RngCore + CryptoRng>(
    client: &Client,
    config: &PointConfig,
    store: &mut ShopStore,
    program: ProgramId,
    amount: u64,
    payee: [u8; 32],
    wait: Duration,
    rng: &mut R,
) -> Result<Outcome, ShopError> {
    if config.block_key().is_none() {
        return Err(ShopError::NoBlockKey);
    }
    let BuiltRedeem {
        redeem: payload,
        inputs,
        change_key,
    } = store.build_redeem(program, amount, payee, rng)?;
    let block = block_for(
        client,
        config,
        Payload::Redeem(Box::new(payload.clone())),
        true,
    )
    .await?;
    let bytes = block.to_bytes();
    let block_id = block.id();
    for n in store.notes.iter_mut().filter(|n| inputs.contains(&n.id)) {
        n.state = NoteState::Redeeming { block_id };
    }
    store.redeems.push(RedeemRecord {
        program,
        amount,
        payee,
        inputs: inputs.iter().map(hex::encode).collect(),
        change_key: change_key.as_ref().map(|k| Secret32(*k.to_bytes())),
        block_id,
        block: hex::encode(&bytes),
        outcome: "submitted".into(),
    });
    store.save()?;
    let outcome = send_and_wait(client, &block_id, bytes, wait).await?;
    let record = store.redeems.len() - 1;
    match &outcome {
        Outcome::Applied(m) => {
            for n in store.notes.iter_mut().filter(|n| inputs.contains(&n.id)) {
                n.state = NoteState::Redeemed { milestone: *m };
            }
            if let Some(k) = &change_key {
                for o in &payload.outputs {
                    if let Some(c) = OwnedNote::decrypt(program.bytes(), o, k) {
                        store.notes.push(ShopNote::of(&c, program, *m));
                    }
                }
            }
            store.redeems[record].outcome = "applied".into();
        }
        Outcome::Refused(r) => {
            for n in store.notes.iter_mut().filter(|n| inputs.contains(&n.id)) {
                n.state = NoteState::Held;
            }
            store.redeems[record].outcome = r.code.clone();
        }
        Outcome::Pending => {}
    }
    store.save()?;
    Ok(outcome)
}

/// The default payee of a redeem: the point's organisation key (the agency pays the
/// organisation that signed the redeem), or `None` without a block key.
pub fn default_payee(config: &PointConfig) -> Option<[u8; 32]> {
    config.block_key().map(|k| k.public_key().0)
}

/// Checks that `key` is a valid one-time owner key (a Ristretto point, not the
/// identity).
pub fn valid_owner_key(key: &[u8; 32]) -> bool {
    OwnerPublicKey::from_bytes(key).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use weft_types::RegistryId;

    const PROGRAM: ProgramId = ProgramId(RegistryId([8; 32]));

    /// A household holding one claim note of `amount`.
    fn household(amount: u64, rng: &mut rand::rngs::StdRng) -> OwnedNote {
        OwnedNote::from_claim(PROGRAM.bytes(), OwnerSecretKey::random(rng), amount)
    }

    fn pay(
        note: &OwnedNote,
        request: &PaymentRequest,
        shop_gets: u64,
        rng: &mut rand::rngs::StdRng,
    ) -> Payment {
        let shop = OwnerPublicKey::from_bytes(&request.pay_to).unwrap();
        let change = OwnerSecretKey::random(rng).public_key();
        let mut recipients = vec![Recipient {
            owner: shop,
            amount: shop_gets,
        }];
        if note.amount() > shop_gets {
            recipients.push(Recipient {
                owner: change,
                amount: note.amount() - shop_gets,
            });
        }
        Payment {
            nonce: request.nonce,
            transfer: weft_entitlements::transfer(
                *PROGRAM.bytes(),
                std::slice::from_ref(note),
                &recipients,
                rng,
            )
            .unwrap(),
        }
    }

    fn shop(dir: &Path) -> (ShopStore, PointConfig) {
        (ShopStore::open(dir).unwrap(), PointConfig::dev([1; 32]))
    }

    #[test]
    fn a_right_payment_passes_and_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let (mut s, config) = shop(dir.path());
        let req = s
            .new_request(&config, PROGRAM, 30, 1_000, 60_000, &mut rng)
            .unwrap();
        let p = pay(&household(50, &mut rng), &req, 30, &mut rng);
        let checked = s.check_payment(&p, 2_000).unwrap();
        assert_eq!(checked.note.amount(), 30);
        s.paid(&checked, 7).unwrap();
        // Saved (mode 0600) and read back; the request is used now.
        let s = ShopStore::open(dir.path()).unwrap();
        assert_eq!(s.balances()[0].total, 30);
        assert_eq!(s.check_payment(&p, 2_000).unwrap_err().code, "requestUsed");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("shop.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0);
        }
        // Secrets are not in Debug.
        let debug = format!("{s:?}");
        assert!(!debug.contains(&hex::encode(s.notes[0].key.0)));
    }

    #[test]
    fn wrong_amount_tampered_expired_unknown_and_wrong_program_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let (mut s, config) = shop(dir.path());
        let req = s
            .new_request(&config, PROGRAM, 30, 1_000, 60_000, &mut rng)
            .unwrap();
        // The output to the shop is not the requested amount.
        let short = pay(&household(50, &mut rng), &req, 20, &mut rng);
        assert_eq!(
            s.check_payment(&short, 2_000).unwrap_err().code,
            "wrongAmount"
        );
        // A tampered transfer: a flipped bit in the range proof, or in an output.
        let good = pay(&household(50, &mut rng), &req, 30, &mut rng);
        let mut bad = good.clone();
        bad.transfer.range_proof[100] ^= 1;
        assert_eq!(
            s.check_payment(&bad, 2_000).unwrap_err().code,
            "invalidRangeProof"
        );
        let mut bad = good.clone();
        bad.transfer.kernel.signature[40] ^= 1;
        assert_eq!(s.check_payment(&bad, 2_000).unwrap_err().code, "unbalanced");
        let mut bad = good.clone();
        bad.transfer.inputs[0].signature[40] ^= 1;
        assert_eq!(
            s.check_payment(&bad, 2_000).unwrap_err().code,
            "notNoteOwner"
        );
        // Expired, unknown nonce, another program.
        assert_eq!(s.check_payment(&good, 61_001).unwrap_err().code, "expired");
        let mut other = good.clone();
        other.nonce = [0; 16];
        assert_eq!(
            s.check_payment(&other, 2_000).unwrap_err().code,
            "unknownRequest"
        );
        let mut other = good.clone();
        other.transfer.program = [9; 32];
        assert_eq!(
            s.check_payment(&other, 2_000).unwrap_err().code,
            "wrongProgram"
        );
        // A payment to another shop's key.
        let other_dir = tempfile::tempdir().unwrap();
        let mut s2 = ShopStore::open(other_dir.path()).unwrap();
        let req2 = s2
            .new_request(&config, PROGRAM, 30, 1_000, 60_000, &mut rng)
            .unwrap();
        let elsewhere = pay(&household(30, &mut rng), &req2, 30, &mut rng);
        let mut misdirected = elsewhere.clone();
        misdirected.nonce = req.nonce;
        assert_eq!(
            s.check_payment(&misdirected, 2_000).unwrap_err().code,
            "notPaidHere"
        );
        // Nothing was recorded by the refusals; the right payment still passes.
        assert!(s.check_payment(&good, 2_000).is_ok());
        assert!(s.notes.is_empty());
        assert!(s
            .new_request(&config, PROGRAM, 0, 1_000, 60_000, &mut rng)
            .is_err());
    }

    #[test]
    fn redeems_pick_notes_and_make_change() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let (mut s, config) = shop(dir.path());
        for amount in [30, 12] {
            let req = s
                .new_request(&config, PROGRAM, amount, 1_000, 60_000, &mut rng)
                .unwrap();
            let p = pay(&household(amount, &mut rng), &req, amount, &mut rng);
            let c = s.check_payment(&p, 2_000).unwrap();
            s.paid(&c, 3).unwrap();
        }
        assert!(matches!(
            s.build_redeem(PROGRAM, 43, [1; 32], &mut rng),
            Err(ShopError::Insufficient {
                held: 42,
                asked: 43
            })
        ));
        let BuiltRedeem {
            redeem: r,
            inputs,
            change_key: change,
        } = s.build_redeem(PROGRAM, 35, [1; 32], &mut rng).unwrap();
        assert_eq!(inputs.len(), 2);
        let v = weft_entitlements::verify_redeem(&r).unwrap();
        assert_eq!(v.amount, 35);
        let change = change.unwrap();
        let c = OwnedNote::decrypt(PROGRAM.bytes(), &r.outputs[0], &change).unwrap();
        assert_eq!(c.amount(), 7);
        assert_eq!(default_payee(&config).map(|p| p.len()), Some(32));
        assert!(valid_owner_key(&change.public_key().to_bytes()));
    }
}
