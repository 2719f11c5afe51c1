//! Program policies: a small readable language for eligibility rules, compiled to the
//! eligibility circuit's predicate table.
//!
//! Why a language: a program's rule is published on the ledger twice, as the text an
//! agency wrote (`Program::policy_source`, for people) and as the table the circuit
//! checks (`Program::conditions`, what counts). Writing the table by hand invites
//! mistakes no one sees (an enumeration index off by one, a date as the wrong day
//! number, a bound that can never be met), so the agency writes text, this module
//! checks it against the schema and compiles it, and the holder's consent screen turns
//! the table back into words ([`describe`]). Errors name the byte offset, line and
//! column and say why, so a policy can be fixed without reading the circuit spec.
//!
//! # Grammar
//!
//! ```text
//! policy    := "" | "true" | condition ("and" condition)*
//! condition := ["not"] attribute op value
//!            | ["not"] attribute ("in" | "not in") "[" value ("," value)* "]"
//!            | ["not"] attribute "between" value "and" value
//!            | ["not"] attribute "is" ("true" | "false")
//! op        := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
//!            | "before" | "after" | "on"            (dates: <, >, =)
//! value     := integer | date | identifier | string | "true" | "false"
//! integer   := [0-9]+                                 (no sign)
//! date      := YYYY-MM-DD                             (a calendar date, 1970 or later)
//! string    := '"' (any character but '"', '\' and newline | '\"' | '\\')* '"'
//! attribute := the name of one of the schema's attributes
//! ```
//!
//! Keywords are lowercase. Blanks and newlines separate tokens; `#` starts a comment
//! that runs to the end of the line. The empty policy (or `true`) admits everyone
//! holding a valid credential of the schema. Every condition must hold: there is no
//! `or` and no parentheses, because the circuit checks a conjunction of at most eight
//! predicates; several accepted values of one attribute are written `in [..]`.
//!
//! # Typing
//!
//! | operator | attribute kinds | value |
//! |---|---|---|
//! | `<` `<=` `>` `>=` `between` | integer, date | integer `< 2^bits`, date |
//! | `before` `after` `on` | date | date |
//! | `=` `==` `!=` `in` `not in` | every kind | per kind (below) |
//! | `is true` / `is false` | boolean | — |
//!
//! Values per kind: an integer attribute takes an integer, a date a date, an
//! enumeration one of its values (a bare identifier, or a double-quoted string for
//! values that are not identifiers), a boolean `true` / `false`, a hashed string a
//! double-quoted string (hashed with [`string_hash`], exactly as written). Values become
//! field elements as `crate::attributes` says (dates are days since 1970-01-01).
//!
//! `not` negates one condition: `not x >= 3` is `x < 3`, `not d after D` is `d <= D`,
//! `not x in [..]` is `x not in [..]`, `not b is true` is `b = false`. `not x between a
//! and b` is `x < a or x > b`, a disjunction, and is refused unless one side is empty
//! (`a` the smallest or `b` the largest value of the attribute).
//!
//! A condition that holds for no value of the attribute ("never true", such as
//! `household_size >= 300` on an 8-bit attribute or `x < 0`) or for every value
//! ("always true", such as `x >= 0`) is refused: it is a mistake, or a wasted slot.
//! So are two ordered conditions on one attribute that exclude each other, more than
//! eight conditions, sets of more than eight values and values listed twice.
//!
//! The language is specified in `specs/credentials.md` ("Program policies").

use serde_json::Value;
use weft_crypto::poseidon::{fr_from_bytes_be, fr_to_bytes_be, Fr};
use weft_types::program::{MAX_CONDITIONS, MAX_POLICY_SOURCE_BYTES, MAX_SET_VALUES};
use weft_types::{AttributeKind, PolicyCondition, PredicateOp, Schema};

use crate::attributes::{decode_value, encode_value, string_hash};
use crate::CredentialError;

/// Days from 1970-01-01 to 9999-12-31: the largest date a `YYYY-MM-DD` value spells.
pub const MAX_DATE_DAYS: u64 = 2_932_896;

/// Attribute slots of the circuit (a schema position at or past it has no slot).
const SLOTS: usize = weft_circuits::NUM_ATTRIBUTES;

/// A policy compiled against a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledPolicy {
    /// The circuit's predicate table, in the order of the source (at most 8).
    pub conditions: Vec<PolicyCondition>,
    /// The source text, as given.
    pub source: String,
}

impl CompiledPolicy {
    /// The conditions in plain words, naming hashed strings by the texts the source
    /// wrote (see [`describe_with_texts`]).
    pub fn describe(&self, schema: &Schema) -> String {
        let texts = string_literals(&self.source);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        describe_with_texts(&self.conditions, schema, &refs)
    }
}

/// Why a policy does not compile, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {reason}")]
pub struct PolicyError {
    /// Byte offset in the source (the source's length for "at the end").
    pub position: usize,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
    /// What is wrong.
    pub reason: String,
}

impl PolicyError {
    /// An error at byte `position` of `source` (clamped to the source and to a
    /// character boundary), with its line and column.
    pub fn at(source: &str, position: usize, reason: impl Into<String>) -> PolicyError {
        let mut position = position.min(source.len());
        while !source.is_char_boundary(position) {
            position -= 1;
        }
        let before = &source[..position];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = source[line_start..position].chars().count() + 1;
        PolicyError {
            position,
            line,
            column,
            reason: reason.into(),
        }
    }

    /// The offending line of `source` with a caret under the error's column, for a
    /// terminal.
    pub fn excerpt(&self, source: &str) -> String {
        let line = source.lines().nth(self.line - 1).unwrap_or("");
        format!("{line}\n{}^", " ".repeat(self.column.saturating_sub(1)))
    }
}

/// Compiles a policy against the schema its program names.
pub fn compile(source: &str, schema: &Schema) -> Result<CompiledPolicy, PolicyError> {
    if source.len() > MAX_POLICY_SOURCE_BYTES {
        return Err(PolicyError::at(
            source,
            MAX_POLICY_SOURCE_BYTES,
            format!(
                "the policy is {} bytes long; at most {MAX_POLICY_SOURCE_BYTES} are allowed",
                source.len()
            ),
        ));
    }
    let mut parser = Parser {
        src: source,
        schema,
        toks: lex(source),
        i: 0,
        conditions: Vec::new(),
        ranges: vec![None; schema.attributes.len()],
    };
    parser.policy()?;
    Ok(CompiledPolicy {
        conditions: parser.conditions,
        source: source.to_owned(),
    })
}

// ---------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Num(String),
    Date(String),
    Str(String),
    Op(&'static str),
    Open,
    Close,
    Comma,
    Paren,
    /// A lexical error: the reason (the token's start is the position).
    Bad(String),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
}

