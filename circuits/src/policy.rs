//! Program policies: up to eight predicates on attributes, encoded as public inputs so
//! that one circuit and one key pair serve every program.
//!
//! # Notes on the encoding
//!
//! Every operator reduces to one of two checks the circuit can do on the selected
//! attribute `v` (see specs/circuits.md for the constraints):
//!
//! ```text
//! interval  lo <= v <= hi   (v - lo and hi - v are both 32-bit)  : <, <=, >, >=, between
//! set       prod_j (v - k_j) == 0  (in)  or  != 0  (not in)      : =, !=, in, not in
//! ```
//!
//! `v < c` is `[0, c - 1]`, `v > c` is `[c + 1, 2^32 - 1]` and so on; an impossible
//! bound (`v < 0`) becomes the empty interval `[1, 0]`, which no value satisfies. `=` and
//! `!=` are sets of one value (equality needs no range check, so they also work on
//! attributes wider than 32 bits such as hashed strings). Sets shorter than eight are
//! padded by repeating their first value, which changes neither membership nor
//! non-membership.
//!
//! Each slot is nine public inputs: a descriptor `index + 16 interval + 32 in + 64 out`
//! (the circuit decomposes it into 7 bits) and eight constants `k_0 .. k_7` (`lo = k_0`,
//! `hi = k_1` for intervals). An unused slot is all zeros: every check is switched off.

use ark_ff::{AdditiveGroup, PrimeField, Zero};
use weft_crypto::poseidon::Fr;

use crate::credential::NUM_ATTRIBUTES;
use crate::CircuitError;

/// Predicate slots per presentation.
pub const SLOTS: usize = 8;
/// Largest set for `In` / `NotIn`.
pub const SET_SIZE: usize = 8;
/// Bit width of every ordered (compared) value: attributes under `<`, `<=`, `>`, `>=`,
/// `between`, and the dates.
pub const ORDERED_BITS: usize = 32;
/// Descriptor flag: interval check on.
pub const FLAG_INTERVAL: u64 = 16;
/// Descriptor flag: set membership on.
pub const FLAG_IN: u64 = 32;
/// Descriptor flag: set non-membership on.
pub const FLAG_OUT: u64 = 64;
/// Bits of a descriptor: 4 for the index, 3 flags.
pub const DESCRIPTOR_BITS: usize = 7;

/// A condition on one attribute value `v`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Predicate {
    /// `v == c` (any field element).
    Eq(Fr),
    /// `v != c` (any field element).
    Ne(Fr),
    /// `v < c` (`v` a 32-bit integer).
    Lt(u32),
    /// `v <= c`.
    Le(u32),
    /// `v > c`.
    Gt(u32),
    /// `v >= c`.
    Ge(u32),
    /// `lo <= v <= hi`, inclusive.
    Between(u32, u32),
    /// `v` is one of 1 to 8 values.
    In(Vec<Fr>),
    /// `v` is none of 1 to 8 values.
    NotIn(Vec<Fr>),
}

/// A predicate applied to attribute `attribute` (0..16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The attribute's index in the credential.
    pub attribute: u8,
    /// What must hold of it.
    pub predicate: Predicate,
}

/// A program's eligibility rule: all conditions must hold (at most [`SLOTS`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// The conditions, one per slot.
    pub conditions: Vec<Condition>,
}

/// The public inputs of one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotInputs {
    /// `index + FLAG_* bits`.
    pub descriptor: Fr,
    /// `k_0 .. k_7`.
    pub constants: [Fr; SET_SIZE],
}

impl SlotInputs {
    const OFF: SlotInputs = SlotInputs {
        descriptor: Fr::ZERO,
        constants: [Fr::ZERO; SET_SIZE],
    };
}

/// The 32-bit value of `v`, if it is one.
fn as_u32(v: &Fr) -> Option<u32> {
    let b = v.into_bigint();
    if b.0[1..].iter().all(|l| *l == 0) {
        u32::try_from(b.0[0]).ok()
    } else {
        None
    }
}

impl Condition {
    /// This condition's slot inputs.
    pub fn slot_inputs(&self) -> Result<SlotInputs, CircuitError> {
        if self.attribute as usize >= NUM_ATTRIBUTES {
            return Err(CircuitError::Policy("attribute index above 15"));
        }
        let idx = u64::from(self.attribute);
        let interval = |lo: u64, hi: u64| {
            let mut constants = [Fr::zero(); SET_SIZE];
            constants[0] = Fr::from(lo);
            constants[1] = Fr::from(hi);
            SlotInputs {
                descriptor: Fr::from(idx + FLAG_INTERVAL),
                constants,
            }
        };
        let set = |values: &[Fr], flag: u64| -> Result<SlotInputs, CircuitError> {
            if values.is_empty() || values.len() > SET_SIZE {
                return Err(CircuitError::Policy("a set has 1 to 8 values"));
            }
            let constants = core::array::from_fn(|j| values.get(j).copied().unwrap_or(values[0]));
            Ok(SlotInputs {
                descriptor: Fr::from(idx + flag),
                constants,
            })
        };
        const MAX: u64 = u32::MAX as u64;
        const EMPTY: (u64, u64) = (1, 0);
        Ok(match &self.predicate {
            Predicate::Eq(c) => set(&[*c], FLAG_IN)?,
            Predicate::Ne(c) => set(&[*c], FLAG_OUT)?,
            Predicate::In(s) => set(s, FLAG_IN)?,
            Predicate::NotIn(s) => set(s, FLAG_OUT)?,
            Predicate::Lt(c) => {
                let (lo, hi) = if *c == 0 {
                    EMPTY
                } else {
                    (0, u64::from(*c) - 1)
                };
                interval(lo, hi)
            }
            Predicate::Le(c) => interval(0, u64::from(*c)),
            Predicate::Gt(c) => {
                let (lo, hi) = if u64::from(*c) == MAX {
                    EMPTY
                } else {
                    (u64::from(*c) + 1, MAX)
                };
                interval(lo, hi)
            }
            Predicate::Ge(c) => interval(u64::from(*c), MAX),
            Predicate::Between(lo, hi) => interval(u64::from(*lo), u64::from(*hi)),
        })
    }

