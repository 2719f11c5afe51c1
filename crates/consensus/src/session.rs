//! Running one AlephBFT session for the milestone committee.
//!
//! This is the seam between the node and the engine: the node feeds its latest
//! [`Proposal`] through a watch channel, routes [`OutgoingMessage`]s and
//! [`IncomingMessage`]s over its transport, and reads the agreed sequence
//! ([`SequenceEvent`]s) from a channel. Everything the engine needs besides (keychain,
//! hasher, spawner, backup, configuration) is built here from Weft's types.

use std::sync::Arc;
use std::time::Duration;

use aleph_bft::{
    create_config, DelayConfig, LocalIO, NodeCount, OrderedUnit, SpawnHandle, TaskHandle,
    Terminator, UnitFinalizationHandler,
};
use futures::channel::oneshot;
use tokio::sync::{mpsc, watch};
use weft_crypto::OrganisationKey;
use weft_types::Committee;

use crate::backup::UnitBackup;
use crate::keychain::{Blake2bHasher, CommitteeKeychain, KeychainError};
use crate::network::{
    ChannelNetwork, IncomingMessage, OutgoingMessage, PeerReport, TipAvailability,
};
use crate::proposal::Proposal;
use crate::sequence::{FinalizationRules, MilestoneSequencer, SequenceEvent, SequenceStart};

/// How many rounds the engine may go past the session's end round (so the batch that
/// ends the session can be finalized, and laggards can still fetch units).
pub const ROUNDS_AFTER_END: u16 = 500;

/// Why a session cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// This node's key is not in the committee.
    #[error(transparent)]
    Keychain(#[from] KeychainError),
    /// The engine refused the configuration.
    #[error("the consensus engine refused the session configuration")]
    Config,
    /// Not called from within a tokio runtime.
    #[error("a consensus session must be started inside a tokio runtime")]
    NoRuntime,
}

/// The engine's pacing. Every member of a session should use the same values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTiming {
    /// Wait before this member's first unit.
    pub first_unit_delay: Duration,
    /// Wait between two of this member's units (one DAG round).
    pub unit_creation_delay: Duration,
    /// Base wait before asking again for a missing unit.
    pub request_delay: Duration,
    /// How often this member's newest units are broadcast again (lower bound).
    pub rebroadcast_interval: Duration,
}

impl Default for SessionTiming {
    /// A consortium over the Internet: 500 ms rounds, like AlephBFT's defaults.
    fn default() -> SessionTiming {
        SessionTiming {
            first_unit_delay: Duration::from_secs(2),
            unit_creation_delay: Duration::from_millis(500),
            request_delay: Duration::from_secs(1),
            rebroadcast_interval: Duration::from_secs(15),
        }
    }
}

impl SessionTiming {
    /// Fast pacing for in-process tests and single-host dev networks: 50 ms rounds.
    pub fn quick() -> SessionTiming {
        SessionTiming {
            first_unit_delay: Duration::from_millis(50),
            unit_creation_delay: Duration::from_millis(50),
            request_delay: Duration::from_millis(100),
            rebroadcast_interval: Duration::from_millis(500),
        }
    }

    fn delay_config(&self) -> DelayConfig {
        let first = self.first_unit_delay;
        let unit = self.unit_creation_delay;
        let request = self.request_delay;
        DelayConfig {
            tick_interval: (unit / 5).clamp(Duration::from_millis(5), Duration::from_millis(20)),
            unit_rebroadcast_interval_min: self.rebroadcast_interval,
            unit_rebroadcast_interval_max: self.rebroadcast_interval * 4 / 3,
            unit_creation_delay: Arc::new(move |t| if t == 0 { first } else { unit }),
            coord_request_delay: Arc::new(move |t| request * (t.min(9) as u32 + 1)),
            coord_request_recipients: Arc::new(|t| if t <= 2 { 3 } else { 1 }),
            parent_request_delay: Arc::new(move |_| request),
            parent_request_recipients: Arc::new(|_| 1),
            newest_request_delay: Arc::new(move |_| request),
        }
    }
}

/// What every member of a session agrees on beforehand.
#[derive(Debug, Clone)]
pub struct SessionParams {
    /// The engine's session number (bound into every unit; one backup per session).
    pub session_id: u64,
    /// The committee; a member's position in it is its engine index.
    pub committee: Committee,
    /// Where the session's milestone sequence starts.
    pub start: SequenceStart,
    /// The finalization rules.
    pub rules: FinalizationRules,
    /// The engine's pacing.
    pub timing: SessionTiming,
}

impl SessionParams {
    /// The canonical header of this member's backup file for the session: session id,
    /// committee id, start and the member's public key.
    pub fn backup_header(&self, member: &weft_types::PublicKeyBytes) -> Vec<u8> {
        let mut h = Vec::with_capacity(8 + 32 + 4 + 8 + 10 + 32);
        h.extend_from_slice(&self.session_id.to_le_bytes());
        h.extend_from_slice(&self.committee.id().0);
        h.extend_from_slice(&self.start.first_index.to_le_bytes());
        h.extend_from_slice(&self.start.previous_timestamp.to_le_bytes());
        h.extend_from_slice(&self.rules.max_time_step_ms.to_le_bytes());
        h.extend_from_slice(&self.rules.end_round.to_le_bytes());
        h.extend_from_slice(&member.0);
        h
    }
}

