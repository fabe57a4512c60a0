//! Request attributes: the extra, named values an RA profile asks for when a certificate is issued or revoked
//! through it (a ticket number, a cost centre, a reason text…). The profile's policy holds their definitions —
//! content type, whether required, a list to choose from, regular-expression, range and date constraints — and
//! [`validate`] checks what a requester sent against them, returning every problem found.

use crate::clock::parse_time;
use crate::{CoreError, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Longest attribute name or label, in characters.
const MAX_NAME_CHARS: usize = 256;
/// Most attributes a profile may define for one operation.
pub const MAX_DEFINITIONS: usize = 100;
/// Longest regular expression a constraint may carry, in bytes.
const MAX_PATTERN_BYTES: usize = 1024;
/// Compiled-program budget of a constraint's regular expression, in bytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What an attribute's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentType {
    String,
    /// Multi-line text.
    Text,
    Integer,
    Boolean,
    Float,
    /// `YYYY-MM-DD`.
    Date,
    /// `HH:MM:SS`, optionally with fractional seconds.
    Time,
    /// RFC 3339 (`2026-01-02T03:04:05.000+01:00`).
    Datetime,
    /// `{"secret": "…"}` (or a bare string).
    Secret,
    /// `{"content": "<base64>", "fileName": "…", "mimeType": "…"}`.
    File,
    /// An object naming a credential.
    Credential,
    /// `{"code": "<base64>", "language": "…"}`.
    Codeblock,
    /// Any JSON object.
    Object,
    /// An object naming a resource.
    Resource,
}

impl ContentType {
    pub const ALL: [ContentType; 14] = [
        ContentType::String,
        ContentType::Text,
        ContentType::Integer,
        ContentType::Boolean,
        ContentType::Float,
        ContentType::Date,
        ContentType::Time,
        ContentType::Datetime,
        ContentType::Secret,
        ContentType::File,
        ContentType::Credential,
        ContentType::Codeblock,
        ContentType::Object,
        ContentType::Resource,
    ];

    /// The wire spelling (`string`, `datetime`, `codeblock`…).
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::String => "string",
            ContentType::Text => "text",
            ContentType::Integer => "integer",
            ContentType::Boolean => "boolean",
            ContentType::Float => "float",
            ContentType::Date => "date",
            ContentType::Time => "time",
            ContentType::Datetime => "datetime",
            ContentType::Secret => "secret",
            ContentType::File => "file",
            ContentType::Credential => "credential",
            ContentType::Codeblock => "codeblock",
            ContentType::Object => "object",
            ContentType::Resource => "resource",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ContentType::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether `data` is a value of this type; `Err` says what it should have been.
    fn check(self, data: &Value) -> std::result::Result<(), &'static str> {
        let ok = match self {
            ContentType::String | ContentType::Text => data.is_string(),
            ContentType::Integer => data.is_i64() || data.is_u64(),
            ContentType::Float => data.is_number(),
            ContentType::Boolean => data.is_boolean(),
            ContentType::Date => data.as_str().is_some_and(|s| parse_date(s).is_some()),
            ContentType::Time => data.as_str().is_some_and(valid_time),
            ContentType::Datetime => data.as_str().is_some_and(|s| parse_time(s).is_some() && s.contains('T')),
            ContentType::Secret => data.is_string() || data.get("secret").is_some_and(Value::is_string),
            ContentType::File => data.get("content").is_some_and(Value::is_string),
            ContentType::Codeblock => data.get("code").is_some_and(Value::is_string),
            ContentType::Credential | ContentType::Object | ContentType::Resource => data.is_object(),
        };
        if ok {
            return Ok(());
        }
        Err(match self {
            ContentType::String | ContentType::Text => "a string",
            ContentType::Integer => "an integer",
            ContentType::Float => "a number",
            ContentType::Boolean => "true or false",
            ContentType::Date => "a date (YYYY-MM-DD)",
            ContentType::Time => "a time (HH:MM:SS)",
            ContentType::Datetime => "a date and time (RFC 3339, e.g. 2026-01-02T03:04:05.000Z)",
            ContentType::Secret => "an object with a string 'secret'",
            ContentType::File => "an object with base64 'content', 'fileName' and 'mimeType'",
            ContentType::Codeblock => "an object with base64 'code' and 'language'",
            ContentType::Credential | ContentType::Object | ContentType::Resource => "an object",
        })
    }
}

