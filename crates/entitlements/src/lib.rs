//! Confidential entitlements: value notes whose amounts are hidden in Pedersen
//! commitments while the totals of every program stay publicly auditable.
