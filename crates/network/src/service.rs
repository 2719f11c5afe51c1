//! The running network: one tokio task that owns the libp2p swarm, and the cloneable
//! [`NetworkHandle`] through which the node talks to it.
//!
//! This module exists to keep every libp2p object on one task (the swarm is not
//! shareable), to turn the swarm's events into the few [`NetworkEvent`]s a node cares
//! about, and to enforce the allowlist, the bans and every bound in one place. The
//! handle only sends commands over a bounded channel and awaits one-shot replies.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use libp2p::gossipsub::{
    self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId, PeerScoreParams,
    PeerScoreThresholds, PublishError, TopicScoreParams, ValidationMode,
    WhitelistSubscriptionFilter,
};
use libp2p::request_response::{
    self, OutboundFailure, OutboundRequestId, ProtocolSupport, ResponseChannel,
};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    allow_block_list, connection_limits, noise, ping, tcp, yamux, Multiaddr, PeerId, Swarm,
    SwarmBuilder,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use weft_types::{Block, BlockId, NetworkId};

use crate::config::{NetworkConfig, PeerEntry};
use crate::error::NetworkError;
use crate::peers::{PeerStatus, PeerTable, StrikeOutcome};
use crate::protocol::{
    self, fit_blocks, CommitteeCodec, Malformed, MilestonePage, MilestoneRange, SyncCodec,
    SyncRequest, SyncResponse, COMMITTEE_PROTOCOL, MAX_BLOCKS_PER_REQUEST, MAX_COMMITTEE_BYTES,
    MAX_GOSSIP_BYTES, MAX_MILESTONE_IDS_PER_PAGE, SYNC_PROTOCOL,
};
use crate::source::{MilestoneData, SyncSource};

/// Capacity of the command channel from handles to the network task.
const COMMAND_CAPACITY: usize = 1024;
/// How often the task looks at redials and ban expiries.
const TICK: Duration = Duration::from_millis(250);
/// How long `start` waits for the listener to be bound.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Most blocks a milestone may be said to confirm; a peer that claims more is
/// misbehaving (32 MiB of ids).
pub const MAX_CONFIRMED_PER_MILESTONE: u32 = 1 << 20;
/// Most committee messages sent and not yet acknowledged at once; more are dropped (the
/// consensus engine resends what matters).
pub const MAX_PENDING_COMMITTEE: usize = 1024;

/// What the node decided about a gossiped block, reported with
/// [`NetworkHandle::report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// Valid: gossipsub forwards it to the other peers.
    Accept,
    /// Not forwarded, no penalty: the node cannot judge it (yet), or already has it.
    Ignore,
    /// Invalid (bad signature, wrong structure for its issuer, …): not forwarded, and
    /// the peer that sent it earns a strike; at
    /// [`NetworkConfig::max_invalid_blocks`] strikes it is banned.
    Reject,
}

/// What happened to a published block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Sent to the subscribed peers.
    Sent,
    /// Gossip already carried this block (same id): nothing sent.
    Duplicate,
    /// No peer is subscribed yet: nothing sent (peers fetch it later by sync).
    NoPeers,
}

/// What the network tells the node. Delivered on the bounded channel returned by
/// [`Network::start`] (capacity [`NetworkConfig::event_capacity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkEvent {
    /// A gossiped block that decoded as one canonical block of this network. Report
    /// the node's verdict with [`NetworkHandle::report`]`(from, id, …)`; until then it
    /// is not forwarded. Each block id is delivered at most once per
    /// gossipsub duplicate-cache period (60 s).
    Block {
        /// The peer it came from (strikes go to this peer).
        from: PeerId,
        /// Its id, BLAKE2b-256 of `bytes`.
        id: BlockId,
        /// Its canonical bytes.
        bytes: Vec<u8>,
    },
    /// The first connection to an allowlisted peer opened.
    PeerConnected {
        /// The peer.
        peer: PeerId,
        /// Its address on this connection.
        addr: Multiaddr,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// The peer.
        peer: PeerId,
    },
    /// A peer announced which milestones it holds (gossip heartbeat or status answer).
    Heartbeat {
        /// The peer.
        peer: PeerId,
        /// Its latest milestone index (0: none yet).
        latest: u32,
        /// The lowest milestone index it still keeps.
        oldest: u32,
    },
    /// A message on the committee protocol (`/weft/committee/1`): opaque bytes (at
    /// most [`MAX_COMMITTEE_BYTES`]) that the node decodes. `from` is the peer the
    /// noise handshake authenticated, never a claim inside the message.
    Committee {
        /// The authenticated peer it came from.
        from: PeerId,
        /// The message body.
        bytes: Vec<u8>,
    },
    /// A peer was disconnected and banned for misbehaviour.
    PeerBanned {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
        /// For how long.
        duration: Duration,
    },
}

