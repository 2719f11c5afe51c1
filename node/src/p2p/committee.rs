//! Milestone agreement for a committee of more than one validator (`specs/consensus.md`
//! §9): the node's side of `weft-consensus`.
//!
//! This module exists to connect the consensus engine to everything the node owns: the
//! engine's messages and the validators' signature shares travel between committee
//! peers on `/weft/committee/1` (each attributed to the committee position of the peer
//! the connection authenticated); a proposal of this node's merged tips goes in when a
//! milestone is due; each agreed milestone is computed here by the same code as a
//! milestone issued alone ([`crate::core::NodeInner::compute_agreed`]), signed, and
//! its shares collected; a certified milestone is committed as one atomic batch
//! ([`crate::core::NodeInner::commit_certified`]) and gossiped, so followers keep
//! working unchanged. Sessions survive restarts through a unit backup file and a small
//! session file under the data directory.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use weft_consensus::{
    start_session, AgreedMilestone, CertificateCollector, CollectError, Collected, IncomingMessage,
    MessageRecipient, OutgoingMessage, PeerReport, Proposal, RunningSession, SequenceEvent,
    SequenceStart, SessionIo, SessionParams, SignatureShare, TipAvailability, UnitBackup,
};
use weft_crypto::OrganisationKey;
use weft_network::{NetworkHandle, PeerId};
use weft_types::{BlockId, Milestone, MilestoneEssence};

use crate::config::ConsensusSettings;
use crate::core::{now_ms, ComputedMilestone, FollowError, Node};

/// Channel tag of an engine message on `/weft/committee/1`: `u64 session id ||` the
/// engine's bytes (`specs/consensus.md` §6); a message of a session no engine here runs
/// is dropped.
const CHANNEL_ENGINE: u8 = 0;
/// Channel tag of a signature share on `/weft/committee/1`.
const CHANNEL_SHARE: u8 = 1;
/// Channel tag of a session announcement on `/weft/committee/1`:
/// `u64 session id || u32 first index || u64 previous timestamp`.
const CHANNEL_SESSION: u8 = 2;
/// How often a validator announces its session to the others.
const SESSION_ANNOUNCE: Duration = Duration::from_secs(1);
/// Engine messages queued for the engine, at most (more are dropped; it resends).
const ENGINE_QUEUE: usize = 4096;
/// Outgoing engine messages waiting for the transport, at most.
const OUTGOING_QUEUE: usize = 4096;
/// Shares and certificates queued for the driver, at most.
const SHARE_QUEUE: usize = 1024;
/// How often the driver looks at its work without being prompted.
const DRIVER_TICK: Duration = Duration::from_millis(100);
/// How often this validator's share for the open index is sent again.
const SHARE_RESEND: Duration = Duration::from_millis(1000);
/// How long the follower path leaves an index to the driver that computed it.
const DRIVER_PRIORITY: Duration = Duration::from_secs(3);
/// Tips asked for by the availability gate and not yet stored, at most.
const MAX_WANTED: usize = 4096;
/// How many engine rounds an ended session keeps running (at most a minute), so that
/// members still finishing it can fetch this member's units.
const ENDED_SESSION_ROUNDS: u32 = 100;
/// Agreed milestones waiting to be computed, at most (beyond, this validator is far
/// behind and catches up through the follower path instead).
const MAX_QUEUED: usize = 4096;

/// Test-only misbehaviour of a validator: what it signs instead of the essence it
/// computed. The variants exist only with the `byzantine` feature (without it the type
/// has no value), and are reachable only through `crate::p2p::start_byzantine`, never
/// from the binary's configuration or environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Byzantine {
    /// Signs the essence with a made-up state root.
    #[cfg(feature = "byzantine")]
    Garbage,
    /// Signs a made-up essence and then the real one (two shares for one index).
    #[cfg(feature = "byzantine")]
    Equivocate,
}

/// The shares a byzantine validator sends instead of its honest one.
#[cfg_attr(not(feature = "byzantine"), allow(unused_variables))]
fn byzantine_shares(
    b: Byzantine,
    essence: &MilestoneEssence,
    key: &OrganisationKey,
) -> Vec<SignatureShare> {
    #[cfg(feature = "byzantine")]
    let garbage = || {
        let mut garbage = essence.clone();
        garbage.state_root = weft_types::StateRoot([0xBA; 32]);
        SignatureShare::sign(garbage, key)
    };
    match b {
        #[cfg(feature = "byzantine")]
        Byzantine::Garbage => vec![garbage()],
        #[cfg(feature = "byzantine")]
        Byzantine::Equivocate => vec![garbage(), SignatureShare::sign(essence.clone(), key)],
    }
}

/// One session's engine inbox and its members: entry `i` of `members` is the validator
/// position (in `ConsensusSettings::validators`) of the session's engine index `i` (the
/// committee in force at the session's first index may differ from the genesis one).
struct SessionInbox {
    id: u64,
    tx: mpsc::Sender<IncomingMessage>,
    members: Vec<usize>,
}

/// Where engine messages from peers go, by the session they name: the current
/// session's engine and, for a while after a session ended, the ended one's.
struct EngineInboxes {
    current: SessionInbox,
    /// Ended sessions still running (each for a short while).
    ended: Vec<SessionInbox>,
}

impl EngineInboxes {
    fn of(&self, session: u64) -> Option<&SessionInbox> {
        std::iter::once(&self.current)
            .chain(&self.ended)
            .find(|s| s.id == session)
    }
}