fn visible() -> bool {
    true
}

/// One attribute an RA profile asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeDefinition {
    pub uuid: Uuid,
    /// The name requesters send it under (unique within the operation).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub content_type: ContentType,
    /// What a form shows; the name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default)]
    pub required: bool,
    /// The value is fixed: a requester may only send `content` back unchanged.
    #[serde(default)]
    pub read_only: bool,
    #[serde(default = "visible")]
    pub visible: bool,
    /// A form group to show it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Values must be chosen from `content`.
    #[serde(default)]
    pub list: bool,
    /// More than one value may be sent.
    #[serde(default)]
    pub multi_select: bool,
    /// The default value(s), or with `list` the values to choose from; each a value of `content_type`.
    #[serde(default)]
    pub content: Vec<Value>,
    #[serde(default)]
    pub constraints: Vec<Constraint>,
}

impl AttributeDefinition {
    /// The label, or the name.
    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.name)
    }
}

/// A rule every value of an attribute must follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Constraint {
    /// The value (a string) must match `pattern` (Rust `regex` syntax, unanchored unless the pattern anchors).
    Regexp {
        pattern: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// Reported instead of the built-in message when the value does not match.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_message: Option<String>,
    },
    /// The value (a number) must lie in `[from, to]`; either end may be open.
    Range {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_message: Option<String>,
    },
    /// The value (a date or date-time) must lie in `[from, to]` (RFC 3339); either end may be open.
    Datetime {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_message: Option<String>,
    },
}

impl Constraint {
    pub fn description(&self) -> Option<&str> {
        match self {
            Constraint::Regexp { description, .. }
            | Constraint::Range { description, .. }
            | Constraint::Datetime { description, .. } => description.as_deref(),
        }
    }

    pub fn error_message(&self) -> Option<&str> {
        match self {
            Constraint::Regexp { error_message, .. }
            | Constraint::Range { error_message, .. }
            | Constraint::Datetime { error_message, .. } => error_message.as_deref(),
        }
    }
}

/// One value item of an attribute a requester sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeContent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub data: Value,
}

/// An attribute a requester sent: matched to its definition by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Uuid>,
    pub name: String,
    /// The content type the requester claims (checked against the definition when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content: Vec<AttributeContent>,
}

impl AttributeValue {
    /// The values with secret contents replaced, for audit events.
    pub fn redacted(values: &[AttributeValue], definitions: &[AttributeDefinition]) -> Vec<AttributeValue> {
        values
            .iter()
            .map(|v| {
                let secret = definitions.iter().any(|d| d.name == v.name && d.content_type == ContentType::Secret)
                    || v.content_type.as_deref() == Some("secret");
                if !secret {
                    return v.clone();
                }
                let content = v
                    .content
                    .iter()
                    .map(|c| AttributeContent { reference: c.reference.clone(), data: Value::String("***".into()) })
                    .collect();
                AttributeValue { content, ..v.clone() }
            })
            .collect()
    }
}

fn parse_date(s: &str) -> Option<i64> {
    if s.len() != 10 {
        return None;
    }
    parse_time(&format!("{s}T00:00:00Z"))
}

fn valid_time(s: &str) -> bool {
    let (hms, frac) = match s.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    let num = |p: &str, max: u32| {
        p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u32>().is_ok_and(|n| n <= max)
    };
    let [h, m, sec] = parts.as_slice() else { return false };
    num(h, 23)
        && num(m, 59)
        && num(sec, 60)
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// The instant of a date or date-time value, for dateTime constraints.
fn instant(data: &Value) -> Option<i64> {
    let s = data.as_str()?;
    parse_date(s).or_else(|| parse_time(s))
}

fn compile(pattern: &str) -> std::result::Result<regex::Regex, String> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(format!("is longer than {MAX_PATTERN_BYTES} bytes"));
    }
    regex::RegexBuilder::new(pattern).size_limit(REGEX_SIZE_LIMIT).build().map_err(|e| e.to_string())
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