enum Command {
    Publish {
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<Published, NetworkError>>,
    },
    Report {
        from: PeerId,
        id: BlockId,
        validation: Validation,
    },
    Request {
        peer: PeerId,
        request: SyncRequest,
        reply: oneshot::Sender<Result<SyncResponse, NetworkError>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerStatus>>,
    },
    Committee {
        peer: PeerId,
        bytes: Vec<u8>,
    },
    Strike {
        peer: PeerId,
        reason: String,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

enum Internal {
    Answer {
        channel: ResponseChannel<SyncResponse>,
        response: SyncResponse,
    },
    Range(MilestoneRange),
}

#[derive(NetworkBehaviour)]
struct WeftBehaviour {
    allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    limits: connection_limits::Behaviour,
    gossipsub: gossipsub::Behaviour<gossipsub::IdentityTransform, WhitelistSubscriptionFilter>,
    sync: request_response::Behaviour<SyncCodec>,
    committee: request_response::Behaviour<CommitteeCodec>,
    ping: ping::Behaviour,
}

/// Starts the network.
pub struct Network;

impl Network {
    /// Builds the swarm (TCP, noise, yamux), listens on `config.listen`, subscribes to
    /// the network's topics and spawns the network task on the current tokio runtime.
    /// Returns once the listener is bound, with the handle and the event receiver.
    /// Allowlisted peers with an address are dialled at once and redialled when they
    /// drop.
    pub async fn start(
        config: NetworkConfig,
        source: Arc<dyn SyncSource>,
    ) -> Result<(NetworkHandle, mpsc::Receiver<NetworkEvent>), NetworkError> {
        config.validate()?;
        let keypair = config.key.keypair();
        let local_peer_id = keypair.public().to_peer_id();
        let blocks_topic = protocol::blocks_topic(config.network_id);
        let heartbeat_topic = protocol::heartbeat_topic(config.network_id);
        let behaviour = build_behaviour(&config, &blocks_topic, &heartbeat_topic)?;

        let mut swarm = SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| NetworkError::Transport(e.to_string()))?
            .with_behaviour(|_| behaviour)
            .map_err(|e| NetworkError::Transport(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_timeout))
            .build();

        swarm
            .listen_on(config.listen.clone())
            .map_err(|e| NetworkError::Transport(format!("listen on {}: {e}", config.listen)))?;
        let listen_addrs = wait_for_listener(&mut swarm).await?;

        let (command_tx, command_rx) = mpsc::channel(COMMAND_CAPACITY);
        let (event_tx, event_rx) = mpsc::channel(config.event_capacity);
        let (internal_tx, internal_rx) = mpsc::channel(config.max_inbound_requests + 1);
        let dropped = Arc::new(AtomicU64::new(0));
        let now = Instant::now();
        let peers = PeerTable::new(
            &config.allowlist,
            now,
            config.redial_min,
            config.redial_max,
            config.max_invalid_blocks,
            config.ban_duration,
        );
        let service = Service {
            swarm,
            peers,
            network_id: config.network_id,
            local_peer_id,
            blocks_topic,
            heartbeat_topic,
            source,
            events: event_tx,
            internal_tx,
            pending: HashMap::new(),
            inbound_in_flight: 0,
            max_pending: config.max_pending_requests,
            max_inbound: config.max_inbound_requests,
            strike_all: config.max_invalid_blocks,
            ban_duration: config.ban_duration,
            heartbeat_interval: config.heartbeat_interval,
            dropped: dropped.clone(),
            committee_pending: HashSet::new(),
        };
        let task = tokio::spawn(service.run(command_rx, internal_rx));
        let handle = NetworkHandle {
            commands: command_tx,
            local_peer_id,
            listen_addrs,
            network_id: config.network_id,
            dropped,
            task: Arc::new(tokio::sync::Mutex::new(Some(task))),
        };
        Ok((handle, event_rx))
    }
}

fn build_behaviour(
    config: &NetworkConfig,
    blocks_topic: &IdentTopic,
    heartbeat_topic: &IdentTopic,
) -> Result<WeftBehaviour, NetworkError> {
    let bad = |e: String| NetworkError::InvalidConfig(format!("gossipsub: {e}"));
    let blocks_hash = blocks_topic.hash();
    let id_topic = blocks_hash.clone();
    let gossip_config = gossipsub::ConfigBuilder::default()
        // Unsigned gossip (specs/network.md §3): a block carries its issuer's signature
        // (or proof of work) and every connection is noise-authenticated, so a libp2p
        // signature per message would only be checked again on every copy received.
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .max_transmit_size(MAX_GOSSIP_BYTES)
        .message_id_fn(move |m| protocol::message_id(&id_topic, m))
        // libp2p-gossipsub 0.49 drops a queued publish message older than this without
        // releasing its place in the peer's publish quota (`Receiver::poll_stale` does not
        // decrement the queue length), so every expiry shrinks the quota for good, and
        // once 2,500 have expired nothing more is ever published to that peer. Queued
        // blocks stay useful, so they never expire; the queue stays bounded by the quota.
        .publish_queue_duration(Duration::from_secs(24 * 60 * 60))
        .heartbeat_interval(Duration::from_millis(700))
        .heartbeat_initial_delay(Duration::from_millis(500))
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let filter =
        WhitelistSubscriptionFilter(HashSet::from([blocks_hash.clone(), heartbeat_topic.hash()]));
    let mut gossipsub = gossipsub::Behaviour::new_with_subscription_filter(
        MessageAuthenticity::Anonymous,
        gossip_config,
        filter,
    )
    .map_err(|e| bad(e.to_string()))?;
    // Peer scoring only for what gossipsub can judge well among a few colocated,
    // allowlisted peers: invalid messages (P4) lower a peer's score. Colocation and
    // mesh-delivery penalties would punish honest nodes on one host or a quiet network.
    let topic_params = TopicScoreParams {
        topic_weight: 1.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        ..TopicScoreParams::default()
    };
    let mut score = PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        ..PeerScoreParams::default()
    };
    score.topics.insert(blocks_hash, topic_params.clone());
    score.topics.insert(heartbeat_topic.hash(), topic_params);
    gossipsub
        .with_peer_score(score, PeerScoreThresholds::default())
        .map_err(bad)?;
    gossipsub
        .subscribe(blocks_topic)
        .map_err(|e| bad(format!("{e:?}")))?;
    gossipsub
        .subscribe(heartbeat_topic)
        .map_err(|e| bad(format!("{e:?}")))?;