/// What the rest of the node's network wiring shares with the committee driver.
pub(crate) struct CommitteeLink {
    settings: ConsensusSettings,
    own: usize,
    engine_in: Mutex<EngineInboxes>,
    shares: mpsc::Sender<(usize, Vec<u8>)>,
    certified: mpsc::Sender<Milestone>,
    announced: mpsc::Sender<(usize, SessionState)>,
    /// The index the driver computed and signed, and since when.
    working: Mutex<Option<(u32, Instant)>>,
    /// Tips the availability gate waits for that are not stored here.
    pub(crate) wanted: Arc<Mutex<BTreeSet<BlockId>>>,
}

impl CommitteeLink {
    /// Hands a committee message from `from` to the engine or the driver; an error is
    /// misbehaviour of the peer (the caller strikes it).
    pub(crate) fn deliver(&self, from: PeerId, mut bytes: Vec<u8>) -> Result<(), String> {
        let Some(position) = self.settings.position_of(&from) else {
            return Err("sent a committee message but holds no committee key".into());
        };
        if position == self.own {
            return Err("claims this node's own committee key".into());
        }
        if bytes.is_empty() {
            return Err("sent an empty committee message".into());
        }
        let channel = bytes.remove(0);
        match channel {
            CHANNEL_ENGINE => {
                let Some(session) = bytes
                    .get(..8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_le_bytes)
                else {
                    return Err("sent an engine message without a session".into());
                };
                // Another session's (a member ahead or behind), or from a validator that
                // is not a member of that session: not for any engine here. A full queue
                // drops it (the engine asks again for what it misses).
                let inboxes = self.engine_in.lock();
                if let Some(inbox) = inboxes.of(session) {
                    if let Some(from) = inbox.members.iter().position(|p| *p == position) {
                        let _ = inbox.tx.try_send(IncomingMessage {
                            from,
                            bytes: bytes.split_off(8),
                        });
                    }
                }
                Ok(())
            }
            CHANNEL_SHARE => {
                let _ = self.shares.try_send((position, bytes));
                Ok(())
            }
            CHANNEL_SESSION => {
                let state = SessionState::decode(&bytes)
                    .ok_or("sent an undecodable session announcement")?;
                let _ = self.announced.try_send((position, state));
                Ok(())
            }
            other => Err(format!("committee message on unknown channel {other}")),
        }
    }

    /// Passes a certified milestone received by gossip to the driver (its signatures
    /// count as shares).
    pub(crate) fn certified(&self, milestone: Milestone) {
        let _ = self.certified.try_send(milestone);
    }

    /// Whether the driver computed milestone `index` recently and will commit it.
    pub(crate) fn busy_with(&self, index: u32) -> bool {
        matches!(*self.working.lock(), Some((i, since)) if i == index && since.elapsed() < DRIVER_PRIORITY)
    }

    fn peer(&self, position: usize) -> Option<PeerId> {
        self.settings.validators.get(position).map(|(_, p)| *p)
    }
}

/// The availability gate of the engine: a proposal's tips must be solid here before
/// its unit enters this validator's DAG; unknown tips are fetched from peers.
struct Availability {
    node: Node,
    wanted: Arc<Mutex<BTreeSet<BlockId>>>,
    fetch: Arc<Notify>,
}

impl TipAvailability for Availability {
    fn all_solid(&self, tips: &[BlockId]) -> bool {
        let (solid, unknown) = self.node.tips_solid(tips);
        if !unknown.is_empty() {
            let mut wanted = self.wanted.lock();
            let mut new = false;
            for id in unknown {
                if wanted.len() < MAX_WANTED {
                    new |= wanted.insert(id);
                }
            }
            drop(wanted);
            if new {
                self.fetch.notify_one();
            }
        }
        solid
    }
}

/// Where a session starts, as persisted in `DATA/consensus/session`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SessionState {
    id: u64,
    start: SequenceStart,
}

impl SessionState {
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(20);
        b.extend_from_slice(&self.id.to_le_bytes());
        b.extend_from_slice(&self.start.first_index.to_le_bytes());
        b.extend_from_slice(&self.start.previous_timestamp.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<SessionState> {
        if b.len() != 20 {
            return None;
        }
        Some(SessionState {
            id: u64::from_le_bytes(b[0..8].try_into().ok()?),
            start: SequenceStart {
                first_index: u32::from_le_bytes(b[8..12].try_into().ok()?),
                previous_timestamp: u64::from_le_bytes(b[12..20].try_into().ok()?),
            },
        })
    }
}

fn session_file(dir: &Path) -> PathBuf {
    dir.join("session")
}

fn backup_file(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("session-{id}.backup"))
}

fn read_session(dir: &Path, genesis_time_ms: u64) -> Result<SessionState, String> {
    let path = session_file(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SessionState {
                id: 0,
                start: SequenceStart {
                    first_index: 1,
                    previous_timestamp: genesis_time_ms,
                },
            })
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let fields: Vec<&str> = text.split_whitespace().collect();
    let bad = || {
        format!(
            "{}: not `v1 <session> <first index> <time>`",
            path.display()
        )
    };
    match fields.as_slice() {
        ["v1", id, first, time] => Ok(SessionState {
            id: id.parse().map_err(|_| bad())?,
            start: SequenceStart {
                first_index: first.parse().map_err(|_| bad())?,
                previous_timestamp: time.parse().map_err(|_| bad())?,
            },
        }),
        _ => Err(bad()),
    }
}

