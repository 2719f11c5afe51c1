//! Wire forms of the confidential-entitlement payloads (mint, transfer, redeem).
//!
//! Only bytes live here: points, scalars and proofs as fixed-size arrays or byte
//! strings with their canonical encoding. Checking them is `weft-entitlements`' job.
//!
//! The layouts are normative in `specs/entitlements.md`. In short, every value is
//! fixed-size except the lists (a `u8` count, bounded) and the range proof (a `u16`
//! length that must equal the one length an aggregated Bulletproof over that many
//! outputs has, so there is exactly one encoding). Inputs and outputs are sets: they
//! must be strictly ascending by note id, which also forbids repeats. A note id is the
//! BLAKE2b-256 of the program, the commitment and the owner key ([`note_id`]), the same
//! hash as every other id of this crate.

use serde::{Deserialize, Serialize};

use crate::codec::{check_range, check_strictly_ascending, DecodeError, Reader, Writer};
use crate::hash::blake2b256;

/// Most inputs a transfer or redeem may spend.
pub const MAX_NOTE_INPUTS: usize = 16;
/// Most outputs a mint, transfer or redeem may create.
pub const MAX_NOTE_OUTPUTS: usize = 16;
/// Size of an encrypted opening's ciphertext: 8-byte amount, 32-byte blinding, 16-byte tag.
pub const OPENING_CIPHERTEXT_BYTES: usize = 56;
/// Domain string of a note id (`specs/entitlements.md` §2).
pub const NOTE_ID_DOMAIN: &[u8] = b"weft/note-id/v1";
/// Domain string of the digest every signature of a note payload signs.
pub const NOTES_BODY_DOMAIN: &[u8] = b"weft/notes-body/v1";

/// The note id: `H("weft/note-id/v1" || program || commitment || owner)`.
///
/// It names a note on the ledger; the ledger records it as spent when a transfer or
/// redeem consumes the note.
pub fn note_id(program: &[u8; 32], commitment: &[u8; 32], owner: &[u8; 32]) -> [u8; 32] {
    blake2b256(&[NOTE_ID_DOMAIN, program, commitment, owner])
}

/// The exact length of a 64-bit Bulletproofs range proof aggregated over `outputs`
/// commitments (padded to the next power of two); 0 when there are no outputs.
///
/// A proof is 9 group elements or scalars plus 2·log2(64·m) inner-product points.
pub fn range_proof_len(outputs: usize) -> usize {
    if outputs == 0 {
        return 0;
    }
    let m = outputs.next_power_of_two();
    let lg = (64 * m).trailing_zeros() as usize;
    32 * (9 + 2 * lg)
}

/// A new note: its commitment, its owner's one-time key and its opening encrypted to
/// that key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteOutput {
    /// Pedersen commitment `v·B + r·H` (compressed Ristretto).
    #[serde(with = "hex_array")]
    pub commitment: [u8; 32],
    /// The owner's one-time public key (compressed Ristretto).
    #[serde(with = "hex_array")]
    pub owner: [u8; 32],
    /// The sender's ephemeral public key for the encrypted opening.
    #[serde(with = "hex_array")]
    pub ephemeral: [u8; 32],
    /// The opening (amount, blinding) under ChaCha20-Poly1305.
    #[serde(with = "hex_array")]
    pub ciphertext: [u8; OPENING_CIPHERTEXT_BYTES],
}

impl NoteOutput {
    /// The note id of this output in `program`.
    pub fn id(&self, program: &[u8; 32]) -> [u8; 32] {
        note_id(program, &self.commitment, &self.owner)
    }

    fn encode_into(&self, w: &mut Writer) {
        w.bytes(&self.commitment);
        w.bytes(&self.owner);
        w.bytes(&self.ephemeral);
        w.bytes(&self.ciphertext);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<NoteOutput, DecodeError> {
        Ok(NoteOutput {
            commitment: r.array("output commitment")?,
            owner: r.array("output owner")?,
            ephemeral: r.array("output ephemeral key")?,
            ciphertext: r.array("output ciphertext")?,
        })
    }
}

/// A spent note, named by its commitment and owner (hence its id), with the owner's
/// Schnorr signature on the payload's body digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteInput {
    /// The spent note's commitment.
    #[serde(with = "hex_array")]
    pub commitment: [u8; 32],
    /// The spent note's owner key.
    #[serde(with = "hex_array")]
    pub owner: [u8; 32],
    /// Schnorr signature `R || s` by the owner key.
    #[serde(with = "hex_array")]
    pub signature: [u8; 64],
}

