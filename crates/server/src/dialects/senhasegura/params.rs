//! Parameters as senhasegura clients send them: in the query string, in a form-encoded body (arrays as
//! `san[]=a&san[]=b`, `san[0]=a`, or one comma-separated value) or in a JSON body, merged into one map. Values
//! are read as text, integers, flags and lists, each failure naming the parameter.

use super::envelope::SsError;
use axum::body::Bytes;
use axum::http::{header, HeaderMap};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// Most parameters one request may carry.
const MAX_PARAMS: usize = 500;

/// The parameters of one request.
#[derive(Default)]
pub struct Params {
    values: BTreeMap<String, Vec<String>>,
}

impl std::fmt::Debug for Params {
    /// Names only: values may be passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

/// Whether a body is read as form-encoded: its content type says so, or it has none and is not a JSON object.
pub fn body_is_form(content_type: &str, body: &[u8]) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.starts_with("application/x-www-form-urlencoded")
        || (ct.is_empty() && body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{'))
}

/// `san[]` and `san[0]` are `san`.
fn base_name(key: &str) -> &str {
    match key.find('[') {
        Some(at) if key.ends_with(']') => &key[..at],
        _ => key,
    }
}

impl Params {
    fn push(&mut self, key: &str, value: String) -> Result<(), SsError> {
        let n: usize = self.values.values().map(Vec::len).sum();
        if n >= MAX_PARAMS {
            return Err(SsError::bad(1024, format!("more than {MAX_PARAMS} parameters")));
        }
        self.values.entry(base_name(key).to_owned()).or_default().push(value);
        Ok(())
    }

    /// The query string's parameters.
    pub fn from_query(query: Option<&str>) -> Result<Self, SsError> {
        let mut p = Params::default();
        p.add_form(query.unwrap_or_default().as_bytes())?;
        Ok(p)
    }

    fn add_form(&mut self, bytes: &[u8]) -> Result<(), SsError> {
        for (k, v) in form_urlencoded::parse(bytes) {
            self.push(&k, v.into_owned())?;
        }
        Ok(())
    }

    fn add_json(&mut self, bytes: &[u8]) -> Result<(), SsError> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| SsError::bad(1024, format!("the body is not valid JSON: {e}")))?;
        let serde_json::Value::Object(map) = value else {
            return Err(SsError::bad(1024, "the JSON body must be an object"));
        };
        for (k, v) in map {
            let key = base_name(&k).to_owned();
            // A JSON body replaces what the query said about the same parameter.
            self.values.remove(&key);
            match v {
                serde_json::Value::Null => {}
                serde_json::Value::Array(items) => {
                    // An empty array still names the parameter (to clear a list).
                    self.values.entry(key.clone()).or_default();
                    for item in items {
                        if let Some(s) = scalar(&item) {
                            self.push(&key, s)?;
                        } else {
                            return Err(SsError::invalid(format!("{key} must be an array of strings or numbers")));
                        }
                    }
                }
                other => match scalar(&other) {
                    Some(s) => self.push(&key, s)?,
                    None => return Err(SsError::invalid(format!("{key} must be a string, a number or an array"))),
                },
            }
        }
        Ok(())
    }