    let mut allow = allow_block_list::Behaviour::<allow_block_list::AllowedPeers>::default();
    for entry in &config.allowlist {
        allow.allow_peer(entry.peer_id);
    }
    let peers = config.allowlist.len() as u32;
    let limits = connection_limits::Behaviour::new(
        connection_limits::ConnectionLimits::default()
            .with_max_pending_incoming(Some(16))
            .with_max_pending_outgoing(Some(peers + 4))
            .with_max_established_per_peer(Some(2))
            .with_max_established(Some(2 * peers + 2)),
    );
    let sync = request_response::Behaviour::with_codec(
        SyncCodec,
        [(SYNC_PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(config.request_timeout)
            .with_max_concurrent_streams(config.max_inbound_requests),
    );
    let committee = request_response::Behaviour::with_codec(
        CommitteeCodec,
        [(COMMITTEE_PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(config.request_timeout)
            .with_max_concurrent_streams(MAX_PENDING_COMMITTEE),
    );
    Ok(WeftBehaviour {
        allow,
        limits,
        gossipsub,
        sync,
        committee,
        ping: ping::Behaviour::new(ping::Config::new()),
    })
}

async fn wait_for_listener(
    swarm: &mut Swarm<WeftBehaviour>,
) -> Result<Vec<Multiaddr>, NetworkError> {
    let deadline = tokio::time::sleep(LISTEN_TIMEOUT);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::NewListenAddr { address, .. } => {
                    return Ok(vec![address]);
                }
                SwarmEvent::ListenerClosed { reason: Err(e), .. }
                | SwarmEvent::ListenerError { error: e, .. } => {
                    return Err(NetworkError::Transport(format!("listener: {e}")));
                }
                _ => {}
            },
            _ = &mut deadline => {
                return Err(NetworkError::Transport("listener did not start".into()));
            }
        }
    }
}

/// A cloneable handle on the running network. Every method is cheap: it sends a
/// command to the network task (bounded queue of 1 024) and awaits its answer.
#[derive(Clone)]
pub struct NetworkHandle {
    commands: mpsc::Sender<Command>,
    local_peer_id: PeerId,
    listen_addrs: Vec<Multiaddr>,
    network_id: NetworkId,
    dropped: Arc<AtomicU64>,
    task: Arc<tokio::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for NetworkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkHandle")
            .field("local_peer_id", &self.local_peer_id)
            .field("listen_addrs", &self.listen_addrs)
            .finish_non_exhaustive()
    }
}