/// The node's side of a session's channels.
pub struct SessionIo {
    /// The latest proposal; the engine takes each new value once (into its next unit).
    pub proposals: watch::Receiver<Option<Proposal>>,
    /// Messages received from other members.
    pub incoming: mpsc::Receiver<IncomingMessage>,
    /// Messages to send (the channel's capacity bounds what waits for the transport;
    /// beyond it messages are dropped and the engine resends what matters).
    pub outgoing: mpsc::Sender<OutgoingMessage>,
    /// The agreed sequence.
    pub events: mpsc::UnboundedSender<SequenceEvent>,
    /// Where malformed messages from peers are reported (dropped when full).
    pub reports: Option<mpsc::Sender<PeerReport>>,
    /// Hold back messages whose proposals name tips not yet solid here.
    pub availability: Option<Arc<dyn TipAvailability>>,
    /// The unit backup.
    pub backup: UnitBackup,
}

/// The engine's [`aleph_bft::DataProvider`]: each new proposal from the node, once.
struct ProposalFeed {
    proposals: watch::Receiver<Option<Proposal>>,
}

#[async_trait::async_trait]
impl aleph_bft::DataProvider for ProposalFeed {
    type Output = Proposal;

    async fn get_data(&mut self) -> Option<Proposal> {
        match self.proposals.has_changed() {
            Ok(true) => self.proposals.borrow_and_update().clone(),
            _ => None,
        }
    }
}

/// The engine's [`UnitFinalizationHandler`]: runs the [`MilestoneSequencer`] over each
/// finalized batch and forwards what it decides.
struct SequenceOutput {
    sequencer: MilestoneSequencer,
    events: mpsc::UnboundedSender<SequenceEvent>,
}

impl UnitFinalizationHandler for SequenceOutput {
    type Data = Proposal;
    type Hasher = Blake2bHasher;

    fn batch_finalized(&mut self, batch: Vec<OrderedUnit<Proposal, Blake2bHasher>>) {
        let head_round = batch.iter().map(|u| u.round).max().unwrap_or(0);
        let proposals: Vec<(usize, Proposal)> = batch
            .into_iter()
            .filter_map(|u| u.data.map(|d| (u.creator.0, d)))
            .collect();
        for event in self.sequencer.finalize_batch(head_round, &proposals) {
            // The node may have stopped listening; the session is then being shut down.
            let _ = self.events.send(event);
        }
    }
}

/// Runs the engine's tasks on the current tokio runtime.
#[derive(Clone)]
pub struct TokioSpawner(tokio::runtime::Handle);

impl TokioSpawner {
    /// A spawner on `handle`.
    pub fn new(handle: tokio::runtime::Handle) -> TokioSpawner {
        TokioSpawner(handle)
    }
}

impl SpawnHandle for TokioSpawner {
    fn spawn(&self, _name: &'static str, task: impl futures::Future<Output = ()> + Send + 'static) {
        self.0.spawn(task);
    }

    fn spawn_essential(
        &self,
        _name: &'static str,
        task: impl futures::Future<Output = ()> + Send + 'static,
    ) -> TaskHandle {
        let handle = self.0.spawn(task);
        Box::pin(async move { handle.await.map_err(|_| ()) })
    }
}

/// A running session. Dropping it without [`RunningSession::stop`] leaves the engine
/// running until its channels close.
pub struct RunningSession {
    exit: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    position: usize,
}

impl RunningSession {
    /// This member's committee position (its engine index).
    pub fn position(&self) -> usize {
        self.position
    }

    /// Whether the engine has stopped (asked to, or because a channel closed).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Asks the engine to stop and waits until all its tasks ended.
    pub async fn stop(mut self) {
        if let Some(exit) = self.exit.take() {
            let _ = exit.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Starts this member's engine for a session, on the current tokio runtime.
pub fn start_session(
    params: SessionParams,
    key: Arc<OrganisationKey>,
    io: SessionIo,
) -> Result<RunningSession, SessionError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| SessionError::NoRuntime)?;
    let keychain = CommitteeKeychain::new(&params.committee, key)?;
    let position = keychain.position();
    let n = params.committee.members().len();
    let max_round = params.rules.end_round.saturating_add(ROUNDS_AFTER_END);
    let config = create_config(
        NodeCount(n),
        aleph_bft::NodeIndex(position),
        params.session_id,
        max_round,
        params.timing.delay_config(),
        Duration::ZERO,
    )
    .map_err(|_| SessionError::Config)?;
    let (saver, loader) = io.backup.into_parts();
    let local_io = LocalIO::new_with_unit_finalization_handler(
        ProposalFeed {
            proposals: io.proposals,
        },
        SequenceOutput {
            sequencer: MilestoneSequencer::new(n, params.start, params.rules),
            events: io.events,
        },
        saver,
        loader,
    );
    let network = ChannelNetwork::new(n, io.outgoing, io.incoming, io.reports, io.availability);
    let (exit_tx, exit_rx) = oneshot::channel();
    let spawner = TokioSpawner::new(runtime.clone());
    let task = runtime.spawn(aleph_bft::run_session(
        config,
        local_io,
        network,
        keychain,
        spawner,
        Terminator::create_root(exit_rx, "weft-consensus"),
    ));
    Ok(RunningSession {
        exit: Some(exit_tx),
        task,
        position,
    })
}
