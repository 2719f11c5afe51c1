//! From AlephBFT's total order of proposals to the sequence of milestones.
//!
//! AlephBFT hands every member the same batches of finalized units in the same order,
//! one batch per DAG round whose head is decided. [`MilestoneSequencer`] is a pure,
//! deterministic state machine over those batches: the same batches give the same
//! [`AgreedMilestone`]s on every honest member, with no clock, randomness or hash-map
//! order involved. Its rules and their reasons are in `specs/consensus.md` §4.

use std::collections::{BTreeSet, VecDeque};

use weft_types::{BlockId, MAX_PARENTS};

use crate::proposal::Proposal;

/// How many recently agreed parents are remembered to recognise re-proposed tips.
pub const RECENT_PARENTS: usize = 64 * MAX_PARENTS;

/// What the committee agreed a milestone confirms. Each validator then solidifies the
/// parents' past cone, computes the white-flag order, the inclusion root and the state
/// root itself, and signs the resulting essence.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AgreedMilestone {
    /// The milestone index (consecutive).
    pub index: u32,
    /// The milestone time, milliseconds since the Unix epoch (strictly increasing).
    pub timestamp: u64,
    /// The parents whose past cone it confirms: 1 to 8, strictly ascending.
    pub parents: Vec<BlockId>,
}

/// Where a session's sequence starts: the milestone before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SequenceStart {
    /// The index the session's first agreed milestone gets (1 on a fresh ledger).
    pub first_index: u32,
    /// The timestamp of milestone `first_index - 1` (the genesis time for index 1).
    pub previous_timestamp: u64,
}

/// The parameters of the finalization rules; every member of a session must use the
/// same ones (they are part of the session's configuration, like the committee).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FinalizationRules {
    /// Largest step, in milliseconds, between two consecutive agreed timestamps.
    pub max_time_step_ms: u64,
    /// The session ends with the first batch whose head is in this round or later.
    pub end_round: u16,
    /// Committee epochs: when non-zero, the session also ends right after it agreed a
    /// milestone whose index is a multiple of this, so the next session starts at
    /// `k · epoch + 1`, the only indexes at which a committee change may take effect
    /// (`weft_ledger`'s rule). A session never spans two committees.
    pub epoch_milestones: u32,
}

impl Default for FinalizationRules {
    /// One hour of time step, 3 000 rounds (25 minutes at 500 ms a round), no epochs.
    fn default() -> FinalizationRules {
        FinalizationRules {
            max_time_step_ms: 3_600_000,
            end_round: 3_000,
            epoch_milestones: 0,
        }
    }
}

/// What the sequencer reports after a batch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SequenceEvent {
    /// The next milestone is agreed.
    Agreed(AgreedMilestone),
    /// The session is over: no further milestone comes from it. The next session starts
    /// at `next`.
    SessionEnded {
        /// Where the next session's sequence starts.
        next: SequenceStart,
    },
}

/// One finalized proposal: the committee position of the member whose unit carried it,
/// and the proposal.
pub type FinalizedProposal = (usize, Proposal);

/// The pure finalization function, as a state machine over AlephBFT's batches.
#[derive(Debug, Clone)]
pub struct MilestoneSequencer {
    rules: FinalizationRules,
    /// The most members that may be faulty: f = (n - 1) / 3.
    max_faulty: usize,
    next_index: u32,
    previous_timestamp: u64,
    /// Per member, the largest clock it reported in a finalized proposal (the session's
    /// previous timestamp until it reports).
    latest_times: Vec<u64>,
    recent: VecDeque<BlockId>,
    recent_set: BTreeSet<BlockId>,
    ended: bool,
}

