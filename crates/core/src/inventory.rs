//! What operators attach to inventory entries (owner, labels, free-form attributes) and how the inventory is
//! ordered and walked: sort orders and the opaque cursors of keyset pagination.

use crate::ca::CertificateRecord;
use crate::clock::EpochSeconds;
use crate::{CoreError, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Most labels one certificate may carry.
pub const MAX_LABELS: usize = 50;
/// Longest label key, in characters (`[a-z0-9_.-]`).
pub const MAX_LABEL_KEY_CHARS: usize = 64;
/// Longest label value, in characters.
pub const MAX_LABEL_VALUE_CHARS: usize = 256;
/// Longest owner, in characters.
pub const MAX_OWNER_CHARS: usize = 256;
/// Largest `custom_attributes` object, in bytes of compact JSON.
pub const MAX_CUSTOM_ATTRIBUTES_BYTES: usize = 16 * 1024;
/// Longest cursor accepted, in characters.
const MAX_CURSOR_CHARS: usize = 2048;

fn invalid(code: &'static str, message: impl Into<String>) -> CoreError {
    CoreError::invalid(code, message)
}

/// Who owns a certificate and how operators find it, set through the API and never read from the certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertificateMetadata {
    pub owner: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// A JSON object.
    pub custom_attributes: Map<String, Value>,
}

/// A JSON merge patch (RFC 7396) of [`CertificateMetadata`]: `None` leaves a field alone, `Some(None)` (JSON
/// `null`) removes it.
#[derive(Debug, Clone, Default)]
pub struct MetadataPatch {
    pub owner: Option<Option<String>>,
    /// Labels to set; a `None` value removes that label. `Some(None)` removes every label.
    pub labels: Option<Option<BTreeMap<String, Option<String>>>>,
    /// Merged into the attributes as RFC 7396 says (a `null` member removes it, objects merge recursively).
    /// `Some(None)` removes every attribute.
    pub custom_attributes: Option<Option<Map<String, Value>>>,
}

/// Whether `key` may name a label: 1 to 64 characters of `[a-z0-9_.-]`.
pub fn check_label_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= MAX_LABEL_KEY_CHARS
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "certificate.invalid_labels",
            format!(
                "label key '{}' must be 1 to {MAX_LABEL_KEY_CHARS} characters of a-z, 0-9, '_', '.', '-'",
                key.chars().take(80).collect::<String>()
            ),
        ))
    }
}

fn check_label_value(key: &str, value: &str) -> Result<()> {
    if value.chars().count() > MAX_LABEL_VALUE_CHARS || value.chars().any(char::is_control) {
        return Err(invalid(
            "certificate.invalid_labels",
            format!(
                "the value of label '{key}' must be at most {MAX_LABEL_VALUE_CHARS} characters, without control \
                 characters"
            ),
        ));
    }
    Ok(())
}

/// Reads a label filter `key:value` (the value may contain further colons).
pub fn parse_label_filter(s: &str) -> Result<(String, String)> {
    let (key, value) = s
        .split_once(':')
        .ok_or_else(|| invalid("request.invalid_label", "label must be key:value, e.g. label=team:payments"))?;
    check_label_key(key).map_err(|e| invalid("request.invalid_label", e.to_string()))?;
    check_label_value(key, value).map_err(|e| invalid("request.invalid_label", e.to_string()))?;
    Ok((key.to_owned(), value.to_owned()))
}

/// RFC 7396: merges `patch` into `target`.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in members {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

impl CertificateMetadata {
    /// The metadata after `patch`, checked against the limits.
    pub fn patched(&self, patch: &MetadataPatch) -> Result<Self> {
        let mut next = self.clone();
        match &patch.owner {
            None => {}
            Some(None) => next.owner = None,
            Some(Some(owner)) => next.owner = Some(owner.clone()),
        }
        match &patch.labels {
            None => {}
            Some(None) => next.labels.clear(),
            Some(Some(changes)) => {
                for (k, v) in changes {
                    check_label_key(k)?;
                    match v {
                        Some(v) => {
                            next.labels.insert(k.clone(), v.clone());
                        }
                        None => {
                            next.labels.remove(k);
                        }
                    }
                }
            }
        }
        match &patch.custom_attributes {
            None => {}
            Some(None) => next.custom_attributes.clear(),
            Some(Some(changes)) => {
                let mut merged = Value::Object(std::mem::take(&mut next.custom_attributes));
                merge(&mut merged, &Value::Object(changes.clone()));
                if let Value::Object(m) = merged {
                    next.custom_attributes = m;
                }
            }
        }
        next.validate()?;
        Ok(next)
    }