impl NetworkHandle {
    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// The address the listener bound (with the real port when the configuration
    /// said port 0).
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen_addrs
    }

    /// The allowlist entry other nodes need to reach this one
    /// (`<listen address>/p2p/<peer id>`).
    pub fn entry(&self) -> PeerEntry {
        PeerEntry::new(self.local_peer_id, self.listen_addrs.first().cloned())
    }

    /// Gossip blocks dropped because the event channel was full.
    pub fn dropped_blocks(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| NetworkError::Shutdown)?;
        rx.await.map_err(|_| NetworkError::Shutdown)
    }

    /// Publishes a block's canonical bytes on the blocks topic. The bytes must decode
    /// as one block of this network.
    pub async fn publish_block(&self, bytes: Vec<u8>) -> Result<Published, NetworkError> {
        let block =
            Block::from_bytes(&bytes).map_err(|e| NetworkError::InvalidBlock(e.to_string()))?;
        if block.network_id != self.network_id {
            return Err(NetworkError::InvalidBlock(format!(
                "block of network {}, not {}",
                block.network_id, self.network_id
            )));
        }
        self.call(|reply| Command::Publish { bytes, reply }).await?
    }

    /// Reports the node's verdict on a gossiped block ([`NetworkEvent::Block`]).
    /// Reporting a block gossipsub no longer remembers (after about 3 s) does nothing.
    pub async fn report(
        &self,
        from: PeerId,
        id: BlockId,
        validation: Validation,
    ) -> Result<(), NetworkError> {
        self.commands
            .send(Command::Report {
                from,
                id,
                validation,
            })
            .await
            .map_err(|_| NetworkError::Shutdown)
    }

    async fn request(
        &self,
        peer: PeerId,
        request: SyncRequest,
    ) -> Result<SyncResponse, NetworkError> {
        match self
            .call(|reply| Command::Request {
                peer,
                request,
                reply,
            })
            .await??
        {
            SyncResponse::Busy => Err(NetworkError::Busy(peer)),
            other => Ok(other),
        }
    }

    /// Asks `peer` for blocks by id; returns those it has, with their ids, in request
    /// order. Any number of ids may be asked for: they go in requests of at most
    /// [`MAX_BLOCKS_PER_REQUEST`], one at a time. Every returned block was checked to
    /// be a canonical block of this network with one of the requested ids.
    pub async fn request_blocks(
        &self,
        peer: PeerId,
        ids: Vec<BlockId>,
    ) -> Result<Vec<(BlockId, Vec<u8>)>, NetworkError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(MAX_BLOCKS_PER_REQUEST) {
            let mut rest: &[BlockId] = chunk;
            while !rest.is_empty() {
                let SyncResponse::Blocks(blocks) = self
                    .request(peer, SyncRequest::Blocks(rest.to_vec()))
                    .await?
                else {
                    return Err(NetworkError::InvalidResponse {
                        peer,
                        reason: "wrong response kind".into(),
                    });
                };
                let Some(last) = blocks.last() else { break };
                let last_id = BlockId::of_bytes(last);
                let position = rest
                    .iter()
                    .position(|id| *id == last_id)
                    .unwrap_or(rest.len());
                out.extend(blocks.into_iter().map(|b| (BlockId::of_bytes(&b), b)));
                // The answer may have been cut to fit the frame: ask again for the ids
                // after the last one returned (an empty answer ends it).
                rest = rest.get(position + 1..).unwrap_or(&[]);
            }
        }
        Ok(out)
    }

    /// Asks `peer` for milestone `index`: its block and the ids it confirmed, in
    /// white-flag order (fetched in pages of at most
    /// [`MAX_MILESTONE_IDS_PER_PAGE`]). `None` when the peer does not hold it.
    pub async fn request_milestone(
        &self,
        peer: PeerId,
        index: u32,
    ) -> Result<Option<MilestoneData>, NetworkError> {
        let mut data: Option<MilestoneData> = None;
        let mut total = 0u32;
        loop {
            let from = data.as_ref().map_or(0, |d| d.confirmed.len() as u32);
            let SyncResponse::Milestone(page) = self
                .request(peer, SyncRequest::Milestone { index, from })
                .await?
            else {
                return Err(NetworkError::InvalidResponse {
                    peer,
                    reason: "wrong response kind".into(),
                });
            };
            let Some(page) = page else {
                if data.is_some() {
                    return Err(NetworkError::InvalidResponse {
                        peer,
                        reason: "milestone vanished between pages".into(),
                    });
                }
                return Ok(None);
            };
            match data.as_mut() {
                None => {
                    total = page.total;
                    data = Some(MilestoneData {
                        block: page.block,
                        confirmed: page.ids,
                    });
                }
                Some(d) => {
                    if page.block != d.block || page.total != total {
                        return Err(NetworkError::InvalidResponse {
                            peer,
                            reason: "milestone changed between pages".into(),
                        });
                    }
                    d.confirmed.extend(page.ids);
                }
            }
            if data
                .as_ref()
                .is_some_and(|d| d.confirmed.len() as u32 >= total)
            {
                return Ok(data);
            }
        }
    }

    /// Asks `peer` which milestones it holds (also done on every new connection).
    pub async fn request_status(&self, peer: PeerId) -> Result<MilestoneRange, NetworkError> {
        match self.request(peer, SyncRequest::Status).await? {
            SyncResponse::Status(range) => Ok(range),
            _ => Err(NetworkError::InvalidResponse {
                peer,
                reason: "wrong response kind".into(),
            }),
        }
    }

    /// Sends one committee message to `peer` on `/weft/committee/1` (best effort: it is
    /// dropped when the peer is not connected, is banned, or [`MAX_PENDING_COMMITTEE`]
    /// messages await acknowledgement; failures are logged, not returned).
    pub async fn send_committee(&self, peer: PeerId, bytes: Vec<u8>) -> Result<(), NetworkError> {
        if bytes.len() > MAX_COMMITTEE_BYTES {
            return Err(NetworkError::RequestTooLarge(format!(
                "committee message of {} bytes",
                bytes.len()
            )));
        }
        self.commands
            .send(Command::Committee { peer, bytes })
            .await
            .map_err(|_| NetworkError::Shutdown)
    }

    /// Records one strike against `peer` for misbehaviour the node found (for example
    /// an undecodable committee message); at
    /// [`NetworkConfig::max_invalid_blocks`] strikes it is banned.
    pub async fn strike(&self, peer: PeerId, reason: String) -> Result<(), NetworkError> {
        self.commands
            .send(Command::Strike { peer, reason })
            .await
            .map_err(|_| NetworkError::Shutdown)
    }

    /// Every allowlisted peer: connected or not, its announced milestone range,
    /// strikes and ban.
    pub async fn peers(&self) -> Result<Vec<PeerStatus>, NetworkError> {
        self.call(|reply| Command::Peers { reply }).await
    }

    /// Stops the network task, closing every connection; waits until it has stopped.
    /// Other handles then fail with [`NetworkError::Shutdown`].
    pub async fn shutdown(&self) {
        let _ = self.call(|reply| Command::Shutdown { reply }).await;
        if let Some(task) = self.task.lock().await.take() {
            let _ = task.await;
        }
    }
}

struct PendingRequest {
    peer: PeerId,
    request: SyncRequest,
    reply: Option<oneshot::Sender<Result<SyncResponse, NetworkError>>>,
}

struct Service {
    swarm: Swarm<WeftBehaviour>,
    peers: PeerTable,
    network_id: NetworkId,
    local_peer_id: PeerId,
    blocks_topic: IdentTopic,
    heartbeat_topic: IdentTopic,
    source: Arc<dyn SyncSource>,
    events: mpsc::Sender<NetworkEvent>,
    internal_tx: mpsc::Sender<Internal>,
    /// Outbound requests awaiting a response: at most `max_pending`.
    pending: HashMap<OutboundRequestId, PendingRequest>,
    /// Inbound requests being answered: at most `max_inbound`.
    inbound_in_flight: usize,
    max_pending: usize,
    max_inbound: usize,
    /// Strikes that ban at once (protocol violations).
    strike_all: u32,
    ban_duration: Duration,
    heartbeat_interval: Duration,
    dropped: Arc<AtomicU64>,
    /// Committee messages sent and not yet acknowledged: at most
    /// [`MAX_PENDING_COMMITTEE`].
    committee_pending: HashSet<OutboundRequestId>,
}

