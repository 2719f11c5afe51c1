//! `weft-node testnet`: the configuration and keys of a local consortium.
//!
//! This module exists so that starting several nodes that know each other takes one
//! command: it writes one directory per node with its TOML configuration (one genesis
//! shared by all, 127.0.0.1 ports for the API and the peer-to-peer listener, an
//! allowlist of every other node, and for a committee of more than one validator the
//! `[consensus]` section naming each validator's node) and its secret seeds in a
//! `keys.env` file readable only by its owner, to be loaded into the environment of the
//! node's process (seeds are never read from a file by the node itself).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use weft_crypto::OrganisationKey;
use weft_network::{Multiaddr, NodeKey, PeerEntry};

use crate::config::{NODE_KEY_ENV, VALIDATOR_KEY_ENV};

/// Environment variable of `organisation.env` holding the genesis organisation's seed.
pub const ORGANISATION_KEY_ENV: &str = "WEFT_ORGANISATION_KEY";
/// Environment variable of `organisation.env` holding the accreditation authority's seed.
pub const AUTHORITY_KEY_ENV: &str = "WEFT_AUTHORITY_KEY";

/// What to generate.
#[derive(Debug, Clone)]
pub struct TestnetOptions {
    /// Number of nodes (1..=64).
    pub nodes: usize,
    /// Output directory (created; must not hold a testnet already).
    pub dir: PathBuf,
    /// API port of node 0; node `i` uses `api_port + i`.
    pub api_port: u16,
    /// Peer-to-peer port of node 0; node `i` uses `p2p_port + i`.
    pub p2p_port: u16,
    /// Milestone interval (ms): how often the validators propose (or the only
    /// validator issues) a milestone.
    pub milestone_interval_ms: u64,
    /// How many of the nodes are validators (nodes `0..validators`, each with its own
    /// committee key; threshold `⌊2n/3⌋ + 1`); the others follow. `None`: all of them.
    pub validators: Option<usize>,
    /// The consensus engine's round (unit) delay in ms, written to `[consensus]`.
    pub unit_delay_ms: u64,
    /// How many nodes after the validators hold a standby validator key: listed in
    /// `[consensus]` but not in the genesis committee, so a committee change on the
    /// ledger can add them.
    pub standby: usize,
    /// Committee epochs in milestones (genesis `committee_epoch`): committee changes
    /// take effect at `k · epoch + 1`. Written only for a committee of several members.
    pub committee_epoch: u32,
}

/// Why the testnet could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    /// Bad options.
    #[error("{0}")]
    Options(String),
    /// Writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// One generated node.
#[derive(Debug, Clone)]
pub struct TestnetNode {
    /// Its directory (`DIR/node-i`).
    pub dir: PathBuf,
    /// Its configuration file.
    pub config: PathBuf,
    /// Its API base URL.
    pub api: String,
    /// Its allowlist entry (`<multiaddr>/p2p/<peer id>`).
    pub entry: PeerEntry,
    /// Whether it holds a committee key.
    pub validator: bool,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TestnetError + '_ {
    move |source| TestnetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a file readable and writable by its owner only.
fn write_secret(path: &Path, text: &str) -> Result<(), TestnetError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io(path))?;
    file.write_all(text.as_bytes()).map_err(io(path))
}

/// The committee threshold of `n` members: more than two thirds, `⌊2n/3⌋ + 1`
/// (`2f + 1` for `n = 3f + 1`).
pub fn threshold(n: usize) -> u16 {
    (2 * n / 3 + 1) as u16
}