/// Splits the source into tokens; stops at the first lexical error (a `Bad` token),
/// always ends with `End`.
fn lex(src: &str) -> Vec<Token> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        let next = b.get(i + 1).copied();
        let mut at = start;
        let tok = match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                Tok::Word(src[start..i].to_owned())
            }
            b'0'..=b'9' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-' || b[i] == b'_')
                {
                    i += 1;
                }
                let t = &src[start..i];
                if t.bytes().all(|c| c.is_ascii_digit()) {
                    Tok::Num(t.to_owned())
                } else if t.contains('-') {
                    Tok::Date(t.to_owned())
                } else {
                    Tok::Bad(format!("\"{t}\" is neither a number nor a date"))
                }
            }
            b'"' => {
                i += 1;
                let mut text = String::new();
                loop {
                    match b.get(i) {
                        None | Some(b'\n') => {
                            break Tok::Bad("unclosed string: the closing \" is missing".into())
                        }
                        Some(b'"') => {
                            i += 1;
                            break Tok::Str(text);
                        }
                        Some(b'\\') => match b.get(i + 1) {
                            Some(e @ (b'"' | b'\\')) => {
                                text.push(char::from(*e));
                                i += 2;
                            }
                            _ => {
                                at = i;
                                break Tok::Bad(
                                    "unknown escape: only \\\" and \\\\ are allowed in a string"
                                        .into(),
                                );
                            }
                        },
                        Some(_) => match src[i..].chars().next() {
                            Some(ch) => {
                                text.push(ch);
                                i += ch.len_utf8();
                            }
                            None => break Tok::Bad("unclosed string".into()),
                        },
                    }
                }
            }
            b'=' if next == Some(b'=') => {
                i += 2;
                Tok::Op("==")
            }
            b'=' => {
                i += 1;
                Tok::Op("=")
            }
            b'!' if next == Some(b'=') => {
                i += 2;
                Tok::Op("!=")
            }
            b'!' => Tok::Bad("\"!\" is not an operator: write \"!=\" or \"not\"".into()),
            b'<' | b'>' => {
                let eq = next == Some(b'=');
                i += 1 + usize::from(eq);
                Tok::Op(match (c, eq) {
                    (b'<', false) => "<",
                    (b'<', true) => "<=",
                    (_, false) => ">",
                    (_, true) => ">=",
                })
            }
            b'[' | b']' | b',' | b'(' | b')' => {
                i += 1;
                match c {
                    b'[' => Tok::Open,
                    b']' => Tok::Close,
                    b',' => Tok::Comma,
                    _ => Tok::Paren,
                }
            }
            b'-' if next.is_some_and(|n| n.is_ascii_digit()) => {
                Tok::Bad("a negative number: attribute values are never negative".into())
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                Tok::Bad(format!("unexpected character {ch:?}"))
            }
        };
        let bad = matches!(tok, Tok::Bad(_));
        out.push(Token { tok, start: at });
        if bad {
            return out;
        }
    }
    out.push(Token {
        tok: Tok::End,
        start: b.len(),
    });
    out
}