    /// Checks the limits: owner 1 to 256 characters, at most 50 labels with valid keys and values, attributes
    /// at most 16 KiB of JSON.
    pub fn validate(&self) -> Result<()> {
        if let Some(owner) = &self.owner {
            let n = owner.chars().count();
            if n == 0 || n > MAX_OWNER_CHARS || owner.chars().any(char::is_control) || owner.trim() != owner {
                return Err(invalid(
                    "certificate.invalid_owner",
                    format!(
                        "owner must be 1 to {MAX_OWNER_CHARS} characters without control characters or surrounding \
                         spaces; send null to remove it"
                    ),
                ));
            }
        }
        if self.labels.len() > MAX_LABELS {
            return Err(invalid(
                "certificate.invalid_labels",
                format!("a certificate carries at most {MAX_LABELS} labels, this change leaves {}", self.labels.len()),
            ));
        }
        for (k, v) in &self.labels {
            check_label_key(k)?;
            check_label_value(k, v)?;
        }
        let size = self.custom_attributes_json().len();
        if size > MAX_CUSTOM_ATTRIBUTES_BYTES {
            return Err(invalid(
                "certificate.invalid_custom_attributes",
                format!(
                    "custom_attributes may hold at most {MAX_CUSTOM_ATTRIBUTES_BYTES} bytes of JSON, this change \
                     makes {size}"
                ),
            ));
        }
        Ok(())
    }

    /// The labels as a JSON object.
    pub fn labels_json(&self) -> String {
        serde_json::to_string(&self.labels).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The attributes as a JSON object.
    pub fn custom_attributes_json(&self) -> String {
        Value::Object(self.custom_attributes.clone()).to_string()
    }

    /// What changed from `self` to `next`, for the audit event: the new owner, labels set and removed, and the
    /// top-level attributes that changed.
    pub fn changes(&self, next: &Self) -> Value {
        let mut out = Map::new();
        if self.owner != next.owner {
            out.insert("owner".to_owned(), serde_json::json!({ "from": self.owner, "to": next.owner }));
        }
        if self.labels != next.labels {
            let set: BTreeMap<&String, &String> =
                next.labels.iter().filter(|(k, v)| self.labels.get(*k) != Some(*v)).collect();
            let removed: Vec<&String> = self.labels.keys().filter(|k| !next.labels.contains_key(*k)).collect();
            out.insert("labels".to_owned(), serde_json::json!({ "set": set, "removed": removed }));
        }
        if self.custom_attributes != next.custom_attributes {
            let mut keys: Vec<&String> = self
                .custom_attributes
                .keys()
                .chain(next.custom_attributes.keys())
                .filter(|k| self.custom_attributes.get(*k) != next.custom_attributes.get(*k))
                .collect();
            keys.sort();
            keys.dedup();
            out.insert("custom_attributes".to_owned(), serde_json::json!({ "changed_keys": keys }));
        }
        Value::Object(out)
    }
}

/// What the inventory can be sorted by. Ties are broken by id, in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SortField {
    /// When the certificate entered the inventory (the order of ids).
    #[default]
    CreatedAt,
    NotAfter,
    /// Byte order of the common name; certificates without one sort as an empty name.
    CommonName,
}

/// A sort order of the inventory list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateSort {
    pub field: SortField,
    pub descending: bool,
}

impl Default for CertificateSort {
    /// Newest first.
    fn default() -> Self {
        Self { field: SortField::CreatedAt, descending: true }
    }
}

impl CertificateSort {
    /// The API spelling: `created_at`, `-not_after`, `common_name`…; a leading `-` sorts descending.
    pub fn parse(s: &str) -> Result<Self> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let field = match name {
            "created_at" => SortField::CreatedAt,
            "not_after" => SortField::NotAfter,
            "common_name" => SortField::CommonName,
            _ => {
                return Err(invalid(
                    "request.invalid_sort",
                    format!(
                        "sort must be created_at, not_after or common_name, optionally with a leading '-' for \
                         descending, got '{}'",
                        s.chars().take(64).collect::<String>()
                    ),
                ))
            }
        };
        Ok(Self { field, descending })
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match (self.field, self.descending) {
            (SortField::CreatedAt, false) => "created_at",
            (SortField::CreatedAt, true) => "-created_at",
            (SortField::NotAfter, false) => "not_after",
            (SortField::NotAfter, true) => "-not_after",
            (SortField::CommonName, false) => "common_name",
            (SortField::CommonName, true) => "-common_name",
        }
    }
}

/// The sort value of the row a keyset page continues after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorKey {
    /// The id alone orders by creation.
    CreatedAt,
    NotAfter(EpochSeconds),
    /// The common name, empty when the certificate has none.
    CommonName(String),
}

