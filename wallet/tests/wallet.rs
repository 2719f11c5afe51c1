//! The wallet library end to end: restore, PINs, duress, corruption, atomic writes, sync
//! and proofs (small Argon2id cost except in the one test that measures the real one).

mod common;

use std::time::Instant;

use common::*;
use rand::rngs::OsRng;
use weft_crypto::poseidon::Fr;
use weft_wallet::file::FileStorage;
use weft_wallet::store::{Blob, WalletStorage};
use weft_wallet::sync::RootEntry;
use weft_wallet::{
    FrHex, HouseholdHandover, KdfParams, MemoryStorage, RecoveryPhrase, StorageError, Wallet,
    WalletError,
};

const T: KdfParams = KdfParams::INSECURE_TEST;

fn new_wallet(duress: Option<&str>) -> Wallet<MemoryStorage> {
    let phrase = RecoveryPhrase::generate(&mut OsRng).unwrap();
    Wallet::create(
        MemoryStorage::default(),
        phrase,
        "2468",
        duress,
        T,
        &mut OsRng,
    )
    .unwrap()
}

fn blob<S: WalletStorage>(s: &S) -> Vec<u8> {
    s.load().unwrap().unwrap()
}

#[test]
fn restore_from_the_phrase_gives_the_same_commitments() {
    let w = new_wallet(None);
    let words = w.phrase().words();
    let restored = Wallet::create(
        MemoryStorage::default(),
        RecoveryPhrase::parse(&words).unwrap(),
        "other-pin",
        None,
        T,
        &mut OsRng,
    )
    .unwrap();
    assert_eq!(restored.enrolment(), w.enrolment());
    let other = new_wallet(None);
    assert_ne!(other.enrolment(), w.enrolment());
    // Unlocking again gives the same keys too.
    let s = w.into_storage();
    let again = Wallet::unlock(s, "2468", 0).unwrap();
    assert_eq!(again.enrolment(), restored.enrolment());
    assert!(!format!("{again:?}").contains(words.split(' ').next().unwrap()));
}

#[test]
fn a_wallet_is_never_overwritten() {
    let s = new_wallet(None).into_storage();
    let phrase = RecoveryPhrase::generate(&mut OsRng).unwrap();
    let e = Wallet::create(s, phrase, "1357", None, T, &mut OsRng).unwrap_err();
    assert!(matches!(e, WalletError::AlreadyExists));
}

#[test]
fn wrong_pins_are_counted_slowed_down_and_change_nothing_else() {
    let mut s = new_wallet(None).into_storage();
    let before = Blob::parse(&blob(&s)).unwrap();
    for n in 1..=3u32 {
        match Wallet::unlock(&mut s, "0000", 1_000) {
            Err(WalletError::WrongPin {
                failed_attempts, ..
            }) => assert_eq!(failed_attempts, n),
            other => panic!("expected a wrong PIN, got {other:?}"),
        }
    }
    let after = Blob::parse(&blob(&s)).unwrap();
    assert_eq!(after.slots, before.slots, "a wrong PIN changes no slot");
    assert_eq!(after.header.failed_attempts, 3);
    // The 4th attempt must wait 1 s after the last failure: refused without a try.
    match Wallet::unlock(&mut s, "2468", 1_500) {
        Err(WalletError::RetryLater { retry_after_ms }) => assert_eq!(retry_after_ms, 500),
        other => panic!("expected RetryLater, got {other:?}"),
    }
    assert_eq!(Blob::parse(&blob(&s)).unwrap().header.failed_attempts, 3);
    // After the delay the right PIN opens and resets the counter.
    let w = Wallet::unlock(&mut s, "2468", 2_000).unwrap();
    drop(w);
    assert_eq!(Blob::parse(&blob(&s)).unwrap().header.failed_attempts, 0);
    let msg = WalletError::WrongPin {
        failed_attempts: 4,
        retry_after_ms: 2000,
    }
    .to_string();
    assert!(msg.contains("wrong PIN") && msg.contains("2 s"), "{msg}");
}

#[test]
fn short_or_equal_pins_are_refused() {
    let phrase = RecoveryPhrase::generate(&mut OsRng).unwrap();
    let e = Wallet::create(
        MemoryStorage::default(),
        phrase.clone(),
        "12",
        None,
        T,
        &mut OsRng,
    );
    assert!(matches!(e, Err(WalletError::BadPin(_))));
    let e = Wallet::create(
        MemoryStorage::default(),
        phrase,
        "1234",
        Some("1234"),
        T,
        &mut OsRng,
    );
    assert!(matches!(e, Err(WalletError::BadPin(_))));
}