fn is_violation(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData
}

impl Service {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut internal: mpsc::Receiver<Internal>,
    ) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heartbeat = tokio::time::interval(self.heartbeat_interval);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown_reply = None;
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = commands.recv() => match command {
                    None => break,
                    Some(Command::Shutdown { reply }) => {
                        shutdown_reply = Some(reply);
                        break;
                    }
                    Some(command) => self.on_command(command),
                },
                Some(message) = internal.recv() => self.on_internal(message),
                _ = tick.tick() => self.on_tick(),
                _ = heartbeat.tick() => self.start_heartbeat(),
            }
        }
        for (_, mut pending) in self.pending.drain() {
            if let Some(reply) = pending.reply.take() {
                let _ = reply.send(Err(NetworkError::Shutdown));
            }
        }
        drop(self);
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    fn emit(&self, event: NetworkEvent) -> bool {
        match self.events.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("network event channel full; event dropped");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        for peer in self.peers.expire_bans(now) {
            tracing::info!(%peer, "ban expired");
            let behaviour = self.swarm.behaviour_mut();
            behaviour.allow.allow_peer(peer);
            behaviour.gossipsub.remove_blacklisted_peer(&peer);
        }
        for (peer, addr) in self.peers.due_dials(now) {
            let opts = DialOpts::peer_id(peer)
                .addresses(vec![addr])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "dial not started");
                self.peers.dial_failed(&peer, now);
            }
        }
    }

    fn start_heartbeat(&mut self) {
        let source = self.source.clone();
        let tx = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            let _ = tx.blocking_send(Internal::Range(source.milestone_range()));
        });
    }

    fn on_internal(&mut self, message: Internal) {
        match message {
            Internal::Answer { channel, response } => {
                self.inbound_in_flight = self.inbound_in_flight.saturating_sub(1);
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            Internal::Range(range) => {
                let topic = self.heartbeat_topic.hash();
                let heartbeat = protocol::Heartbeat {
                    range,
                    sent_at_ms: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64),
                    author: self.local_peer_id,
                };
                match self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(topic, protocol::encode_heartbeat(&heartbeat))
                {
                    Ok(_) | Err(PublishError::NoPeersSubscribedToTopic) => {}
                    Err(e) => tracing::debug!(error = ?e, "heartbeat not published"),
                }
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { bytes, reply } => {
                let topic = self.blocks_topic.hash();
                let result = match self.swarm.behaviour_mut().gossipsub.publish(topic, bytes) {
                    Ok(_) => Ok(Published::Sent),
                    Err(PublishError::Duplicate) => Ok(Published::Duplicate),
                    Err(PublishError::NoPeersSubscribedToTopic) => Ok(Published::NoPeers),
                    Err(e) => Err(NetworkError::Publish(format!("{e:?}"))),
                };
                let _ = reply.send(result);
            }
            Command::Report {
                from,
                id,
                validation,
            } => {
                let acceptance = match validation {
                    Validation::Accept => MessageAcceptance::Accept,
                    Validation::Ignore => MessageAcceptance::Ignore,
                    Validation::Reject => MessageAcceptance::Reject,
                };
                let known = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&MessageId(id.0.to_vec()), &from, acceptance);
                if known && validation == Validation::Reject {
                    self.strike(from, 1, format!("sent invalid block {id}"));
                }
            }
            Command::Request {
                peer,
                request,
                reply,
            } => {
                let error = if !self.peers.contains(&peer) {
                    Some(NetworkError::UnknownPeer(peer))
                } else if self.peers.is_banned(&peer) {
                    Some(NetworkError::Banned(peer))
                } else if !self.peers.is_connected(&peer) {
                    Some(NetworkError::RequestFailed {
                        peer,
                        reason: "not connected".into(),
                    })
                } else if self.pending.len() >= self.max_pending {
                    Some(NetworkError::TooManyRequests)
                } else {
                    None
                };
                match error {
                    Some(e) => {
                        let _ = reply.send(Err(e));
                    }
                    None => self.send_request(peer, request, Some(reply)),
                }
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peers.status(Instant::now()));
            }
            Command::Committee { peer, bytes } => {
                if !self.peers.is_connected(&peer)
                    || self.peers.is_banned(&peer)
                    || self.committee_pending.len() >= MAX_PENDING_COMMITTEE
                {
                    tracing::debug!(%peer, "committee message dropped");
                    return;
                }
                let id = self
                    .swarm
                    .behaviour_mut()
                    .committee
                    .send_request(&peer, Ok(bytes));
                self.committee_pending.insert(id);
            }
            Command::Strike { peer, reason } => self.strike(peer, 1, reason),
            Command::Shutdown { .. } => {}
        }
    }

    fn send_request(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        reply: Option<oneshot::Sender<Result<SyncResponse, NetworkError>>>,
    ) {
        let id = self
            .swarm
            .behaviour_mut()
            .sync
            .send_request(&peer, Ok(request.clone()));
        self.pending.insert(
            id,
            PendingRequest {
                peer,
                request,
                reply,
            },
        );
    }

    /// Adds strikes against `peer`; bans, disconnects and reports it when it reaches
    /// the limit.
    fn strike(&mut self, peer: PeerId, weight: u32, reason: String) {
        tracing::warn!(%peer, %reason, "peer misbehaved");
        if let StrikeOutcome::Banned(_) = self.peers.strike(&peer, weight, Instant::now()) {
            tracing::warn!(%peer, %reason, "peer banned");
            let behaviour = self.swarm.behaviour_mut();
            behaviour.allow.disallow_peer(peer);
            behaviour.gossipsub.blacklist_peer(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
            self.emit(NetworkEvent::PeerBanned {
                peer,
                reason,
                duration: self.ban_duration,
            });
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<WeftBehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(WeftBehaviourEvent::Gossipsub(e)) => self.on_gossip(e),
            SwarmEvent::Behaviour(WeftBehaviourEvent::Sync(e)) => self.on_sync(e),
            SwarmEvent::Behaviour(WeftBehaviourEvent::Committee(e)) => self.on_committee(e),
            SwarmEvent::Behaviour(WeftBehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result: Err(e @ (ping::Failure::Timeout | ping::Failure::Other { .. })),
            })) => {
                tracing::debug!(%peer, error = %e, "ping failed; closing the connection");
                self.swarm.close_connection(connection);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => self.on_connected(peer_id, endpoint.get_remote_address().clone()),
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => self.on_closed(peer_id, num_established),
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "dial failed");
                if !self.peers.is_connected(&peer) {
                    self.peers.dial_failed(&peer, Instant::now());
                }
            }
            SwarmEvent::IncomingConnectionError { error, peer_id, .. } => {
                tracing::debug!(?peer_id, %error, "incoming connection refused");
            }
            _ => {}
        }
    }

    fn on_connected(&mut self, peer: PeerId, addr: Multiaddr) {
        if !self.peers.connected(&peer) {
            return;
        }
        tracing::info!(%peer, "peer connected");
        self.emit(NetworkEvent::PeerConnected { peer, addr });
        // Learn its milestone range now rather than at its next heartbeat.
        if self.pending.len() < self.max_pending {
            self.send_request(peer, SyncRequest::Status, None);
        }
    }

    fn on_closed(&mut self, peer: PeerId, remaining: u32) {
        if self.peers.disconnected(&peer, remaining, Instant::now()) {
            tracing::info!(%peer, "peer disconnected");
            self.emit(NetworkEvent::PeerDisconnected { peer });
        }
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        let (from, message_id, message) = match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => (propagation_source, message_id, message),
            gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            } => return self.on_slow_peer(peer_id, failed_messages.total_queue_full()),
            _ => return,
        };
        let verdict = |s: &mut Service, acceptance| {
            s.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(&message_id, &from, acceptance);
        };
        if message.topic == self.blocks_topic.hash() {
            if let Err(reason) = check_block(self.network_id, &message.data) {
                verdict(self, MessageAcceptance::Reject);
                self.strike(from, self.strike_all, format!("gossiped {reason}"));
                return;
            }
            let id = BlockId::of_bytes(&message.data);
            let delivered = self.emit(NetworkEvent::Block {
                from,
                id,
                bytes: message.data,
            });
            if !delivered {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                verdict(self, MessageAcceptance::Ignore);
            }
        } else if message.topic == self.heartbeat_topic.hash() {
            let heartbeat = match protocol::decode_heartbeat(&message.data) {
                Ok(heartbeat) => heartbeat,
                Err(e) => {
                    verdict(self, MessageAcceptance::Reject);
                    self.strike(from, self.strike_all, format!("undecodable heartbeat: {e}"));
                    return;
                }
            };
            // Heartbeats are never forwarded (always Ignore), so an honest one comes
            // straight from its author over the authenticated connection: the named
            // author must be the peer it came from, and on the allowlist.
            verdict(self, MessageAcceptance::Ignore);
            if heartbeat.author == from && self.peers.contains(&from) {
                self.on_range(from, heartbeat.range);
            }
        } else {
            verdict(self, MessageAcceptance::Ignore);
        }
    }

    /// A peer gossipsub could not send to in its last heartbeat. A queue that stays full
    /// for [`crate::peers::SLOW_HEARTBEATS_LIMIT`] heartbeats in a row gets the peer's
    /// connections closed (it is redialled as usual): a peer that far behind catches up
    /// faster by sync than through a queue of stale messages, and a new connection
    /// starts with a new queue (gossipsub 0.49 keeps one per peer while any connection
    /// is open, `specs/network.md` §3.3).
    fn on_slow_peer(&mut self, peer: PeerId, queue_full: usize) {
        if queue_full == 0 || !self.peers.queue_full(&peer, Instant::now()) {
            return;
        }
        tracing::warn!(%peer, "gossip send queue full for too long; reconnecting to the peer");
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    fn on_range(&mut self, peer: PeerId, range: MilestoneRange) {
        if self.peers.set_range(&peer, range) {
            self.emit(NetworkEvent::Heartbeat {
                peer,
                latest: range.latest,
                oldest: range.oldest,
            });
        }
    }

    fn on_sync(
        &mut self,
        event: request_response::Event<Result<SyncRequest, Malformed>, SyncResponse>,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request: Ok(request),
                    channel,
                    ..
                } => self.on_inbound_request(peer, request, channel),
                request_response::Message::Request {
                    request: Err(Malformed(reason)),
                    ..
                } => {
                    // The response channel is dropped: the stream closes unanswered.
                    self.strike(
                        peer,
                        self.strike_all,
                        format!("sent an invalid request: {reason}"),
                    );
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => self.on_response(peer, request_id, response),
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let OutboundFailure::Io(e) = &error {
                    if is_violation(e) {
                        self.strike(
                            peer,
                            self.strike_all,
                            format!("sent an invalid response: {e}"),
                        );
                    }
                }
                if let Some(mut pending) = self.pending.remove(&request_id) {
                    if let Some(reply) = pending.reply.take() {
                        let _ = reply.send(Err(NetworkError::RequestFailed {
                            peer,
                            reason: error.to_string(),
                        }));
                    }
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                // Timeouts, closed connections, a response that could not be written:
                // not the peer's fault as far as we can tell. (Malformed requests
                // arrive as `Message::Request` with `Err`, above.)
                tracing::debug!(%peer, %error, "inbound sync request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_committee(&mut self, event: request_response::Event<Result<Vec<u8>, Malformed>, ()>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => match request {
                    Ok(bytes) => {
                        let _ = self
                            .swarm
                            .behaviour_mut()
                            .committee
                            .send_response(channel, ());
                        if !self.emit(NetworkEvent::Committee { from: peer, bytes }) {
                            tracing::debug!(%peer, "committee message dropped: events full");
                        }
                    }
                    Err(Malformed(reason)) => self.strike(
                        peer,
                        self.strike_all,
                        format!("sent an invalid committee message: {reason}"),
                    ),
                },
                request_response::Message::Response { request_id, .. } => {
                    self.committee_pending.remove(&request_id);
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                self.committee_pending.remove(&request_id);
                tracing::debug!(%peer, %error, "committee message not delivered");
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound committee message failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_inbound_request(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        if self.inbound_in_flight >= self.max_inbound {
            tracing::debug!(%peer, "sync request refused: busy");
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, SyncResponse::Busy);
            return;
        }
        self.inbound_in_flight += 1;
        let source = self.source.clone();
        let tx = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            let response = answer(source.as_ref(), request);
            let _ = tx.blocking_send(Internal::Answer { channel, response });
        });
    }

    fn on_response(&mut self, peer: PeerId, request_id: OutboundRequestId, response: SyncResponse) {
        let Some(mut pending) = self.pending.remove(&request_id) else {
            return;
        };
        let checked = check_response(self.network_id, &pending.request, &response);
        if let Err(reason) = checked {
            self.strike(
                peer,
                self.strike_all,
                format!("sent an invalid response: {reason}"),
            );
            if let Some(reply) = pending.reply.take() {
                let _ = reply.send(Err(NetworkError::InvalidResponse { peer, reason }));
            }
            return;
        }
        if let SyncResponse::Status(range) = &response {
            self.on_range(pending.peer, *range);
        }
        if let Some(reply) = pending.reply.take() {
            let _ = reply.send(Ok(response));
        }
    }
}