impl MilestoneSequencer {
    /// A sequencer for a committee of `committee_size` members starting at `start`.
    pub fn new(
        committee_size: usize,
        start: SequenceStart,
        rules: FinalizationRules,
    ) -> MilestoneSequencer {
        let committee_size = committee_size.max(1);
        MilestoneSequencer {
            rules,
            max_faulty: (committee_size - 1) / 3,
            next_index: start.first_index.max(1),
            previous_timestamp: start.previous_timestamp,
            latest_times: vec![start.previous_timestamp; committee_size],
            recent: VecDeque::with_capacity(RECENT_PARENTS),
            recent_set: BTreeSet::new(),
            ended: false,
        }
    }

    /// The index the next agreed milestone gets.
    pub fn next_index(&self) -> u32 {
        self.next_index
    }

    /// Whether the session has ended (later batches are ignored).
    pub fn has_ended(&self) -> bool {
        self.ended
    }

    /// Applies one finalized batch: `head_round` is the round of its head (the highest
    /// round in it) and `proposals` the proposals its units carry, in AlephBFT's order.
    /// Returns what it decided: at most one agreed milestone, then possibly the end of
    /// the session.
    pub fn finalize_batch(
        &mut self,
        head_round: u16,
        proposals: &[FinalizedProposal],
    ) -> Vec<SequenceEvent> {
        let mut events = Vec::new();
        if self.ended {
            return events;
        }
        // Rule 1: every member's latest reported clock (per member, never lowered).
        for (creator, p) in proposals {
            if let Some(t) = self.latest_times.get_mut(*creator) {
                *t = (*t).max(p.time_ms());
            }
        }
        // Rules 2 and 3: new tips only, taken round-robin across the batch's proposals.
        let parents = self.choose_parents(proposals);
        if !parents.is_empty() {
            // Rule 4: the time.
            let timestamp = self.next_timestamp();
            events.push(SequenceEvent::Agreed(AgreedMilestone {
                index: self.next_index,
                timestamp,
                parents: parents.clone(),
            }));
            self.previous_timestamp = timestamp;
            for p in parents {
                self.remember(p);
            }
            // Rule 6: an epoch's last milestone ends the session.
            let epoch = self.rules.epoch_milestones;
            if epoch > 0 && self.next_index.is_multiple_of(epoch) {
                self.ended = true;
            }
            match self.next_index.checked_add(1) {
                Some(i) => self.next_index = i,
                None => self.ended = true,
            }
        }
        // Rule 5: the session ends at a round every member sees at the same place.
        if head_round >= self.rules.end_round || self.ended {
            self.ended = true;
            events.push(SequenceEvent::SessionEnded {
                next: SequenceStart {
                    first_index: self.next_index,
                    previous_timestamp: self.previous_timestamp,
                },
            });
        }
        events
    }

