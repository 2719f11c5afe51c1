//! Node configuration: `--dev` defaults, or a TOML file for real deployments.
//!
//! A dev network needs nothing: a one-member committee and one organisation whose keys
//! are derived from public, well-known seeds (so the demo, the bench and a developer's
//! scripts can sign blocks). Those keys protect nothing and the node says so at start.
//! A real deployment names its committee and organisations by public key in the TOML file
//! and passes a validator's secret seed through the `WEFT_VALIDATOR_KEY` environment
//! variable, so no secret is ever written to a plain file by Weft.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use weft_consensus::{FinalizationRules, SessionTiming};
use weft_crypto::OrganisationKey;
use weft_ledger::{Genesis, GenesisOrganisation};
use weft_network::{Multiaddr, PeerEntry, PeerId};
use weft_tangle::TipConfig;
use weft_types::hash::blake2b256;
use weft_types::DidCreate;
use weft_types::{Committee, PublicKeyBytes};

/// Name of the dev network.
pub const DEV_NETWORK: &str = "weft-dev";
/// Environment variable holding a validator's secret seed (hex) outside dev mode.
pub const VALIDATOR_KEY_ENV: &str = "WEFT_VALIDATOR_KEY";
/// Environment variable holding the node's libp2p key seed (hex) when the `[network]`
/// section names none.
pub const NODE_KEY_ENV: &str = "WEFT_NODE_KEY";

/// The well-known dev key named `name` (`committee`, `organisation`, ...). Public seeds:
/// never use them outside a dev network.
pub fn dev_key(name: &str) -> OrganisationKey {
    OrganisationKey::from_seed(&blake2b256(&[b"weft/dev-key/v1/", name.as_bytes()]))
}

/// Everything a node needs to run.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Database directory.
    pub data_dir: PathBuf,
    /// API listen address.
    pub api: SocketAddr,
    /// The genesis (network, committee, organisations).
    pub genesis: Genesis,
    /// Milestone interval in milliseconds (when this node is a committee member).
    pub milestone_interval_ms: u64,
    /// Proof-of-work difficulty (leading zero bits) for anonymous blocks.
    pub pow_difficulty: u32,
    /// Largest request body accepted by the API.
    pub max_body_bytes: usize,
    /// How far in the future an issuing time may be, in milliseconds.
    pub max_clock_skew_ms: u64,
    /// Blocks waiting for parents, at most.
    pub max_unsolid: usize,
    /// Stored blocks awaiting confirmation, at most; past it submissions get 429, so an
    /// overloaded node sheds load instead of growing its milestones and memory.
    pub max_pending_blocks: usize,
    /// Tip selection parameters.
    pub tips: TipConfig,
    /// Most tips merged into one milestone (through tip-merging blocks).
    pub max_milestone_tips: usize,
    /// Whether this is the insecure dev network.
    pub dev: bool,
    /// Peer-to-peer networking (the `[network]` section); `None` runs the node alone.
    pub network: Option<NetworkSettings>,
    /// Milestone agreement among a committee of more than one member (the
    /// `[consensus]` section); `None` for a one-member committee.
    pub consensus: Option<ConsensusSettings>,
    /// Pruning of old blocks (the `[storage]` section); off by default.
    pub storage: StorageSettings,
    /// Snapshots this node writes (the `[snapshots]` section); off by default.
    pub snapshots: crate::snapshots::SnapshotSettings,
}

/// The store's cache, and pruning of old confirmed blocks' bodies (`weft_tangle::prune`;
/// metadata, white-flag lists, milestones and the ledger state are always kept). Both
/// pruning limits are off by default, in dev mode too; with either set the node runs the
/// `weft-pruner` thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// Keep the bodies of the blocks confirmed by the last N milestones and prune older
    /// ones; N below `weft_tangle::MIN_KEEP_MILESTONES` is raised to it (with a warning
    /// when the pruner starts).
    #[serde(default)]
    pub prune_keep_milestones: Option<u32>,
    /// Prune the oldest milestones' blocks, a few per round, while the database is
    /// larger than this many MiB (never inside the minimum window; sled frees space
    /// lazily, so the size falls behind the pruning).
    #[serde(default)]
    pub prune_max_db_mib: Option<u64>,
    /// The store's page cache in MiB (default `weft_tangle::store::DEFAULT_CACHE_MIB`,
    /// at least 8). More cache, more throughput at a large store, and more memory:
    /// about twice the setting, on top of sled's per-page records.
    #[serde(default)]
    pub cache_mib: Option<u64>,
}