/// Answers one inbound request from the node's storage (on a blocking thread).
fn answer(source: &dyn SyncSource, request: SyncRequest) -> SyncResponse {
    match request {
        SyncRequest::Status => SyncResponse::Status(source.milestone_range()),
        SyncRequest::Blocks(ids) => {
            let found = ids.iter().filter_map(|id| {
                source
                    .block(id)
                    .filter(|bytes| BlockId::of_bytes(bytes) == *id)
            });
            SyncResponse::Blocks(fit_blocks(found.collect()))
        }
        SyncRequest::Milestone { index, from } => {
            let Some(data) = source.milestone(index) else {
                return SyncResponse::Milestone(None);
            };
            let total = data
                .confirmed
                .len()
                .min(MAX_CONFIRMED_PER_MILESTONE as usize);
            let start = (from as usize).min(total);
            let end = (start + MAX_MILESTONE_IDS_PER_PAGE).min(total);
            if data.block.is_empty() || data.block.len() > weft_types::MAX_BLOCK_BYTES {
                return SyncResponse::Milestone(None);
            }
            SyncResponse::Milestone(Some(MilestonePage {
                block: data.block,
                total: total as u32,
                from: start as u32,
                ids: data.confirmed[start..end].to_vec(),
            }))
        }
    }
}