    fn choose_parents(&self, proposals: &[FinalizedProposal]) -> Vec<BlockId> {
        let mut chosen: Vec<BlockId> = Vec::with_capacity(MAX_PARENTS);
        let deepest = proposals
            .iter()
            .map(|(_, p)| p.tips().len())
            .max()
            .unwrap_or(0);
        'rounds: for k in 0..deepest {
            for (_, p) in proposals {
                if let Some(tip) = p.tips().get(k) {
                    if self.recent_set.contains(tip) || chosen.contains(tip) {
                        continue;
                    }
                    chosen.push(*tip);
                    if chosen.len() == MAX_PARENTS {
                        break 'rounds;
                    }
                }
            }
        }
        chosen.sort();
        chosen
    }

    /// max(previous + 1, min(T, previous + max step)), T the (f+1)-th largest of the
    /// members' latest clocks.
    fn next_timestamp(&self) -> u64 {
        let mut times = self.latest_times.clone();
        times.sort_unstable_by(|a, b| b.cmp(a));
        let t = times
            .get(self.max_faulty)
            .copied()
            .unwrap_or(self.previous_timestamp);
        let capped = t.min(
            self.previous_timestamp
                .saturating_add(self.rules.max_time_step_ms),
        );
        capped.max(self.previous_timestamp.saturating_add(1))
    }

    fn remember(&mut self, tip: BlockId) {
        if self.recent.len() == RECENT_PARENTS {
            if let Some(old) = self.recent.pop_front() {
                self.recent_set.remove(&old);
            }
        }
        self.recent.push_back(tip);
        self.recent_set.insert(tip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> BlockId {
        BlockId([b; 32])
    }

    fn prop(tips: &[u8], time: u64) -> Proposal {
        Proposal::new(tips.iter().map(|b| id(*b)).collect(), time).unwrap()
    }

    fn rules() -> FinalizationRules {
        FinalizationRules {
            max_time_step_ms: 10_000,
            end_round: 100,
            epoch_milestones: 0,
        }
    }

    fn start() -> SequenceStart {
        SequenceStart {
            first_index: 5,
            previous_timestamp: 1_000,
        }
    }

    fn agreed(events: &[SequenceEvent]) -> Vec<AgreedMilestone> {
        events
            .iter()
            .filter_map(|e| match e {
                SequenceEvent::Agreed(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn one_milestone_per_batch_with_consecutive_indexes() {
        let mut s = MilestoneSequencer::new(4, start(), rules());
        let a = agreed(&s.finalize_batch(1, &[(0, prop(&[1], 2_000)), (1, prop(&[2], 2_000))]));
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].index, 5);
        assert_eq!(a[0].parents, vec![id(1), id(2)]);
        let b = agreed(&s.finalize_batch(2, &[(2, prop(&[3], 3_000))]));
        assert_eq!(b[0].index, 6);
        assert_eq!(s.next_index(), 7);
    }

    #[test]
    fn batches_without_new_tips_agree_nothing() {
        let mut s = MilestoneSequencer::new(4, start(), rules());
        assert!(s.finalize_batch(1, &[]).is_empty());
        s.finalize_batch(2, &[(0, prop(&[1, 2], 2_000))]);
        // The same tips again (a validator re-proposing while the milestone is applied).
        assert!(s.finalize_batch(3, &[(1, prop(&[2, 1], 2_500))]).is_empty());
        // A partly new proposal confirms only the new tip.
        let a = agreed(&s.finalize_batch(4, &[(1, prop(&[1, 3], 2_600))]));
        assert_eq!(a[0].parents, vec![id(3)]);
        assert_eq!(a[0].index, 6);
    }

    #[test]
    fn parents_are_taken_round_robin_and_capped() {
        let mut s = MilestoneSequencer::new(4, start(), rules());
        // A first proposer with eight tips cannot crowd out the others.
        let greedy = prop(&[10, 11, 12, 13, 14, 15, 16, 17], 2_000);
        let a = agreed(&s.finalize_batch(
            1,
            &[
                (3, greedy),
                (0, prop(&[1, 2, 3], 2_000)),
                (1, prop(&[4], 2_000)),
            ],
        ));
        let mut expected: Vec<BlockId> = [10, 1, 4, 11, 2, 12, 3, 13]
            .iter()
            .map(|b| id(*b))
            .collect();
        expected.sort();
        assert_eq!(a[0].parents, expected);
        // Tips left out can be proposed again and are new then.
        let b = agreed(&s.finalize_batch(2, &[(3, prop(&[14, 15], 2_100))]));
        assert_eq!(b[0].parents, vec![id(14), id(15)]);
    }

    #[test]
    fn time_never_exceeds_the_honest_clocks() {
        // n = 4, f = 1: one member's clock far in the future is not believed.
        let mut s = MilestoneSequencer::new(4, start(), rules());
        let a = agreed(&s.finalize_batch(1, &[(3, prop(&[1], 9_000_000))]));
        // Only one member heard: T is the 2nd largest clock, the start time.
        assert_eq!(a[0].timestamp, 1_001);
        let b = agreed(&s.finalize_batch(2, &[(0, prop(&[2], 2_000))]));
        assert_eq!(b[0].timestamp, 2_000);
        let c = agreed(&s.finalize_batch(3, &[(1, prop(&[3], 2_500)), (2, prop(&[4], 2_400))]));
        assert_eq!(c[0].timestamp, 2_500);
    }

    #[test]
    fn time_is_strictly_increasing_and_bounded_in_step() {
        let mut s = MilestoneSequencer::new(1, start(), rules());
        // A clock behind the previous milestone: +1 ms.
        let a = agreed(&s.finalize_batch(1, &[(0, prop(&[1], 10))]));
        assert_eq!(a[0].timestamp, 1_001);
        // A jump of a day: at most max_time_step_ms.
        let b = agreed(&s.finalize_batch(2, &[(0, prop(&[2], 86_400_000))]));
        assert_eq!(b[0].timestamp, 11_001);
        // A member's clock is never lowered by an older report.
        let c = agreed(&s.finalize_batch(3, &[(0, prop(&[3], 5))]));
        assert_eq!(c[0].timestamp, 21_001);
    }

    #[test]
    fn session_ends_at_the_end_round_and_ignores_later_batches() {
        let mut s = MilestoneSequencer::new(4, start(), rules());
        s.finalize_batch(1, &[(0, prop(&[1], 2_000))]);
        let events = s.finalize_batch(100, &[(1, prop(&[2], 3_000))]);
        assert_eq!(events.len(), 2);
        assert!(matches!(events[0], SequenceEvent::Agreed(ref m) if m.index == 6));
        match &events[1] {
            SequenceEvent::SessionEnded { next } => {
                assert_eq!(next.first_index, 7);
                assert_eq!(next.previous_timestamp, 2_000);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(s.has_ended());
        assert!(s.finalize_batch(101, &[(2, prop(&[3], 4_000))]).is_empty());
    }

    #[test]
    fn an_epochs_last_milestone_ends_the_session() {
        // start() begins at index 5; with epochs of 4 the epoch ends at index 8.
        let mut s = MilestoneSequencer::new(
            4,
            start(),
            FinalizationRules {
                epoch_milestones: 4,
                ..rules()
            },
        );
        for (round, index) in [(1u16, 5u32), (2, 6), (3, 7)] {
            let e = s.finalize_batch(round, &[(0, prop(&[round as u8], 2_000))]);
            assert_eq!(
                agreed(&e).iter().map(|m| m.index).collect::<Vec<_>>(),
                vec![index]
            );
            assert_eq!(e.len(), 1, "{e:?}");
        }
        let last = s.finalize_batch(4, &[(1, prop(&[4], 3_000))]);
        assert!(matches!(last[0], SequenceEvent::Agreed(ref m) if m.index == 8));
        assert!(
            matches!(last[1], SequenceEvent::SessionEnded { next } if next.first_index == 9),
            "{last:?}"
        );
        assert!(s.finalize_batch(5, &[(3, prop(&[5], 3_500))]).is_empty());
    }

    #[test]
    fn the_same_batches_give_the_same_sequence() {
        let batches: Vec<(u16, Vec<FinalizedProposal>)> = (0..50u16)
            .map(|r| {
                let ps = (0..(r % 4) as usize)
                    .map(|c| {
                        (
                            c,
                            prop(&[(r % 200) as u8, c as u8 + 200], 1_000 + r as u64 * 10),
                        )
                    })
                    .collect();
                (r, ps)
            })
            .collect();
        let run = || {
            let mut s = MilestoneSequencer::new(4, start(), rules());
            batches
                .iter()
                .flat_map(|(r, ps)| s.finalize_batch(*r, ps))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn old_tips_are_forgotten_in_bounded_memory() {
        let mut s = MilestoneSequencer::new(1, start(), rules());
        for i in 0..(RECENT_PARENTS as u32 + 8) {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&i.to_le_bytes());
            let p = Proposal::new(vec![BlockId(b)], 2_000 + i as u64).unwrap();
            s.finalize_batch(1, &[(0, p)]);
        }
        assert_eq!(s.recent.len(), RECENT_PARENTS);
        assert_eq!(s.recent_set.len(), RECENT_PARENTS);
    }
}