/// Writes the session file atomically (temporary file, fsync, rename).
fn write_session(dir: &Path, state: &SessionState) -> std::io::Result<()> {
    let tmp = dir.join("session.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    writeln!(
        f,
        "v1 {} {} {}",
        state.id, state.start.first_index, state.start.previous_timestamp
    )?;
    f.sync_all()?;
    std::fs::rename(&tmp, session_file(dir))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The running committee wiring of a validator: stop it with [`Committee::stop`].
pub(crate) struct Committee {
    pub(crate) link: Arc<CommitteeLink>,
    session: Arc<tokio::sync::Mutex<Option<RunningSession>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Committee {
    /// Stops the tasks and the engine.
    pub(crate) async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(s) = self.session.lock().await.take() {
            s.stop().await;
        }
    }
}

/// Starts the committee wiring of a validator: the session (resumed from its backup),
/// the message routing, the proposer and the driver. `fetch` is notified when blocks
/// must be fetched from peers (the parents loop also fetches `link.wanted`).
pub(crate) fn start(
    node: Node,
    handle: NetworkHandle,
    settings: ConsensusSettings,
    fetch: Arc<Notify>,
    byzantine: Option<Byzantine>,
) -> Result<Committee, String> {
    let key = node.validator_key().ok_or("not a validator")?.seed();
    let key = Arc::new(OrganisationKey::from_seed(&key));
    let own = settings
        .position_of_key(&key.public_key())
        .ok_or("the validator key is not in [consensus] validators")?;
    let dir = node.config.data_dir.join("consensus");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let state = read_session(&dir, settings.genesis_time_ms)?;
    // The session file is written once the node holds every milestone before the
    // session's first index, so the committee in force there is known here.
    let (committee, members) = session_members(&node, &settings, state.start.first_index)?;
    // Backups of ended sessions are no longer needed.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let current = backup_file(&dir, state.id);
        for e in entries.flatten() {
            let p = e.path();
            let is_backup = p.extension().is_some_and(|x| x == "backup");
            if is_backup && p != current {
                let _ = std::fs::remove_file(&p);
            }
        }
    }

    let (engine_tx, engine_rx) = mpsc::channel(ENGINE_QUEUE);
    let (shares_tx, shares_rx) = mpsc::channel(SHARE_QUEUE);
    let (certified_tx, certified_rx) = mpsc::channel(SHARE_QUEUE);
    let (announced_tx, announced_rx) = mpsc::channel(SHARE_QUEUE);
    let link = Arc::new(CommitteeLink {
        settings: settings.clone(),
        own,
        engine_in: Mutex::new(EngineInboxes {
            current: SessionInbox {
                id: state.id,
                tx: engine_tx,
                members: members.clone(),
            },
            ended: Vec::new(),
        }),
        shares: shares_tx,
        certified: certified_tx,
        announced: announced_tx,
        working: Mutex::new(None),
        wanted: Arc::new(Mutex::new(BTreeSet::new())),
    });
    let (outgoing_tx, outgoing_rx) = mpsc::channel(OUTGOING_QUEUE);
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (reports_tx, reports_rx) = mpsc::channel(256);
    let (proposals_tx, _) = watch::channel(None);
    let availability: Arc<dyn TipAvailability> = Arc::new(Availability {
        node: node.clone(),
        wanted: link.wanted.clone(),
        fetch: fetch.clone(),
    });
    let sessions = Sessions {
        key: key.clone(),
        settings: settings.clone(),
        dir,
        outgoing: outgoing_tx,
        events: events_tx,
        reports: reports_tx,
        proposals: proposals_tx.clone(),
        availability,
    };
    let running = sessions.open(state, committee.clone(), engine_rx)?;
    if running.is_some() {
        tracing::info!(
            session = state.id,
            first_index = state.start.first_index,
            position = own,
            members = committee.members().len(),
            "milestone consensus session started"
        );
    } else {
        tracing::info!(
            session = state.id,
            first_index = state.start.first_index,
            "not a member of the committee in force: following its milestones"
        );
    }
    let session = Arc::new(tokio::sync::Mutex::new(running));
    let driver = Driver {
        node: node.clone(),
        handle: handle.clone(),
        key,
        link: link.clone(),
        collectors: Collectors {
            node: node.clone(),
            all: vec![CertificateCollector::new(
                committee.clone(),
                state.start.first_index,
            )],
        },
        committee,
        members,
        pending: None,
        queue: VecDeque::new(),
        current: None,
        certified: BTreeMap::new(),
        fetch,
        sessions,
        state,
        session: session.clone(),
        byzantine,
        announced: BTreeMap::new(),
        last_announce: None,
    };
    let tasks = vec![
        tokio::spawn(route_outgoing(handle.clone(), link.clone(), outgoing_rx)),
        tokio::spawn(strike_reported(handle.clone(), link.clone(), reports_rx)),
        tokio::spawn(propose(node.clone(), proposals_tx)),
        tokio::spawn(driver.run(events_rx, shares_rx, certified_rx, announced_rx)),
    ];
    Ok(Committee {
        link,
        session,
        tasks,
    })
}