/// Writes `DIR/node-i/config.toml` and `DIR/node-i/keys.env` for every node, and
/// `DIR/organisation.env` (the genesis organisation's and authority's seeds, for
/// scripts that sign blocks). Nodes `0..validators` each hold one committee key (all
/// nodes by default) and agree on milestones; the others follow the certified
/// milestones. With one validator it issues every milestone alone.
pub fn write(options: &TestnetOptions) -> Result<Vec<TestnetNode>, TestnetError> {
    let n = options.nodes;
    if !(1..=64).contains(&n) {
        return Err(TestnetError::Options("--nodes: 1 to 64".into()));
    }
    let v = options.validators.unwrap_or(n);
    if !(1..=n).contains(&v) {
        return Err(TestnetError::Options(
            "--validators: 1 to the number of nodes".into(),
        ));
    }
    if v + options.standby > n || (options.standby > 0 && v < 2) {
        return Err(TestnetError::Options(
            "--standby: validators plus standby validators at most the number of nodes, \
             with a committee of at least two validators"
                .into(),
        ));
    }
    if !(10..=60_000).contains(&options.unit_delay_ms) {
        return Err(TestnetError::Options("--unit-delay-ms: 10 to 60000".into()));
    }
    if options.milestone_interval_ms < 50 {
        return Err(TestnetError::Options(
            "--milestone-interval-ms: at least 50".into(),
        ));
    }
    let last = |base: u16| base.checked_add(n as u16 - 1);
    if options.api_port == 0 || options.p2p_port == 0 {
        return Err(TestnetError::Options("ports must not be 0".into()));
    }
    let (Some(api_last), Some(p2p_last)) = (last(options.api_port), last(options.p2p_port)) else {
        return Err(TestnetError::Options("ports out of range".into()));
    };
    let overlap = options.api_port <= p2p_last && options.p2p_port <= api_last;
    if overlap {
        return Err(TestnetError::Options(
            "the API and peer-to-peer port ranges overlap".into(),
        ));
    }
    let dir = std::path::absolute(&options.dir).map_err(io(&options.dir))?;
    if dir.join("node-0").exists() || dir.join("organisation.env").exists() {
        return Err(TestnetError::Options(format!(
            "{} already holds a testnet; choose another directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;

    let mut rng = rand::rngs::OsRng;
    // Keys of the validators (nodes 0..v) and then of the standby validators.
    let validator_keys: Vec<OrganisationKey> = (0..v + options.standby)
        .map(|_| OrganisationKey::generate(&mut rng))
        .collect();
    let authority = OrganisationKey::generate(&mut rng);
    let organisation = OrganisationKey::generate(&mut rng);
    let node_keys: Vec<NodeKey> = (0..n).map(|_| NodeKey::generate()).collect();
    let network_name = format!(
        "weft-testnet-{}",
        &hex::encode(validator_keys[0].public_key().0)[..8]
    );
    let members: Vec<String> = validator_keys[..v]
        .iter()
        .map(|k| format!("\"{}\"", k.public_key()))
        .collect();
    let consensus = if v > 1 {
        let entries: Vec<String> = validator_keys
            .iter()
            .zip(&node_keys)
            .map(|(k, node)| {
                format!(
                    "{{ key = \"{}\", peer = \"{}\" }}",
                    k.public_key(),
                    node.peer_id()
                )
            })
            .collect();
        format!(
            "\n[consensus]\n\
             # Every validator uses the same values here. Validators after the genesis\n\
             # committee's members are standby: a committee change may add them.\n\
             genesis_time_ms = {}\n\
             unit_delay_ms = {}\n\
             validators = [\n    {}\n]\n",
            crate::core::now_ms(),
            options.unit_delay_ms,
            entries.join(",\n    ")
        )
    } else {
        String::new()
    };

    let mut nodes = Vec::with_capacity(n);
    for (i, key) in node_keys.iter().enumerate() {
        let listen: Multiaddr = format!("/ip4/127.0.0.1/tcp/{}", options.p2p_port + i as u16)
            .parse()
            .map_err(|e| TestnetError::Options(format!("listen address: {e}")))?;
        let node_dir = dir.join(format!("node-{i}"));
        nodes.push(TestnetNode {
            config: node_dir.join("config.toml"),
            dir: node_dir,
            api: format!("http://127.0.0.1:{}", options.api_port + i as u16),
            entry: PeerEntry::new(key.peer_id(), Some(listen)),
            validator: i < v + options.standby,
        });
    }

    let org_env = format!(
        "# The genesis organisation and accreditation authority of this testnet. Secret.\n\
         {ORGANISATION_KEY_ENV}={}\n{AUTHORITY_KEY_ENV}={}\n",
        hex::encode(*organisation.seed()),
        hex::encode(*authority.seed())
    );
    write_secret(&dir.join("organisation.env"), &org_env)?;

    for (i, node) in nodes.iter().enumerate() {
        std::fs::create_dir_all(&node.dir).map_err(io(&node.dir))?;
        let allowlist: Vec<String> = nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, other)| format!("\"{}\"", other.entry))
            .collect();
        let listen = node
            .entry
            .addr
            .as_ref()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let mut toml = String::new();
        let _ = write!(
            toml,
            "# weft-node testnet: node {i} of {n}{role}\n\
             network_name = \"{network_name}\"\n\
             data_dir = \"{data}\"\n\
             api = \"127.0.0.1:{api}\"\n\
             committee_threshold = {threshold}\n\
             committee = [{committee}]\n\
             authority = \"{authority}\"\n\
             organisations = [\"{organisation}\"]\n\
             milestone_interval_ms = {interval}\n\
             {epoch}\
             \n\
             [network]\n\
             listen = \"{listen}\"\n\
             key_env = \"{NODE_KEY_ENV}\"\n\
             heartbeat_interval_ms = 1000\n\
             ban_duration_s = 600\n\
             allowlist = [\n    {allow}\n]\n{consensus}",
            role = match (i < v, v, i < v + options.standby) {
                (true, 1, _) => " (holds the committee key: issues milestones)",
                (true, _, _) => " (validator: agrees on milestones with the committee)",
                (false, _, true) =>
                    " (standby validator: follows until a committee change adds it)",
                (false, _, false) => " (follower)",
            },
            epoch = if v > 1 {
                format!("committee_epoch = {}\n", options.committee_epoch)
            } else {
                String::new()
            },
            threshold = threshold(v),
            data = node.dir.join("data").display(),
            api = options.api_port + i as u16,
            committee = members.join(", "),
            authority = authority.public_key(),
            organisation = organisation.public_key(),
            interval = options.milestone_interval_ms,
            allow = allowlist.join(",\n    "),
        );
        std::fs::write(&node.config, toml).map_err(io(&node.config))?;
        let mut env = format!(
            "# Secret seeds of node {i}: load into the node's environment, never share.\n\
             {NODE_KEY_ENV}={}\n",
            node_keys[i].to_hex().as_str()
        );
        if let Some(key) = validator_keys.get(i) {
            let _ = writeln!(env, "{VALIDATOR_KEY_ENV}={}", hex::encode(*key.seed()));
        }
        let env = zeroize::Zeroizing::new(env);
        write_secret(&node.dir.join("keys.env"), &env)?;
    }
    Ok(nodes)
}

/// The instructions printed after [`write`].
pub fn instructions(options: &TestnetOptions, nodes: &[TestnetNode]) -> String {
    let dir = std::path::absolute(&options.dir).unwrap_or_else(|_| options.dir.clone());
    let v = nodes.iter().filter(|n| n.validator).count();
    let roles = if v == 1 {
        format!(
            "node-0 holds the committee key and issues a milestone every {} ms; the others \
             follow and check its certificates",
            options.milestone_interval_ms
        )
    } else {
        format!(
            "nodes 0 to {} are the validators of a {v}-member committee (threshold {}): \
             they agree on milestones with AlephBFT, proposing every {} ms{}",
            v - 1,
            threshold(v),
            options.milestone_interval_ms,
            if v < nodes.len() {
                "; the others follow and check the certificates"
            } else {
                ""
            }
        )
    };
    let mut out = format!(
        "Wrote a {}-node testnet in {}: {roles}.\n\n\
         Start each node in its own terminal (the keys go into the environment, never on \
         the command line):\n",
        nodes.len(),
        dir.display(),
    );
    for node in nodes {
        let _ = writeln!(
            out,
            "  (set -a && . {}/keys.env && exec weft-node run --config {})",
            node.dir.display(),
            node.config.display()
        );
    }
    out.push_str("\nWatch them:\n");
    for node in nodes {
        let _ = writeln!(out, "  curl -s {}/api/v1/milestones/latest", node.api);
    }
    let _ = write!(
        out,
        "\nThe genesis organisation's key (to sign blocks) is in {}/organisation.env.\n",
        dir.display()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_configs_that_load_with_private_keys() {
        let dir = tempfile::tempdir().unwrap();
        let options = TestnetOptions {
            nodes: 3,
            dir: dir.path().join("net"),
            api_port: 17100,
            p2p_port: 17200,
            milestone_interval_ms: 500,
            validators: None,
            unit_delay_ms: 100,
            standby: 0,
            committee_epoch: 100,
        };
        let nodes = write(&options).unwrap();
        assert_eq!(nodes.len(), 3);
        for node in &nodes {
            let config = crate::config::NodeConfig::from_file(&node.config).unwrap();
            let network = config.network.expect("a [network] section");
            assert_eq!(network.allowlist.len(), 2);
            assert!(!network.allowlist.contains(&node.entry));
            assert_eq!(config.milestone_interval_ms, 500);
            let keys = std::fs::read_to_string(node.dir.join("keys.env")).unwrap();
            assert!(keys.contains(VALIDATOR_KEY_ENV));
            assert_eq!(config.genesis.committee.members().len(), 3);
            assert_eq!(config.genesis.committee.threshold(), 3);
            let consensus = config.consensus.expect("a [consensus] section");
            assert!(consensus.position_of(&node.entry.peer_id).is_some());
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(node.dir.join("keys.env"))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600);
            }
        }
        // One genesis for all.
        let a = crate::config::NodeConfig::from_file(&nodes[0].config).unwrap();
        let b = crate::config::NodeConfig::from_file(&nodes[2].config).unwrap();
        assert_eq!(a.genesis, b.genesis);
        // Never over an existing testnet.
        assert!(write(&options).is_err());
        // One validator: node 0 issues alone, the others follow.
        let solo = TestnetOptions {
            dir: dir.path().join("solo"),
            validators: Some(1),
            ..options.clone()
        };
        let solo_nodes = write(&solo).unwrap();
        for (i, node) in solo_nodes.iter().enumerate() {
            let config = crate::config::NodeConfig::from_file(&node.config).unwrap();
            assert_eq!(config.genesis.committee.members().len(), 1);
            assert!(config.consensus.is_none());
            let keys = std::fs::read_to_string(node.dir.join("keys.env")).unwrap();
            assert_eq!(keys.contains(VALIDATOR_KEY_ENV), i == 0);
        }
        let text = instructions(&options, &nodes);
        assert!(text.contains("weft-node run --config"));
        let keys = std::fs::read_to_string(nodes[0].dir.join("keys.env")).unwrap();
        let seed = keys
            .lines()
            .find_map(|l| l.strip_prefix("WEFT_NODE_KEY="))
            .unwrap();
        assert!(!text.contains(seed));
    }
}