impl StorageSettings {
    /// The store's page cache in MiB.
    pub fn cache_mib(&self) -> u64 {
        self.cache_mib
            .unwrap_or(weft_tangle::store::DEFAULT_CACHE_MIB)
    }

    /// Whether either limit is set (the node then runs the pruner).
    pub fn prunes(&self) -> bool {
        self.prune_keep_milestones.is_some() || self.prune_max_db_mib.is_some()
    }
}

/// How a committee of more than one validator agrees on milestones
/// (`specs/consensus.md` §9): the engine's pacing and rules, which every member must
/// configure identically, and which node (peer id) holds each member's key, so that a
/// consensus message is attributed to the committee position of the peer that
/// authenticated the connection it came on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsensusSettings {
    /// The time of milestone 0 (ms since the Unix epoch): where the first session's
    /// milestone clock starts.
    pub genesis_time_ms: u64,
    /// The engine's pacing.
    pub timing: SessionTiming,
    /// The finalization rules (time step, session length).
    pub rules: FinalizationRules,
    /// Each validator's key and the peer id of the node holding it: the genesis
    /// committee's members in its (sorted) order, then standby validators by key. Entry
    /// `i` is validator position `i`; a session maps its own members (the committee in
    /// force at its first index) to these positions by key.
    pub validators: Vec<(PublicKeyBytes, PeerId)>,
}

impl ConsensusSettings {
    /// The validator position of the node with this peer id, if it holds a validator key.
    pub fn position_of(&self, peer: &PeerId) -> Option<usize> {
        self.validators.iter().position(|(_, p)| p == peer)
    }

    /// The validator position of a key, if it is a validator's.
    pub fn position_of_key(&self, key: &PublicKeyBytes) -> Option<usize> {
        self.validators.iter().position(|(k, _)| k == key)
    }
}

/// One entry of `[consensus] validators`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorEntry {
    /// The member's public key (hex).
    pub key: String,
    /// The peer id of the node holding it.
    pub peer: String,
}

/// The optional `[consensus]` section of the TOML file (required when the committee
/// has more than one member).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusSection {
    /// The time of milestone 0 (ms since the Unix epoch).
    pub genesis_time_ms: u64,
    /// Wait between two units of a validator, one engine round (default 500 ms).
    #[serde(default = "default_unit_delay")]
    pub unit_delay_ms: u64,
    /// Wait before a validator's first unit (default 4 × the unit delay).
    #[serde(default)]
    pub first_unit_delay_ms: Option<u64>,
    /// Base wait before asking again for a missing unit (default 2 × the unit delay).
    #[serde(default)]
    pub request_delay_ms: Option<u64>,
    /// How often a validator's newest units are sent again (default 30 × the unit
    /// delay).
    #[serde(default)]
    pub rebroadcast_interval_ms: Option<u64>,
    /// Rounds per session (default 3000).
    #[serde(default = "default_end_round")]
    pub end_round: u16,
    /// Largest step between consecutive milestone times (default one hour).
    #[serde(default = "default_time_step")]
    pub max_time_step_ms: u64,
    /// Every validator's key and its node's peer id: the genesis committee's members
    /// and standby validators that a committee change may add later.
    pub validators: Vec<ValidatorEntry>,
}

fn default_unit_delay() -> u64 {
    500
}
fn default_end_round() -> u16 {
    FinalizationRules::default().end_round
}
fn default_time_step() -> u64 {
    FinalizationRules::default().max_time_step_ms
}