#[test]
fn the_duress_pin_opens_an_empty_valid_wallet() {
    let mut w = new_wallet(Some("8642"));
    let real = w.enrolment();
    let fx = issue(&real, 1);
    w.sync(&issuers_only(&fx), &mut OsRng).unwrap();
    w.add_credential(fx.cred.clone(), &mut OsRng).unwrap();
    let s = w.into_storage();
    let plain_len = new_wallet(None).into_storage().blob.unwrap().len();
    assert_eq!(
        s.blob.as_ref().unwrap().len(),
        plain_len,
        "the file does not reveal a duress PIN"
    );

    let mut decoy = Wallet::unlock(s, "8642", 0).unwrap();
    assert!(decoy.credentials().is_empty());
    assert!(decoy.data().issuers.is_empty());
    assert_ne!(decoy.enrolment(), real);
    assert_eq!(decoy.phrase().words().split(' ').count(), 24);
    // The decoy works like a wallet: it can be synced and saved.
    decoy.sync(&issuers_only(&fx), &mut OsRng).unwrap();
    let s = decoy.into_storage();
    // The real wallet is untouched and still holds its credential.
    let w = Wallet::unlock(s, "2468", 0).unwrap();
    assert_eq!(w.credentials().len(), 1);
    assert_eq!(w.enrolment(), real);
}

#[test]
fn the_decoy_survives_the_real_wallet_growing() {
    let mut w = new_wallet(Some("8642"));
    let fx = issue(&w.enrolment(), 2);
    let mut b = issuers_only(&fx);
    // Enough issuers to push the real wallet past one 32 KiB bucket.
    for i in 0..400u32 {
        b.issuers.push(weft_wallet::model::IssuerInfo {
            did: format!("did:weft:agency-number-{i:04}-with-a-long-name"),
            registries: vec![weft_wallet::RegistryId([i as u8; 32])],
        });
    }
    w.sync(&b, &mut OsRng).unwrap();
    let s = w.into_storage();
    let parsed = Blob::parse(s.blob.as_ref().unwrap()).unwrap();
    assert!(
        parsed.slot_len() > 2 * 32 * 1024,
        "grew to {}",
        parsed.slot_len()
    );
    let decoy = Wallet::unlock(s, "8642", 0).unwrap();
    assert!(decoy.data().issuers.is_empty());
    let w = Wallet::unlock(decoy.into_storage(), "2468", 0).unwrap();
    assert_eq!(w.data().issuers.len(), 401);
}

#[test]
fn a_duress_pin_can_be_set_later() {
    let mut w = new_wallet(None);
    w.set_duress_pin("9753", &mut OsRng).unwrap();
    let real = w.enrolment();
    let s = w.into_storage();
    let d = Wallet::unlock(s, "9753", 0).unwrap();
    assert_ne!(d.enrolment(), real);
    let w = Wallet::unlock(d.into_storage(), "2468", 0).unwrap();
    assert_eq!(w.enrolment(), real);
}

#[test]
fn a_damaged_file_is_refused_and_left_alone() {
    let s = new_wallet(None).into_storage();
    let good = blob(&s);
    for at in [0usize, 9, 22, 40, 60, 200, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        let mut st = MemoryStorage {
            blob: Some(bad.clone()),
        };
        let e = Wallet::unlock(&mut st, "2468", 0).unwrap_err();
        assert!(matches!(e, WalletError::Corrupt(_)), "byte {at}: {e}");
        assert_eq!(st.blob.unwrap(), bad, "nothing written");
    }
    for len in [0usize, 10, 100, good.len() - 1] {
        let mut st = MemoryStorage {
            blob: Some(good[..len].to_vec()),
        };
        let e = Wallet::unlock(&mut st, "2468", 0).unwrap_err();
        assert!(
            matches!(e, WalletError::Corrupt(_)),
            "truncated to {len}: {e}"
        );
    }
    let mut none = MemoryStorage::default();
    assert!(matches!(
        Wallet::unlock(&mut none, "2468", 0),
        Err(WalletError::NoWallet)
    ));
}

/// A storage whose writes fail (a full disk, a crash in the middle of `store`).
struct Failing {
    inner: MemoryStorage,
    fail: bool,
}

impl WalletStorage for Failing {
    fn load(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.load()
    }
    fn store(&mut self, blob: &[u8]) -> Result<(), StorageError> {
        if self.fail {
            return Err(StorageError("disk full".into()));
        }
        self.inner.store(blob)
    }
}

#[test]
fn a_failed_write_changes_nothing() {
    let w = new_wallet(None);
    let inner = w.into_storage();
    let before = inner.blob.clone();
    let mut w = Wallet::unlock(Failing { inner, fail: true }, "2468", 0).unwrap();
    let fx = issue(&w.enrolment(), 3);
    let e = w.sync(&issuers_only(&fx), &mut OsRng).unwrap_err();
    assert!(matches!(e, WalletError::Storage(_)));
    assert!(w.data().issuers.is_empty(), "memory unchanged");
    assert_eq!(w.into_storage().inner.blob, before, "storage unchanged");
}

