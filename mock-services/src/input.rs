//! Validation of request bodies: raw bytes → typed input, or an [`InputError`] whose message says
//! which field is wrong (it becomes the `{"error": "..."}` of a 400).
//!
//! Bodies are parsed into a JSON value first and checked field by field, so a client learns
//! `drivers[1].baseline must be a number` rather than a serde position. Unknown fields are ignored,
//! as real services do; server-owned fields (`id`, `version`, timestamps) sent by a client are
//! ignored too.

use serde_json::{Map, Value};
use time::macros::format_description;
use time::Date;

use crate::model::Driver;

const MAX_NAME_CHARS: usize = 200;
const MAX_ID_CHARS: usize = 128;

/// Why a request body was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InputError {
    #[error("invalid JSON: {0}")]
    InvalidJson(#[source] serde_json::Error),
    #[error("request body must be a JSON object")]
    NotAnObject,
    #[error("{0} is required")]
    Missing(String),
    #[error("{field} {rule}")]
    Invalid { field: String, rule: &'static str },
}

/// Body of `POST`/`PUT /api/v1/value-models[/{id}]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValueModelInput {
    pub name: String,
    pub description: String,
    pub drivers: Vec<Driver>,
}

/// Body of `POST /api/v1/commitments`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CommitmentInput {
    pub value_model_id: String,
    pub owner: String,
    pub target_date: String,
    pub amount: f64,
}

/// Body of `POST /internal/v1/sync` (and the payload value-architect publishes).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyncInput {
    pub value_model_id: String,
    pub version: u64,
    pub name: String,
}

impl ValueModelInput {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, InputError> {
        let object = object(body)?;
        let name = required_text(&object, "name", "name")?;
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(invalid("name", "must be at most 200 characters"));
        }
        let description = match object.get("description") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(text)) => text.clone(),
            Some(_) => return Err(invalid("description", "must be a string")),
        };
        let drivers = match object.get("drivers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(index, item)| parse_driver(index, item))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid("drivers", "must be an array")),
        };
        Ok(ValueModelInput {
            name,
            description,
            drivers,
        })
    }
}

impl CommitmentInput {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, InputError> {
        let object = object(body)?;
        let value_model_id = required_text(&object, "value_model_id", "value_model_id")?;
        if !is_safe_id(&value_model_id) {
            return Err(invalid(
                "value_model_id",
                "must be 1-128 letters, digits, '-' or '_'",
            ));
        }
        let owner = required_text(&object, "owner", "owner")?;
        let target_date = required_text(&object, "target_date", "target_date")?;
        let format = format_description!("[year]-[month]-[day]");
        if target_date.len() != 10 || Date::parse(&target_date, &format).is_err() {
            return Err(invalid(
                "target_date",
                "must be a date in YYYY-MM-DD format",
            ));
        }
        let amount = required_number(&object, "amount", "amount")?;
        if amount <= 0.0 {
            return Err(invalid("amount", "must be a positive number"));
        }
        Ok(CommitmentInput {
            value_model_id,
            owner,
            target_date,
            amount,
        })
    }
}

impl SyncInput {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, InputError> {
        let object = object(body)?;
        let value_model_id = required_text(&object, "value_model_id", "value_model_id")?;
        let name = required_text(&object, "name", "name")?;
        let version = match object.get("version") {
            None | Some(Value::Null) => return Err(InputError::Missing("version".to_owned())),
            Some(value) => value
                .as_u64()
                .filter(|v| *v > 0)
                .ok_or_else(|| invalid("version", "must be a positive integer"))?,
        };
        Ok(SyncInput {
            value_model_id,
            version,
            name,
        })
    }
}

/// Whether `id` can be put into a URL path segment as is.
pub(crate) fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn parse_driver(index: usize, item: &Value) -> Result<Driver, InputError> {
    let Value::Object(object) = item else {
        return Err(invalid(&format!("drivers[{index}]"), "must be an object"));
    };
    let path = |field: &str| format!("drivers[{index}].{field}");
    Ok(Driver {
        name: required_text(object, "name", &path("name"))?,
        unit: required_text(object, "unit", &path("unit"))?,
        baseline: required_number(object, "baseline", &path("baseline"))?,
        target: required_number(object, "target", &path("target"))?,
    })
}

