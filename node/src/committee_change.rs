//! Committee changes from the operators' side: propose a new validator committee,
//! collect the current members' signatures one validator at a time (each signs on its
//! own machine with its own key), and submit the signed change in a block. Whether it
//! takes effect is the ledger's decision (`weft_ledger`, `specs/protocol.md`): a quorum
//! of the committee in force, one change at a time, effective at the first milestone of
//! a committee epoch at least `MIN_COMMITTEE_CHANGE_DELAY` milestones ahead.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use weft_crypto::OrganisationKey;
use weft_types::{
    BlockBuilder, BlockId, Committee, CommitteeChange, MilestoneSignature, NetworkId, Payload,
    PublicKeyBytes,
};

/// A change being signed: the change and the committee whose members sign it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeProposal {
    /// The network it is for.
    pub network_id: NetworkId,
    /// The committee in force when it was proposed (its members sign).
    pub current: Committee,
    /// The change, with the signatures gathered so far.
    pub change: CommitteeChange,
}

/// Why a proposal could not be made, signed or submitted.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The node's information lacks a field or has a malformed one.
    #[error("the node's /api/v1/info: {0}")]
    Info(String),
    /// The requested committee is not valid.
    #[error("the new committee: {0}")]
    Committee(#[from] weft_types::CommitteeError),
    /// Something about the request is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The node's API failed.
    #[error(transparent)]
    Client(#[from] weft_client::ClientError),
}

/// The first index of a committee epoch (`k · epoch + 1`) at least `min_ahead`
/// milestones after `latest`.
pub fn next_epoch_start(latest: u32, epoch: u32, min_ahead: u32) -> u32 {
    let earliest = latest.saturating_add(min_ahead).max(1);
    let k = (earliest - 1).div_ceil(epoch);
    k.saturating_mul(epoch).saturating_add(1)
}

/// Proposes the committee in force (from a node's `/api/v1/info`) with `add` added and
/// `remove` removed, needing `threshold` signatures (default: more than two thirds),
/// effective at `effective` (default: the first epoch start at least ten milestones
/// ahead, so the change has time to be signed and confirmed).
pub fn propose(
    info: &Value,
    add: &[PublicKeyBytes],
    remove: &[PublicKeyBytes],
    threshold: Option<u16>,
    effective: Option<u32>,
) -> Result<ChangeProposal, ChangeError> {
    let field = |k: &str| ChangeError::Info(format!("no valid `{k}`"));
    let current: Committee =
        serde_json::from_value(info["committee"].clone()).map_err(|_| field("committee"))?;
    let epoch = info["committeeEpoch"]
        .as_u64()
        .ok_or_else(|| field("committeeEpoch"))? as u32;
    if epoch == 0 {
        return Err(ChangeError::Invalid(
            "this network has no committee epochs (genesis committee_epoch = 0): its \
             committee cannot change"
                .into(),
        ));
    }
    let latest = info["latestMilestone"]["index"].as_u64().unwrap_or(0) as u32;
    let network_id = NetworkId(
        info["networkId"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| field("networkId"))?,
    );
    let mut members: Vec<PublicKeyBytes> = current
        .members()
        .iter()
        .filter(|k| !remove.contains(k))
        .copied()
        .collect();
    for k in add {
        if members.contains(k) {
            return Err(ChangeError::Invalid(format!("{k} is a member already")));
        }
        members.push(*k);
    }
    for k in remove {
        if !current.contains(k) {
            return Err(ChangeError::Invalid(format!("{k} is not a member")));
        }
    }
    let threshold = threshold.unwrap_or((2 * members.len() / 3 + 1) as u16);
    let committee = Committee::new(threshold, members)?;
    let effective_index = effective.unwrap_or_else(|| next_epoch_start(latest, epoch, 10));
    if !weft_ledger::is_epoch_start(effective_index, epoch) {
        return Err(ChangeError::Invalid(format!(
            "effective index {effective_index} is not the first index of an epoch of {epoch} \
             milestones (k · {epoch} + 1)"
        )));
    }
    Ok(ChangeProposal {
        network_id,
        current,
        change: CommitteeChange {
            committee,
            effective_index,
            signatures: Vec::new(),
        },
    })
}

/// Adds `key`'s signature (a member of the current committee) to the proposal, replacing
/// an earlier one of the same key; signatures stay sorted by key.
pub fn sign(proposal: &mut ChangeProposal, key: &OrganisationKey) -> Result<(), ChangeError> {
    let public_key = key.public_key();
    if !proposal.current.contains(&public_key) {
        return Err(ChangeError::Invalid(format!(
            "{public_key} is not a member of the committee that signs this change"
        )));
    }
    let message = proposal.change.signing_message(&proposal.current.id());
    let signatures = &mut proposal.change.signatures;
    signatures.retain(|s| s.public_key != public_key);
    signatures.push(MilestoneSignature {
        public_key,
        signature: key.sign(&message),
    });
    signatures.sort_by_key(|s| s.public_key);
    Ok(())
}

/// Checks the signatures gathered (a quorum of the current committee, each valid) and
/// submits the change in a block signed by `key` (a current member) to the node; returns
/// the block id. The node's ledger then decides.
pub async fn submit(
    client: &weft_client::Client,
    proposal: &ChangeProposal,
    key: &OrganisationKey,
) -> Result<BlockId, ChangeError> {
    weft_crypto::certificate::verify_committee_change(&proposal.change, &proposal.current)
        .map_err(|e| ChangeError::Invalid(format!("the signatures gathered: {e}")))?;
    if !proposal.current.contains(&key.public_key()) {
        return Err(ChangeError::Invalid(
            "the block must be signed by a member of the current committee".into(),
        ));
    }
    let tips = client.tips(4).await?;
    let block = key.sign_block(
        BlockBuilder::new(proposal.network_id, tips, crate::core::now_ms())
            .payload(Payload::CommitteeChange(Box::new(proposal.change.clone())))
            .organisation(key.public_key()),
    );
    client.submit(&block).await?;
    Ok(block.id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_starts() {
        assert_eq!(next_epoch_start(0, 10, 3), 11);
        assert_eq!(next_epoch_start(7, 10, 3), 11);
        assert_eq!(next_epoch_start(8, 10, 3), 11);
        assert_eq!(next_epoch_start(9, 10, 3), 21);
        assert_eq!(next_epoch_start(18, 10, 3), 21);
        assert_eq!(next_epoch_start(40, 1, 3), 43);
    }

    #[test]
    fn a_proposal_is_signed_by_members_only_and_kept_sorted() {
        let keys: Vec<OrganisationKey> = (1..=5u8)
            .map(|i| OrganisationKey::from_seed(&[i; 32]))
            .collect();
        let current = Committee::new(3, keys[..4].iter().map(|k| k.public_key()).collect())
            .expect("committee");
        let info = serde_json::json!({
            "committee": current,
            "committeeEpoch": 10,
            "latestMilestone": { "index": 4 },
            "networkId": "7",
        });
        let mut p = propose(
            &info,
            &[keys[4].public_key()],
            &[keys[0].public_key()],
            None,
            None,
        )
        .expect("proposal");
        assert_eq!(p.change.effective_index, 21);
        assert!(p.change.committee.contains(&keys[4].public_key()));
        assert!(!p.change.committee.contains(&keys[0].public_key()));
        assert_eq!(p.change.committee.threshold(), 3);
        assert!(sign(&mut p, &keys[4]).is_err(), "not yet a member");
        for k in [&keys[3], &keys[1], &keys[2], &keys[1]] {
            sign(&mut p, k).expect("member");
        }
        assert_eq!(p.change.signatures.len(), 3);
        assert!(p.change.check_signers().is_ok());
        assert!(weft_crypto::certificate::verify_committee_change(&p.change, &p.current).is_ok());
        // Not at an epoch start; removing a non-member; adding a member.
        assert!(propose(&info, &[], &[], None, Some(12)).is_err());
        assert!(propose(&info, &[], &[keys[4].public_key()], None, None).is_err());
        assert!(propose(&info, &[keys[1].public_key()], &[], None, None).is_err());
    }
}