/// Where a keyset page starts: just after the certificate with this sort value and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryCursor {
    pub key: CursorKey,
    pub descending: bool,
    pub id: i64,
}

/// The cursor's wire form before base64.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorWire {
    /// The sort, in API spelling.
    s: String,
    /// The sort value (absent for `created_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<Value>,
    i: i64,
}

fn bad_cursor(why: &str) -> CoreError {
    invalid("request.invalid_cursor", format!("cursor is not one this server gave out ({why}); start again without it"))
}

impl InventoryCursor {
    /// The cursor that continues after `record` in `sort` order.
    pub fn after(record: &CertificateRecord, sort: CertificateSort) -> Self {
        let key = match sort.field {
            SortField::CreatedAt => CursorKey::CreatedAt,
            SortField::NotAfter => CursorKey::NotAfter(record.not_after),
            SortField::CommonName => CursorKey::CommonName(record.common_name.clone().unwrap_or_default()),
        };
        Self { key, descending: sort.descending, id: record.id }
    }

    /// The sort this cursor walks.
    pub fn sort(&self) -> CertificateSort {
        let field = match self.key {
            CursorKey::CreatedAt => SortField::CreatedAt,
            CursorKey::NotAfter(_) => SortField::NotAfter,
            CursorKey::CommonName(_) => SortField::CommonName,
        };
        CertificateSort { field, descending: self.descending }
    }

    /// The opaque form handed to clients: unpadded base64url of a small JSON object.
    pub fn encode(&self) -> String {
        let k = match &self.key {
            CursorKey::CreatedAt => None,
            CursorKey::NotAfter(t) => Some(Value::from(*t)),
            CursorKey::CommonName(n) => Some(Value::from(n.as_str())),
        };
        let wire = CursorWire { s: self.sort().as_str().to_owned(), k, i: self.id };
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Reads a cursor given out by [`InventoryCursor::encode`].
    pub fn decode(s: &str) -> Result<Self> {
        if s.is_empty() || s.len() > MAX_CURSOR_CHARS {
            return Err(bad_cursor("wrong length"));
        }
        let json =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).map_err(|_| bad_cursor("not base64url"))?;
        let wire: CursorWire = serde_json::from_slice(&json).map_err(|_| bad_cursor("not a cursor"))?;
        let sort = CertificateSort::parse(&wire.s).map_err(|_| bad_cursor("unknown sort"))?;
        let key = match (sort.field, wire.k) {
            (SortField::CreatedAt, None) => CursorKey::CreatedAt,
            (SortField::NotAfter, Some(Value::Number(n))) => {
                CursorKey::NotAfter(n.as_i64().ok_or_else(|| bad_cursor("bad time"))?)
            }
            (SortField::CommonName, Some(Value::String(name))) => CursorKey::CommonName(name),
            _ => return Err(bad_cursor("the sort value does not fit the sort")),
        };
        Ok(Self { key, descending: sort.descending, id: wire.i })
    }
}

/// The order of an inventory list and, for keyset pagination, where the page starts.
#[derive(Debug, Clone, Default)]
pub struct InventoryOrder {
    pub sort: CertificateSort,
    pub after: Option<InventoryCursor>,
}

impl InventoryOrder {
    /// `sort` defaults to the cursor's sort, else newest first; a cursor of another sort is refused.
    pub fn new(sort: Option<CertificateSort>, after: Option<InventoryCursor>) -> Result<Self> {
        let sort = match (sort, &after) {
            (Some(s), Some(c)) if c.sort() != s => {
                return Err(invalid(
                    "request.invalid_cursor",
                    format!("this cursor walks sort={}, not sort={}", c.sort().as_str(), s.as_str()),
                ))
            }
            (Some(s), _) => s,
            (None, Some(c)) => c.sort(),
            (None, None) => CertificateSort::default(),
        };
        Ok(Self { sort, after })
    }
}