impl NoteInput {
    /// The id of the note this input spends, in `program`.
    pub fn id(&self, program: &[u8; 32]) -> [u8; 32] {
        note_id(program, &self.commitment, &self.owner)
    }

    fn encode_into(&self, w: &mut Writer, signed: bool) {
        w.bytes(&self.commitment);
        w.bytes(&self.owner);
        if signed {
            w.bytes(&self.signature);
        }
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<NoteInput, DecodeError> {
        Ok(NoteInput {
            commitment: r.array("input commitment")?,
            owner: r.array("input owner")?,
            signature: r.array("input signature")?,
        })
    }
}

/// The public excess of a payload (a commitment to zero) and the Schnorr signature
/// with base `H` that proves it is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kernel {
    /// `Σ outputs − Σ inputs − δ·B`, which must equal `k·H` for a known `k`.
    #[serde(with = "hex_array")]
    pub excess: [u8; 32],
    /// Schnorr signature `R || s` with base `H` under the excess.
    #[serde(with = "hex_array")]
    pub signature: [u8; 64],
}

impl Kernel {
    fn encode_into(&self, w: &mut Writer, signed: bool) {
        w.bytes(&self.excess);
        if signed {
            w.bytes(&self.signature);
        }
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Kernel, DecodeError> {
        Ok(Kernel {
            excess: r.array("kernel excess")?,
            signature: r.array("kernel signature")?,
        })
    }
}

/// An agency's mint: new notes for a program whose amounts add up to a public total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mint {
    /// The program the notes belong to.
    #[serde(with = "hex_array")]
    pub program: [u8; 32],
    /// The public total of the outputs.
    #[serde(with = "crate::payload::u64_string")]
    pub total: u64,
    /// 1..=16 outputs, strictly ascending by note id.
    pub outputs: Vec<NoteOutput>,
    /// The aggregated 64-bit range proof over the outputs.
    #[serde(with = "crate::payload::hex_vec")]
    pub range_proof: Vec<u8>,
    /// The balance proof.
    pub kernel: Kernel,
}

/// A payment between holders of a program's notes (household to shop, with change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    /// The program of every input and output.
    #[serde(with = "hex_array")]
    pub program: [u8; 32],
    /// 1..=16 inputs, strictly ascending by note id.
    pub inputs: Vec<NoteInput>,
    /// 1..=16 outputs, strictly ascending by note id.
    pub outputs: Vec<NoteOutput>,
    /// The aggregated 64-bit range proof over the outputs.
    #[serde(with = "crate::payload::hex_vec")]
    pub range_proof: Vec<u8>,
    /// The balance proof.
    pub kernel: Kernel,
}

/// A shop's redemption: notes burnt for a public amount the agency pays out, with
/// optional change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Redeem {
    /// The program of every input and output.
    #[serde(with = "hex_array")]
    pub program: [u8; 32],
    /// The public amount redeemed.
    #[serde(with = "crate::payload::u64_string")]
    pub amount: u64,
    /// Whom the agency pays: the payee's organisation key, or the hash of a payment
    /// reference agreed with the agency. Every signature covers it, so a copied redeem
    /// still pays the same payee.
    #[serde(with = "hex_array")]
    pub payee: [u8; 32],
    /// 1..=16 inputs, strictly ascending by note id.
    pub inputs: Vec<NoteInput>,
    /// 0..=16 change outputs, strictly ascending by note id.
    pub outputs: Vec<NoteOutput>,
    /// The aggregated range proof over the outputs (empty when there are none).
    #[serde(with = "crate::payload::hex_vec")]
    pub range_proof: Vec<u8>,
    /// The balance proof.
    pub kernel: Kernel,
}

fn check_outputs(
    program: &[u8; 32],
    outputs: &[NoteOutput],
    min: usize,
    range_proof: &[u8],
) -> Result<(), DecodeError> {
    check_range(
        "output count",
        outputs.len() as u64,
        min as u64,
        MAX_NOTE_OUTPUTS as u64,
    )?;
    let ids: Vec<[u8; 32]> = outputs.iter().map(|o| o.id(program)).collect();
    check_strictly_ascending("outputs", &ids)?;
    let expected = range_proof_len(outputs.len()) as u64;
    check_range(
        "range proof length",
        range_proof.len() as u64,
        expected,
        expected,
    )
}

