//! Evaluating tests: switch cases and HTTP answers.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};

use super::{HttpError, Interpreter, Step};
use crate::model::{NodeKind, Subject, Test};

/// `now + d`, saturating far in the future instead of overflowing.
pub(super) fn add(now: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whether a test holds for a value (`None`: not set).
pub(crate) fn test_holds(test: &Test, value: Option<&str>) -> bool {
    match test {
        Test::Exists(want) => value.is_some() == *want,
        Test::OneOf(values) => value.is_some_and(|v| values.iter().any(|x| x == v)),
        Test::Prefix(p) => value.is_some_and(|v| v.starts_with(p.as_str())),
        Test::Matches(r) => value.is_some_and(|v| r.is_match(v)),
    }
}

/// The text of a field of a JSON answer: strings unquoted, `null` as not set, other
/// values as JSON. `field` is a JSON pointer (`/a/0/b`) or a dotted path (`a.0.b`).
pub(crate) fn json_field(answer: &Value, field: &str) -> Option<String> {
    let v = if field.starts_with('/') {
        answer.pointer(field)?
    } else {
        let mut v = answer;
        for part in field.split('.') {
            v = match v {
                Value::Object(m) => m.get(part)?,
                Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        v
    };
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl Interpreter {
    pub(super) fn subject(&self, subject: &Subject) -> Option<String> {
        match subject {
            Subject::Attribute(name) => self.attributes.get(name).cloned(),
            Subject::Caller => Some(self.caller.clone()),
            Subject::Called => Some(self.called.clone()),
        }
    }

    pub(super) fn http_body(&self, send: Option<&[String]>) -> Value {
        let attributes: Map<String, Value> = self
            .attributes
            .iter()
            .filter(|(k, _)| send.is_none_or(|s| s.contains(k)))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        serde_json::json!({
            "caller": self.caller,
            "called": self.called,
            "language": self.language,
            "attributes": attributes,
        })
    }

    pub(super) fn http_done(&mut self, node: usize, result: Result<Value, HttpError>) -> Step {
        let Some(NodeKind::Http {
            store,
            branches,
            next,
            fallback,
            ..
        }) = self.node_kind(node)
        else {
            return self.hang_up();
        };
        let answer = match result {
            Ok(a) => a,
            Err(_) => return self.goto(&fallback.id),
        };
        for (attribute, field) in &store {
            if let Some(v) = json_field(&answer, field) {
                self.set_attribute(attribute, v);
            }
        }
        let hit = branches
            .iter()
            .find(|b| test_holds(&b.test, json_field(&answer, &b.field).as_deref()));
        self.goto(&hit.map_or(&next, |b| &b.next).id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_by_path_and_pointer() {
        let v = serde_json::json!({"a": {"b": [1, {"c": "x"}]}, "n": null, "t": true});
        assert_eq!(json_field(&v, "a.b.1.c").as_deref(), Some("x"));
        assert_eq!(json_field(&v, "/a/b/0").as_deref(), Some("1"));
        assert_eq!(json_field(&v, "t").as_deref(), Some("true"));
        assert_eq!(json_field(&v, "n"), None);
        assert_eq!(json_field(&v, "a.z"), None);
        assert_eq!(json_field(&v, "a.b.x"), None);
    }
}