/// One page of the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryPage {
    pub items: Vec<CertificateRecord>,
    /// Matches of the filter across all pages.
    pub total: u64,
    /// Continues after the last item; `None` on the last page.
    pub next: Option<InventoryCursor>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, Option<&str>)]) -> Option<Option<BTreeMap<String, Option<String>>>> {
        Some(Some(pairs.iter().map(|(k, v)| (k.to_string(), v.map(str::to_owned))).collect()))
    }

    #[test]
    fn merge_patch_sets_and_removes_and_keeps_the_rest() {
        let m = CertificateMetadata::default()
            .patched(&MetadataPatch {
                owner: Some(Some("team-a".into())),
                labels: labels(&[("env", Some("prod")), ("team", Some("payments"))]),
                custom_attributes: Some(Some(json!({"cmdb": {"id": 7, "zone": "eu"}}).as_object().unwrap().clone())),
            })
            .unwrap();
        let next = m
            .patched(&MetadataPatch {
                labels: labels(&[("env", None), ("tier", Some("1"))]),
                custom_attributes: Some(Some(json!({"cmdb": {"zone": null}, "x": 1}).as_object().unwrap().clone())),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(next.owner.as_deref(), Some("team-a"), "absent fields stay");
        assert_eq!(next.labels.keys().collect::<Vec<_>>(), ["team", "tier"]);
        assert_eq!(Value::Object(next.custom_attributes.clone()), json!({"cmdb": {"id": 7}, "x": 1}));
        let changes = m.changes(&next);
        assert_eq!(changes["labels"], json!({"set": {"tier": "1"}, "removed": ["env"]}));
        assert_eq!(changes["custom_attributes"]["changed_keys"], json!(["cmdb", "x"]));
        assert!(changes.get("owner").is_none());
        let cleared = next
            .patched(&MetadataPatch { owner: Some(None), labels: Some(None), custom_attributes: Some(None) })
            .unwrap();
        assert_eq!(cleared, CertificateMetadata::default());
    }

    #[test]
    fn limits_are_enforced() {
        let code = |p: MetadataPatch| CertificateMetadata::default().patched(&p).unwrap_err().code();
        assert_eq!(
            code(MetadataPatch { labels: labels(&[("Env", Some("x"))]), ..Default::default() }),
            "certificate.invalid_labels"
        );
        let long_key = "k".repeat(65);
        assert_eq!(
            code(MetadataPatch { labels: labels(&[(&long_key, Some("x"))]), ..Default::default() }),
            "certificate.invalid_labels"
        );
        let long_value = "v".repeat(257);
        assert_eq!(
            code(MetadataPatch { labels: labels(&[("k", Some(&long_value))]), ..Default::default() }),
            "certificate.invalid_labels"
        );
        let many: Vec<(String, Option<String>)> = (0..51).map(|i| (format!("k{i}"), Some("v".into()))).collect();
        let many = Some(Some(many.into_iter().collect()));
        assert_eq!(code(MetadataPatch { labels: many, ..Default::default() }), "certificate.invalid_labels");
        assert_eq!(
            code(MetadataPatch { owner: Some(Some(String::new())), ..Default::default() }),
            "certificate.invalid_owner"
        );
        let big = json!({"blob": "x".repeat(MAX_CUSTOM_ATTRIBUTES_BYTES)}).as_object().unwrap().clone();
        assert_eq!(
            code(MetadataPatch { custom_attributes: Some(Some(big)), ..Default::default() }),
            "certificate.invalid_custom_attributes"
        );
        assert!(CertificateMetadata::default()
            .patched(&MetadataPatch { labels: labels(&[("a.b_c-9", Some(""))]), ..Default::default() })
            .is_ok());
        assert_eq!(parse_label_filter("team:a:b").unwrap(), ("team".to_owned(), "a:b".to_owned()));
        assert_eq!(parse_label_filter("team").unwrap_err().code(), "request.invalid_label");
        assert_eq!(parse_label_filter("Team:x").unwrap_err().code(), "request.invalid_label");
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        for key in [CursorKey::CreatedAt, CursorKey::NotAfter(1_790_000_000), CursorKey::CommonName("wéb:\"x\"".into())]
        {
            for descending in [false, true] {
                let c = InventoryCursor { key: key.clone(), descending, id: 42 };
                let text = c.encode();
                assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{text}");
                assert_eq!(InventoryCursor::decode(&text).unwrap(), c);
            }
        }
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        for bad in [
            String::new(),
            "!!!".to_owned(),
            b64("[]"),
            b64(r#"{"s":"-not_after","k":"x","i":1}"#),
            b64(r#"{"s":"created_at","k":3,"i":1}"#),
            b64(r#"{"s":"size","i":1}"#),
            b64(r#"{"s":"created_at","i":1,"extra":true}"#),
            "A".repeat(5000),
        ] {
            assert_eq!(InventoryCursor::decode(&bad).unwrap_err().code(), "request.invalid_cursor", "{bad}");
        }
        let c = InventoryCursor { key: CursorKey::NotAfter(5), descending: true, id: 1 };
        assert_eq!(InventoryOrder::new(None, Some(c.clone())).unwrap().sort.as_str(), "-not_after");
        let other = CertificateSort::parse("not_after").unwrap();
        assert_eq!(InventoryOrder::new(Some(other), Some(c)).unwrap_err().code(), "request.invalid_cursor");
        assert_eq!(CertificateSort::parse("-size").unwrap_err().code(), "request.invalid_sort");
        assert_eq!(InventoryOrder::default().sort.as_str(), "-created_at");
    }
}