/// Checks that `bytes` are one canonical block of `network_id`.
fn check_block(network_id: NetworkId, bytes: &[u8]) -> Result<(), String> {
    let block = Block::from_bytes(bytes).map_err(|e| format!("an undecodable block: {e}"))?;
    if block.network_id != network_id {
        return Err(format!("a block of network {}", block.network_id));
    }
    Ok(())
}

/// Checks a response against its request; an error is misbehaviour of the responder.
fn check_response(
    network_id: NetworkId,
    request: &SyncRequest,
    response: &SyncResponse,
) -> Result<(), String> {
    match (request, response) {
        (_, SyncResponse::Busy) => Ok(()),
        (SyncRequest::Status, SyncResponse::Status(_)) => Ok(()),
        (SyncRequest::Blocks(ids), SyncResponse::Blocks(blocks)) => {
            // In request order, each at most once, each one of the requested ids.
            let mut next = 0;
            for bytes in blocks {
                let id = BlockId::of_bytes(bytes);
                let Some(offset) = ids[next..].iter().position(|x| *x == id) else {
                    return Err(format!("block {id} was not requested (or out of order)"));
                };
                next += offset + 1;
                check_block(network_id, bytes)?;
            }
            Ok(())
        }
        (SyncRequest::Milestone { from, .. }, SyncResponse::Milestone(page)) => {
            let Some(page) = page else { return Ok(()) };
            if page.from != *from && !(page.from == page.total && *from >= page.total) {
                return Err("milestone page starts at the wrong position".into());
            }
            if page.total > MAX_CONFIRMED_PER_MILESTONE {
                return Err(format!("milestone confirms {} blocks", page.total));
            }
            if page.ids.is_empty() && page.from < page.total {
                return Err("empty milestone page before the end".into());
            }
            check_block(network_id, &page.block)
        }
        _ => Err("wrong response kind".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::BlockBuilder;

    fn block(net: NetworkId, n: u64) -> Vec<u8> {
        BlockBuilder::new(net, vec![BlockId::GENESIS], n)
            .anonymous()
            .to_bytes()
    }

    #[test]
    fn responses_are_checked_against_their_requests() {
        let net = NetworkId(5);
        let (a, b, c) = (block(net, 1), block(net, 2), block(net, 3));
        let ids: Vec<BlockId> = [&a, &b, &c].iter().map(|x| BlockId::of_bytes(x)).collect();
        let request = SyncRequest::Blocks(ids.clone());
        let ok = |r: SyncResponse| check_response(net, &request, &r);
        assert!(ok(SyncResponse::Blocks(vec![a.clone(), c.clone()])).is_ok());
        assert!(ok(SyncResponse::Blocks(vec![])).is_ok());
        assert!(ok(SyncResponse::Busy).is_ok());
        assert!(
            ok(SyncResponse::Blocks(vec![c.clone(), a.clone()])).is_err(),
            "order"
        );
        assert!(
            ok(SyncResponse::Blocks(vec![a.clone(), a.clone()])).is_err(),
            "twice"
        );
        assert!(
            ok(SyncResponse::Blocks(vec![block(net, 4)])).is_err(),
            "unasked"
        );
        assert!(
            ok(SyncResponse::Status(MilestoneRange::default())).is_err(),
            "kind"
        );
        let foreign = block(NetworkId(6), 1);
        let request = SyncRequest::Blocks(vec![BlockId::of_bytes(&foreign)]);
        assert!(check_response(net, &request, &SyncResponse::Blocks(vec![foreign])).is_err());

        let request = SyncRequest::Milestone { index: 1, from: 0 };
        let page = |block: Vec<u8>, total, from, n| {
            SyncResponse::Milestone(Some(MilestonePage {
                block,
                total,
                from,
                ids: ids[..n].to_vec(),
            }))
        };
        let ok = |r: SyncResponse| check_response(net, &request, &r);
        assert!(ok(page(a.clone(), 3, 0, 3)).is_ok());
        assert!(ok(page(a.clone(), 0, 0, 0)).is_ok());
        assert!(ok(SyncResponse::Milestone(None)).is_ok());
        assert!(ok(page(a.clone(), 3, 1, 2)).is_err(), "wrong start");
        assert!(ok(page(a.clone(), 3, 0, 0)).is_err(), "no progress");
        assert!(
            ok(page(vec![1, 2, 3], 3, 0, 3)).is_err(),
            "undecodable block"
        );
        assert!(
            ok(page(a, MAX_CONFIRMED_PER_MILESTONE + 1, 0, 3)).is_err(),
            "too many"
        );
    }

    #[test]
    fn answers_come_from_the_source_and_are_paged() {
        struct Source(Vec<u8>, Vec<BlockId>);
        impl SyncSource for Source {
            fn block(&self, id: &BlockId) -> Option<Vec<u8>> {
                // A corrupted store: the bytes do not hash to the id asked for.
                (id.0[0] == 1).then(|| self.0.clone())
            }
            fn milestone(&self, index: u32) -> Option<MilestoneData> {
                (index == 1).then(|| MilestoneData {
                    block: self.0.clone(),
                    confirmed: self.1.clone(),
                })
            }
            fn milestone_range(&self) -> MilestoneRange {
                MilestoneRange {
                    oldest: 1,
                    latest: 1,
                }
            }
        }
        let confirmed: Vec<BlockId> = (0..MAX_MILESTONE_IDS_PER_PAGE as u32 + 10)
            .map(|i| {
                let mut id = [0u8; 32];
                id[..4].copy_from_slice(&i.to_le_bytes());
                BlockId(id)
            })
            .collect();
        let source = Source(block(NetworkId(5), 1), confirmed);
        assert_eq!(
            answer(&source, SyncRequest::Blocks(vec![BlockId([1; 32])])),
            SyncResponse::Blocks(vec![]),
            "bytes that do not match the id are not served"
        );
        let SyncResponse::Milestone(Some(first)) =
            answer(&source, SyncRequest::Milestone { index: 1, from: 0 })
        else {
            panic!("milestone 1 is held");
        };
        assert_eq!(first.ids.len(), MAX_MILESTONE_IDS_PER_PAGE);
        let SyncResponse::Milestone(Some(second)) = answer(
            &source,
            SyncRequest::Milestone {
                index: 1,
                from: MAX_MILESTONE_IDS_PER_PAGE as u32,
            },
        ) else {
            panic!("milestone 1 is held");
        };
        assert_eq!(
            (second.from, second.ids.len()),
            (first.ids.len() as u32, 10)
        );
        assert_eq!(
            answer(&source, SyncRequest::Milestone { index: 2, from: 0 }),
            SyncResponse::Milestone(None)
        );
    }
}