    /// Whether `attributes` satisfy this condition (what the circuit enforces).
    pub fn holds(&self, attributes: &[Fr; NUM_ATTRIBUTES]) -> bool {
        let Some(v) = attributes.get(self.attribute as usize) else {
            return false;
        };
        let ordered = |f: &dyn Fn(u32) -> bool| as_u32(v).is_some_and(f);
        match &self.predicate {
            Predicate::Eq(c) => v == c,
            Predicate::Ne(c) => v != c,
            Predicate::In(s) => !s.is_empty() && s.len() <= SET_SIZE && s.contains(v),
            Predicate::NotIn(s) => !s.is_empty() && s.len() <= SET_SIZE && !s.contains(v),
            Predicate::Lt(c) => ordered(&|x| x < *c),
            Predicate::Le(c) => ordered(&|x| x <= *c),
            Predicate::Gt(c) => ordered(&|x| x > *c),
            Predicate::Ge(c) => ordered(&|x| x >= *c),
            Predicate::Between(lo, hi) => ordered(&|x| *lo <= x && x <= *hi),
        }
    }
}

impl Policy {
    /// The public inputs of all [`SLOTS`] slots (unused slots switched off).
    pub fn slot_inputs(&self) -> Result<[SlotInputs; SLOTS], CircuitError> {
        if self.conditions.len() > SLOTS {
            return Err(CircuitError::Policy("more than 8 conditions"));
        }
        let mut out = [SlotInputs::OFF; SLOTS];
        for (slot, c) in out.iter_mut().zip(&self.conditions) {
            *slot = c.slot_inputs()?;
        }
        Ok(out)
    }

    /// Whether every condition holds.
    pub fn holds(&self, attributes: &[Fr; NUM_ATTRIBUTES]) -> bool {
        self.conditions.len() <= SLOTS && self.conditions.iter().all(|c| c.holds(attributes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(v: u64) -> [Fr; NUM_ATTRIBUTES] {
        let mut a = [Fr::zero(); NUM_ATTRIBUTES];
        a[3] = Fr::from(v);
        a
    }

    fn cond(p: Predicate) -> Condition {
        Condition {
            attribute: 3,
            predicate: p,
        }
    }

    #[test]
    fn native_semantics() {
        assert!(cond(Predicate::Lt(10)).holds(&attrs(9)));
        assert!(!cond(Predicate::Lt(10)).holds(&attrs(10)));
        assert!(!cond(Predicate::Lt(0)).holds(&attrs(0)));
        assert!(cond(Predicate::Ge(10)).holds(&attrs(10)));
        assert!(!cond(Predicate::Gt(u32::MAX)).holds(&attrs(u32::MAX as u64)));
        assert!(
            !cond(Predicate::Le(10)).holds(&attrs(1 << 40)),
            "wide values are not ordered"
        );
        let mut wrapped = attrs(0);
        wrapped[3] = -Fr::from(1u64);
        assert!(!cond(Predicate::Lt(10)).holds(&wrapped));
        assert!(cond(Predicate::In(vec![Fr::from(2u64), Fr::from(9u64)])).holds(&attrs(9)));
        assert!(!cond(Predicate::NotIn(vec![Fr::from(2u64), Fr::from(9u64)])).holds(&attrs(9)));
    }

    #[test]
    fn encoding() {
        let s = cond(Predicate::Lt(10)).slot_inputs().unwrap();
        assert_eq!(s.descriptor, Fr::from(3 + FLAG_INTERVAL));
        assert_eq!(
            (s.constants[0], s.constants[1]),
            (Fr::zero(), Fr::from(9u64))
        );
        let s = cond(Predicate::In(vec![Fr::from(5u64), Fr::from(6u64)]))
            .slot_inputs()
            .unwrap();
        assert_eq!(s.constants[7], Fr::from(5u64));
        assert!(cond(Predicate::In(vec![])).slot_inputs().is_err());
        assert!(cond(Predicate::In(vec![Fr::zero(); 9]))
            .slot_inputs()
            .is_err());
        assert!(Condition {
            attribute: 16,
            predicate: Predicate::Eq(Fr::zero())
        }
        .slot_inputs()
        .is_err());
        let too_many = Policy {
            conditions: vec![cond(Predicate::Le(1)); 9],
        };
        assert!(too_many.slot_inputs().is_err());
        assert_eq!(
            Policy::default().slot_inputs().unwrap(),
            [SlotInputs::OFF; SLOTS]
        );
    }
}