fn object(body: &[u8]) -> Result<Map<String, Value>, InputError> {
    match serde_json::from_slice::<Value>(body).map_err(InputError::InvalidJson)? {
        Value::Object(object) => Ok(object),
        _ => Err(InputError::NotAnObject),
    }
}

/// A required, non-blank string; returned trimmed.
fn required_text(object: &Map<String, Value>, key: &str, path: &str) -> Result<String, InputError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(InputError::Missing(path.to_owned())),
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        Some(_) => Err(invalid(path, "must be a non-empty string")),
    }
}

fn required_number(object: &Map<String, Value>, key: &str, path: &str) -> Result<f64, InputError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(InputError::Missing(path.to_owned())),
        Some(value) => value
            .as_f64()
            .filter(|n| n.is_finite())
            .ok_or_else(|| invalid(path, "must be a number")),
    }
}

fn invalid(field: &str, rule: &'static str) -> InputError {
    InputError::Invalid {
        field: field.to_owned(),
        rule,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message<T: std::fmt::Debug>(result: Result<T, InputError>) -> String {
        match result {
            Ok(value) => panic!("expected an error, got {value:?}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn accepts_a_value_model_with_only_a_name() {
        let input = ValueModelInput::parse(br#"{"name":"  Churn  "}"#).ok();
        assert_eq!(
            input,
            Some(ValueModelInput {
                name: "Churn".to_owned(),
                description: String::new(),
                drivers: Vec::new(),
            })
        );
    }

    #[test]
    fn rejects_invalid_json_saying_so() {
        assert!(message(ValueModelInput::parse(b"{nope")).starts_with("invalid JSON: "));
    }

    #[test]
    fn rejects_a_body_that_is_not_an_object() {
        assert_eq!(
            message(ValueModelInput::parse(b"[1,2]")),
            "request body must be a JSON object"
        );
    }

    #[test]
    fn rejects_a_value_model_without_a_name() {
        assert_eq!(
            message(ValueModelInput::parse(br#"{"description":"x"}"#)),
            "name is required"
        );
        assert_eq!(
            message(ValueModelInput::parse(br#"{"name":"   "}"#)),
            "name must be a non-empty string"
        );
    }

    #[test]
    fn names_the_driver_field_that_is_wrong() {
        let body = br#"{"name":"m","drivers":[
            {"name":"a","unit":"u","baseline":1,"target":2},
            {"name":"b","unit":"u","baseline":"high","target":2}]}"#;
        assert_eq!(
            message(ValueModelInput::parse(body)),
            "drivers[1].baseline must be a number"
        );
    }

    #[test]
    fn accepts_a_complete_commitment() {
        let body =
            br#"{"value_model_id":"abc-1","owner":"ops","target_date":"2025-12-31","amount":10.5}"#;
        let input = CommitmentInput::parse(body).ok();
        assert_eq!(
            input.map(|i| (i.target_date, i.amount)),
            Some(("2025-12-31".to_owned(), 10.5))
        );
    }

    #[test]
    fn rejects_a_commitment_with_an_impossible_date() {
        let body =
            br#"{"value_model_id":"abc","owner":"ops","target_date":"2025-02-30","amount":1}"#;
        assert_eq!(
            message(CommitmentInput::parse(body)),
            "target_date must be a date in YYYY-MM-DD format"
        );
    }

    #[test]
    fn rejects_a_value_model_id_that_would_escape_the_path() {
        let body =
            br#"{"value_model_id":"../admin","owner":"o","target_date":"2025-01-01","amount":1}"#;
        assert!(message(CommitmentInput::parse(body)).starts_with("value_model_id must be"));
    }

    #[test]
    fn rejects_a_commitment_without_a_positive_amount() {
        let missing = br#"{"value_model_id":"a","owner":"o","target_date":"2025-01-01"}"#;
        assert_eq!(
            message(CommitmentInput::parse(missing)),
            "amount is required"
        );
        let zero = br#"{"value_model_id":"a","owner":"o","target_date":"2025-01-01","amount":0}"#;
        assert_eq!(
            message(CommitmentInput::parse(zero)),
            "amount must be a positive number"
        );
    }

    #[test]
    fn rejects_a_sync_without_a_positive_integer_version() {
        let body = br#"{"value_model_id":"a","name":"n","version":1.5}"#;
        assert_eq!(
            message(SyncInput::parse(body)),
            "version must be a positive integer"
        );
    }
}