impl ConsensusSection {
    fn settings(
        &self,
        committee: &Committee,
        committee_epoch: u32,
    ) -> Result<ConsensusSettings, ConfigError> {
        let field = |field: &'static str, message: String| ConfigError::Field { field, message };
        if !(10..=60_000).contains(&self.unit_delay_ms) {
            return Err(field("consensus.unit_delay_ms", "10 to 60000 ms".into()));
        }
        if self.end_round < 10 {
            return Err(field("consensus.end_round", "at least 10".into()));
        }
        if self.max_time_step_ms == 0 {
            return Err(field("consensus.max_time_step_ms", "at least 1".into()));
        }
        let unit = self.unit_delay_ms;
        let ms = Duration::from_millis;
        let timing = SessionTiming {
            first_unit_delay: ms(self.first_unit_delay_ms.unwrap_or(4 * unit)),
            unit_creation_delay: ms(unit),
            request_delay: ms(self.request_delay_ms.unwrap_or(2 * unit).max(1)),
            rebroadcast_interval: ms(self.rebroadcast_interval_ms.unwrap_or(30 * unit).max(1)),
        };
        let mut validators = Vec::with_capacity(committee.members().len());
        for member in committee.members() {
            let mut found = self
                .validators
                .iter()
                .filter(|v| v.key.parse::<PublicKeyBytes>().is_ok_and(|k| k == *member));
            let (Some(entry), None) = (found.next(), found.next()) else {
                return Err(field(
                    "consensus.validators",
                    format!("committee member {member} must be listed exactly once"),
                ));
            };
            let peer: PeerId = entry
                .peer
                .parse()
                .map_err(|e| field("consensus.validators", format!("peer {}: {e}", entry.peer)))?;
            if validators.iter().any(|(_, p)| *p == peer) {
                return Err(field(
                    "consensus.validators",
                    format!("peer {peer} holds two member keys"),
                ));
            }
            validators.push((*member, peer));
        }
        // Standby validators: listed with their peers, not in the genesis committee; a
        // committee change on the ledger may add them (positions after the members').
        let mut standby = Vec::new();
        for entry in &self.validators {
            let key: PublicKeyBytes = entry
                .key
                .parse()
                .map_err(|e| field("consensus.validators", format!("key {}: {e}", entry.key)))?;
            if committee.contains(&key) {
                continue;
            }
            let peer: PeerId = entry
                .peer
                .parse()
                .map_err(|e| field("consensus.validators", format!("peer {}: {e}", entry.peer)))?;
            if validators
                .iter()
                .chain(&standby)
                .any(|(k, p)| *p == peer || *k == key)
            {
                return Err(field(
                    "consensus.validators",
                    format!("key {key} or peer {peer} is listed twice"),
                ));
            }
            standby.push((key, peer));
        }
        standby.sort();
        validators.extend(standby);
        Ok(ConsensusSettings {
            genesis_time_ms: self.genesis_time_ms,
            timing,
            rules: FinalizationRules {
                max_time_step_ms: self.max_time_step_ms,
                end_round: self.end_round,
                epoch_milestones: committee_epoch,
            },
            validators,
        })
    }
}

/// The node's place in a consortium: where it listens, which environment variable holds
/// its libp2p key, whom it talks to. The key itself is read only when the network
/// starts (`crate::p2p`) and is never part of this value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSettings {
    /// Listening multiaddr, e.g. `/ip4/0.0.0.0/tcp/4100`.
    pub listen: Multiaddr,
    /// Name of the environment variable holding the node key seed (64 hex digits).
    pub key_env: String,
    /// The peers this node talks to: `<multiaddr>/p2p/<peer id>` (dial and accept) or
    /// `/p2p/<peer id>` (accept only).
    pub allowlist: Vec<PeerEntry>,
    /// How long a misbehaving peer stays banned.
    pub ban_duration: Duration,
    /// How often the node announces its milestone range.
    pub heartbeat_interval: Duration,
}