fn check_inputs(program: &[u8; 32], inputs: &[NoteInput]) -> Result<(), DecodeError> {
    check_range(
        "input count",
        inputs.len() as u64,
        1,
        MAX_NOTE_INPUTS as u64,
    )?;
    let ids: Vec<[u8; 32]> = inputs.iter().map(|i| i.id(program)).collect();
    check_strictly_ascending("inputs", &ids)
}

fn encode_outputs(w: &mut Writer, outputs: &[NoteOutput], range_proof: &[u8]) {
    w.u8(outputs.len() as u8);
    for o in outputs {
        o.encode_into(w);
    }
    w.u16(range_proof.len() as u16);
    w.bytes(range_proof);
}

fn encode_inputs(w: &mut Writer, inputs: &[NoteInput], signed: bool) {
    w.u8(inputs.len() as u8);
    for i in inputs {
        i.encode_into(w, signed);
    }
}

fn decode_outputs(
    r: &mut Reader<'_>,
    min: usize,
) -> Result<(Vec<NoteOutput>, Vec<u8>), DecodeError> {
    let count = r.u8("output count")? as usize;
    check_range(
        "output count",
        count as u64,
        min as u64,
        MAX_NOTE_OUTPUTS as u64,
    )?;
    let mut outputs = Vec::with_capacity(count);
    for _ in 0..count {
        outputs.push(NoteOutput::decode_from(r)?);
    }
    let len = r.u16("range proof length")? as usize;
    let expected = range_proof_len(count) as u64;
    check_range("range proof length", len as u64, expected, expected)?;
    let proof = r.take(len, "range proof")?.to_vec();
    Ok((outputs, proof))
}

fn decode_inputs(r: &mut Reader<'_>) -> Result<Vec<NoteInput>, DecodeError> {
    let count = r.u8("input count")? as usize;
    check_range("input count", count as u64, 1, MAX_NOTE_INPUTS as u64)?;
    let mut inputs = Vec::with_capacity(count);
    for _ in 0..count {
        inputs.push(NoteInput::decode_from(r)?);
    }
    Ok(inputs)
}

fn body_digest(kind: u8, body: Vec<u8>) -> [u8; 32] {
    blake2b256(&[NOTES_BODY_DOMAIN, &[kind], &body])
}

fn whole<T>(
    bytes: &[u8],
    what: &'static str,
    decode: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let mut r = Reader::new(bytes);
    let value = decode(&mut r)?;
    r.finish(what)?;
    Ok(value)
}

/// Tag of a mint in the body digest.
pub const MINT_TAG: u8 = 1;
/// Tag of a transfer in the body digest.
pub const TRANSFER_TAG: u8 = 2;
/// Tag of a redeem in the body digest.
pub const REDEEM_TAG: u8 = 3;

impl Mint {
    fn write(&self, w: &mut Writer, signed: bool) {
        w.bytes(&self.program);
        w.u64(self.total);
        encode_outputs(w, &self.outputs, &self.range_proof);
        self.kernel.encode_into(w, signed);
    }

    /// Writes the canonical encoding.
    pub fn encode_into(&self, w: &mut Writer) {
        self.write(w, true);
    }

    /// Reads a mint and checks its limits and order.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<Mint, DecodeError> {
        let program = r.array("program")?;
        let total = r.u64("mint total")?;
        let (outputs, range_proof) = decode_outputs(r, 1)?;
        let kernel = Kernel::decode_from(r)?;
        let mint = Mint {
            program,
            total,
            outputs,
            range_proof,
            kernel,
        };
        mint.check_limits()?;
        Ok(mint)
    }

    /// Checks counts, order and the range proof length (for values built in code).
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        check_outputs(&self.program, &self.outputs, 1, &self.range_proof)
    }

    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        self.encode_into(&mut w);
        w.into_bytes()
    }

    /// Decodes exactly `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Mint, DecodeError> {
        whole(bytes, "mint", Mint::decode_from)
    }

    /// The digest the kernel signature signs: `H("weft/notes-body/v1" || 0x01 ||
    /// encoding without the kernel signature)`.
    pub fn body_digest(&self) -> [u8; 32] {
        let mut w = Writer::default();
        self.write(&mut w, false);
        body_digest(MINT_TAG, w.into_bytes())
    }
}

impl Transfer {
    fn write(&self, w: &mut Writer, signed: bool) {
        w.bytes(&self.program);
        encode_inputs(w, &self.inputs, signed);
        encode_outputs(w, &self.outputs, &self.range_proof);
        self.kernel.encode_into(w, signed);
    }

    /// Writes the canonical encoding.
    pub fn encode_into(&self, w: &mut Writer) {
        self.write(w, true);
    }

