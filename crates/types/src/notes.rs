//! Wire forms of the confidential-entitlement payloads (mint, transfer, redeem).
//!
//! Only bytes live here: points, scalars and proofs as fixed-size arrays or byte
//! strings with their canonical encoding. Checking them is `weft-entitlements`' job.
