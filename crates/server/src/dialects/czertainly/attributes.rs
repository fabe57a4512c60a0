//! CZERTAINLY attributes on the wire: RA-profile attribute definitions rendered as `BaseAttribute`
//! (DataAttribute v2 with `properties` and `constraints`), `RequestAttribute` values (the v2 and v3 forms, and the
//! old single-object `content`) read into core's [`AttributeValue`], and the CSR attributes a key generated here is
//! named with.

use super::error::CzError;
use certwright_core::attributes::{AttributeContent, AttributeDefinition, AttributeValue, Constraint, ContentType};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// A `RequestAttribute` as sent: `{uuid, name, contentType, content: [{reference?, data}], version?}`.
#[derive(Debug, Deserialize)]
pub struct RequestAttributeDto {
    pub uuid: Option<String>,
    pub name: String,
    #[serde(rename = "contentType")]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content: Value,
    pub version: Option<Value>,
}

/// Reads request attributes into core values; malformed ones are a 400 naming the attribute.
pub fn values(dtos: Vec<RequestAttributeDto>) -> Result<Vec<AttributeValue>, CzError> {
    dtos.into_iter().map(value).collect()
}

fn value(dto: RequestAttributeDto) -> Result<AttributeValue, CzError> {
    let name = dto.name;
    let shown: String = name.chars().take(80).collect();
    if name.is_empty() {
        return Err(CzError::invalid_argument("name of an attribute must not be empty"));
    }
    match dto.version.as_ref() {
        None | Some(Value::Null) => {}
        Some(Value::String(v)) if v == "v2" || v == "v3" || v == "2" || v == "3" => {}
        Some(Value::Number(n)) if n.as_u64() == Some(2) || n.as_u64() == Some(3) => {}
        Some(other) => {
            return Err(CzError::bad_request(format!(
                "attribute {shown}: version {} is not v2 or v3",
                other.to_string().chars().take(20).collect::<String>()
            )))
        }
    }
    let uuid = match dto.uuid.as_deref() {
        None | Some("") => None,
        Some(u) => Some(Uuid::parse_str(u).map_err(|_| {
            CzError::bad_request(format!(
                "attribute {shown}: uuid '{}' is not a UUID",
                u.chars().take(40).collect::<String>()
            ))
        })?),
    };
    if let Some(ct) = dto.content_type.as_deref() {
        if ContentType::parse(ct).is_none() {
            return Err(CzError::bad_request(format!(
                "attribute {shown}: contentType '{}' is not one of {}",
                ct.chars().take(40).collect::<String>(),
                ContentType::ALL.map(ContentType::as_str).join(", ")
            )));
        }
    }
    let item = |v: &Value| -> Result<AttributeContent, CzError> {
        match v {
            Value::Object(m) if m.contains_key("data") => Ok(AttributeContent {
                reference: m.get("reference").and_then(Value::as_str).map(str::to_owned),
                data: m.get("data").cloned().unwrap_or(Value::Null),
            }),
            Value::Object(_) => Ok(AttributeContent { reference: None, data: v.clone() }),
            _ => Err(CzError::bad_request(format!("attribute {shown}: each content item must be {{\"data\": …}}"))),
        }
    };
    let content = match &dto.content {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().map(item).collect::<Result<_, _>>()?,
        // The very old form: one object.
        Value::Object(_) => vec![item(&dto.content)?],
        _ => {
            return Err(CzError::bad_request(format!("attribute {shown}: content must be an array of {{\"data\": …}}")))
        }
    };
    Ok(AttributeValue { uuid, name, content_type: dto.content_type, content })
}

fn constraint(c: &Constraint) -> Value {
    let (kind, data) = match c {
        Constraint::Regexp { pattern, .. } => ("regExp", json!(pattern)),
        Constraint::Range { from, to, .. } => ("range", json!({ "from": from, "to": to })),
        Constraint::Datetime { from, to, .. } => ("dateTime", json!({ "from": from, "to": to })),
    };
    json!({ "type": kind, "description": c.description(), "errorMessage": c.error_message(), "data": data })
}

