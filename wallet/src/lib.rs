//! The holder's wallet: keys, an encrypted store, private registry sync and eligibility
//! presentations, as a library an app can embed (no terminal or file system in the core).