/// What it takes to (re)start an engine session.
struct Sessions {
    key: Arc<OrganisationKey>,
    settings: ConsensusSettings,
    dir: PathBuf,
    /// Every session's outgoing engine messages, tagged with the session's id.
    outgoing: mpsc::Sender<(u64, OutgoingMessage)>,
    /// The agreed sequence of every session, tagged with the session's id.
    events: mpsc::UnboundedSender<(u64, SequenceEvent)>,
    reports: mpsc::Sender<PeerReport>,
    proposals: watch::Sender<Option<Proposal>>,
    availability: Arc<dyn TipAvailability>,
}

impl Sessions {
    /// Starts the engine of session `state` among `committee` (the committee in force
    /// at its first index); `None` when this validator is not a member of it (it then
    /// follows the committee's milestones like any follower).
    fn open(
        &self,
        state: SessionState,
        committee: weft_types::Committee,
        incoming: mpsc::Receiver<IncomingMessage>,
    ) -> Result<Option<RunningSession>, String> {
        if !committee.contains(&self.key.public_key()) {
            return Ok(None);
        }
        let params = SessionParams {
            session_id: state.id,
            committee,
            start: state.start,
            rules: self.settings.rules,
            timing: self.settings.timing,
        };
        let header = params.backup_header(&self.key.public_key());
        let (session_outgoing, mut to_send) = mpsc::channel(OUTGOING_QUEUE);
        let outgoing = self.outgoing.clone();
        let id = state.id;
        tokio::spawn(async move {
            while let Some(m) = to_send.recv().await {
                if outgoing.send((id, m)).await.is_err() {
                    return;
                }
            }
        });
        let (session_events, mut tagged) = mpsc::unbounded_channel();
        let events = self.events.clone();
        let id = state.id;
        tokio::spawn(async move {
            while let Some(e) = tagged.recv().await {
                if events.send((id, e)).is_err() {
                    return;
                }
            }
        });
        let path = backup_file(&self.dir, state.id);
        let backup = UnitBackup::open_file(&path, &header)
            .map_err(|e| format!("consensus backup {}: {e}", path.display()))?;
        start_session(
            params,
            self.key.clone(),
            SessionIo {
                proposals: self.proposals.subscribe(),
                incoming,
                outgoing: session_outgoing,
                events: session_events,
                reports: Some(self.reports.clone()),
                availability: Some(self.availability.clone()),
                backup,
            },
        )
        .map(Some)
        .map_err(|e| format!("consensus session: {e}"))
    }
}

/// The committee in force at `first_index` and the validator position of each of its
/// members, in the committee's order (a session's engine index `i` is position
/// `members[i]`).
fn session_members(
    node: &Node,
    settings: &ConsensusSettings,
    first_index: u32,
) -> Result<(weft_types::Committee, Vec<usize>), String> {
    let committee = node
        .committee_for(first_index)
        .map_err(|e| format!("the committee at milestone {first_index}: {e}"))?;
    let members = committee
        .members()
        .iter()
        .map(|k| {
            settings.position_of_key(k).ok_or_else(|| {
                format!("committee member {k} is not listed in [consensus] validators")
            })
        })
        .collect::<Result<Vec<usize>, String>>()?;
    Ok((committee, members))
}

/// One certificate collector per committee (a committee change brings a new one; the
/// collector of a share is the one of the committee its essence names).
struct Collectors {
    node: Node,
    all: Vec<CertificateCollector>,
}

impl Collectors {
    /// Collectors kept (the current committee's and the previous ones').
    const KEPT: usize = 3;

    fn add(&mut self, share: SignatureShare) -> Result<Collected, CollectError> {
        let named = share.essence.committee_id;
        if let Some(c) = self.all.iter_mut().find(|c| c.committee_id() == named) {
            return c.add(share);
        }
        // A committee first seen: accepted only if it is the one in force at the
        // share's index on this node's ledger.
        let index = share.essence.index;
        match self.node.committee_for(index) {
            Ok(committee) if committee.id() == named => {
                let latest = self.node.latest_milestone().map(|l| l.index).unwrap_or(0);
                let mut collector = CertificateCollector::new(committee, latest + 1);
                let result = collector.add(share);
                self.all.push(collector);
                if self.all.len() > Self::KEPT {
                    self.all.remove(0);
                }
                result
            }
            Ok(committee) => Err(CollectError::WrongCommittee {
                named,
                expected: committee.id(),
            }),
            Err(_) => Err(CollectError::WrongCommittee {
                named,
                expected: named,
            }),
        }
    }

    fn forget_below(&mut self, index: u32) {
        for c in &mut self.all {
            c.forget_below(index);
        }
    }
}