/// A definition as CZERTAINLY's `BaseAttribute` (a v2 DataAttribute).
pub fn base_attribute(d: &AttributeDefinition) -> Value {
    let content: Vec<Value> = d.content.iter().map(|data| json!({ "data": data })).collect();
    let mut m = Map::new();
    m.insert("uuid".into(), json!(d.uuid));
    m.insert("name".into(), json!(d.name));
    m.insert("description".into(), json!(d.description));
    m.insert("type".into(), json!("data"));
    m.insert("version".into(), json!(2));
    m.insert("contentType".into(), json!(d.content_type.as_str()));
    m.insert("content".into(), if content.is_empty() { Value::Null } else { json!(content) });
    m.insert(
        "properties".into(),
        json!({
            "label": d.label(), "visible": d.visible, "group": d.group, "required": d.required,
            "readOnly": d.read_only, "list": d.list, "multiSelect": d.multi_select, "protectionLevel": "none",
            "resource": null, "extensibleList": false,
        }),
    );
    m.insert("constraints".into(), Value::Array(d.constraints.iter().map(constraint).collect()));
    m.insert("attributeCallback".into(), Value::Null);
    Value::Object(m)
}

/// The definitions of the CSR attributes, as CZERTAINLY defines them (names and uuids), without its narrow
/// common-name pattern: the RA profile's name rules apply instead.
pub fn csr_definitions() -> Vec<AttributeDefinition> {
    let def = |uuid: &str, name: &str, label: &str, required: bool, pattern: Option<(&str, &str)>| {
        let constraints = pattern
            .map(|(p, m)| Constraint::Regexp {
                pattern: p.to_owned(),
                description: Some(format!("{label} Validation")),
                error_message: Some(m.to_owned()),
            })
            .into_iter()
            .collect();
        AttributeDefinition {
            uuid: Uuid::parse_str(uuid).unwrap_or_default(),
            name: name.to_owned(),
            description: Some(label.to_owned()),
            content_type: ContentType::String,
            label: Some(label.to_owned()),
            required,
            read_only: false,
            visible: true,
            group: None,
            list: false,
            multi_select: false,
            content: Vec::new(),
            constraints,
        }
    };
    vec![
        def("9abaeba0-973d-11ed-a8fc-0242ac120002", "commonName", "Common Name", true, None),
        def("9abaef60-973d-11ed-a8fc-0242ac120002", "organizationalUnit", "Organizational Unit", false, None),
        def("9abaf0be-973d-11ed-a8fc-0242ac120002", "organization", "Organization", false, None),
        def("9abaf208-973d-11ed-a8fc-0242ac120002", "locality", "Locality", false, None),
        def("9abaf33e-973d-11ed-a8fc-0242ac120002", "state", "State", false, None),
        def(
            "9abaf488-973d-11ed-a8fc-0242ac120002",
            "country",
            "Country",
            false,
            Some(("^[A-Z]{2}$", "Country Can contain only 2 upper case letters")),
        ),
    ]
}

/// The subject of a key generated here, from checked CSR attributes: the common name and the other RDNs in
/// certificate order.
pub fn csr_subject(values: &[AttributeValue]) -> (Option<String>, Vec<(String, String)>) {
    let text = |name: &str| {
        values
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.content.first())
            .and_then(|c| c.data.as_str())
            .map(str::to_owned)
            .filter(|s| !s.trim().is_empty())
    };
    let mut rdns = Vec::new();
    for (name, short) in [("country", "C"), ("state", "ST"), ("locality", "L"), ("organization", "O")] {
        if let Some(v) = text(name) {
            rdns.push((short.to_owned(), v));
        }
    }
    if let Some(v) = values.iter().find(|v| v.name == "organizationalUnit") {
        for c in &v.content {
            if let Some(s) = c.data.as_str().filter(|s| !s.trim().is_empty()) {
                rdns.push(("OU".to_owned(), s.to_owned()));
            }
        }
    }
    (text("commonName"), rdns)
}
