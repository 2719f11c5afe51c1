//! What the wallet keeps inside its encrypted store, and the JSON forms of its values.
//!
//! One place defines the wallet's data so that the store (which encrypts it), the sync
//! (which refreshes paths and roots) and the prover (which reads them) agree on it. Field
//! elements are written as `0x` + 64 lowercase hex digits, big-endian, and parsed
//! strictly (exactly 64 digits, below the modulus): the same form the agency's bulk
//! issuance and the node's chunk route use.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use weft_circuits::{Credential, NUM_ATTRIBUTES};
use weft_crypto::poseidon::{fr_from_bytes_be, fr_to_bytes_be, Fr};
use weft_crypto::registry::RegistryPath;
use zeroize::{Zeroize, Zeroizing};

/// Parses `0x` + 64 hex digits (big-endian, below the field modulus).
pub fn parse_fr_hex(s: &str) -> Result<Fr, &'static str> {
    let h = s
        .strip_prefix("0x")
        .ok_or("field element must start with 0x")?;
    if h.len() != 64 {
        return Err("field element must have 64 hex digits");
    }
    let mut b = [0u8; 32];
    hex::decode_to_slice(h, &mut b).map_err(|_| "field element is not hex")?;
    fr_from_bytes_be(&b).map_err(|_| "field element not below the modulus")
}

/// `0x` + 64 lowercase hex digits, big-endian.
pub fn fr_hex(x: &Fr) -> String {
    format!("0x{}", hex::encode(fr_to_bytes_be(x)))
}

/// A field element in its JSON form (`"0x<64 hex>"`).
#[derive(Clone, Copy, PartialEq, Eq, Default, Zeroize)]
pub struct FrHex(pub Fr);

impl fmt::Debug for FrHex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fr_hex(&self.0))
    }
}

impl Serialize for FrHex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&fr_hex(&self.0))
    }
}

impl<'de> Deserialize<'de> for FrHex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_fr_hex(&s)
            .map(FrHex)
            .map_err(serde::de::Error::custom)
    }
}

/// A registry id: 32 bytes, written as 64 lowercase hex digits (no `0x`), as the node's
/// routes name it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegistryId(pub [u8; 32]);

impl fmt::Debug for RegistryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Display for RegistryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::str::FromStr for RegistryId {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut b = [0u8; 32];
        if s.len() != 64 {
            return Err("registry id must be 64 hex digits");
        }
        hex::decode_to_slice(s, &mut b).map_err(|_| "registry id is not hex")?;
        Ok(RegistryId(b))
    }
}

impl Serialize for RegistryId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for RegistryId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A credential's authentication path as last synced, and the root it opens to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedPath {
    /// The registry root the path hashes to.
    pub root: FrHex,
    /// The milestone that confirmed this root.
    pub milestone: u32,
    /// `siblings[h]` at height `h` (the registry depth many).
    pub siblings: Vec<FrHex>,
}

/// A credential as the wallet stores it: the fields of [`weft_circuits::Credential`], where
/// it sits in which issuer's registry, the original document, and the last synced path.
/// `Debug` hides attributes and salt.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredCredential {
    /// The schema id (a field element).
    pub schema: FrHex,
    /// The 16 attribute values (unused slots 0).
    pub attributes: [FrHex; NUM_ATTRIBUTES],
    /// Unix time (seconds) after which the credential is invalid.
    pub expiry: u32,
    /// Unix time (seconds) of issuance.
    pub issued_at: u32,
    /// `Poseidon(holder_secret)`.
    pub holder_commitment: FrHex,
    /// `Poseidon(household_key)`.
    pub household_commitment: FrHex,
    /// The issuer's blinding salt.
    pub salt: FrHex,
    /// The issuer's registry that holds the leaf.
    pub registry: RegistryId,
    /// The leaf's position in the registry.
    pub leaf_index: u64,
    /// The issuer's DID (checked against the ledger when imported).
    pub issuer: String,
    /// Attribute names in slot order, for the holder's eyes (from the schema; may be empty).
    #[serde(default)]
    pub attribute_names: Vec<String>,
    /// The schema the credential was issued under, when the wallet has it (credentials
    /// imported from a signed document): consent texts then decode values and conditions
    /// by attribute kind ("region is north or east" rather than slot numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_definition: Option<weft_types::Schema>,
    /// The original credential document (the issuer's signed W3C VC), kept verbatim.
    #[serde(default)]
    pub document: serde_json::Value,
    /// The last synced path, if any.
    #[serde(default)]
    pub path: Option<CachedPath>,
    /// Set when a sync found the leaf zeroed: the issuer revoked the credential.
    #[serde(default)]
    pub revoked: bool,
}

impl fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredential")
            .field("registry", &self.registry)
            .field("issuer", &self.issuer)
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

impl StoredCredential {
    /// The circuit's credential (zeroized on drop).
    pub fn credential(&self) -> Credential {
        let mut attributes = [Fr::from(0u64); NUM_ATTRIBUTES];
        for (a, s) in attributes.iter_mut().zip(self.attributes.iter()) {
            *a = s.0;
        }
        Credential {
            schema: self.schema.0,
            attributes,
            expiry: self.expiry,
            issued_at: self.issued_at,
            holder_commitment: self.holder_commitment.0,
            household_commitment: self.household_commitment.0,
            salt: self.salt.0,
        }
    }