/// Checks a profile's definitions for one operation.
pub fn check_definitions(field: &str, definitions: &[AttributeDefinition]) -> Result<()> {
    let bad = |message: String| CoreError::invalid("ra_profile.invalid_policy", format!("{field}: {message}"));
    if definitions.len() > MAX_DEFINITIONS {
        return Err(bad(format!("at most {MAX_DEFINITIONS} attributes")));
    }
    for (i, d) in definitions.iter().enumerate() {
        let name = d.name.trim();
        if name.is_empty() || d.name.chars().count() > MAX_NAME_CHARS || d.name.chars().any(char::is_control) {
            return Err(bad(format!("attribute names must be 1 to {MAX_NAME_CHARS} printable characters")));
        }
        if d.label.as_ref().is_some_and(|l| l.chars().count() > MAX_NAME_CHARS) {
            return Err(bad(format!("the label of '{}' is longer than {MAX_NAME_CHARS} characters", d.name)));
        }
        if definitions[..i].iter().any(|o| o.name == d.name || o.uuid == d.uuid) {
            return Err(bad(format!("attribute '{}' (or its uuid) is defined twice", d.name)));
        }
        for item in &d.content {
            d.content_type
                .check(item)
                .map_err(|want| bad(format!("content of '{}' must be {want}, not {}", d.name, short(item))))?;
        }
        if d.list && d.content.is_empty() {
            return Err(bad(format!("'{}' is a list: give the values to choose from in content", d.name)));
        }
        if d.read_only && d.content.is_empty() {
            return Err(bad(format!("'{}' is read-only: give its value in content", d.name)));
        }
        for c in &d.constraints {
            match c {
                Constraint::Regexp { pattern, .. } => {
                    compile(pattern).map_err(|e| bad(format!("the pattern of '{}' {e}", d.name)))?;
                }
                Constraint::Range { from: Some(from), to: Some(to), .. } if from > to => {
                    return Err(bad(format!("the range of '{}' ends before it starts", d.name)));
                }
                Constraint::Range { .. } => {}
                Constraint::Datetime { from, to, .. } => {
                    let at = |s: &Option<String>| -> Result<Option<i64>> {
                        match s {
                            None => Ok(None),
                            Some(s) => instant(&Value::String(s.clone())).map(Some).ok_or_else(|| {
                                bad(format!("'{s}' in the datetime constraint of '{}' is not RFC 3339", d.name))
                            }),
                        }
                    };
                    if let (Some(f), Some(t)) = (at(from)?, at(to)?) {
                        if f > t {
                            return Err(bad(format!("the datetime range of '{}' ends before it starts", d.name)));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Every problem of `values` against `definitions`, as messages for the requester; empty when acceptable.
/// Values are matched to definitions by name; values no definition names are ignored.
pub fn validate(definitions: &[AttributeDefinition], values: &[AttributeValue]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, v) in values.iter().enumerate() {
        if values[..i].iter().any(|o| o.name == v.name) && definitions.iter().any(|d| d.name == v.name) {
            problems.push(format!("Attribute {} is given more than once.", v.name));
        }
    }
    for d in definitions {
        let Some(v) = values.iter().find(|v| v.name == d.name) else {
            if d.required {
                problems.push(format!("Required attribute {} not found.", d.name));
            }
            continue;
        };
        if let Some(uuid) = v.uuid.filter(|u| *u != d.uuid) {
            problems.push(format!("Attribute {} has uuid {uuid}, but its definition has {}.", d.name, d.uuid));
        }
        if let Some(ct) = v.content_type.as_deref().filter(|ct| *ct != d.content_type.as_str()) {
            problems.push(format!(
                "Attribute {} has content type {}, but its definition has {}.",
                d.name,
                short(&Value::String(ct.to_owned())),
                d.content_type.as_str()
            ));
        }
        if v.content.is_empty() {
            if d.required {
                problems.push(format!("Value of required attribute {} is empty.", d.name));
            }
            continue;
        }
        if !d.multi_select && v.content.len() > 1 {
            problems.push(format!("Attribute {} takes one value, {} were given.", d.name, v.content.len()));
        }
        if d.read_only {
            let sent: Vec<&Value> = v.content.iter().map(|c| &c.data).collect();
            let fixed: Vec<&Value> = d.content.iter().collect();
            if sent != fixed {
                problems.push(format!("Attribute {} is read-only: its value cannot be changed.", d.name));
            }
            continue;
        }
        for c in &v.content {
            if let Err(want) = d.content_type.check(&c.data) {
                problems.push(format!("Value {} of attribute {} must be {want}.", short(&c.data), d.name));
                continue;
            }
            if d.list && !d.content.contains(&c.data) {
                problems.push(format!(
                    "Value {} of attribute {} is not one of the values offered ({}).",
                    short(&c.data),
                    d.name,
                    d.content.iter().map(short).collect::<Vec<_>>().join(", ")
                ));
                continue;
            }
            for constraint in &d.constraints {
                if let Some(why) = violated(constraint, &c.data) {
                    problems.push(match constraint.error_message() {
                        Some(m) if !m.is_empty() => m.to_owned(),
                        _ => format!("Value {} of attribute {} {why}.", short(&c.data), d.name),
                    });
                }
            }
        }
    }
    problems
}

/// Why `data` breaks `constraint`, if it does. A constraint that does not apply to the value's type is met.
fn violated(constraint: &Constraint, data: &Value) -> Option<String> {
    match constraint {
        Constraint::Regexp { pattern, .. } => {
            let text = data.as_str().or_else(|| data.get("secret").and_then(Value::as_str))?;
            match compile(pattern) {
                Ok(re) if re.is_match(text) => None,
                Ok(_) => Some(format!("does not match the regular expression {pattern}")),
                Err(_) => Some("cannot be checked: the profile's regular expression is invalid".to_owned()),
            }
        }
        Constraint::Range { from, to, .. } => {
            let n = data.as_f64()?;
            let below = from.is_some_and(|f| n < f as f64);
            let above = to.is_some_and(|t| n > t as f64);
            (below || above).then(|| {
                let end = |e: &Option<i64>| e.map_or_else(|| "…".to_owned(), |v| v.to_string());
                format!("is outside the range {} to {}", end(from), end(to))
            })
        }
        Constraint::Datetime { from, to, .. } => {
            let t = instant(data)?;
            let bound = |s: &Option<String>| s.as_ref().and_then(|s| instant(&Value::String(s.clone())));
            let early = bound(from).is_some_and(|f| t < f);
            let late = bound(to).is_some_and(|e| t > e);
            (early || late).then(|| {
                format!("is outside the period {} to {}", from.as_deref().unwrap_or("…"), to.as_deref().unwrap_or("…"))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(v: Value) -> AttributeDefinition {
        serde_json::from_value(v).unwrap()
    }

    fn value(name: &str, data: &[Value]) -> AttributeValue {
        AttributeValue {
            uuid: None,
            name: name.to_owned(),
            content_type: None,
            content: data.iter().map(|d| AttributeContent { reference: None, data: d.clone() }).collect(),
        }
    }

    fn defs() -> Vec<AttributeDefinition> {
        vec![
            def(json!({ "uuid": "6f7c1a55-2a60-4f5c-9c6a-0d1c8e3a1b01", "name": "ticket", "content_type": "string",
                        "required": true,
                        "constraints": [{ "type": "regexp", "pattern": "^CHG[0-9]{6}$",
                                          "error_message": "ticket must look like CHG123456" }] })),
            def(json!({ "uuid": "6f7c1a55-2a60-4f5c-9c6a-0d1c8e3a1b02", "name": "copies", "content_type": "integer",
                        "constraints": [{ "type": "range", "from": 1, "to": 3 }] })),
            def(json!({ "uuid": "6f7c1a55-2a60-4f5c-9c6a-0d1c8e3a1b03", "name": "env", "content_type": "string",
                        "list": true, "content": ["prod", "test"] })),
            def(json!({ "uuid": "6f7c1a55-2a60-4f5c-9c6a-0d1c8e3a1b04", "name": "until", "content_type": "date",
                        "constraints": [{ "type": "datetime", "from": "2020-01-01T00:00:00Z",
                                          "to": "2030-12-31T23:59:59Z" }] })),
        ]
    }

    #[test]
    fn acceptable_values_pass_and_unknown_names_are_ignored() {
        let values = vec![
            value("ticket", &[json!("CHG000123")]),
            value("copies", &[json!(2)]),
            value("env", &[json!("test")]),
            value("until", &[json!("2029-05-01")]),
            value("Attribute", &[json!(true)]),
        ];
        assert_eq!(validate(&defs(), &values), Vec::<String>::new());
        assert!(check_definitions("issue_attributes", &defs()).is_ok());
    }

    #[test]
    fn every_problem_is_reported() {
        let values = vec![
            value("copies", &[json!(7), json!("x")]),
            value("env", &[json!("staging")]),
            value("until", &[json!("2031-01-01")]),
        ];
        let problems = validate(&defs(), &values);
        assert_eq!(problems.len(), 6, "{problems:?}");
        assert!(problems[0].contains("Required attribute ticket not found"), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("takes one value")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("outside the range 1 to 3")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("must be an integer")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("not one of the values offered (prod, test)")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("outside the period")), "{problems:?}");
        let bad = validate(&defs(), &[value("ticket", &[json!("INC1")])]);
        assert_eq!(bad, vec!["ticket must look like CHG123456".to_owned()]);
        let mut typed = value("ticket", &[json!("CHG000001")]);
        typed.content_type = Some("integer".into());
        assert!(validate(&defs(), &[typed])[0].contains("content type integer"));
    }

    #[test]
    fn content_types_are_checked() {
        let ok = [
            (ContentType::Boolean, json!(false)),
            (ContentType::Float, json!(1.5)),
            (ContentType::Time, json!("23:59:60.123")),
            (ContentType::Datetime, json!("2026-01-02T03:04:05.000+01:00")),
            (ContentType::Secret, json!({ "secret": "s3cr3t", "protectionLevel": "none" })),
            (ContentType::File, json!({ "content": "AAAA", "fileName": "a", "mimeType": { "type": "text/plain" } })),
        ];
        for (ct, v) in ok {
            assert!(ct.check(&v).is_ok(), "{ct:?} {v}");
        }
        let bad = [
            (ContentType::Integer, json!(1.5)),
            (ContentType::Date, json!("2026-02-30x")),
            (ContentType::Time, json!("24:00:00")),
            (ContentType::Datetime, json!("2026-01-02")),
            (ContentType::String, json!(true)),
        ];
        for (ct, v) in bad {
            assert!(ct.check(&v).is_err(), "{ct:?} {v}");
        }
    }

    #[test]
    fn bad_definitions_are_refused() {
        let twice = vec![defs()[0].clone(), defs()[0].clone()];
        assert!(check_definitions("x", &twice).is_err());
        let bad_re =
            def(json!({ "uuid": "6f7c1a55-2a60-4f5c-9c6a-0d1c8e3a1b09", "name": "r", "content_type": "string",
                                 "constraints": [{ "type": "regexp", "pattern": "(" }] }));
        assert!(check_definitions("x", &[bad_re]).unwrap_err().to_string().contains("pattern"));
        let empty_list =
            def(json!({ "uuid": "6f7c1a55-2a60-4f5c-9c6a-0d1c8e3a1b08", "name": "l", "content_type": "string",
                                     "list": true }));
        assert!(check_definitions("x", &[empty_list]).is_err());
        assert!(serde_json::from_value::<AttributeDefinition>(json!({ "uuid": "6f7c1a55-2a60-4f5c-9c6a-0d1c8e3a1b07",
            "name": "n", "content_type": "string", "colour": "red" }))
        .is_err());
    }
}