    /// Reads a transfer and checks its limits and order.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<Transfer, DecodeError> {
        let program = r.array("program")?;
        let inputs = decode_inputs(r)?;
        let (outputs, range_proof) = decode_outputs(r, 1)?;
        let kernel = Kernel::decode_from(r)?;
        let transfer = Transfer {
            program,
            inputs,
            outputs,
            range_proof,
            kernel,
        };
        transfer.check_limits()?;
        Ok(transfer)
    }

    /// Checks counts, order and the range proof length (for values built in code).
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        check_inputs(&self.program, &self.inputs)?;
        check_outputs(&self.program, &self.outputs, 1, &self.range_proof)
    }

    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        self.encode_into(&mut w);
        w.into_bytes()
    }

    /// Decodes exactly `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Transfer, DecodeError> {
        whole(bytes, "transfer", Transfer::decode_from)
    }

    /// The digest every signature signs: `H("weft/notes-body/v1" || 0x02 || encoding
    /// without the input and kernel signatures)`.
    pub fn body_digest(&self) -> [u8; 32] {
        let mut w = Writer::default();
        self.write(&mut w, false);
        body_digest(TRANSFER_TAG, w.into_bytes())
    }

    /// The ids of the notes this transfer spends, in order.
    pub fn input_ids(&self) -> Vec<[u8; 32]> {
        self.inputs.iter().map(|i| i.id(&self.program)).collect()
    }
}

impl Redeem {
    fn write(&self, w: &mut Writer, signed: bool) {
        w.bytes(&self.program);
        w.u64(self.amount);
        w.bytes(&self.payee);
        encode_inputs(w, &self.inputs, signed);
        encode_outputs(w, &self.outputs, &self.range_proof);
        self.kernel.encode_into(w, signed);
    }

    /// Writes the canonical encoding.
    pub fn encode_into(&self, w: &mut Writer) {
        self.write(w, true);
    }

    /// Reads a redeem and checks its limits and order.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<Redeem, DecodeError> {
        let program = r.array("program")?;
        let amount = r.u64("redeem amount")?;
        let payee = r.array("redeem payee")?;
        let inputs = decode_inputs(r)?;
        let (outputs, range_proof) = decode_outputs(r, 0)?;
        let kernel = Kernel::decode_from(r)?;
        let redeem = Redeem {
            program,
            amount,
            payee,
            inputs,
            outputs,
            range_proof,
            kernel,
        };
        redeem.check_limits()?;
        Ok(redeem)
    }

    /// Checks counts, order and the range proof length (for values built in code).
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        check_inputs(&self.program, &self.inputs)?;
        check_outputs(&self.program, &self.outputs, 0, &self.range_proof)
    }

    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        self.encode_into(&mut w);
        w.into_bytes()
    }

    /// Decodes exactly `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Redeem, DecodeError> {
        whole(bytes, "redeem", Redeem::decode_from)
    }

    /// The digest every signature signs: `H("weft/notes-body/v1" || 0x03 || encoding
    /// without the input and kernel signatures)`.
    pub fn body_digest(&self) -> [u8; 32] {
        let mut w = Writer::default();
        self.write(&mut w, false);
        body_digest(REDEEM_TAG, w.into_bytes())
    }

    /// The ids of the notes this redeem spends, in order.
    pub fn input_ids(&self) -> Vec<[u8; 32]> {
        self.inputs.iter().map(|i| i.id(&self.program)).collect()
    }
}

