//! The peer table: the allowlist with each peer's connection state, redial backoff,
//! announced milestone range, misbehaviour strikes and ban.
//!
//! This module exists to keep the bookkeeping of "who may talk to us, who is up, whom
//! to redial when, who is banned until when" out of the event loop, as plain data with
//! no libp2p calls, so its rules can be tested without sockets. Its size is fixed by the
//! allowlist (at most [`crate::MAX_PEERS`] entries): nothing in it grows with traffic.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

use crate::config::PeerEntry;
use crate::protocol::MilestoneRange;

/// What the node knows about one allowlisted peer, as [`crate::NetworkHandle::peers`]
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// The peer.
    pub peer_id: PeerId,
    /// The configured address, if this node dials the peer.
    pub addr: Option<Multiaddr>,
    /// Whether at least one connection is open.
    pub connected: bool,
    /// The milestone range the peer last announced (heartbeat or status answer).
    pub range: Option<MilestoneRange>,
    /// Strikes against the peer since its last ban (or since start).
    pub strikes: u32,
    /// Time left on the peer's ban, if it is banned.
    pub banned_for: Option<Duration>,
}

#[derive(Debug)]
pub(crate) struct PeerState {
    pub(crate) addr: Option<Multiaddr>,
    pub(crate) connections: u32,
    pub(crate) dialing: bool,
    pub(crate) next_dial: Instant,
    pub(crate) backoff: Duration,
    pub(crate) range: Option<MilestoneRange>,
    pub(crate) strikes: u32,
    pub(crate) banned_until: Option<Instant>,
    /// Consecutive gossipsub heartbeats in which a message to this peer was refused
    /// because its send queue was full, and when the last one was reported.
    slow: (u32, Option<Instant>),
}

/// Consecutive gossipsub heartbeats (700 ms each) with a full send queue after which a
/// peer's connections are closed and redialled: about 21 s.
pub(crate) const SLOW_HEARTBEATS_LIMIT: u32 = 30;
/// A gap longer than this between two full-queue reports ends a run of them.
pub(crate) const SLOW_REPORT_GAP: Duration = Duration::from_secs(2);

/// What a strike led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrikeOutcome {
    /// The peer is not on the allowlist (nothing recorded).
    Unknown,
    /// Recorded; the peer stays.
    Counted,
    /// The peer reached the limit and is now banned until the given instant.
    Banned(Instant),
    /// The peer was already banned.
    AlreadyBanned,
}

#[derive(Debug)]
pub(crate) struct PeerTable {
    peers: HashMap<PeerId, PeerState>,
    redial_min: Duration,
    redial_max: Duration,
    max_strikes: u32,
    ban_duration: Duration,
}

impl PeerTable {
    pub(crate) fn new(
        allowlist: &[PeerEntry],
        now: Instant,
        redial_min: Duration,
        redial_max: Duration,
        max_strikes: u32,
        ban_duration: Duration,
    ) -> PeerTable {
        let peers = allowlist
            .iter()
            .map(|e| {
                (
                    e.peer_id,
                    PeerState {
                        addr: e.addr.clone(),
                        connections: 0,
                        dialing: false,
                        next_dial: now,
                        backoff: redial_min,
                        range: None,
                        strikes: 0,
                        banned_until: None,
                        slow: (0, None),
                    },
                )
            })
            .collect();
        PeerTable {
            peers,
            redial_min,
            redial_max,
            max_strikes,
            ban_duration,
        }
    }

    pub(crate) fn contains(&self, peer: &PeerId) -> bool {
        self.peers.contains_key(peer)
    }