/// The optional `[network]` section of the TOML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// Listening multiaddr.
    pub listen: String,
    /// Environment variable holding the node key seed (hex); default `WEFT_NODE_KEY`.
    #[serde(default = "default_key_env")]
    pub key_env: String,
    /// Allowlist entries.
    #[serde(default)]
    pub allowlist: Vec<String>,
    /// Ban duration in seconds (default 600).
    #[serde(default = "default_ban")]
    pub ban_duration_s: u64,
    /// Heartbeat interval in milliseconds (default 5000).
    #[serde(default = "default_heartbeat")]
    pub heartbeat_interval_ms: u64,
}

fn default_key_env() -> String {
    NODE_KEY_ENV.into()
}
fn default_ban() -> u64 {
    600
}
fn default_heartbeat() -> u64 {
    5000
}

impl NetworkSection {
    fn settings(&self) -> Result<NetworkSettings, ConfigError> {
        let field = |field: &'static str, message: String| ConfigError::Field { field, message };
        let listen: Multiaddr = self
            .listen
            .parse()
            .map_err(|e| field("network.listen", format!("{}: {e}", self.listen)))?;
        if self.key_env.is_empty()
            || !self
                .key_env
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(field(
                "network.key_env",
                "an environment variable name (letters, digits, _)".into(),
            ));
        }
        let allowlist = self
            .allowlist
            .iter()
            .map(|e| {
                e.parse::<PeerEntry>()
                    .map_err(|err| field("network.allowlist", err.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if allowlist.len() > weft_network::MAX_PEERS {
            return Err(field(
                "network.allowlist",
                format!("at most {} peers", weft_network::MAX_PEERS),
            ));
        }
        if self.ban_duration_s == 0 {
            return Err(field("network.ban_duration_s", "at least 1 s".into()));
        }
        if self.heartbeat_interval_ms < 100 {
            return Err(field(
                "network.heartbeat_interval_ms",
                "at least 100 ms".into(),
            ));
        }
        Ok(NetworkSettings {
            listen,
            key_env: self.key_env.clone(),
            allowlist,
            ban_duration: Duration::from_secs(self.ban_duration_s),
            heartbeat_interval: Duration::from_millis(self.heartbeat_interval_ms),
        })
    }
}

/// The TOML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Network name.
    pub network_name: String,
    /// Database directory.
    pub data_dir: PathBuf,
    /// API listen address.
    pub api: SocketAddr,
    /// Committee threshold.
    pub committee_threshold: u16,
    /// Committee members (hex Ed25519 public keys).
    pub committee: Vec<String>,
    /// The accreditation authority's controller key (hex Ed25519 public key); its DID is
    /// the one-key DID of that key (nonce 0).
    pub authority: String,
    /// Organisations created and accredited (issuer and distribution point) at genesis,
    /// each a one-key DID (hex Ed25519 public keys); others are accredited on the ledger.
    #[serde(default)]
    pub organisations: Vec<String>,
    /// File holding the eligibility circuit's compressed verifying key (from the
    /// network's ceremony); without it the network refuses every claim.
    #[serde(default)]
    pub eligibility_key: Option<PathBuf>,
    /// Committee epochs in milestones (genesis): committee changes take effect only at
    /// `k · committee_epoch + 1`, where consensus sessions end; 0 (default) forbids them.
    #[serde(default)]
    pub committee_epoch: u32,
    /// Milestone interval (ms), default 1000.
    #[serde(default = "default_interval")]
    pub milestone_interval_ms: u64,
    /// Proof-of-work difficulty for anonymous blocks, default 16.
    #[serde(default = "default_pow")]
    pub pow_difficulty: u32,
    /// Largest request body (bytes), default 65536.
    #[serde(default = "default_body")]
    pub max_body_bytes: usize,
    /// Blocks waiting for parents, at most (default 50000).
    #[serde(default = "default_unsolid")]
    pub max_unsolid: usize,
    /// Blocks awaiting confirmation, at most (default 100000).
    #[serde(default = "default_pending")]
    pub max_pending_blocks: usize,
    /// Tip selection parameters.
    #[serde(default)]
    pub tips: TipConfig,
    /// Peer-to-peer networking; without it the node runs alone.
    #[serde(default)]
    pub network: Option<NetworkSection>,
    /// Milestone agreement (required when the committee has more than one member).
    #[serde(default)]
    pub consensus: Option<ConsensusSection>,
    /// The store's cache (`cache_mib`) and pruning of old blocks
    /// (`prune_keep_milestones`, `prune_max_db_mib`, off when absent).
    #[serde(default)]
    pub storage: StorageSettings,
    /// Full and delta snapshots written into the data directory
    /// (`full_every_milestones`, `delta_every_milestones`, `keep_full`, `dir`); off
    /// when absent.
    #[serde(default)]
    pub snapshots: crate::snapshots::SnapshotSettings,
}

fn default_interval() -> u64 {
    1000
}
fn default_pow() -> u32 {
    16
}
fn default_body() -> usize {
    64 * 1024
}
fn default_pending() -> usize {
    100_000
}
fn default_unsolid() -> usize {
    50_000
}

/// Configuration errors, each naming the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// File could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// TOML error.
    #[error("invalid config {path}: {message}")]
    Parse {
        /// Path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A field's value is wrong.
    #[error("config field `{field}`: {message}")]
    Field {
        /// Field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn parse_keys(field: &'static str, keys: &[String]) -> Result<Vec<PublicKeyBytes>, ConfigError> {
    keys.iter()
        .map(|k| {
            k.parse().map_err(|e| ConfigError::Field {
                field,
                message: format!("{k}: {e}"),
            })
        })
        .collect()
}

/// The dev network's eligibility verifying key (from the public dev setup seed).
pub fn dev_eligibility_key() -> Option<Vec<u8>> {
    match weft_circuits::groth16::dev_keys() {
        Ok(k) => Some(k.verifying_key_bytes()),
        Err(e) => {
            tracing::error!(error = %e, "dev eligibility keys failed; claims will be refused");
            None
        }
    }
}

impl NodeConfig {
    /// The dev network: one-member committee and one organisation with well-known keys.
    pub fn dev(data_dir: PathBuf, api: SocketAddr) -> NodeConfig {
        let committee = Committee::new(1, vec![dev_key("committee").public_key()])
            .unwrap_or_else(|_| unreachable!("a one-member committee with threshold 1 is valid"));
        NodeConfig {
            data_dir,
            api,
            genesis: Genesis {
                network_name: DEV_NETWORK.into(),
                committee,
                authority: DidCreate::with_key(dev_key("authority").public_key(), 0),
                organisations: vec![GenesisOrganisation::with_key(
                    dev_key("organisation").public_key(),
                )],
                recent_roots: weft_ledger::registry::DEFAULT_RECENT_ROOTS,
                eligibility_key: dev_eligibility_key(),
                committee_epoch: 0,
            },
            milestone_interval_ms: 1000,
            pow_difficulty: 0,
            max_body_bytes: 64 * 1024,
            max_clock_skew_ms: 60_000,
            max_unsolid: 50_000,
            max_pending_blocks: 100_000,
            tips: TipConfig::default(),
            max_milestone_tips: 4096,
            dev: true,
            network: None,
            consensus: None,
            storage: StorageSettings::default(),
            snapshots: crate::snapshots::SnapshotSettings::default(),
        }
    }

    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let file: ConfigFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        let members = parse_keys("committee", &file.committee)?;
        let committee =
            Committee::new(file.committee_threshold, members).map_err(|e| ConfigError::Field {
                field: "committee",
                message: e.to_string(),
            })?;
        let consensus = match (&file.consensus, committee.members().len()) {
            (_, 1) => None,
            (Some(section), _) => Some(section.settings(&committee, file.committee_epoch)?),
            (None, _) => {
                return Err(ConfigError::Field {
                    field: "consensus",
                    message: "a committee of more than one member needs a [consensus] section"
                        .into(),
                })
            }
        };
        if file.milestone_interval_ms < 50 {
            return Err(ConfigError::Field {
                field: "milestone_interval_ms",
                message: "at least 50 ms".into(),
            });
        }
        if file.storage.prune_max_db_mib == Some(0) {
            return Err(ConfigError::Field {
                field: "storage.prune_max_db_mib",
                message: "at least 1 MiB (leave it out to prune by age only)".into(),
            });
        }
        if file
            .storage
            .cache_mib
            .is_some_and(|m| !(8..=65_536).contains(&m))
        {
            return Err(ConfigError::Field {
                field: "storage.cache_mib",
                message: "between 8 and 65536 MiB".into(),
            });
        }
        if file.pow_difficulty > 40 {
            return Err(ConfigError::Field {
                field: "pow_difficulty",
                message: "at most 40 bits".into(),
            });
        }
        if file.max_body_bytes < weft_types::MAX_BLOCK_BYTES * 2 {
            return Err(ConfigError::Field {
                field: "max_body_bytes",
                message: format!(
                    "at least {} (a block as JSON)",
                    weft_types::MAX_BLOCK_BYTES * 2
                ),
            });
        }
        Ok(NodeConfig {
            data_dir: file.data_dir,
            api: file.api,
            genesis: Genesis {
                network_name: file.network_name,
                committee,
                authority: DidCreate::with_key(
                    parse_keys("authority", std::slice::from_ref(&file.authority))?
                        .first()
                        .copied()
                        .ok_or(ConfigError::Field {
                            field: "authority",
                            message: "missing".into(),
                        })?,
                    0,
                ),
                organisations: parse_keys("organisations", &file.organisations)?
                    .into_iter()
                    .map(GenesisOrganisation::with_key)
                    .collect(),
                recent_roots: weft_ledger::registry::DEFAULT_RECENT_ROOTS,
                eligibility_key: match &file.eligibility_key {
                    None => None,
                    Some(path) => {
                        Some(std::fs::read(path).map_err(|source| ConfigError::Read {
                            path: path.clone(),
                            source,
                        })?)
                    }
                },
                committee_epoch: file.committee_epoch,
            },
            milestone_interval_ms: file.milestone_interval_ms,
            pow_difficulty: file.pow_difficulty,
            max_body_bytes: file.max_body_bytes,
            max_clock_skew_ms: 60_000,
            max_unsolid: file.max_unsolid,
            max_pending_blocks: file.max_pending_blocks,
            tips: file.tips,
            max_milestone_tips: 4096,
            dev: false,
            network: file
                .network
                .as_ref()
                .map(NetworkSection::settings)
                .transpose()?,
            consensus,
            storage: file.storage,
            snapshots: file.snapshots,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_errors_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weft.toml");
        let member = dev_key("committee").public_key();
        let authority = dev_key("authority").public_key();
        let org = dev_key("organisation").public_key();
        let head = "network_name = \"n\"\ndata_dir = \"d\"\napi = \"127.0.0.1:1\"\ncommittee_threshold = 1\n";
        std::fs::write(
            &path,
            format!(
                "{head}committee = [\"{member}\"]\nauthority = \"{authority}\"\norganisations = [\"{org}\"]\n"
            ),
        )
        .unwrap();
        let c = NodeConfig::from_file(&path).unwrap();
        assert_eq!(c.genesis.committee.members(), &[member]);
        assert_eq!(c.genesis.authority, DidCreate::with_key(authority, 0));
        assert_eq!(c.genesis.organisations[0].did, DidCreate::with_key(org, 0));
        assert_eq!(c.pow_difficulty, 16);
        std::fs::write(
            &path,
            format!("{head}committee = [\"zz\"]\nauthority = \"{authority}\"\n"),
        )
        .unwrap();
        let e = NodeConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("committee"), "{e}");
        // The authority is required, and must be a key.
        std::fs::write(&path, format!("{head}committee = [\"{member}\"]\n")).unwrap();
        let e = NodeConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("authority"), "{e}");
        std::fs::write(
            &path,
            format!("{head}committee = [\"{member}\"]\nauthority = \"xx\"\n"),
        )
        .unwrap();
        let e = NodeConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("authority"), "{e}");
        // A committee of four needs [consensus], naming every member's node once.
        let keys: Vec<PublicKeyBytes> = (1..=4u8)
            .map(|i| OrganisationKey::from_seed(&[i; 32]).public_key())
            .collect();
        let peers: Vec<PeerId> = (1..=4u8)
            .map(|i| weft_network::peer_id_from_seed([i; 32]))
            .collect();
        let four = format!(
            "network_name = \"n\"\ndata_dir = \"d\"\napi = \"127.0.0.1:1\"\n\
             committee_threshold = 3\ncommittee = [{}]\nauthority = \"{authority}\"\n",
            keys.iter()
                .map(|k| format!("\"{k}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        std::fs::write(&path, &four).unwrap();
        let e = NodeConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("consensus"), "{e}");
        let validators = |n: usize| {
            keys.iter()
                .zip(&peers)
                .take(n)
                .map(|(k, p)| format!("{{ key = \"{k}\", peer = \"{p}\" }}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        std::fs::write(
            &path,
            format!(
                "{four}[consensus]\ngenesis_time_ms = 5\nunit_delay_ms = 50\nvalidators = [{}]\n",
                validators(3)
            ),
        )
        .unwrap();
        let e = NodeConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("exactly once"), "{e}");
        std::fs::write(
            &path,
            format!(
                "{four}[consensus]\ngenesis_time_ms = 5\nunit_delay_ms = 50\nvalidators = [{}]\n",
                validators(4)
            ),
        )
        .unwrap();
        let c = NodeConfig::from_file(&path).unwrap();
        let consensus = c.consensus.expect("consensus settings");
        assert_eq!(consensus.genesis_time_ms, 5);
        assert_eq!(
            consensus.timing.unit_creation_delay,
            Duration::from_millis(50)
        );
        for (k, p) in keys.iter().zip(&peers) {
            let position = consensus.position_of(p).expect("a validator's node");
            assert_eq!(c.genesis.committee.members()[position], *k);
        }
        assert_eq!(
            consensus.position_of(&weft_network::peer_id_from_seed([9; 32])),
            None
        );
        std::fs::write(&path, "network_name = 3").unwrap();
        assert!(matches!(
            NodeConfig::from_file(&path),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn the_storage_section_sets_pruning_and_is_off_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weft.toml");
        let one = format!(
            "network_name = \"n\"\ndata_dir = \"d\"\napi = \"127.0.0.1:1\"\n\
             committee_threshold = 1\ncommittee = [\"{}\"]\nauthority = \"{}\"\n",
            dev_key("committee").public_key(),
            dev_key("authority").public_key()
        );
        std::fs::write(&path, &one).unwrap();
        let c = NodeConfig::from_file(&path).unwrap();
        assert!(!c.storage.prunes());
        assert!(!NodeConfig::dev("d".into(), "127.0.0.1:1".parse().unwrap())
            .storage
            .prunes());
        std::fs::write(
            &path,
            format!("{one}[storage]\nprune_keep_milestones = 100\nprune_max_db_mib = 512\n"),
        )
        .unwrap();
        let c = NodeConfig::from_file(&path).unwrap();
        assert_eq!(
            c.storage,
            StorageSettings {
                prune_keep_milestones: Some(100),
                prune_max_db_mib: Some(512),
                cache_mib: None,
            }
        );
        assert!(c.storage.prunes());
        std::fs::write(&path, format!("{one}[storage]\nprune_max_db_mib = 0\n")).unwrap();
        let e = NodeConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("storage.prune_max_db_mib"), "{e}");
        assert_eq!(c.storage.cache_mib(), weft_tangle::store::DEFAULT_CACHE_MIB);
        std::fs::write(&path, format!("{one}[storage]\ncache_mib = 256\n")).unwrap();
        let c = NodeConfig::from_file(&path).unwrap();
        assert_eq!(c.storage.cache_mib(), 256);
        assert!(!c.storage.prunes());
        std::fs::write(&path, format!("{one}[storage]\ncache_mib = 4\n")).unwrap();
        let e = NodeConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("storage.cache_mib"), "{e}");
        std::fs::write(&path, format!("{one}[storage]\nprune_everything = true\n")).unwrap();
        assert!(matches!(
            NodeConfig::from_file(&path),
            Err(ConfigError::Parse { .. })
        ));
    }
}