    /// The query string merged with the body (form-encoded or JSON, by content type; JSON when the body looks
    /// like an object and no content type says otherwise). The body wins where both name a parameter.
    pub fn from_request(query: Option<&str>, headers: &HeaderMap, body: &Bytes) -> Result<Self, SsError> {
        let mut p = Params::from_query(query)?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(p);
        }
        let ct =
            headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
        let json = ct.contains("json")
            || (!ct.contains("form") && body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'));
        if json {
            p.add_json(body)?;
        } else if body_is_form(&ct, body) {
            let mut body_params = Params::default();
            body_params.add_form(body)?;
            for (k, v) in body_params.values {
                p.values.insert(k, v);
            }
        } else {
            return Err(SsError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                1024,
                format!(
                    "content type '{ct}' is not accepted: send application/x-www-form-urlencoded or application/json"
                ),
            ));
        }
        Ok(p)
    }

    /// Whether the parameter was sent.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The first non-empty of these names' single value, trimmed; empty means absent.
    pub fn text(&self, names: &[&str]) -> Option<String> {
        names.iter().find_map(|n| {
            let v = self.values.get(*n)?.last()?.trim();
            (!v.is_empty()).then(|| v.to_owned())
        })
    }

    /// Like [`Params::text`], but an empty value is kept (it clears a field).
    pub fn raw(&self, names: &[&str]) -> Option<String> {
        names.iter().find_map(|n| self.values.get(*n)?.last().map(|v| v.trim().to_owned()))
    }

    /// A secret, not trimmed.
    pub fn secret(&self, names: &[&str]) -> Option<Zeroizing<String>> {
        names.iter().find_map(|n| self.values.get(*n)?.last().map(|v| Zeroizing::new(v.clone())))
    }

    /// An integer.
    pub fn int(&self, names: &[&str]) -> Result<Option<i64>, SsError> {
        match self.text(names) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| SsError::invalid(format!("{} must be an integer, got '{}'", names[0], clip(&v)))),
        }
    }

    /// A flag sent as 1/0 (or true/false).
    pub fn flag(&self, names: &[&str]) -> Result<Option<bool>, SsError> {
        match self.text(names).map(|v| v.to_ascii_lowercase()) {
            None => Ok(None),
            Some(v) if v == "1" || v == "true" => Ok(Some(true)),
            Some(v) if v == "0" || v == "false" => Ok(Some(false)),
            Some(v) => Err(SsError::invalid(format!("{} must be 1 or 0, got '{}'", names[0], clip(&v)))),
        }
    }

    /// A list: repeated values, each split at commas, trimmed, empty items dropped; `None` when not sent.
    pub fn list(&self, names: &[&str]) -> Option<Vec<String>> {
        names.iter().find_map(|n| {
            let values = self.values.get(*n)?;
            Some(
                values
                    .iter()
                    .flat_map(|v| v.split(','))
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect(),
            )
        })
    }

    /// A list of integers.
    pub fn int_list(&self, names: &[&str]) -> Result<Option<Vec<i64>>, SsError> {
        self.list(names)
            .map(|items| {
                items
                    .iter()
                    .map(|s| {
                        s.parse::<i64>().map_err(|_| {
                            SsError::invalid(format!("{} must hold integers, got '{}'", names[0], clip(s)))
                        })
                    })
                    .collect()
            })
            .transpose()
    }
}

fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        _ => None,
    }
}

/// At most 40 characters of a value, for messages.
pub fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        h
    }

    #[test]
    fn form_arrays_in_every_spelling() {
        let body = Bytes::from_static(b"san[]=a.example&san[]=b.example&tags=x,%20y&environments[0]=prod&validity=30");
        let p = Params::from_request(None, &headers("application/x-www-form-urlencoded"), &body).unwrap();
        assert_eq!(p.list(&["san"]).unwrap(), ["a.example", "b.example"]);
        assert_eq!(p.list(&["tags"]).unwrap(), ["x", "y"]);
        assert_eq!(p.list(&["environments"]).unwrap(), ["prod"]);
        assert_eq!(p.int(&["validity"]).unwrap(), Some(30));
        assert_eq!(p.list(&["systems"]), None);
    }

    #[test]
    fn json_bodies_and_query_merge() {
        let body = Bytes::from_static(br#"{"san": ["a", 7], "self_signed": true, "ca": 3, "note": null}"#);
        let p = Params::from_request(Some("ca=1&limit=5"), &headers("application/json"), &body).unwrap();
        assert_eq!(p.list(&["san"]).unwrap(), ["a", "7"]);
        assert_eq!(p.flag(&["self_signed"]).unwrap(), Some(true));
        assert_eq!(p.int(&["ca"]).unwrap(), Some(3));
        assert_eq!(p.int(&["limit"]).unwrap(), Some(5));
        assert!(!p.has("note"));
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let p = Params::from_query(Some("validity=ten&active=2")).unwrap();
        assert!(p.int(&["validity"]).unwrap_err().detail.contains("validity"));
        assert!(p.flag(&["active"]).unwrap_err().detail.contains("active"));
        let e = Params::from_request(None, &headers("application/json"), &Bytes::from_static(b"[1]")).unwrap_err();
        assert_eq!(e.code, 1024);
        let e = Params::from_request(None, &headers("text/plain"), &Bytes::from_static(b"x")).unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