/// The double-quoted strings of a source, in order (stops at a lexical error).
fn string_literals(src: &str) -> Vec<String> {
    lex(src)
        .into_iter()
        .filter_map(|t| match t.tok {
            Tok::Str(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn show(tok: &Tok) -> String {
    match tok {
        Tok::Word(w) | Tok::Num(w) | Tok::Date(w) => format!("\"{w}\""),
        Tok::Str(s) => format!("the string \"{}\"", s.escape_default()),
        Tok::Op(o) => format!("\"{o}\""),
        Tok::Open => "\"[\"".into(),
        Tok::Close => "\"]\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Paren => "a parenthesis (not supported: conditions are joined by \"and\")".into(),
        Tok::Bad(r) => r.clone(),
        Tok::End => "the end of the policy".into(),
    }
}

const KEYWORDS: &[&str] = &[
    "and", "not", "in", "between", "is", "true", "false", "before", "after", "on", "or",
];

// ---------------------------------------------------------------------------------
// Parser and checker

/// The operator as written, before `not` is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Between,
    In,
    NotIn,
    Is,
}

/// The compiled operator with its (checked) operands.
enum Compiled {
    Eq(Fr),
    Ne(Fr),
    Lt(u64),
    Le(u64),
    Gt(u64),
    Ge(u64),
    Between(u64, u64),
    In(Vec<Fr>),
    NotIn(Vec<Fr>),
}

struct Parser<'a> {
    src: &'a str,
    schema: &'a Schema,
    toks: Vec<Token>,
    i: usize,
    conditions: Vec<PolicyCondition>,
    /// Per attribute, the interval its ordered conditions leave so far, and where the
    /// first of them starts.
    ranges: Vec<Option<(u64, u64, usize)>>,
}

fn is_word(t: &Tok, w: &str) -> bool {
    matches!(t, Tok::Word(x) if x == w)
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token {
        let last = self.toks.len() - 1;
        &self.toks[self.i.min(last)]
    }

    fn peek2(&self) -> &Token {
        let last = self.toks.len() - 1;
        &self.toks[(self.i + 1).min(last)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn fail(&self, position: usize, reason: impl Into<String>) -> PolicyError {
        PolicyError::at(self.src, position, reason)
    }

    fn unexpected(&self, t: &Token, expected: &str) -> PolicyError {
        match &t.tok {
            Tok::Bad(r) => self.fail(t.start, r.clone()),
            Tok::Word(w) if w.eq_ignore_ascii_case("or") => self.fail(
                t.start,
                "\"or\" is not supported: every condition must hold (the circuit checks a \
                 conjunction); for several values of one attribute write \"in [a, b]\"",
            ),
            Tok::Word(w)
                if KEYWORDS.iter().any(|k| w.eq_ignore_ascii_case(k))
                    && !KEYWORDS.contains(&w.as_str()) =>
            {
                self.fail(
                    t.start,
                    format!(
                        "expected {expected}, found \"{w}\" (keywords are lowercase: \"{}\")",
                        w.to_ascii_lowercase()
                    ),
                )
            }
            tok => self.fail(t.start, format!("expected {expected}, found {}", show(tok))),
        }
    }

    fn position_text(&self, position: usize) -> String {
        let e = PolicyError::at(self.src, position, "");
        format!("{}:{}", e.line, e.column)
    }

    fn policy(&mut self) -> Result<(), PolicyError> {
        if matches!(self.peek().tok, Tok::End) {
            return Ok(());
        }
        if is_word(&self.peek().tok, "true") && matches!(self.peek2().tok, Tok::End) {
            return Ok(());
        }
        loop {
            let start = self.peek().start;
            if self.conditions.len() == MAX_CONDITIONS {
                return Err(self.fail(
                    start,
                    format!(
                        "too many conditions: the circuit checks at most {MAX_CONDITIONS} \
                         (use \"in [..]\" or \"between\" to merge conditions on one attribute)"
                    ),
                ));
            }
            self.condition()?;
            let t = self.bump();
            match &t.tok {
                Tok::Word(w) if w == "and" => continue,
                Tok::End => return Ok(()),
                _ => return Err(self.unexpected(&t, "\"and\" or the end of the policy")),
            }
        }
    }

    fn condition(&mut self) -> Result<(), PolicyError> {
        let start = self.peek().start;
        let negated = is_word(&self.peek().tok, "not") && matches!(self.peek2().tok, Tok::Word(_));
        if negated {
            self.bump();
        }
        let t = self.bump();
        let name = match &t.tok {
            Tok::Word(w) => w.clone(),
            _ => return Err(self.unexpected(&t, "an attribute name")),
        };
        let Some(slot) = self.schema.position(&name) else {
            if KEYWORDS.contains(&name.as_str()) {
                return Err(self.unexpected(&t, "an attribute name"));
            }
            let names = self.schema.attributes.iter().map(|a| a.name.as_str());
            return Err(self.fail(
                t.start,
                format!("unknown attribute \"{name}\"{}", suggestion(&name, names)),
            ));
        };
        if slot >= SLOTS {
            return Err(self.fail(
                t.start,
                format!("\"{name}\" is attribute {slot}; the circuit has {SLOTS} slots"),
            ));
        }
        let kind = self.schema.attributes[slot].kind.clone();
        let op_tok = self.bump();
        let (op, spelled) = match &op_tok.tok {
            Tok::Op("=" | "==") => (Op::Eq, None),
            Tok::Op("!=") => (Op::Ne, None),
            Tok::Op("<") => (Op::Lt, None),
            Tok::Op("<=") => (Op::Le, None),
            Tok::Op(">") => (Op::Gt, None),
            Tok::Op(">=") => (Op::Ge, None),
            Tok::Word(w) if w == "before" => (Op::Lt, Some("before")),
            Tok::Word(w) if w == "after" => (Op::Gt, Some("after")),
            Tok::Word(w) if w == "on" => (Op::Eq, Some("on")),
            Tok::Word(w) if w == "in" => (Op::In, None),
            Tok::Word(w) if w == "between" => (Op::Between, None),
            Tok::Word(w) if w == "is" => (Op::Is, None),
            Tok::Word(w) if w == "not" => {
                let t = self.bump();
                if !is_word(&t.tok, "in") {
                    return Err(self.unexpected(&t, "\"in\" after \"not\""));
                }
                (Op::NotIn, None)
            }
            _ => {
                return Err(self.unexpected(
                    &op_tok,
                    &format!(
                        "an operator after \"{name}\" (=, !=, <, <=, >, >=, before, after, on, \
                         in, not in, between, is)"
                    ),
                ))
            }
        };
        let op_text = spelled.map_or_else(
            || match &op_tok.tok {
                Tok::Op(o) => (*o).to_owned(),
                Tok::Word(w) => w.clone(),
                _ => String::new(),
            },
            str::to_owned,
        );
        let op_text = if op == Op::NotIn {
            "not in".to_owned()
        } else {
            op_text
        };
        self.check_kind(&name, &kind, op, spelled.is_some(), &op_text, op_tok.start)?;

        let compiled = match op {
            Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                let (c, at) = self.ordered_value(&name, &kind)?;
                let op = if negated { negate_ordered(op) } else { op };
                self.check_bound(&name, &kind, op, c, at)?
            }
            Op::Between => {
                let (lo, lo_at) = self.ordered_value(&name, &kind)?;
                let t = self.bump();
                if !is_word(&t.tok, "and") {
                    return Err(self.unexpected(&t, "\"and\" between the two bounds"));
                }
                let (hi, hi_at) = self.ordered_value(&name, &kind)?;
                self.between(&name, &kind, negated, (lo, lo_at), (hi, hi_at), start)?
            }
            Op::Is => {
                let t = self.bump();
                let v = match &t.tok {
                    Tok::Word(w) if w == "true" => true,
                    Tok::Word(w) if w == "false" => false,
                    _ => return Err(self.unexpected(&t, "true or false after \"is\"")),
                };
                Compiled::Eq(Fr::from(u64::from(v != negated)))
            }
            Op::Eq | Op::Ne => {
                let eq = (op == Op::Eq) != negated;
                let consequence = if eq { "never true" } else { "always true" };
                let (v, _) = self.element(&name, &kind, consequence)?;
                if eq {
                    Compiled::Eq(v)
                } else {
                    Compiled::Ne(v)
                }
            }
            Op::In | Op::NotIn => {
                let values = self.set(&name, &kind)?;
                if (op == Op::In) != negated {
                    Compiled::In(values)
                } else {
                    Compiled::NotIn(values)
                }
            }
        };
        self.check_together(slot, &name, &kind, &compiled, start)?;
        let predicate = match compiled {
            Compiled::Eq(v) => PredicateOp::Eq {
                value: fr_to_bytes_be(&v),
            },
            Compiled::Ne(v) => PredicateOp::Ne {
                value: fr_to_bytes_be(&v),
            },
            Compiled::Lt(c) => PredicateOp::Lt { value: bound(c) },
            Compiled::Le(c) => PredicateOp::Le { value: bound(c) },
            Compiled::Gt(c) => PredicateOp::Gt { value: bound(c) },
            Compiled::Ge(c) => PredicateOp::Ge { value: bound(c) },
            Compiled::Between(lo, hi) => PredicateOp::Between {
                lo: bound(lo),
                hi: bound(hi),
            },
            Compiled::In(vs) => PredicateOp::In {
                values: vs.iter().map(fr_to_bytes_be).collect(),
            },
            Compiled::NotIn(vs) => PredicateOp::NotIn {
                values: vs.iter().map(fr_to_bytes_be).collect(),
            },
        };
        self.conditions.push(PolicyCondition {
            attribute: slot as u8,
            predicate,
        });
        Ok(())
    }

    /// Whether `op` applies to the attribute's kind.
    fn check_kind(
        &self,
        name: &str,
        kind: &AttributeKind,
        op: Op,
        date_word: bool,
        op_text: &str,
        at: usize,
    ) -> Result<(), PolicyError> {
        let ordered = matches!(kind, AttributeKind::Integer { .. } | AttributeKind::Date);
        let hint = match kind {
            AttributeKind::Enumeration { .. } | AttributeKind::StringHash => {
                " (use =, != or in [..])"
            }
            AttributeKind::Boolean => " (use \"is true\" or \"is false\")",
            AttributeKind::Integer { .. } if date_word => " (use <, > or =)",
            _ => "",
        };
        let refuse = |what: &str| {
            self.fail(
                at,
                format!(
                    "type mismatch: \"{op_text}\" {what}; \"{name}\" is {}{hint}",
                    kind_text(kind)
                ),
            )
        };
        if date_word && !matches!(kind, AttributeKind::Date) {
            return Err(refuse("compares dates"));
        }
        match op {
            Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Between if !ordered => {
                Err(refuse("compares integers and dates"))
            }
            Op::Is if !matches!(kind, AttributeKind::Boolean) => {
                Err(refuse("takes a boolean attribute"))
            }
            _ => Ok(()),
        }
    }

    /// The value of an ordered comparison: an integer or a date, as a number.
    fn ordered_value(
        &mut self,
        name: &str,
        kind: &AttributeKind,
    ) -> Result<(u64, usize), PolicyError> {
        let t = self.bump();
        let v = match (kind, &t.tok) {
            (AttributeKind::Integer { .. }, Tok::Num(n)) => self.number(n, t.start)?,
            (AttributeKind::Date, Tok::Date(d)) => self.date(name, d, t.start)?,
            (AttributeKind::Date, Tok::Num(_)) => {
                return Err(self.unexpected(&t, &format!("a date YYYY-MM-DD for \"{name}\"")))
            }
            (AttributeKind::Integer { .. }, Tok::Date(_)) => {
                return Err(self.fail(
                    t.start,
                    format!("type mismatch: \"{name}\" is an integer, not a date"),
                ))
            }
            (AttributeKind::Date, _) => {
                return Err(self.unexpected(&t, &format!("a date YYYY-MM-DD for \"{name}\"")))
            }
            _ => return Err(self.unexpected(&t, &format!("a number for \"{name}\""))),
        };
        Ok((v, t.start))
    }

    fn number(&self, n: &str, at: usize) -> Result<u64, PolicyError> {
        n.parse::<u64>()
            .map_err(|_| self.fail(at, format!("{n} is too large a number")))
    }

    fn date(&self, name: &str, d: &str, at: usize) -> Result<u64, PolicyError> {
        let reason = |e: CredentialError| match e {
            CredentialError::InvalidAttribute { reason, .. } => {
                format!("bad date: {}", reason.replace('`', "\""))
            }
            e => format!("bad date: {e}"),
        };
        let x = encode_value(name, &AttributeKind::Date, &Value::String(d.to_owned()))
            .map_err(|e| self.fail(at, reason(e)))?;
        small(&x).ok_or_else(|| self.fail(at, format!("bad date: \"{d}\"")))
    }

    /// One value of `=`, `!=`, `in`, `not in` as a field element.
    fn element(
        &mut self,
        name: &str,
        kind: &AttributeKind,
        consequence: &str,
    ) -> Result<(Fr, Token), PolicyError> {
        let t = self.bump();
        let v = match (kind, &t.tok) {
            (AttributeKind::Integer { bits }, Tok::Num(n)) => {
                let v = self.number(n, t.start)?;
                let max = max_value(kind).unwrap_or(0);
                if v > max {
                    return Err(self.fail(
                        t.start,
                        format!("{consequence}: \"{name}\" is a {bits}-bit integer, at most {max}"),
                    ));
                }
                Fr::from(v)
            }
            (AttributeKind::Integer { .. }, Tok::Date(_)) => {
                return Err(self.fail(
                    t.start,
                    format!("type mismatch: \"{name}\" is an integer, not a date"),
                ))
            }
            (AttributeKind::Integer { .. }, _) => {
                return Err(self.unexpected(&t, &format!("a number for \"{name}\"")))
            }
            (AttributeKind::Date, Tok::Date(d)) => Fr::from(self.date(name, d, t.start)?),
            (AttributeKind::Date, _) => {
                return Err(self.unexpected(&t, &format!("a date YYYY-MM-DD for \"{name}\"")))
            }
            (AttributeKind::Enumeration { values }, Tok::Word(w) | Tok::Str(w))
                if !(matches!(t.tok, Tok::Word(_)) && KEYWORDS.contains(&w.as_str()))
                    || values.contains(w) =>
            {
                match values.iter().position(|v| v == w) {
                    Some(i) => Fr::from(i as u64),
                    None => {
                        return Err(self.fail(
                            t.start,
                            format!(
                                "unknown value \"{}\" of \"{name}\" ({}){}",
                                w.escape_default(),
                                list_values(values),
                                suggestion(w, values.iter().map(String::as_str))
                            ),
                        ))
                    }
                }
            }
            (AttributeKind::Enumeration { values }, _) => {
                return Err(self.unexpected(
                    &t,
                    &format!("one of the values of \"{name}\" ({})", list_values(values)),
                ))
            }
            (AttributeKind::Boolean, Tok::Word(w)) if w == "true" || w == "false" => {
                Fr::from(u64::from(w == "true"))
            }
            (AttributeKind::Boolean, _) => {
                return Err(self.unexpected(&t, &format!("true or false for \"{name}\"")))
            }
            (AttributeKind::StringHash, Tok::Str(s)) => string_hash(s),
            (AttributeKind::StringHash, Tok::Word(w) | Tok::Num(w) | Tok::Date(w)) => {
                return Err(self.fail(
                    t.start,
                    format!(
                        "\"{name}\" holds text: write the value in double quotes, as \"{w}\" \
                         (compared exactly, case and spaces included)"
                    ),
                ))
            }
            (AttributeKind::StringHash, _) => {
                return Err(self.unexpected(&t, &format!("a double-quoted text for \"{name}\"")))
            }
        };
        Ok((v, t))
    }

    /// `"[" value ("," value)* "]"`.
    fn set(&mut self, name: &str, kind: &AttributeKind) -> Result<Vec<Fr>, PolicyError> {
        let open = self.bump();
        if !matches!(open.tok, Tok::Open) {
            return Err(self.unexpected(&open, "\"[\" to start a list of values"));
        }
        if matches!(self.peek().tok, Tok::Close) {
            return Err(self.fail(
                self.peek().start,
                format!("empty set: list 1 to {MAX_SET_VALUES} values"),
            ));
        }
        let mut values: Vec<Fr> = Vec::new();
        loop {
            let at = self.peek().start;
            if matches!(self.peek().tok, Tok::End) {
                return Err(self.fail(open.start, "unclosed \"[\": the closing \"]\" is missing"));
            }
            if values.len() == MAX_SET_VALUES {
                return Err(self.fail(
                    at,
                    format!("too many values: a set holds at most {MAX_SET_VALUES}"),
                ));
            }
            let (v, t) = self.element(name, kind, "it never matches")?;
            if values.contains(&v) {
                let text = match &t.tok {
                    Tok::Str(s) => format!("\"{}\"", s.escape_default()),
                    tok => show(tok),
                };
                return Err(self.fail(at, format!("{text} is listed twice")));
            }
            values.push(v);
            let t = self.bump();
            match t.tok {
                Tok::Comma => continue,
                Tok::Close => return Ok(values),
                Tok::End => {
                    return Err(
                        self.fail(open.start, "unclosed \"[\": the closing \"]\" is missing")
                    )
                }
                _ => {
                    let where_ = self.position_text(open.start);
                    return Err(self.unexpected(
                        &t,
                        &format!("\",\" or \"]\" (the \"[\" at {where_} is not closed)"),
                    ));
                }
            }
        }
    }

    /// An ordered comparison (after `not`) against the attribute's range.
    fn check_bound(
        &self,
        name: &str,
        kind: &AttributeKind,
        op: Op,
        c: u64,
        at: usize,
    ) -> Result<Compiled, PolicyError> {
        let max = max_value(kind).unwrap_or(0);
        let (never, always) = match op {
            Op::Lt => (c == 0, c > max),
            Op::Le => (false, c >= max),
            Op::Gt => (c >= max, false),
            Op::Ge => (c > max, c == 0),
            _ => (false, false),
        };
        if never || always {
            let what = if never { "never true" } else { "always true" };
            return Err(self.fail(at, format!("{what}: {}", range_text(name, kind))));
        }
        Ok(match op {
            Op::Lt => Compiled::Lt(c),
            Op::Le => Compiled::Le(c),
            Op::Gt => Compiled::Gt(c),
            _ => Compiled::Ge(c),
        })
    }

    fn between(
        &self,
        name: &str,
        kind: &AttributeKind,
        negated: bool,
        (lo, lo_at): (u64, usize),
        (hi, hi_at): (u64, usize),
        start: usize,
    ) -> Result<Compiled, PolicyError> {
        let max = max_value(kind).unwrap_or(0);
        let range = range_text(name, kind);
        if lo > hi {
            let what = if negated { "always true" } else { "never true" };
            return Err(self.fail(
                hi_at,
                format!("{what}: the upper bound is below the lower bound"),
            ));
        }
        if negated {
            return match (lo == 0, hi >= max) {
                (true, true) => Err(self.fail(lo_at, format!("never true: {range}"))),
                (true, false) => Ok(Compiled::Gt(hi)),
                (false, true) => Ok(Compiled::Lt(lo)),
                (false, false) => Err(self.fail(
                    start,
                    format!(
                        "\"not {name} between ..\" means \"{name} < a or {name} > b\", and the \
                         circuit cannot check \"or\": a policy's conditions must all hold"
                    ),
                )),
            };
        }
        if lo > max {
            return Err(self.fail(lo_at, format!("never true: {range}")));
        }
        if hi > max {
            return Err(self.fail(
                hi_at,
                format!("the upper bound is out of range: {range} (write \"{name} >= ..\")"),
            ));
        }
        if lo == 0 && hi == max {
            return Err(self.fail(lo_at, format!("always true: {range}")));
        }
        Ok(Compiled::Between(lo, hi))
    }

    /// Ordered conditions on one attribute must leave some value.
    fn check_together(
        &mut self,
        slot: usize,
        name: &str,
        kind: &AttributeKind,
        c: &Compiled,
        start: usize,
    ) -> Result<(), PolicyError> {
        let Some(max) = max_value(kind) else {
            return Ok(());
        };
        let interval = match c {
            Compiled::Lt(x) => (0, x.saturating_sub(1)),
            Compiled::Le(x) => (0, *x),
            Compiled::Gt(x) => (x + 1, max),
            Compiled::Ge(x) => (*x, max),
            Compiled::Between(lo, hi) => (*lo, *hi),
            Compiled::Eq(v) => match small(v) {
                Some(x) => (x, x),
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
        let Some(entry) = self.ranges.get_mut(slot) else {
            return Ok(());
        };
        match entry {
            None => *entry = Some((interval.0, interval.1, start)),
            Some((lo, hi, first)) => {
                let (lo2, hi2) = ((*lo).max(interval.0), (*hi).min(interval.1));
                if lo2 > hi2 {
                    let first = *first;
                    let where_ = self.position_text(first);
                    return Err(self.fail(
                        start,
                        format!(
                            "never true: this condition excludes every value of \"{name}\" \
                             that the condition at {where_} allows"
                        ),
                    ));
                }
                *lo = lo2;
                *hi = hi2;
            }
        }
        Ok(())
    }
}

fn negate_ordered(op: Op) -> Op {
    match op {
        Op::Lt => Op::Ge,
        Op::Le => Op::Gt,
        Op::Gt => Op::Le,
        Op::Ge => Op::Lt,
        other => other,
    }
}

/// A checked bound (at most the attribute's largest value, so at most `2^32 - 1`).
fn bound(c: u64) -> u32 {
    u32::try_from(c).unwrap_or(u32::MAX)
}

/// The largest value of an ordered kind.
fn max_value(kind: &AttributeKind) -> Option<u64> {
    match kind {
        AttributeKind::Integer { bits } => Some((1u64 << u32::from(*bits).min(32)) - 1),
        AttributeKind::Date => Some(MAX_DATE_DAYS),
        _ => None,
    }
}

fn range_text(name: &str, kind: &AttributeKind) -> String {
    match kind {
        AttributeKind::Integer { bits } => format!(
            "\"{name}\" is a {bits}-bit integer, from 0 to {}",
            max_value(kind).unwrap_or(0)
        ),
        _ => format!("\"{name}\" is a date from 1970-01-01 to 9999-12-31"),
    }
}

fn kind_text(kind: &AttributeKind) -> String {
    match kind {
        AttributeKind::Integer { bits } => format!("a {bits}-bit integer"),
        AttributeKind::Date => "a date".into(),
        AttributeKind::Enumeration { values } => {
            format!("an enumeration ({})", list_values(values))
        }
        AttributeKind::Boolean => "a boolean".into(),
        AttributeKind::StringHash => "a hashed text".into(),
    }
}

fn list_values(values: &[String]) -> String {
    let mut s = values
        .iter()
        .take(8)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if values.len() > 8 {
        s.push_str(&format!(", … {} in all", values.len()));
    }
    s
}

/// ` (did you mean "x"?)` for the closest candidate within a small edit distance.
fn suggestion<'s>(word: &str, candidates: impl Iterator<Item = &'s str>) -> String {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .map(|c| {
            let d = if c.eq_ignore_ascii_case(word) {
                0
            } else {
                edit_distance(&word.to_lowercase(), &c.to_lowercase())
            };
            (d, c)
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map_or_else(String::new, |(_, c)| format!(" (did you mean \"{c}\"?)"))
}

/// Optimal string alignment distance (Levenshtein with transpositions).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// A field element below 2^64, as a number.
fn small(x: &Fr) -> Option<u64> {
    let b = fr_to_bytes_be(x);
    if b[..24].iter().any(|x| *x != 0) {
        return None;
    }
    let mut low = [0u8; 8];
    low.copy_from_slice(&b[24..]);
    Some(u64::from_be_bytes(low))
}

// ---------------------------------------------------------------------------------
// Describe

/// The conditions in plain words, for the holder's consent screen: "household size is
/// at least 3, region is north or east, displaced since no later than 2026-01-01".
/// Values are decoded with [`decode_value`]; a hashed string cannot be decoded and is
/// shown as "a text with hash …" (see [`describe_with_texts`]). The empty table reads
/// "anyone with a valid credential".
pub fn describe(conditions: &[PolicyCondition], schema: &Schema) -> String {
    describe_with_texts(conditions, schema, &[])
}

/// [`describe`], naming a hashed string by its text when it is one of `texts` (the
/// holder's own values, or the strings of the program's policy source).
pub fn describe_with_texts(
    conditions: &[PolicyCondition],
    schema: &Schema,
    texts: &[&str],
) -> String {
    if conditions.is_empty() {
        return "anyone with a valid credential".into();
    }
    conditions
        .iter()
        .map(|c| describe_condition(c, schema, texts))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_condition(c: &PolicyCondition, schema: &Schema, texts: &[&str]) -> String {
    let def = schema.attributes.get(c.attribute as usize);
    let name = def.map_or_else(
        || format!("attribute {}", c.attribute),
        |d| d.name.replace('_', " "),
    );
    let kind = def.map(|d| &d.kind);
    let is_date = matches!(kind, Some(AttributeKind::Date));
    let elem = |b: &[u8; 32]| match fr_from_bytes_be(b) {
        Ok(x) => value_text(kind, &x, texts),
        Err(_) => format!("0x{}", hex::encode(b)),
    };
    let num = |v: u32| value_text(kind, &Fr::from(u64::from(v)), texts);
    let set = |vs: &[[u8; 32]]| vs.iter().map(elem).collect::<Vec<_>>();
    let text = match &c.predicate {
        PredicateOp::Eq { value } if is_date => format!("on {}", elem(value)),
        PredicateOp::Eq { value } => format!("is {}", elem(value)),
        PredicateOp::Ne { value } if is_date => format!("not on {}", elem(value)),
        PredicateOp::Ne { value } => format!("is not {}", elem(value)),
        PredicateOp::Lt { value } if is_date => format!("before {}", num(*value)),
        PredicateOp::Lt { value } => format!("is less than {}", num(*value)),
        PredicateOp::Le { value } if is_date => format!("no later than {}", num(*value)),
        PredicateOp::Le { value } => format!("is at most {}", num(*value)),
        PredicateOp::Gt { value } if is_date => format!("after {}", num(*value)),
        PredicateOp::Gt { value } => format!("is more than {}", num(*value)),
        PredicateOp::Ge { value } if is_date => format!("no earlier than {}", num(*value)),
        PredicateOp::Ge { value } => format!("is at least {}", num(*value)),
        PredicateOp::Between { lo, hi } if is_date => {
            format!("from {} to {}", num(*lo), num(*hi))
        }
        PredicateOp::Between { lo, hi } => format!("is from {} to {}", num(*lo), num(*hi)),
        PredicateOp::In { values } => {
            let prefix = if is_date { "on" } else { "is" };
            format!("{prefix} {}", either(&set(values), "or"))
        }
        PredicateOp::NotIn { values } => {
            let vs = set(values);
            let prefix = if is_date { "on" } else { "is" };
            match vs.as_slice() {
                [one] if is_date => format!("not on {one}"),
                [one] => format!("is not {one}"),
                [a, b] => format!("{prefix} neither {a} nor {b}"),
                _ => format!("{prefix} none of {}", vs.join(", ")),
            }
        }
    };
    format!("{name} {text}")
}

/// "a", "a or b", "a, b or c".
fn either(items: &[String], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {word} {last}", init.join(", ")),
    }
}

fn value_text(kind: Option<&AttributeKind>, x: &Fr, texts: &[&str]) -> String {
    match kind {
        Some(AttributeKind::StringHash) => texts.iter().find(|t| string_hash(t) == *x).map_or_else(
            || {
                let h = hex::encode(fr_to_bytes_be(x));
                format!("a text with hash {}…", &h[..16])
            },
            |t| format!("\"{}\"", t.escape_default()),
        ),
        Some(kind) => match decode_value(kind, x) {
            Some(Value::String(s)) => s,
            Some(v) => v.to_string(),
            None => small(x).map_or_else(
                || format!("0x{}", hex::encode(fr_to_bytes_be(x))),
                |n| n.to_string(),
            ),
        },
        None => small(x).map_or_else(
            || format!("0x{}", hex::encode(fr_to_bytes_be(x))),
            |n| n.to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::encode_attributes;
    use crate::claim::policy as circuit_policy;
    use rand::{Rng, SeedableRng};
    use serde_json::{json, Map};
    use weft_types::AttributeDef;

    fn schema() -> Schema {
        let attr = |name: &str, kind| AttributeDef {
            name: name.into(),
            kind,
        };
        Schema {
            name: "household-registration".into(),
            version: "1.0".into(),
            attributes: vec![
                attr("household_size", AttributeKind::Integer { bits: 8 }),
                attr(
                    "region",
                    AttributeKind::Enumeration {
                        values: vec!["north".into(), "east".into(), "south".into()],
                    },
                ),
                attr("displaced_since", AttributeKind::Date),
                attr("disability", AttributeKind::Boolean),
                attr("camp", AttributeKind::StringHash),
                attr("income", AttributeKind::Integer { bits: 32 }),
                attr(
                    "status",
                    AttributeKind::Enumeration {
                        values: vec!["refugee".into(), "idp".into(), "host community".into()],
                    },
                ),
            ],
        }
    }

    fn day(d: &str) -> u32 {
        let x = encode_value("d", &AttributeKind::Date, &json!(d)).unwrap();
        small(&x).unwrap() as u32
    }

    fn fe(x: u64) -> [u8; 32] {
        fr_to_bytes_be(&Fr::from(x))
    }

    fn hs(s: &str) -> [u8; 32] {
        fr_to_bytes_be(&string_hash(s))
    }

    fn cond(attribute: u8, predicate: PredicateOp) -> PolicyCondition {
        PolicyCondition {
            attribute,
            predicate,
        }
    }

    fn table(src: &str) -> Vec<PolicyCondition> {
        match compile(src, &schema()) {
            Ok(c) => c.conditions,
            Err(e) => panic!("{src}: {e}"),
        }
    }

    fn one(src: &str) -> PolicyCondition {
        let t = table(src);
        assert_eq!(t.len(), 1, "{src}");
        t[0].clone()
    }

    #[test]
    fn the_issues_example() {
        let src = "household_size >= 3 and region in [north, east] and not displaced_since after 2026-01-01";
        let c = compile(src, &schema()).unwrap();
        assert_eq!(c.source, src);
        assert_eq!(day("2026-01-01"), 20454);
        assert_eq!(
            c.conditions,
            vec![
                cond(0, PredicateOp::Ge { value: 3 }),
                cond(
                    1,
                    PredicateOp::In {
                        values: vec![fe(0), fe(1)]
                    }
                ),
                cond(2, PredicateOp::Le { value: 20454 }),
            ]
        );
        assert_eq!(
            describe(&c.conditions, &schema()),
            "household size is at least 3, region is north or east, \
             displaced since no later than 2026-01-01"
        );
    }

    #[test]
    fn empty_and_true_admit_everyone() {
        for src in [
            "",
            "   ",
            "true",
            " true # everyone\n",
            "# nobody is excluded",
        ] {
            assert!(table(src).is_empty(), "{src:?}");
        }
        assert_eq!(describe(&[], &schema()), "anyone with a valid credential");
    }

    #[test]
    fn every_operator_on_its_kinds() {
        use PredicateOp::*;
        let d = day("2026-01-01");
        let cases: Vec<(&str, PolicyCondition)> = vec![
            // integers
            ("household_size = 4", cond(0, Eq { value: fe(4) })),
            ("household_size == 4", cond(0, Eq { value: fe(4) })),
            ("household_size != 4", cond(0, Ne { value: fe(4) })),
            ("household_size < 4", cond(0, Lt { value: 4 })),
            ("household_size <= 4", cond(0, Le { value: 4 })),
            ("household_size > 4", cond(0, Gt { value: 4 })),
            ("household_size >= 4", cond(0, Ge { value: 4 })),
            (
                "household_size between 2 and 6",
                cond(0, Between { lo: 2, hi: 6 }),
            ),
            (
                "household_size in [1, 2, 255]",
                cond(
                    0,
                    In {
                        values: vec![fe(1), fe(2), fe(255)],
                    },
                ),
            ),
            (
                "household_size not in [0]",
                cond(
                    0,
                    NotIn {
                        values: vec![fe(0)],
                    },
                ),
            ),
            ("income < 4294967295", cond(5, Lt { value: u32::MAX })),
            ("income >= 1", cond(5, Ge { value: 1 })),
            // dates
            (
                "displaced_since = 2026-01-01",
                cond(
                    2,
                    Eq {
                        value: fe(d as u64),
                    },
                ),
            ),
            (
                "displaced_since on 2026-01-01",
                cond(
                    2,
                    Eq {
                        value: fe(d as u64),
                    },
                ),
            ),
            (
                "displaced_since != 2026-01-01",
                cond(
                    2,
                    Ne {
                        value: fe(d as u64),
                    },
                ),
            ),
            (
                "displaced_since before 2026-01-01",
                cond(2, Lt { value: d }),
            ),
            ("displaced_since < 2026-01-01", cond(2, Lt { value: d })),
            ("displaced_since <= 2026-01-01", cond(2, Le { value: d })),
            ("displaced_since after 2026-01-01", cond(2, Gt { value: d })),
            ("displaced_since > 2026-01-01", cond(2, Gt { value: d })),
            ("displaced_since >= 2026-01-01", cond(2, Ge { value: d })),
            (
                "displaced_since between 2024-02-29 and 2026-01-01",
                cond(2, Between { lo: 19782, hi: d }),
            ),
            (
                "displaced_since in [2024-02-29, 2026-01-01]",
                cond(
                    2,
                    In {
                        values: vec![fe(19782), fe(d as u64)],
                    },
                ),
            ),
            // enumerations
            ("region = south", cond(1, Eq { value: fe(2) })),
            ("region = \"south\"", cond(1, Eq { value: fe(2) })),
            ("region != north", cond(1, Ne { value: fe(0) })),
            (
                "status in [idp, \"host community\"]",
                cond(
                    6,
                    In {
                        values: vec![fe(1), fe(2)],
                    },
                ),
            ),
            (
                "region not in [south]",
                cond(
                    1,
                    NotIn {
                        values: vec![fe(2)],
                    },
                ),
            ),
            // booleans
            ("disability is true", cond(3, Eq { value: fe(1) })),
            ("disability is false", cond(3, Eq { value: fe(0) })),
            ("disability = true", cond(3, Eq { value: fe(1) })),
            ("disability != false", cond(3, Ne { value: fe(0) })),
            (
                "disability in [true]",
                cond(
                    3,
                    In {
                        values: vec![fe(1)],
                    },
                ),
            ),
            // hashed strings
            (
                "camp = \"Camp Alpha\"",
                cond(
                    4,
                    Eq {
                        value: hs("Camp Alpha"),
                    },
                ),
            ),
            ("camp != \"\"", cond(4, Ne { value: hs("") })),
            (
                "camp in [\"Camp \\\"A\\\"\", \"Zone\\\\3\", \"Ünïcode\"]",
                cond(
                    4,
                    In {
                        values: vec![hs("Camp \"A\""), hs("Zone\\3"), hs("Ünïcode")],
                    },
                ),
            ),
            (
                "camp not in [\"Camp Alpha\"]",
                cond(
                    4,
                    NotIn {
                        values: vec![hs("Camp Alpha")],
                    },
                ),
            ),
        ];
        for (src, expected) in cases {
            assert_eq!(one(src), expected, "{src}");
        }
        // Whitespace, newlines, comments and the lack of blanks do not matter.
        assert_eq!(
            table("household_size>=3\n  and region in[north,east]# comment\nand camp=\"x\""),
            table("household_size >= 3 and region in [north, east] and camp = \"x\"")
        );
    }

    #[test]
    fn not_negates_each_operator() {
        use PredicateOp::*;
        let d = day("2026-01-01");
        let cases: Vec<(&str, PolicyCondition)> = vec![
            ("not household_size = 4", cond(0, Ne { value: fe(4) })),
            ("not household_size == 4", cond(0, Ne { value: fe(4) })),
            ("not household_size != 4", cond(0, Eq { value: fe(4) })),
            ("not household_size < 4", cond(0, Ge { value: 4 })),
            ("not household_size <= 4", cond(0, Gt { value: 4 })),
            ("not household_size > 4", cond(0, Le { value: 4 })),
            ("not household_size >= 3", cond(0, Lt { value: 3 })),
            (
                "not displaced_since before 2026-01-01",
                cond(2, Ge { value: d }),
            ),
            (
                "not displaced_since after 2026-01-01",
                cond(2, Le { value: d }),
            ),
            (
                "not displaced_since on 2026-01-01",
                cond(
                    2,
                    Ne {
                        value: fe(d as u64),
                    },
                ),
            ),
            (
                "not region in [north, east]",
                cond(
                    1,
                    NotIn {
                        values: vec![fe(0), fe(1)],
                    },
                ),
            ),
            (
                "not region not in [north]",
                cond(
                    1,
                    In {
                        values: vec![fe(0)],
                    },
                ),
            ),
            ("not disability is true", cond(3, Eq { value: fe(0) })),
            ("not disability is false", cond(3, Eq { value: fe(1) })),
            ("not camp = \"A\"", cond(4, Ne { value: hs("A") })),
            // One side of the complement is empty: a single interval.
            (
                "not household_size between 0 and 5",
                cond(0, Gt { value: 5 }),
            ),
            (
                "not household_size between 6 and 255",
                cond(0, Lt { value: 6 }),
            ),
            (
                "not displaced_since between 1970-01-01 and 2026-01-01",
                cond(2, Gt { value: d }),
            ),
        ];
        for (src, expected) in cases {
            assert_eq!(one(src), expected, "{src}");
        }
    }

    /// (source, byte position, words of the reason)
    #[test]
    fn errors_say_where_and_why() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "household_size >= 3 and regoin in [north]",
                24,
                "unknown attribute \"regoin\" (did you mean \"region\"?)",
            ),
            ("Region = north", 0, "(did you mean \"region\"?)"),
            ("name = \"x\"", 0, "unknown attribute \"name\""),
            (
                "region in [north, esat]",
                18,
                "unknown value \"esat\" of \"region\" (north, east, south) (did you mean \"east\"?)",
            ),
            ("region = 3", 9, "expected one of the values of \"region\""),
            (
                "region > 3",
                7,
                "type mismatch: \">\" compares integers and dates; \"region\" is an enumeration",
            ),
            ("camp between \"a\" and \"b\"", 5, "type mismatch"),
            ("disability < 1", 11, "use \"is true\" or \"is false\""),
            ("household_size before 3", 15, "\"before\" compares dates"),
            ("household_size is true", 15, "\"is\" takes a boolean attribute"),
            ("household_size = 2026-01-01", 17, "is an integer, not a date"),
            ("displaced_since > 3", 18, "expected a date YYYY-MM-DD"),
            ("displaced_since > 2026-02-30", 18, "bad date: \"2026-02-30\" is not a calendar date"),
            ("displaced_since > 2026-1-01", 18, "is not a date YYYY-MM-DD"),
            ("displaced_since > 1969-12-31", 18, "is before 1970-01-01"),
            ("household_size > 3x", 17, "neither a number nor a date"),
            ("household_size >= 300", 18, "never true: \"household_size\" is a 8-bit integer, from 0 to 255"),
            ("household_size < 0", 17, "never true"),
            ("household_size > 255", 17, "never true"),
            ("household_size >= 0", 18, "always true"),
            ("household_size <= 255", 18, "always true"),
            ("household_size = 256", 17, "never true"),
            ("household_size != 256", 18, "always true"),
            ("household_size in [1, 300]", 22, "it never matches"),
            ("income < 99999999999999999999999", 9, "too large"),
            ("income > -1", 9, "negative"),
            ("household_size between 5 and 2", 29, "the upper bound is below the lower bound"),
            ("household_size between 0 and 255", 23, "always true"),
            ("household_size between 3 and 300", 29, "the upper bound is out of range"),
            ("displaced_since <= 1970-01-01 and displaced_since > 2026-01-01", 34, "never true: this condition excludes every value of \"displaced_since\" that the condition at 1:1 allows"),
            ("household_size >= 4 and\nhousehold_size < 3", 24, "condition at 1:1"),
            (
                "not household_size between 2 and 5",
                0,
                "the circuit cannot check \"or\"",
            ),
            ("household_size >= 3 xyz", 20, "expected \"and\" or the end of the policy, found \"xyz\""),
            ("household_size >= 3 and", 23, "expected an attribute name, found the end of the policy"),
            ("household_size >= 3 or region = north", 20, "\"or\" is not supported"),
            ("household_size >= 3 AND region = north", 20, "keywords are lowercase"),
            ("(household_size >= 3)", 0, "parenthesis"),
            ("household_size >= 3;", 19, "unexpected character ';'"),
            ("household_size", 14, "expected an operator after \"household_size\""),
            ("household_size >=", 17, "expected a number"),
            ("region not north", 11, "expected \"in\" after \"not\""),
            ("region in north", 10, "expected \"[\" to start a list of values"),
            ("region in [north, east", 10, "unclosed \"[\""),
            ("region in [north, east and x = 1", 23, "expected \",\" or \"]\" (the \"[\" at 1:11 is not closed)"),
            ("region in []", 11, "empty set"),
            ("region in [north, north]", 18, "\"north\" is listed twice"),
            ("camp in [\"a\", \"a\"]", 14, "\"a\" is listed twice"),
            (
                "income in [1, 2, 3, 4, 5, 6, 7, 8, 9]",
                35,
                "too many values: a set holds at most 8",
            ),
            ("camp = Alpha", 7, "write the value in double quotes"),
            ("camp = \"Alpha", 7, "unclosed string"),
            ("camp = \"a\\n\"", 9, "unknown escape"),
            ("disability is maybe", 14, "expected true or false"),
            ("disability = 1", 13, "expected true or false"),
            ("household_size ! 3", 15, "\"!\" is not an operator"),
            ("not not region = north", 4, "expected an attribute name, found \"not\""),
            ("and", 0, "expected an attribute name, found \"and\""),
        ];
        for (src, position, reason) in cases {
            let e = match compile(src, &schema()) {
                Err(e) => e,
                Ok(c) => panic!("{src}: compiled to {:?}", c.conditions),
            };
            assert!(e.reason.contains(reason), "{src}: {e}");
            assert_eq!(e.position, *position, "{src}: {e}");
        }
    }

    #[test]
    fn too_many_conditions_and_too_long() {
        let nine = ["household_size >= 1"; 9].join(" and ");
        let e = compile(&nine, &schema()).unwrap_err();
        assert_eq!(e.position, 8 * "household_size >= 1 and ".len());
        assert!(e.reason.contains("too many conditions"), "{e}");
        assert_eq!(table(&["household_size >= 1"; 8].join(" and ")).len(), 8);

        let long = format!(
            "household_size >= 1 {}",
            "#".repeat(MAX_POLICY_SOURCE_BYTES)
        );
        let e = compile(&long, &schema()).unwrap_err();
        assert_eq!(e.position, MAX_POLICY_SOURCE_BYTES);
        assert!(e.reason.contains("at most 1024"), "{e}");
    }

    #[test]
    fn lines_columns_and_display() {
        let src = "household_size >= 3\nand   regoin = north";
        let e = compile(src, &schema()).unwrap_err();
        assert_eq!((e.position, e.line, e.column), (26, 2, 7));
        assert_eq!(
            e.to_string(),
            "2:7: unknown attribute \"regoin\" (did you mean \"region\"?)"
        );
        assert_eq!(e.excerpt(src), "and   regoin = north\n      ^");
        // Columns count characters, not bytes.
        let e = compile("camp = \"éé\" and nom = 1", &schema()).unwrap_err();
        assert_eq!((e.position, e.line, e.column), (18, 1, 17));
        let e = compile("household_size >=", &schema()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "1:18: expected a number for \"household_size\", found the end of the policy"
        );
    }

    #[test]
    fn describe_reads_back() {
        let s = schema();
        let cases = [
            ("household_size < 3", "household size is less than 3"),
            ("household_size <= 3", "household size is at most 3"),
            ("household_size > 3", "household size is more than 3"),
            (
                "household_size between 2 and 5",
                "household size is from 2 to 5",
            ),
            ("household_size != 4", "household size is not 4"),
            ("region = north", "region is north"),
            (
                "region in [north, east, south]",
                "region is north, east or south",
            ),
            (
                "region not in [north, east]",
                "region is neither north nor east",
            ),
            ("region not in [north]", "region is not north"),
            (
                "status not in [refugee, idp, \"host community\"]",
                "status is none of refugee, idp, host community",
            ),
            (
                "displaced_since before 2026-01-01",
                "displaced since before 2026-01-01",
            ),
            (
                "displaced_since >= 2026-01-01",
                "displaced since no earlier than 2026-01-01",
            ),
            (
                "displaced_since after 2026-01-01",
                "displaced since after 2026-01-01",
            ),
            (
                "displaced_since on 2026-01-01",
                "displaced since on 2026-01-01",
            ),
            (
                "not displaced_since on 2026-01-01",
                "displaced since not on 2026-01-01",
            ),
            (
                "displaced_since between 2024-02-29 and 2026-01-01",
                "displaced since from 2024-02-29 to 2026-01-01",
            ),
            ("disability is true", "disability is true"),
            ("not disability is true", "disability is false"),
            ("camp = \"Camp Alpha\"", "camp is \"Camp Alpha\""),
        ];
        for (src, words) in cases {
            let c = compile(src, &s).unwrap();
            assert_eq!(c.describe(&s), words, "{src}");
        }
        // Without the texts, a hash cannot be read back.
        let c = compile("camp in [\"Camp Alpha\", \"B\"]", &s).unwrap();
        let plain = describe(&c.conditions, &s);
        assert!(plain.starts_with("camp is a text with hash "), "{plain}");
        assert_eq!(
            describe_with_texts(&c.conditions, &s, &["B"]),
            format!(
                "camp is {} or \"B\"",
                &plain["camp is ".len()..plain.find(" or ").unwrap()]
            )
        );
        // A table written by hand for slots the schema lacks still reads.
        let raw = [cond(9, PredicateOp::Ge { value: 7 })];
        assert_eq!(describe(&raw, &s), "attribute 9 is at least 7");
        // Describing, then compiling what the words say, is the same table.
        let src = "household_size between 2 and 5 and region in [north, east] and disability is true and displaced_since <= 2026-01-01";
        assert_eq!(
            compile(src, &s).unwrap().describe(&s),
            "household size is from 2 to 5, region is north or east, disability is true, \
             displaced since no later than 2026-01-01"
        );
    }

    #[test]
    fn largest_date() {
        assert_eq!(u64::from(day("9999-12-31")), MAX_DATE_DAYS);
        let e = compile("displaced_since <= 9999-12-31", &schema()).unwrap_err();
        assert!(e.reason.contains("always true"), "{e}");
        let e = compile("displaced_since >= 1970-01-01", &schema()).unwrap_err();
        assert!(e.reason.contains("always true"), "{e}");
    }

    // ---- compiled policies hold exactly when the source text does ----

    /// A condition as a test writes it: what the words mean, evaluated natively.
    #[derive(Debug, Clone)]
    enum Spec {
        Size(&'static str, u64),
        SizeBetween(u64, u64),
        SizeIn(Vec<u64>),
        Date(&'static str, u32),
        DateBetween(u32, u32),
        Region(Vec<&'static str>),
        Disabled(bool),
        Camp(Vec<&'static str>),
    }

    const REGIONS: [&str; 3] = ["north", "east", "south"];
    const CAMPS: [&str; 3] = ["Camp Alpha", "Camp Beta", "Zone 3"];

    fn date_text(days: u32) -> String {
        match decode_value(&AttributeKind::Date, &Fr::from(u64::from(days))) {
            Some(Value::String(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    fn quoted(vs: &[&str], quote: bool) -> String {
        vs.iter()
            .map(|v| {
                if quote {
                    format!("\"{v}\"")
                } else {
                    v.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The source text of a condition, and whether it holds for a household.
    fn render(spec: &Spec, negated: bool, in_op: bool) -> String {
        let not = if negated { "not " } else { "" };
        let set_op = if in_op { "in" } else { "not in" };
        match spec {
            Spec::Size(op, c) => format!("{not}household_size {op} {c}"),
            Spec::SizeBetween(lo, hi) => format!("{not}household_size between {lo} and {hi}"),
            Spec::SizeIn(vs) => format!(
                "{not}household_size {set_op} [{}]",
                vs.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
            ),
            Spec::Date(op, d) => format!("{not}displaced_since {op} {}", date_text(*d)),
            Spec::DateBetween(lo, hi) => format!(
                "{not}displaced_since between {} and {}",
                date_text(*lo),
                date_text(*hi)
            ),
            Spec::Region(vs) => format!("{not}region {set_op} [{}]", quoted(vs, false)),
            Spec::Disabled(b) => format!("{not}disability is {b}"),
            Spec::Camp(vs) => format!("{not}camp {set_op} [{}]", quoted(vs, true)),
        }
    }

    struct Household {
        size: u64,
        region: &'static str,
        days: u32,
        disabled: bool,
        camp: &'static str,
    }

    fn compare<T: PartialOrd>(op: &str, x: T, c: T) -> bool {
        match op {
            "<" | "before" => x < c,
            "<=" => x <= c,
            ">" | "after" => x > c,
            ">=" => x >= c,
            "=" | "==" | "on" => x == c,
            "!=" => x != c,
            _ => unreachable!("{op}"),
        }
    }

    fn truth(spec: &Spec, negated: bool, in_op: bool, h: &Household) -> bool {
        let t = match spec {
            Spec::Size(op, c) => compare(op, h.size, *c),
            Spec::SizeBetween(lo, hi) => *lo <= h.size && h.size <= *hi,
            Spec::SizeIn(vs) => vs.contains(&h.size) == in_op,
            Spec::Date(op, d) => compare(op, h.days, *d),
            Spec::DateBetween(lo, hi) => *lo <= h.days && h.days <= *hi,
            Spec::Region(vs) => vs.contains(&h.region) == in_op,
            Spec::Disabled(b) => h.disabled == *b,
            Spec::Camp(vs) => vs.contains(&h.camp) == in_op,
        };
        t != negated
    }

    fn pick<T: Clone>(rng: &mut impl Rng, items: &[T]) -> T {
        items[rng.gen_range(0..items.len())].clone()
    }

    fn subset(rng: &mut impl Rng, items: &[&'static str]) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = items
            .iter()
            .copied()
            .filter(|_| rng.gen_bool(0.5))
            .collect();
        if v.is_empty() {
            v.push(pick(rng, items));
        }
        v
    }

    fn random_spec(rng: &mut impl Rng) -> Spec {
        const OPS: [&str; 7] = ["<", "<=", ">", ">=", "=", "==", "!="];
        const DATE_OPS: [&str; 9] = ["<", "<=", ">", ">=", "=", "!=", "before", "after", "on"];
        let near_date = |rng: &mut dyn rand::RngCore| 20_000 + rng.gen_range(0..60u32);
        match rng.gen_range(0..8) {
            0 => Spec::Size(pick(rng, &OPS), rng.gen_range(1..10)),
            1 => {
                let lo = rng.gen_range(0..8);
                Spec::SizeBetween(lo, lo + rng.gen_range(0..4))
            }
            2 => Spec::SizeIn(
                (0..rng.gen_range(1..4))
                    .map(|i| i * 2 + rng.gen_range(0..2))
                    .collect(),
            ),
            3 => Spec::Date(pick(rng, &DATE_OPS), near_date(rng)),
            4 => {
                let lo = near_date(rng);
                Spec::DateBetween(lo, lo + rng.gen_range(0..30))
            }
            5 => Spec::Region(subset(rng, &REGIONS)),
            6 => Spec::Disabled(rng.gen_bool(0.5)),
            _ => Spec::Camp(subset(rng, &CAMPS)),
        }
    }

    #[test]
    fn compiled_policies_hold_exactly_when_the_text_does() {
        let s = schema();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let (mut compiled, mut refused, mut held) = (0, 0, 0);
        for _ in 0..300 {
            let n = rng.gen_range(1..=4);
            let conds: Vec<(Spec, bool, bool)> = (0..n)
                .map(|_| (random_spec(&mut rng), rng.gen_bool(0.3), rng.gen_bool(0.5)))
                .collect();
            let src = conds
                .iter()
                .map(|(c, neg, in_op)| render(c, *neg, *in_op))
                .collect::<Vec<_>>()
                .join(" and ");
            let policy = match compile(&src, &s) {
                Ok(p) => p,
                Err(e) => {
                    // Only the refusals the language promises.
                    assert!(
                        [
                            "never true",
                            "always true",
                            "cannot check \"or\"",
                            "listed twice"
                        ]
                        .iter()
                        .any(|r| e.reason.contains(r)),
                        "{src}: {e}"
                    );
                    refused += 1;
                    continue;
                }
            };
            compiled += 1;
            let circuit = circuit_policy(&policy.conditions).expect("canonical constants");
            for _ in 0..20 {
                let h = Household {
                    size: rng.gen_range(0..12),
                    region: pick(&mut rng, &REGIONS),
                    days: 20_000 + rng.gen_range(0..70),
                    disabled: rng.gen_bool(0.5),
                    camp: pick(&mut rng, &CAMPS),
                };
                let subject = json!({
                    "household_size": h.size,
                    "region": h.region,
                    "displaced_since": date_text(h.days),
                    "disability": h.disabled,
                    "camp": h.camp,
                    "income": 0,
                    "status": "idp",
                });
                let map: &Map<String, Value> = subject.as_object().unwrap();
                let attributes = encode_attributes(&s, map).unwrap();
                let expected = conds
                    .iter()
                    .all(|(c, neg, in_op)| truth(c, *neg, *in_op, &h));
                assert_eq!(
                    circuit.holds(&attributes),
                    expected,
                    "{src} for size {} region {} day {} disabled {} camp {}",
                    h.size,
                    h.region,
                    date_text(h.days),
                    h.disabled,
                    h.camp
                );
                held += usize::from(expected);
            }
        }
        assert!(compiled >= 200, "{compiled} compiled, {refused} refused");
        assert!(held >= 100, "{held} satisfied cases");
    }
}