/// Serde helpers: fixed-size byte arrays as lower-case hex (a `0x` prefix and upper
/// case accepted on input).
pub mod hex_array {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises the array as hex.
    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    /// Deserialises exactly `N` bytes of hex.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = String::deserialize(d)?;
        crate::id::parse_hex_array::<N>(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b32(seed: u8) -> [u8; 32] {
        blake2b256(&[b"test", &[seed]])
    }

    fn output(seed: u8) -> NoteOutput {
        let mut ciphertext = [0u8; OPENING_CIPHERTEXT_BYTES];
        ciphertext[..32].copy_from_slice(&b32(seed.wrapping_add(3)));
        NoteOutput {
            commitment: b32(seed),
            owner: b32(seed.wrapping_add(1)),
            ephemeral: b32(seed.wrapping_add(2)),
            ciphertext,
        }
    }

    fn input(seed: u8) -> NoteInput {
        let mut signature = [7u8; 64];
        signature[..32].copy_from_slice(&b32(seed.wrapping_add(5)));
        NoteInput {
            commitment: b32(seed),
            owner: b32(seed.wrapping_add(1)),
            signature,
        }
    }

    fn kernel() -> Kernel {
        Kernel {
            excess: b32(200),
            signature: [9u8; 64],
        }
    }

    fn sorted_outputs(program: &[u8; 32], seeds: &[u8]) -> Vec<NoteOutput> {
        let mut v: Vec<NoteOutput> = seeds.iter().map(|s| output(*s)).collect();
        v.sort_by_key(|o| o.id(program));
        v
    }

    fn sorted_inputs(program: &[u8; 32], seeds: &[u8]) -> Vec<NoteInput> {
        let mut v: Vec<NoteInput> = seeds.iter().map(|s| input(*s)).collect();
        v.sort_by_key(|i| i.id(program));
        v
    }

    fn sample_mint() -> Mint {
        let program = b32(100);
        Mint {
            program,
            total: 1_000,
            outputs: sorted_outputs(&program, &[1, 10, 20]),
            range_proof: vec![0xab; range_proof_len(3)],
            kernel: kernel(),
        }
    }

    fn sample_transfer() -> Transfer {
        let program = b32(101);
        Transfer {
            program,
            inputs: sorted_inputs(&program, &[30, 40]),
            outputs: sorted_outputs(&program, &[50, 60]),
            range_proof: vec![0xcd; range_proof_len(2)],
            kernel: kernel(),
        }
    }

    fn sample_redeem(outputs: &[u8]) -> Redeem {
        let program = b32(102);
        Redeem {
            program,
            amount: u64::MAX,
            payee: b32(103),
            inputs: sorted_inputs(&program, &[70]),
            outputs: sorted_outputs(&program, outputs),
            range_proof: vec![0xef; range_proof_len(outputs.len())],
            kernel: kernel(),
        }
    }

    #[test]
    fn range_proof_lengths() {
        assert_eq!(range_proof_len(0), 0);
        assert_eq!(range_proof_len(1), 32 * (9 + 12));
        assert_eq!(range_proof_len(2), 32 * (9 + 14));
        assert_eq!(range_proof_len(3), 32 * (9 + 16));
        assert_eq!(range_proof_len(16), 32 * (9 + 20));
    }

    #[test]
    fn round_trips() {
        let m = sample_mint();
        m.check_limits().unwrap();
        let bytes = m.to_bytes();
        assert_eq!(
            bytes.len(),
            32 + 8 + 1 + 3 * 152 + 2 + range_proof_len(3) + 96
        );
        assert_eq!(Mint::from_bytes(&bytes).unwrap(), m);
        assert_eq!(Mint::from_bytes(&bytes).unwrap().to_bytes(), bytes);

        let t = sample_transfer();
        let bytes = t.to_bytes();
        assert_eq!(Transfer::from_bytes(&bytes).unwrap(), t);
        assert_eq!(t.input_ids().len(), 2);

        for outs in [&[][..], &[1u8, 2, 3, 4, 5][..]] {
            let r = sample_redeem(outs);
            let bytes = r.to_bytes();
            assert_eq!(Redeem::from_bytes(&bytes).unwrap(), r);
        }
    }

    #[test]
    fn json_round_trips() {
        let m = sample_mint();
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"rangeProof\""));
        assert!(json.contains("\"total\":\"1000\""));
        assert_eq!(serde_json::from_str::<Mint>(&json).unwrap(), m);
        let t = sample_transfer();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Transfer>(&json).unwrap(), t);
        let r = sample_redeem(&[3]);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Redeem>(&json).unwrap(), r);
        // A short array is refused.
        let bad = json.replacen(&hex::encode(r.program), "abcd", 1);
        assert!(serde_json::from_str::<Redeem>(&bad).is_err());
    }

    #[test]
    fn truncated_and_trailing_rejected() {
        let bytes = sample_transfer().to_bytes();
        for cut in [0, 1, 31, 32, 33, 100, bytes.len() - 1] {
            assert!(
                matches!(
                    Transfer::from_bytes(&bytes[..cut]),
                    Err(DecodeError::Truncated { .. })
                ),
                "cut at {cut}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            Transfer::from_bytes(&long),
            Err(DecodeError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn counts_are_bounded() {
        let program = b32(100);
        let seeds: Vec<u8> = (0..17).collect();
        let mut m = sample_mint();
        m.outputs = sorted_outputs(&program, &seeds);
        m.range_proof = vec![0; range_proof_len(32)];
        assert!(matches!(
            m.check_limits(),
            Err(DecodeError::OutOfRange {
                field: "output count",
                ..
            })
        ));
        assert!(Mint::from_bytes(&m.to_bytes()).is_err());

        let mut m = sample_mint();
        m.outputs.clear();
        m.range_proof.clear();
        assert!(Mint::from_bytes(&m.to_bytes()).is_err());

        let mut t = sample_transfer();
        t.inputs = sorted_inputs(&t.program, &seeds);
        assert!(matches!(
            Transfer::from_bytes(&t.to_bytes()),
            Err(DecodeError::OutOfRange {
                field: "input count",
                ..
            })
        ));
        let mut t = sample_transfer();
        t.inputs.clear();
        assert!(Transfer::from_bytes(&t.to_bytes()).is_err());
        let mut t = sample_transfer();
        t.outputs.clear();
        t.range_proof.clear();
        assert!(Transfer::from_bytes(&t.to_bytes()).is_err());
    }

    #[test]
    fn non_canonical_rejected() {
        // Outputs out of order.
        let mut m = sample_mint();
        m.outputs.swap(0, 1);
        assert!(matches!(
            Mint::from_bytes(&m.to_bytes()),
            Err(DecodeError::NotStrictlyAscending {
                field: "outputs",
                ..
            })
        ));
        // A repeated output.
        let mut m = sample_mint();
        m.outputs[1] = m.outputs[0].clone();
        assert!(Mint::from_bytes(&m.to_bytes()).is_err());
        // Inputs out of order, or repeated.
        let mut t = sample_transfer();
        t.inputs.swap(0, 1);
        assert!(matches!(
            Transfer::from_bytes(&t.to_bytes()),
            Err(DecodeError::NotStrictlyAscending {
                field: "inputs",
                ..
            })
        ));
        let mut t = sample_transfer();
        t.inputs[1] = t.inputs[0].clone();
        assert!(Transfer::from_bytes(&t.to_bytes()).is_err());
        // A range proof of the wrong length.
        let mut t = sample_transfer();
        t.range_proof.push(0);
        assert!(matches!(
            Transfer::from_bytes(&t.to_bytes()),
            Err(DecodeError::OutOfRange {
                field: "range proof length",
                ..
            })
        ));
        let mut r = sample_redeem(&[]);
        r.range_proof = vec![0; 32];
        assert!(Redeem::from_bytes(&r.to_bytes()).is_err());
    }

    #[test]
    fn body_digest_skips_signatures_only() {
        let t = sample_transfer();
        let mut u = t.clone();
        u.inputs[0].signature = [1; 64];
        u.kernel.signature = [2; 64];
        assert_eq!(t.body_digest(), u.body_digest());
        u.kernel.excess[0] ^= 1;
        assert_ne!(t.body_digest(), u.body_digest());
        let mut m = sample_mint();
        let d = m.body_digest();
        m.total += 1;
        assert_ne!(d, m.body_digest());
        let r = sample_redeem(&[]);
        let mut s = r.clone();
        s.amount -= 1;
        assert_ne!(r.body_digest(), s.body_digest());
        let mut s = r.clone();
        s.payee[0] ^= 1;
        assert_ne!(r.body_digest(), s.body_digest());
    }

    proptest::proptest! {
        /// Whatever a damaged encoding decodes to (usually an error), it re-encodes to
        /// exactly the same bytes: decoding accepts one encoding per value.
        #[test]
        fn damaged_encodings_are_canonical_or_rejected(
            which in 0usize..3,
            flips in proptest::collection::vec((0usize..4000, proptest::prelude::any::<u8>()), 0..4),
            cut in proptest::option::of(0usize..4000),
        ) {
            let mut bytes = match which {
                0 => sample_mint().to_bytes(),
                1 => sample_transfer().to_bytes(),
                _ => sample_redeem(&[1, 2]).to_bytes(),
            };
            for (at, x) in flips {
                let n = bytes.len();
                bytes[at % n] ^= x;
            }
            if let Some(c) = cut {
                bytes.truncate(c.min(bytes.len()));
            }
            let again = match which {
                0 => Mint::from_bytes(&bytes).map(|v| v.to_bytes()),
                1 => Transfer::from_bytes(&bytes).map(|v| v.to_bytes()),
                _ => Redeem::from_bytes(&bytes).map(|v| v.to_bytes()),
            };
            if let Ok(again) = again {
                proptest::prop_assert_eq!(again, bytes);
            }
        }
    }
}