#[test]
fn an_interrupted_atomic_write_leaves_the_previous_wallet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.bin");
    let phrase = RecoveryPhrase::generate(&mut OsRng).unwrap();
    let w = Wallet::create(FileStorage::new(&path), phrase, "2468", None, T, &mut OsRng).unwrap();
    let enrol = w.enrolment();
    let before = std::fs::read(&path).unwrap();
    // A crash after the temporary file was written (even half of a new wallet) but
    // before the rename: the wallet file is the old one, whole.
    let fs = FileStorage::new(&path);
    let tmp = fs.write_temporary(&before[..before.len() / 2]).unwrap();
    assert!(tmp.exists());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let mut w = Wallet::unlock(FileStorage::new(&path), "2468", 0).unwrap();
    assert_eq!(w.enrolment(), enrol);
    // The next write replaces the file and removes the stray temporary file.
    let fx = issue(&enrol, 4);
    w.sync(&issuers_only(&fx), &mut OsRng).unwrap();
    assert!(!tmp.exists(), "stale temporary removed");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["w.bin".to_string()]);
    let w = Wallet::unlock(FileStorage::new(&path), "2468", 0).unwrap();
    assert_eq!(w.data().issuers.len(), 1);
}

#[test]
fn household_key_hand_over() {
    let a = new_wallet(None);
    let mut b = new_wallet(None);
    assert_ne!(a.enrolment().household(), b.enrolment().household());
    let code = a.export_household().encode();
    b.import_household(&code, &mut OsRng).unwrap();
    assert_eq!(a.enrolment().household(), b.enrolment().household());
    assert_ne!(a.enrolment().holder(), b.enrolment().holder());
    assert!(b.household_received());
    let s = b.into_storage();
    let b = Wallet::unlock(s, "2468", 0).unwrap();
    assert_eq!(a.enrolment().household(), b.enrolment().household());
    // Damaged code: refused.
    let mut c = new_wallet(None);
    assert!(c
        .import_household(&code.replace("0x", "0y"), &mut OsRng)
        .is_err());
    // A wallet with credentials for its own household refuses to replace the key.
    let fx = issue(&c.enrolment(), 5);
    c.sync(&issuers_only(&fx), &mut OsRng).unwrap();
    c.add_credential(fx.cred.clone(), &mut OsRng).unwrap();
    assert!(matches!(
        c.import_household(&code, &mut OsRng),
        Err(WalletError::HouseholdInUse(1))
    ));
    let h = HouseholdHandover::decode(&code).unwrap();
    assert_eq!(h.commitment(), a.enrolment().household());
}

#[test]
fn credentials_are_checked_before_they_are_stored() {
    let mut w = new_wallet(None);
    let fx = issue(&w.enrolment(), 6);
    let before = w.data().to_json();
    // Unknown issuer (nothing synced).
    assert!(matches!(
        w.add_credential(fx.cred.clone(), &mut OsRng),
        Err(WalletError::UnknownIssuer(_))
    ));
    w.sync(&issuers_only(&fx), &mut OsRng).unwrap();
    // Another holder's credential.
    let other = new_wallet(None);
    let fx2 = issue(&other.enrolment(), 7);
    assert!(matches!(
        w.add_credential(fx2.cred.clone(), &mut OsRng),
        Err(WalletError::Credential(_))
    ));
    // A registry the issuer does not own.
    let mut wrong = fx.cred.clone();
    wrong.registry = weft_wallet::RegistryId([9u8; 32]);
    assert!(w.add_credential(wrong, &mut OsRng).is_err());
    assert!(w.credentials().is_empty());
    let id = w.add_credential(fx.cred.clone(), &mut OsRng).unwrap();
    assert!(
        w.add_credential(fx.cred.clone(), &mut OsRng).is_err(),
        "duplicate"
    );
    assert_eq!(w.credential(&id).unwrap().issuer, issuer_text());
    assert!(matches!(
        w.credential("nope"),
        Err(WalletError::UnknownCredential(_))
    ));
    assert_ne!(before.as_slice(), w.data().to_json().as_slice());
}