    /// The registry leaf.
    pub fn commitment(&self) -> Fr {
        self.credential().commitment()
    }

    /// The wallet's id for this credential: the first 8 bytes of the leaf, in hex.
    pub fn id(&self) -> String {
        hex::encode(&fr_to_bytes_be(&self.commitment())[..8])
    }

    /// The cached path as the circuit's type, if synced.
    pub fn registry_path(&self) -> Option<RegistryPath> {
        self.path.as_ref().map(|p| RegistryPath {
            index: self.leaf_index,
            siblings: p.siblings.iter().map(|s| s.0).collect(),
        })
    }

    /// A plain name for attribute `j` ("attribute j" when the schema gave none);
    /// underscores read as spaces (`household_size` → "household size").
    pub fn attribute_name(&self, j: usize) -> String {
        self.attribute_names
            .get(j)
            .filter(|n| !n.is_empty())
            .map(|n| n.replace('_', " "))
            .unwrap_or_else(|| format!("attribute {j}"))
    }

    /// Attribute `j`'s value for people: decoded by the schema when the wallet has it
    /// (a date, an enumeration value, `true`), a hashed text as written in the signed
    /// document's `credentialSubject`, else the number or a short hex.
    pub fn attribute_text(&self, j: usize) -> String {
        let Some(v) = self.attributes.get(j).map(|a| a.0) else {
            return String::new();
        };
        let def = self
            .schema_definition
            .as_ref()
            .and_then(|s| s.attributes.get(j));
        let Some(def) = def else {
            return crate::prove::show_value(&v);
        };
        if matches!(def.kind, weft_types::AttributeKind::StringHash) {
            let written = self
                .document
                .get("credentialSubject")
                .and_then(|s| s.get(&def.name))
                .and_then(serde_json::Value::as_str)
                .filter(|t| weft_credentials::string_hash(t) == v);
            return match written {
                Some(t) => format!("\"{t}\""),
                None => "(a hashed text)".into(),
            };
        }
        match weft_credentials::decode_value(&def.kind, &v) {
            Some(serde_json::Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => crate::prove::show_value(&v),
        }
    }
}

impl Drop for StoredCredential {
    fn drop(&mut self) {
        self.attributes.zeroize();
        self.salt.zeroize();
    }
}

/// A registry root the wallet knows, with the milestone that confirmed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RootInfo {
    /// The root.
    pub root: FrHex,
    /// The confirming milestone's index.
    pub milestone: u32,
}

/// An aid program the wallet knows (from a sync): its id and its name for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramInfo {
    /// The program id (a field element).
    pub id: FrHex,
    /// A name a person recognises ("Winter food 2026").
    pub name: String,
}

/// An issuer the wallet knows from the ledger (via a sync): its DID and its registries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuerInfo {
    /// The issuer's DID.
    pub did: String,
    /// The registries it owns.
    pub registries: Vec<RegistryId>,
}

/// Everything inside one slot of the store. Zeroized on drop (best effort: `serde_json`
/// may leave copies in buffers it reallocated).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletData {
    /// The data format version (1).
    pub version: u32,
    /// The recovery phrase's words.
    pub phrase: String,
    /// A household key received from another member, replacing the derived one.
    #[serde(default)]
    pub household_key: Option<FrHex>,
    /// Stored credentials.
    #[serde(default)]
    pub credentials: Vec<StoredCredential>,
    /// The newest root known per registry.
    #[serde(default)]
    pub roots: BTreeMap<RegistryId, RootInfo>,
    /// Programs known from the last sync.
    #[serde(default)]
    pub programs: Vec<ProgramInfo>,
    /// Issuers known from the last sync.
    #[serde(default)]
    pub issuers: Vec<IssuerInfo>,
    /// Value notes: one-time keys, notes found, the scan position.
    #[serde(default)]
    pub value: crate::notes::ValueNotes,
    /// In the real wallet only: the duress slot's key, so that the real wallet can
    /// re-encrypt the decoy when the slots grow. Hex; absent without a duress PIN.
    #[serde(default)]
    pub decoy_key: Option<String>,
}

impl fmt::Debug for WalletData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalletData")
            .field("credentials", &self.credentials.len())
            .finish_non_exhaustive()
    }
}

impl Drop for WalletData {
    fn drop(&mut self) {
        self.phrase.zeroize();
        self.household_key.zeroize();
        if let Some(k) = self.decoy_key.as_mut() {
            k.zeroize();
        }
    }
}

impl WalletData {
    /// A fresh wallet holding only its phrase.
    pub fn new(phrase: &crate::RecoveryPhrase) -> Self {
        WalletData {
            version: 1,
            phrase: phrase.words().to_string(),
            household_key: None,
            credentials: Vec::new(),
            roots: BTreeMap::new(),
            programs: Vec::new(),
            issuers: Vec::new(),
            value: Default::default(),
            decoy_key: None,
        }
    }

    /// The JSON bytes (zeroized when dropped).
    pub fn to_json(&self) -> Zeroizing<Vec<u8>> {
        // Serialising plain data with string keys cannot fail.
        Zeroizing::new(serde_json::to_vec(self).unwrap_or_default())
    }
}