    pub(crate) fn is_banned(&self, peer: &PeerId) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|p| p.banned_until.is_some())
    }

    pub(crate) fn is_connected(&self, peer: &PeerId) -> bool {
        self.peers.get(peer).is_some_and(|p| p.connections > 0)
    }

    /// Records a new connection; true when it is the peer's first.
    pub(crate) fn connected(&mut self, peer: &PeerId) -> bool {
        let Some(p) = self.peers.get_mut(peer) else {
            return false;
        };
        p.connections += 1;
        p.dialing = false;
        p.backoff = self.redial_min;
        p.connections == 1
    }

    /// Records a closed connection; true when it was the peer's last. The peer is
    /// redialled after the current backoff.
    pub(crate) fn disconnected(&mut self, peer: &PeerId, remaining: u32, now: Instant) -> bool {
        let Some(p) = self.peers.get_mut(peer) else {
            return false;
        };
        let was_connected = p.connections > 0;
        p.connections = remaining;
        if remaining == 0 {
            p.next_dial = now + p.backoff;
            p.range = None;
            p.slow = (0, None);
        }
        was_connected && remaining == 0
    }

    /// Records that gossipsub refused messages to `peer` for a full send queue in one of
    /// its heartbeats; true once that has happened in [`SLOW_HEARTBEATS_LIMIT`]
    /// consecutive heartbeats (no gap over [`SLOW_REPORT_GAP`]), when the caller closes
    /// the peer's connections so that a new connection starts with an empty queue.
    pub(crate) fn queue_full(&mut self, peer: &PeerId, now: Instant) -> bool {
        let Some(p) = self.peers.get_mut(peer) else {
            return false;
        };
        let run = match p.slow {
            (n, Some(last)) if now.saturating_duration_since(last) <= SLOW_REPORT_GAP => n + 1,
            _ => 1,
        };
        if run >= SLOW_HEARTBEATS_LIMIT {
            p.slow = (0, None);
            return true;
        }
        p.slow = (run, Some(now));
        false
    }

    /// Records a failed dial: the next one waits twice as long (up to the maximum).
    pub(crate) fn dial_failed(&mut self, peer: &PeerId, now: Instant) {
        let max = self.redial_max;
        if let Some(p) = self.peers.get_mut(peer) {
            p.dialing = false;
            p.next_dial = now + p.backoff;
            p.backoff = (p.backoff * 2).min(max);
        }
    }

    /// Peers to dial now (address known, not connected, not dialling, not banned, due);
    /// they are marked as dialling.
    pub(crate) fn due_dials(&mut self, now: Instant) -> Vec<(PeerId, Multiaddr)> {
        let mut due = Vec::new();
        for (id, p) in self.peers.iter_mut() {
            if let Some(addr) = &p.addr {
                if p.connections == 0
                    && !p.dialing
                    && p.banned_until.is_none()
                    && p.next_dial <= now
                {
                    p.dialing = true;
                    due.push((*id, addr.clone()));
                }
            }
        }
        due
    }

    pub(crate) fn set_range(&mut self, peer: &PeerId, range: MilestoneRange) -> bool {
        match self.peers.get_mut(peer) {
            Some(p) => {
                p.range = Some(range);
                true
            }
            None => false,
        }
    }

    /// Adds `weight` strikes; at `max_strikes` the peer is banned.
    pub(crate) fn strike(&mut self, peer: &PeerId, weight: u32, now: Instant) -> StrikeOutcome {
        let Some(p) = self.peers.get_mut(peer) else {
            return StrikeOutcome::Unknown;
        };
        if p.banned_until.is_some() {
            return StrikeOutcome::AlreadyBanned;
        }
        p.strikes = p.strikes.saturating_add(weight);
        if p.strikes >= self.max_strikes {
            let until = now + self.ban_duration;
            p.banned_until = Some(until);
            p.dialing = false;
            p.range = None;
            StrikeOutcome::Banned(until)
        } else {
            StrikeOutcome::Counted
        }
    }

    /// Lifts the bans that have expired; returns those peers (their strikes are reset
    /// and they are redialled at once).
    pub(crate) fn expire_bans(&mut self, now: Instant) -> Vec<PeerId> {
        let mut lifted = Vec::new();
        for (id, p) in self.peers.iter_mut() {
            if p.banned_until.is_some_and(|until| until <= now) {
                p.banned_until = None;
                p.strikes = 0;
                p.backoff = self.redial_min;
                p.next_dial = now;
                lifted.push(*id);
            }
        }
        lifted
    }

    pub(crate) fn status(&self, now: Instant) -> Vec<PeerStatus> {
        let mut out: Vec<PeerStatus> = self
            .peers
            .iter()
            .map(|(id, p)| PeerStatus {
                peer_id: *id,
                addr: p.addr.clone(),
                connected: p.connections > 0,
                range: p.range,
                strikes: p.strikes,
                banned_for: p.banned_until.map(|u| u.saturating_duration_since(now)),
            })
            .collect();
        out.sort_by_key(|s| s.peer_id.to_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::peer_id_from_seed;

    fn table() -> (PeerTable, PeerId, PeerId, Instant) {
        let a = peer_id_from_seed([1; 32]);
        let b = peer_id_from_seed([2; 32]);
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().expect("addr");
        let now = Instant::now();
        let t = PeerTable::new(
            &[PeerEntry::new(a, Some(addr)), PeerEntry::new(b, None)],
            now,
            Duration::from_millis(100),
            Duration::from_millis(350),
            3,
            Duration::from_secs(60),
        );
        (t, a, b, now)
    }

    #[test]
    fn a_peer_whose_queue_stays_full_is_reported_once_per_run() {
        let (mut t, a, _b, now) = table();
        let beat = Duration::from_millis(700);
        t.connected(&a);
        let at = |k: u32| now + beat * k;
        for k in 0..SLOW_HEARTBEATS_LIMIT - 1 {
            assert!(!t.queue_full(&a, at(k)), "heartbeat {k}");
        }
        assert!(t.queue_full(&a, at(SLOW_HEARTBEATS_LIMIT - 1)), "the limit");
        // A new run starts from zero.
        assert!(!t.queue_full(&a, at(SLOW_HEARTBEATS_LIMIT)));
        // A gap ends a run: after it the count starts again.
        let mut k = SLOW_HEARTBEATS_LIMIT + 10;
        for _ in 0..SLOW_HEARTBEATS_LIMIT - 2 {
            assert!(!t.queue_full(&a, at(k)));
            k += 1;
        }
        let later = at(k) + SLOW_REPORT_GAP + beat;
        assert!(!t.queue_full(&a, later), "the gap reset the run");
        // A closed connection resets it as well; strangers are never reported.
        t.disconnected(&a, 0, later);
        for i in 0..SLOW_HEARTBEATS_LIMIT - 1 {
            assert!(!t.queue_full(&a, later + beat * (i + 1)));
        }
        let stranger = peer_id_from_seed([9; 32]);
        for i in 0..2 * SLOW_HEARTBEATS_LIMIT {
            assert!(!t.queue_full(&stranger, now + beat * i));
        }
    }

    #[test]
    fn dials_only_peers_with_addresses_with_backoff() {
        let (mut t, a, _b, now) = table();
        assert_eq!(t.due_dials(now).len(), 1);
        assert!(t.due_dials(now).is_empty(), "already dialling");
        t.dial_failed(&a, now);
        assert!(t.due_dials(now + Duration::from_millis(50)).is_empty());
        assert_eq!(t.due_dials(now + Duration::from_millis(100)).len(), 1);
        t.dial_failed(&a, now);
        assert!(t.due_dials(now + Duration::from_millis(150)).is_empty());
        assert_eq!(t.due_dials(now + Duration::from_millis(200)).len(), 1);
        t.dial_failed(&a, now);
        t.dial_failed(&a, now);
        t.dial_failed(&a, now);
        assert_eq!(t.peers[&a].backoff, Duration::from_millis(350), "capped");
        assert!(t.connected(&a));
        assert_eq!(t.peers[&a].backoff, Duration::from_millis(100), "reset");
        assert!(t.disconnected(&a, 0, now));
        assert_eq!(t.due_dials(now + Duration::from_millis(100)).len(), 1);
    }

    #[test]
    fn strikes_ban_and_bans_expire() {
        let (mut t, a, b, now) = table();
        let stranger = peer_id_from_seed([9; 32]);
        assert_eq!(t.strike(&stranger, 1, now), StrikeOutcome::Unknown);
        assert_eq!(t.strike(&b, 1, now), StrikeOutcome::Counted);
        assert_eq!(t.strike(&b, 1, now), StrikeOutcome::Counted);
        assert!(matches!(t.strike(&b, 1, now), StrikeOutcome::Banned(_)));
        assert_eq!(t.strike(&b, 1, now), StrikeOutcome::AlreadyBanned);
        assert!(t.is_banned(&b));
        assert!(matches!(t.strike(&a, 3, now), StrikeOutcome::Banned(_)));
        assert!(t.due_dials(now).is_empty(), "banned peers are not dialled");
        assert!(t.expire_bans(now + Duration::from_secs(59)).is_empty());
        assert_eq!(t.expire_bans(now + Duration::from_secs(60)).len(), 2);
        assert!(!t.is_banned(&a));
        assert_eq!(t.status(now).iter().map(|s| s.strikes).sum::<u32>(), 0);
    }
}