#[test]
fn the_consent_text_says_what_is_revealed() {
    let mut w = new_wallet(None);
    let fx = issue(&w.enrolment(), 8);
    w.sync(&issuers_only(&fx), &mut OsRng).unwrap();
    let id = w.add_credential(fx.cred.clone(), &mut OsRng).unwrap();
    let req = request(&fx);
    // Before a sync: no program known.
    assert!(matches!(
        w.describe(&req, None),
        Err(WalletError::UnknownProgram(_))
    ));
    let report = w.sync(&bundle(&fx, 10), &mut OsRng).unwrap();
    assert_eq!(report.refreshed, vec![id.clone()]);
    assert_eq!(report.roots_updated, 1);
    let consent = w.describe(&req, None).unwrap();
    assert_eq!(consent.credential_id, id);
    assert_eq!(consent.round, 3);
    assert_eq!(
        consent.revealed,
        vec![("household size".into(), "5".into())]
    );
    let text = &consent.text;
    for expected in [
        "\"Winter food 2026\" (round 3)",
        "receives: 25 kg rice",
        "your household size: 5",
        "your age is at least 18",
        "your household size is from 3 to 12",
        "your region is north",
        "one claim for round 3",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text}");
    }
    assert!(!text.contains("34"), "the age is not revealed: {text}");
    assert!(
        !text.contains("Camp Alpha"),
        "the camp is not revealed: {text}"
    );
    // The credential named by id, or an unknown id.
    assert_eq!(w.describe(&req, Some(&id)).unwrap(), consent);
    assert!(matches!(
        w.describe(&req, Some("0011223344556677")),
        Err(WalletError::UnknownCredential(_))
    ));
}

#[test]
fn stale_registry_and_revoked_leaf() {
    let mut w = new_wallet(None);
    let mut fx = issue(&w.enrolment(), 9);
    w.sync(&issuers_only(&fx), &mut OsRng).unwrap();
    let id = w.add_credential(fx.cred.clone(), &mut OsRng).unwrap();
    w.sync(&bundle(&fx, 10), &mut OsRng).unwrap();
    let req = request(&fx);
    w.describe(&req, None).unwrap();
    let old = bundle(&fx, 10);

    // The registry moves on (a new credential appended); only the root is synced.
    fx.registry.append(Fr::from(424242u64)).unwrap();
    let mut roots_only = weft_wallet::SyncBundle::new();
    roots_only.roots.push(RootEntry {
        registry: fx.id,
        root: FrHex(fx.registry.root()),
        milestone: 11,
    });
    w.sync(&roots_only, &mut OsRng).unwrap();
    assert!(matches!(
        w.describe(&req, None),
        Err(WalletError::StaleRegistry(_))
    ));
    // An old chunk (milestone 10) is refused now that milestone 11 is known.
    let before = w.data().to_json();
    assert!(matches!(
        w.sync(&old, &mut OsRng),
        Err(WalletError::StaleRegistry(_))
    ));
    assert_eq!(
        before.as_slice(),
        w.data().to_json().as_slice(),
        "nothing changed"
    );
    // The fresh chunk fixes it.
    w.sync(&bundle(&fx, 11), &mut OsRng).unwrap();
    w.describe(&req, None).unwrap();

    // A tampered chunk (one leaf changed) does not hash to its root.
    let mut bad = bundle(&fx, 12);
    bad.chunks[1].leaves[0] = FrHex(Fr::from(1u64));
    let before = w.data().to_json();
    assert!(matches!(
        w.sync(&bad, &mut OsRng),
        Err(WalletError::Sync(_))
    ));
    assert_eq!(before.as_slice(), w.data().to_json().as_slice());

    // Revocation: the leaf is zeroed in the next chunk.
    fx.registry.revoke(fx.index).unwrap();
    let report = w.sync(&bundle(&fx, 13), &mut OsRng).unwrap();
    assert_eq!(report.revoked, vec![id.clone()]);
    assert!(matches!(
        w.describe(&req, None),
        Err(WalletError::Revoked(_))
    ));
}

#[test]
fn a_different_leaf_at_our_position_is_refused() {
    let mut w = new_wallet(None);
    let mut fx = issue(&w.enrolment(), 10);
    w.sync(&issuers_only(&fx), &mut OsRng).unwrap();
    w.add_credential(fx.cred.clone(), &mut OsRng).unwrap();
    fx.registry.update(fx.index, Fr::from(5u64)).unwrap();
    let before = w.data().to_json();
    assert!(matches!(
        w.sync(&bundle(&fx, 10), &mut OsRng),
        Err(WalletError::LeafMismatch(_))
    ));
    assert_eq!(before.as_slice(), w.data().to_json().as_slice());
}

/// The real Argon2id cost: one unlock, timed (the README quotes it).
#[test]
fn unlock_with_the_recommended_cost() {
    let phrase = RecoveryPhrase::generate(&mut OsRng).unwrap();
    let w = Wallet::create(
        MemoryStorage::default(),
        phrase,
        "2468",
        None,
        KdfParams::RECOMMENDED,
        &mut OsRng,
    )
    .unwrap();
    let s = w.into_storage();
    let started = Instant::now();
    let w = Wallet::unlock(s, "2468", 0).unwrap();
    let ms = started.elapsed().as_millis();
    eprintln!("unlock with {:?}: {ms} ms", KdfParams::RECOMMENDED);
    assert!(ms < 5_000, "unlock took {ms} ms");
    assert!(w.credentials().is_empty());
}
