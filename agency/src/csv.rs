//! The enrolment CSV: `holder_commitment,household_commitment` (the wallet's `0x` hex
//! commitments) and one column per schema attribute, by name.
//!
//! A small RFC 4180 reader (quoted fields, doubled quotes, CRLF) keeps the dependency
//! list short; cells are turned into the JSON values the attribute encoder expects
//! (numbers for integers, `true`/`false` for booleans, strings otherwise), and every
//! problem is reported with its line number so the operator can fix that row alone.

use serde_json::{Map, Value};
use weft_crypto::Fr;
use weft_types::{AttributeKind, Schema};

use crate::AgencyError;

/// One enrolment row, ready to encode.
#[derive(Clone)]
pub struct Row {
    /// The line number in the file (the header is line 1).
    pub line: usize,
    /// The holder's commitment.
    pub holder: Fr,
    /// The household's commitment.
    pub household: Fr,
    /// The attribute values by name.
    pub attributes: Map<String, Value>,
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Row")
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// A row refused, with its line number and the reason (`<attribute>: <reason>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Splits CSV text into records with the line number each starts on.
pub fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, AgencyError> {
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut line = 1usize;
    let mut start = 1usize;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                quoted = true;
                any = true;
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                any = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                if any || fields.iter().any(|f| !f.is_empty()) {
                    out.push((start, std::mem::take(&mut fields)));
                } else {
                    fields.clear();
                }
                any = false;
                line += 1;
                start = line;
            }
            _ => {
                field.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err(AgencyError::Invalid(format!(
            "line {start}: unterminated quoted field"
        )));
    }
    if any || !field.is_empty() {
        fields.push(field);
        out.push((start, fields));
    }
    Ok(out)
}

fn parse_commitment(s: &str) -> Result<Fr, String> {
    weft_client::parse_fr(s.trim())
        .map_err(|_| format!("{s:?} is not a 0x-prefixed 32-byte field element"))
}

fn cell_value(kind: &AttributeKind, cell: &str) -> Value {
    let cell = cell.trim();
    match kind {
        AttributeKind::Integer { .. } => match cell.parse::<u64>() {
            Ok(n) => Value::from(n),
            Err(_) => match cell.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => match cell.parse::<f64>() {
                    Ok(x) => serde_json::Number::from_f64(x)
                        .map(Value::Number)
                        .unwrap_or_else(|| Value::String(cell.into())),
                    Err(_) => Value::String(cell.into()),
                },
            },
        },
        AttributeKind::Boolean => match cell {
            "true" | "TRUE" | "True" => Value::Bool(true),
            "false" | "FALSE" | "False" => Value::Bool(false),
            other => Value::String(other.into()),
        },
        _ => Value::String(cell.into()),
    }
}

/// Reads an enrolment CSV for `schema`: the good rows, and the refused ones with their
/// reasons (a wrong number of cells, a bad commitment, a value the schema refuses).
pub fn read(text: &str, schema: &Schema) -> Result<(Vec<Row>, Vec<RowError>), AgencyError> {
    let mut recs = records(text)?.into_iter();
    let (_, header) = recs
        .next()
        .ok_or_else(|| AgencyError::Invalid("the CSV file is empty".into()))?;
    let header: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| AgencyError::Invalid(format!("line 1: no `{name}` column")))
    };
    let holder_col = col("holder_commitment")?;
    let household_col = col("household_commitment")?;
    let mut attr_cols = Vec::new();
    for def in &schema.attributes {
        attr_cols.push((def, col(&def.name)?));
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (line, cells) in recs {
        if cells.len() != header.len() {
            errors.push(RowError {
                line,
                reason: format!("{} cells, the header has {}", cells.len(), header.len()),
            });
            continue;
        }
        let holder = match parse_commitment(&cells[holder_col]) {
            Ok(f) => f,
            Err(e) => {
                errors.push(RowError {
                    line,
                    reason: format!("holder_commitment: {e}"),
                });
                continue;
            }
        };
        let household = match parse_commitment(&cells[household_col]) {
            Ok(f) => f,
            Err(e) => {
                errors.push(RowError {
                    line,
                    reason: format!("household_commitment: {e}"),
                });
                continue;
            }
        };
        let mut attributes = Map::new();
        let mut bad = None;
        for (def, c) in &attr_cols {
            let value = cell_value(&def.kind, &cells[*c]);
            if let Err(e) = weft_credentials::encode_value(&def.name, &def.kind, &value) {
                bad = Some(match e {
                    weft_credentials::CredentialError::InvalidAttribute { reason, .. } => {
                        format!("{}: {reason}", def.name)
                    }
                    e => format!("{}: {e}", def.name),
                });
                break;
            }
            attributes.insert(def.name.clone(), value);
        }
        match bad {
            Some(reason) => errors.push(RowError { line, reason }),
            None => rows.push(Row {
                line,
                holder,
                household,
                attributes,
            }),
        }
    }
    Ok((rows, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_and_line_numbers() {
        let r = records("a,b\n\"x,1\",\"say \"\"hi\"\"\"\r\n\nc,d").expect("csv");
        assert_eq!(r.len(), 3);
        assert_eq!(r[1], (2, vec!["x,1".to_string(), "say \"hi\"".to_string()]));
        assert_eq!(r[2], (4, vec!["c".to_string(), "d".to_string()]));
        assert!(records("a,\"b").is_err());
    }
}