/// Sends the engine's messages to the committee peers.
async fn route_outgoing(
    handle: NetworkHandle,
    link: Arc<CommitteeLink>,
    mut outgoing: mpsc::Receiver<(u64, OutgoingMessage)>,
) {
    while let Some((session, m)) = outgoing.recv().await {
        let mut body = Vec::with_capacity(9 + m.bytes.len());
        body.push(CHANNEL_ENGINE);
        body.extend_from_slice(&session.to_le_bytes());
        body.extend_from_slice(&m.bytes);
        // Engine indexes are the session's members; peers are validator positions.
        let members = match link.engine_in.lock().of(session) {
            Some(inbox) => inbox.members.clone(),
            None => continue,
        };
        let recipients: Vec<usize> = match m.recipient {
            MessageRecipient::Everyone => {
                members.iter().copied().filter(|p| *p != link.own).collect()
            }
            MessageRecipient::Member(i) => members
                .get(i)
                .copied()
                .filter(|p| *p != link.own)
                .into_iter()
                .collect(),
        };
        for i in recipients {
            if let Some(peer) = link.peer(i) {
                if handle.send_committee(peer, body.clone()).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Strikes the peers whose engine messages the consensus adapter refused.
async fn strike_reported(
    handle: NetworkHandle,
    link: Arc<CommitteeLink>,
    mut reports: mpsc::Receiver<PeerReport>,
) {
    while let Some(r) = reports.recv().await {
        if let Some(peer) = link.peer(r.from) {
            let reason = format!("sent an invalid consensus message: {}", r.error);
            if handle.strike(peer, reason).await.is_err() {
                return;
            }
        }
    }
}

/// Proposes this validator's merged tips every milestone interval.
async fn propose(node: Node, proposals: watch::Sender<Option<Proposal>>) {
    let mut due = tokio::time::interval(Duration::from_millis(node.config.milestone_interval_ms));
    due.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        due.tick().await;
        if node.is_halted() {
            continue;
        }
        let n = node.clone();
        let tips = match tokio::task::spawn_blocking(move || n.proposal_tips()).await {
            Ok(Ok(Some(tips))) => tips,
            Ok(Ok(None)) => continue,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "no proposal: merging tips failed");
                continue;
            }
            Err(_) => return,
        };
        match Proposal::new(tips, now_ms()) {
            Ok(p) => {
                if proposals.send(Some(p)).is_err() {
                    return;
                }
            }
            Err(e) => tracing::warn!(error = %e, "no proposal"),
        }
    }
}

/// The open index: what was agreed, what this validator computed and signed.
struct Work {
    agreed: AgreedMilestone,
    computed: Option<ComputedMilestone>,
    shares: Vec<SignatureShare>,
    sent: Option<Instant>,
}

/// Turns the agreed sequence into committed milestones, one index at a time.
struct Driver {
    node: Node,
    handle: NetworkHandle,
    key: Arc<OrganisationKey>,
    link: Arc<CommitteeLink>,
    collectors: Collectors,
    /// The committee of the current session and its members' validator positions.
    committee: weft_types::Committee,
    members: Vec<usize>,
    /// The next session, opened once this node holds every milestone before it (the
    /// committee in force at its first index is then known here).
    pending: Option<SessionState>,
    queue: VecDeque<AgreedMilestone>,
    current: Option<Work>,
    certified: BTreeMap<u32, Milestone>,
    fetch: Arc<Notify>,
    sessions: Sessions,
    state: SessionState,
    session: Arc<tokio::sync::Mutex<Option<RunningSession>>>,
    byzantine: Option<Byzantine>,
    /// Each member's latest announced session.
    announced: BTreeMap<usize, SessionState>,
    last_announce: Option<Instant>,
}

impl Driver {
    async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<(u64, SequenceEvent)>,
        mut shares: mpsc::Receiver<(usize, Vec<u8>)>,
        mut certified: mpsc::Receiver<Milestone>,
        mut announced: mpsc::Receiver<(usize, SessionState)>,
    ) {
        let mut tick = tokio::time::interval(DRIVER_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut halted_logged = false;
        loop {
            tokio::select! {
                e = events.recv() => match e {
                    Some((session, e)) => self.on_event(session, e).await,
                    None => return,
                },
                s = shares.recv() => match s {
                    Some((from, bytes)) => self.on_share(from, bytes).await,
                    None => return,
                },
                m = certified.recv() => match m {
                    Some(m) => self.on_certificate(m),
                    None => return,
                },
                a = announced.recv() => match a {
                    Some((from, state)) => self.on_announced(from, state).await,
                    None => return,
                },
                _ = tick.tick() => {}
            }
            if self.node.is_halted() {
                if !halted_logged {
                    tracing::error!(
                        "halted after a state divergence: this validator signs nothing more"
                    );
                    halted_logged = true;
                }
                continue;
            }
            self.announce().await;
            self.progress().await;
            self.open_pending().await;
        }
    }

    /// Tells the other members which session this one runs, every second.
    async fn announce(&mut self) {
        if self
            .last_announce
            .is_some_and(|t| t.elapsed() < SESSION_ANNOUNCE)
        {
            return;
        }
        self.last_announce = Some(Instant::now());
        let mut body = vec![CHANNEL_SESSION];
        body.extend_from_slice(&self.state.encode());
        self.send_to_others(&body).await;
    }

    /// A member's session. When `f + 1` members of the committee of an announced later
    /// session announce it (so at least one honest member runs it: honest members move
    /// on only at the end the engine decided), this validator missed the end of its own
    /// session (it was down or cut off, or not a member of the committee before it) and
    /// joins that one; the milestones it missed it follows.
    async fn on_announced(&mut self, from: usize, state: SessionState) {
        self.announced.insert(from, state);
        let current = self
            .pending
            .map_or(self.state.id, |p| p.id.max(self.state.id));
        let mut later: Vec<SessionState> = self
            .announced
            .values()
            .filter(|s| s.id > current)
            .copied()
            .collect();
        later.sort_by_key(|s| std::cmp::Reverse(s.id));
        later.dedup();
        for candidate in later {
            let Ok((_, members)) =
                session_members(&self.node, &self.link.settings, candidate.start.first_index)
            else {
                continue;
            };
            let needed = (members.len().max(1) - 1) / 3 + 1;
            let announcing = self
                .announced
                .iter()
                .filter(|(p, s)| **s == candidate && members.contains(p))
                .count();
            if announcing >= needed {
                tracing::warn!(
                    from = self.state.id,
                    to = candidate.id,
                    first_index = candidate.start.first_index,
                    "missed the end of a consensus session: joining the committee's"
                );
                self.switch_session(candidate);
                return;
            }
        }
    }

    /// Makes `state` this validator's next session; it is opened by
    /// [`Driver::open_pending`] once this node holds every milestone before it.
    fn switch_session(&mut self, state: SessionState) {
        if state.id <= self.state.id || self.pending.is_some_and(|p| p.id >= state.id) {
            return;
        }
        self.pending = Some(state);
    }

    /// Opens the pending session once the node's latest milestone is the one before
    /// its first index: the committee in force there is then known (a committee change
    /// is confirmed several milestones before it takes effect). The session file is
    /// written first; the previous session's engine keeps running a little longer for
    /// members still finishing it.
    async fn open_pending(&mut self) {
        let Some(state) = self.pending else {
            return;
        };
        let latest = self.node.latest_milestone().map(|l| l.index).unwrap_or(0);
        if latest.saturating_add(1) < state.start.first_index {
            return;
        }
        let (committee, members) =
            match session_members(&self.node, &self.link.settings, state.start.first_index) {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the next consensus session");
                    return;
                }
            };
        self.pending = None;
        if let Err(e) = write_session(&self.sessions.dir, &state) {
            tracing::error!(error = %e, "cannot record the next consensus session");
            return;
        }
        let ended_id = self.state.id;
        let (tx, rx) = mpsc::channel(ENGINE_QUEUE);
        {
            let mut inboxes = self.link.engine_in.lock();
            let next = SessionInbox {
                id: state.id,
                tx,
                members: members.clone(),
            };
            let ended = std::mem::replace(&mut inboxes.current, next);
            inboxes.ended.push(ended);
        }
        let changed = committee.id() != self.committee.id();
        let old = match self.sessions.open(state, committee.clone(), rx) {
            Ok(Some(running)) => {
                tracing::info!(
                    session = state.id,
                    first_index = state.start.first_index,
                    members = committee.members().len(),
                    committee_changed = changed,
                    "consensus session started"
                );
                self.session.lock().await.replace(running)
            }
            Ok(None) => {
                tracing::info!(
                    session = state.id,
                    first_index = state.start.first_index,
                    "not a member of the committee in force: following its milestones"
                );
                self.session.lock().await.take()
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start the next consensus session");
                self.session.lock().await.take()
            }
        };
        self.state = state;
        self.committee = committee;
        self.members = members;
        self.last_announce = None;
        let grace = (self.sessions.settings.timing.unit_creation_delay * ENDED_SESSION_ROUNDS)
            .min(Duration::from_secs(60));
        let link = self.link.clone();
        let backup = backup_file(&self.sessions.dir, ended_id);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            // Stopped before its inbox closes (a closed inbox is an engine error).
            if let Some(old) = old {
                old.stop().await;
            }
            link.engine_in
                .lock()
                .ended
                .retain(|inbox| inbox.id != ended_id);
            let _ = std::fs::remove_file(backup);
        });
    }

    /// An event of session `session`: agreed milestones of any session are taken (an
    /// older one still running agrees exactly what it would have); only the current
    /// session's end moves this member on.
    async fn on_event(&mut self, session: u64, event: SequenceEvent) {
        match event {
            SequenceEvent::Agreed(a) => {
                tracing::debug!(
                    index = a.index,
                    parents = a.parents.len(),
                    "milestone agreed"
                );
                if self.queue.len() < MAX_QUEUED {
                    self.queue.push_back(a);
                } else {
                    tracing::warn!(index = a.index, "too far behind: left to the follower path");
                }
            }
            SequenceEvent::SessionEnded { next } if session == self.state.id => {
                let state = SessionState {
                    id: self.state.id + 1,
                    start: next,
                };
                self.switch_session(state);
            }
            SequenceEvent::SessionEnded { .. } => {}
        }
    }

    async fn strike(&self, from: usize, reason: String) {
        if let Some(peer) = self.link.peer(from) {
            let _ = self.handle.strike(peer, reason).await;
        }
    }

    async fn on_share(&mut self, from: usize, bytes: Vec<u8>) {
        let share = match SignatureShare::from_bytes(&bytes) {
            Ok(s) => s,
            Err(e) => {
                return self
                    .strike(from, format!("sent an undecodable share: {e}"))
                    .await
            }
        };
        let expected = self.link.settings.validators.get(from).map(|(k, _)| *k);
        if Some(share.signature.public_key) != expected {
            return self
                .strike(from, "sent a share signed by another member".into())
                .await;
        }
        match self.collectors.add(share) {
            Ok(c) => self.on_collected(c),
            // Ahead of this node, or a committee it does not know yet (a change it has
            // not applied): not provably wrong.
            Err(CollectError::TooFarAhead { .. } | CollectError::WrongCommittee { .. }) => {}
            Err(e @ (CollectError::Equivocation { .. } | CollectError::Equivocator { .. })) => {
                tracing::warn!(error = %e, "equivocating validator");
            }
            Err(e) => {
                self.strike(from, format!("sent an invalid share: {e}"))
                    .await
            }
        }
    }

    /// The signatures of a certified milestone received by gossip count as shares.
    fn on_certificate(&mut self, milestone: Milestone) {
        for signature in &milestone.signatures {
            let share = SignatureShare {
                essence: milestone.essence.clone(),
                signature: *signature,
            };
            if let Ok(c) = self.collectors.add(share) {
                self.on_collected(c);
            }
        }
    }

    fn on_collected(&mut self, collected: Collected) {
        if let Collected::Certified(m) = collected {
            tracing::debug!(index = m.essence.index, "milestone certified");
            self.certified.insert(m.essence.index, m);
        }
    }

    fn sign(&self, essence: &MilestoneEssence) -> Vec<SignatureShare> {
        if let Some(b) = self.byzantine {
            return byzantine_shares(b, essence, &self.key);
        }
        vec![SignatureShare::sign(essence.clone(), &self.key)]
    }

    /// Sends `body` to every other validator; false once the network is gone.
    async fn send_to_others(&self, body: &[u8]) -> bool {
        for (i, (_, peer)) in self.link.settings.validators.iter().enumerate() {
            if i != self.link.own
                && self
                    .handle
                    .send_committee(*peer, body.to_vec())
                    .await
                    .is_err()
            {
                return false;
            }
        }
        true
    }

    async fn broadcast(&self, shares: &[SignatureShare]) {
        for share in shares {
            let mut body = vec![CHANNEL_SHARE];
            body.extend_from_slice(&share.to_bytes());
            if !self.send_to_others(&body).await {
                return;
            }
        }
    }

    async fn progress(&mut self) {
        let latest = self.node.latest_milestone().map(|l| l.index).unwrap_or(0);
        self.collectors.forget_below(latest + 1);
        self.queue.retain(|a| a.index > latest);
        self.certified = self.certified.split_off(&(latest + 1));
        if self
            .current
            .as_ref()
            .is_some_and(|w| w.agreed.index <= latest)
        {
            self.current = None;
            *self.link.working.lock() = None;
        }
        if self.current.is_none() {
            match self.queue.front() {
                Some(a) if a.index == latest + 1 => {
                    if let Some(agreed) = self.queue.pop_front() {
                        self.current = Some(Work {
                            agreed,
                            computed: None,
                            shares: Vec::new(),
                            sent: None,
                        });
                    }
                }
                // Behind: the follower path catches up with certified milestones.
                _ => return,
            }
        }
        let Some(mut work) = self.current.take() else {
            return;
        };
        if work.computed.is_none() {
            let node = self.node.clone();
            let a = work.agreed.clone();
            let result = tokio::task::spawn_blocking(move || {
                node.compute_agreed(a.index, a.timestamp, &a.parents)
            })
            .await;
            match result {
                Ok(Ok(computed)) => {
                    work.shares = self.sign(&computed.essence);
                    for share in work.shares.clone() {
                        if let Ok(c) = self.collectors.add(share) {
                            self.on_collected(c);
                        }
                    }
                    tracing::debug!(
                        index = computed.essence.index,
                        state_root = %computed.essence.state_root,
                        "milestone computed and signed"
                    );
                    *self.link.working.lock() = Some((computed.essence.index, Instant::now()));
                    work.computed = Some(computed);
                }
                Ok(Err(FollowError::Incomplete { .. })) => {
                    let (_, unknown) = self.node.tips_solid(&work.agreed.parents);
                    self.link.wanted.lock().extend(unknown);
                    self.fetch.notify_one();
                    self.current = Some(work);
                    return;
                }
                Ok(Err(FollowError::Known { .. })) => return,
                Ok(Err(e)) => {
                    tracing::warn!(index = work.agreed.index, error = %e, "agreed milestone not computed");
                    self.current = Some(work);
                    return;
                }
                Err(_) => return,
            }
        }
        if work.sent.is_none_or(|t| t.elapsed() >= SHARE_RESEND) {
            self.broadcast(&work.shares).await;
            work.sent = Some(Instant::now());
        }
        let index = work.agreed.index;
        if let (Some(m), Some(_)) = (self.certified.get(&index), &work.computed) {
            let m = m.clone();
            let Some(computed) = work.computed.take() else {
                return;
            };
            let node = self.node.clone();
            let result =
                tokio::task::spawn_blocking(move || node.commit_certified(computed, m)).await;
            match result {
                Ok(Ok(latest)) => {
                    tracing::debug!(index = latest.index, "certified milestone committed");
                    *self.link.working.lock() = None;
                    self.collectors.forget_below(index + 1);
                    return;
                }
                Ok(Err(FollowError::Known { .. })) => return,
                Ok(Err(e)) => {
                    tracing::error!(index, error = %e, "certified milestone not committed");
                    return;
                }
                Err(_) => return,
            }
        }
        self.current = Some(work);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{dev_key, NodeConfig};
    use weft_tangle::MemoryStore;
    use weft_types::{BlockBuilder, MilestoneSignature, Payload, StateRoot, TaggedData};

    /// A validator (member key seed 1) of a four-member committee (seeds 1..=4).
    fn validator(dir: &Path) -> (Node, Vec<OrganisationKey>) {
        let keys: Vec<OrganisationKey> = (1..=4u8)
            .map(|i| OrganisationKey::from_seed(&[i; 32]))
            .collect();
        let members: Vec<String> = keys
            .iter()
            .map(|k| format!("\"{}\"", k.public_key()))
            .collect();
        let validators: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                format!(
                    "{{ key = \"{}\", peer = \"{}\" }}",
                    k.public_key(),
                    weft_network::peer_id_from_seed([i as u8 + 1; 32])
                )
            })
            .collect();
        let path = dir.join("config.toml");
        std::fs::write(
            &path,
            format!(
                "network_name = \"committee-test\"\ndata_dir = \"{}\"\napi = \"127.0.0.1:1\"\n\
                 committee_threshold = 3\ncommittee = [{}]\nauthority = \"{}\"\n\
                 organisations = [\"{}\"]\npow_difficulty = 0\n\
                 [network]\nlisten = \"/ip4/127.0.0.1/tcp/0\"\n\
                 [consensus]\ngenesis_time_ms = 1\nvalidators = [{}]\n",
                dir.display(),
                members.join(", "),
                dev_key("authority").public_key(),
                dev_key("organisation").public_key(),
                validators.join(", ")
            ),
        )
        .unwrap();
        let config = NodeConfig::from_file(&path).unwrap();
        let node = Node::start_with_key(
            config,
            Arc::new(MemoryStore::default()),
            Some(OrganisationKey::from_seed(&[1; 32])),
        )
        .unwrap();
        assert!(node.is_validator() && !node.issues_alone());
        (node, keys)
    }

    fn certify(essence: &MilestoneEssence, signers: &[&OrganisationKey]) -> Milestone {
        let mut signatures: Vec<MilestoneSignature> = signers
            .iter()
            .map(|k| MilestoneSignature {
                public_key: k.public_key(),
                signature: k.sign(&essence.signing_message()),
            })
            .collect();
        signatures.sort_by_key(|s| s.public_key);
        Milestone {
            essence: essence.clone(),
            signatures,
        }
    }

    async fn anchor(node: &Node, data: &[u8]) -> BlockId {
        let org = dev_key("organisation");
        let block = org.sign_block(
            BlockBuilder::new(node.network_id, node.select_tips(2), now_ms())
                .payload(Payload::TaggedData(TaggedData {
                    tag: b"t".to_vec(),
                    data: data.to_vec(),
                }))
                .organisation(org.public_key()),
        );
        node.submit_bytes(block.to_bytes()).await.unwrap().block_id
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_validator_commits_the_certified_essence_it_computed_and_halts_on_another() {
        let dir = tempfile::tempdir().unwrap();
        let (node, keys) = validator(dir.path());
        let a = anchor(&node, b"first").await;
        let tips = node.proposal_tips().unwrap().expect("something to confirm");
        assert_eq!(tips, vec![a]);
        let computed = node.compute_agreed(1, now_ms(), &tips).unwrap();
        assert_eq!(computed.order, vec![a]);
        // Two signatures are not a certificate: nothing is written.
        let short = certify(&computed.essence, &[&keys[0], &keys[1]]);
        assert!(matches!(
            node.commit_certified(
                node.compute_agreed(1, computed.essence.timestamp, &tips)
                    .unwrap(),
                short
            ),
            Err(FollowError::Certificate { index: 1, .. })
        ));
        assert_eq!(node.latest_milestone(), None);
        let essence = computed.essence.clone();
        let latest = node
            .commit_certified(computed, certify(&essence, &[&keys[0], &keys[2], &keys[3]]))
            .unwrap();
        assert_eq!((latest.index, latest.id), (1, essence.id()));
        assert_eq!(
            node.block_metadata(&a).unwrap().unwrap().referenced_by,
            Some(1)
        );
        // Index 1 again (a restarted session replays it): already committed.
        assert!(matches!(
            node.compute_agreed(1, essence.timestamp, &tips),
            Err(FollowError::Known { index: 1, .. })
        ));

        // The committee certifies another state root than the one computed here: halt.
        let b = anchor(&node, b"second").await;
        let computed = node.compute_agreed(2, now_ms(), &[b]).unwrap();
        let mut other = computed.essence.clone();
        other.state_root = StateRoot([7; 32]);
        let wrong = certify(&other, &[&keys[1], &keys[2], &keys[3]]);
        assert!(matches!(
            node.commit_certified(computed, wrong),
            Err(FollowError::Divergence { index: 2, .. })
        ));
        assert!(node.is_halted());
        assert_eq!(node.latest_milestone().map(|l| l.index), Some(1));
        assert!(matches!(
            node.compute_agreed(2, now_ms(), &[b]),
            Err(FollowError::Halted)
        ));
        node.shutdown();
    }

    #[test]
    fn the_session_file_round_trips_and_starts_at_the_genesis() {
        let dir = tempfile::tempdir().unwrap();
        let first = read_session(dir.path(), 1_234).unwrap();
        assert_eq!(
            first,
            SessionState {
                id: 0,
                start: SequenceStart {
                    first_index: 1,
                    previous_timestamp: 1_234
                }
            }
        );
        let next = SessionState {
            id: 3,
            start: SequenceStart {
                first_index: 77,
                previous_timestamp: 9_999,
            },
        };
        write_session(dir.path(), &next).unwrap();
        assert_eq!(read_session(dir.path(), 1_234).unwrap(), next);
        std::fs::write(session_file(dir.path()), "v2 1 2 3").unwrap();
        assert!(read_session(dir.path(), 1_234).is_err());
    }
}
