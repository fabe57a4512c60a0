//! QRadar list parameters over JSON objects: `filter` (comparisons `=`, `!=`, `<`, `>`, `<=`, `>=`, `in (…)`,
//! `and`, `or`, parentheses, quoted strings), `sort` (`+field`/`-field`, comma separated), `fields` (top-level
//! names, comma separated; sub-selections in brackets are accepted and return the whole field) and
//! `Range: items=x-y` with `Content-Range` in the answer.

use serde_json::{Map, Value};
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Op(&'static str),
    Open,
    Close,
    Comma,
}

fn tokens(input: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1
            }
            ')' => {
                out.push(Token::Close);
                i += 1
            }
            ',' => {
                out.push(Token::Comma);
                i += 1
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated quoted string".to_owned()),
                        Some('\\') => {
                            if let Some(n) = chars.get(i + 1) {
                                s.push(*n);
                            }
                            i += 2;
                        }
                        Some(q) if *q == quote => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token::Str(s));
            }
            '!' | '<' | '>' | '=' => {
                let two: String = chars.iter().skip(i).take(2).collect();
                let op = match two.as_str() {
                    "!=" => "!=",
                    "<=" => "<=",
                    ">=" => ">=",
                    _ => match c {
                        '<' => "<",
                        '>' => ">",
                        '=' => "=",
                        _ => return Err("'!' must be followed by '='".to_owned()),
                    },
                };
                i += op.len();
                out.push(Token::Op(op));
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '+' | ':') => {
                let mut s = String::new();
                while let Some(&ch) = chars.get(i) {
                    if ch.is_alphanumeric() || matches!(ch, '_' | '.' | '-' | '+' | ':') {
                        s.push(ch);
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push(Token::Word(s));
            }
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(out)
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Cmp { field: String, op: &'static str, value: Value },
    In { field: String, values: Vec<Value> },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

fn literal(t: &Token) -> Result<Value, String> {
    match t {
        Token::Str(s) => Ok(Value::String(s.clone())),
        Token::Word(w) => Ok(match w.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            _ => w.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(w.clone())),
        }),
        other => Err(format!("expected a value, found {other:?}")),
    }
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expr(&mut self, depth: usize) -> Result<Filter, String> {
        if depth > 32 {
            return Err("the filter nests too deeply".to_owned());
        }
        let mut left = self.term(depth)?;
        while self.peek_word("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.term(depth)?));
        }
        Ok(left)
    }

    fn term(&mut self, depth: usize) -> Result<Filter, String> {
        let mut left = self.factor(depth)?;
        while self.peek_word("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.factor(depth)?));
        }
        Ok(left)
    }

    fn factor(&mut self, depth: usize) -> Result<Filter, String> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.expr(depth + 1)?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("missing ')'".to_owned()),
                }
            }
            Some(Token::Word(field)) => {
                if self.peek_word("in") {
                    self.at += 1;
                    if self.next() != Some(Token::Open) {
                        return Err("'in' needs a parenthesised list".to_owned());
                    }
                    let mut values = Vec::new();
                    loop {
                        let t = self.next().ok_or("unterminated 'in' list")?;
                        values.push(literal(&t)?);
                        match self.next() {
                            Some(Token::Comma) => continue,
                            Some(Token::Close) => break,
                            _ => return Err("expected ',' or ')' in the 'in' list".to_owned()),
                        }
                    }
                    return Ok(Filter::In { field, values });
                }
                let op = match self.next() {
                    Some(Token::Op(op)) => op,
                    other => return Err(format!("expected a comparison after '{field}', found {other:?}")),
                };
                let value = literal(&self.next().ok_or("a comparison needs a value")?)?;
                Ok(Filter::Cmp { field, op, value })
            }
            other => Err(format!("expected a field name or '(', found {other:?}")),
        }
    }
}

/// Parses a filter expression; the error says what is wrong.
pub fn parse_filter(input: &str) -> Result<Filter, String> {
    if input.len() > 4096 {
        return Err("the filter is longer than 4096 characters".to_owned());
    }
    let mut p = Parser { tokens: tokens(input)?, at: 0 };
    let f = p.expr(0)?;
    if p.at < p.tokens.len() {
        return Err("unexpected text after the filter".to_owned());
    }
    Ok(f)
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::Number(x), Value::String(y)) => x.as_f64()?.partial_cmp(&y.parse::<f64>().ok()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    }
}

impl Filter {
    /// The fields the filter names.
    pub fn fields(&self) -> Vec<&str> {
        match self {
            Filter::Cmp { field, .. } | Filter::In { field, .. } => vec![field.as_str()],
            Filter::And(a, b) | Filter::Or(a, b) => a.fields().into_iter().chain(b.fields()).collect(),
        }
    }

    pub fn matches(&self, item: &Map<String, Value>) -> bool {
        match self {
            Filter::Cmp { field, op, value } => {
                let have = item.get(field).unwrap_or(&Value::Null);
                let ord = compare(have, value);
                match *op {
                    "=" => ord == Some(Ordering::Equal),
                    "!=" => ord != Some(Ordering::Equal),
                    "<" => ord == Some(Ordering::Less),
                    ">" => ord == Some(Ordering::Greater),
                    "<=" => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                    ">=" => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                    _ => false,
                }
            }
            Filter::In { field, values } => {
                let have = item.get(field).unwrap_or(&Value::Null);
                values.iter().any(|v| compare(have, v) == Some(Ordering::Equal))
            }
            Filter::And(a, b) => a.matches(item) && b.matches(item),
            Filter::Or(a, b) => a.matches(item) || b.matches(item),
        }
    }
}

/// Sorts by `+field`/`-field` keys (a bare field sorts ascending). Unknown fields are an error.
pub fn sort(items: &mut [Map<String, Value>], spec: &str, known: &[&str]) -> Result<(), String> {
    let mut keys = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (desc, field) = match part.strip_prefix('-') {
            Some(f) => (true, f),
            None => (false, part.strip_prefix('+').unwrap_or(part)),
        };
        if !known.contains(&field) {
            return Err(format!("cannot sort by unknown field '{field}'"));
        }
        keys.push((desc, field.to_owned()));
    }
    items.sort_by(|a, b| {
        for (desc, f) in &keys {
            let o =
                compare(a.get(f).unwrap_or(&Value::Null), b.get(f).unwrap_or(&Value::Null)).unwrap_or(Ordering::Equal);
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    Ok(())
}

/// Keeps only the named top-level fields.
pub fn select(item: Map<String, Value>, fields: &str) -> Map<String, Value> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in fields.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => names.push(std::mem::take(&mut current)),
            c if depth == 0 => current.push(c),
            _ => {}
        }
    }
    names.push(current);
    let names: Vec<String> = names.into_iter().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect();
    item.into_iter().filter(|(k, _)| names.iter().any(|n| n == k)).collect()
}

/// `items=x-y` (inclusive, from zero).
pub fn parse_range(value: &str) -> Option<(usize, usize)> {
    let (x, y) = value.trim().strip_prefix("items=")?.split_once('-')?;
    let (x, y) = (x.trim().parse::<usize>().ok()?, y.trim().parse::<usize>().ok()?);
    (x <= y).then_some((x, y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn filters_combine_comparisons_lists_and_parentheses() {
        let item = obj(json!({"id": 3, "name": "web one", "status": "DEPLOYED"}));
        for (f, want) in [
            ("id = 3", true),
            ("id > 3", false),
            ("id >= 3 and name = \"web one\"", true),
            ("status in (\"DEPLOY_PENDING\", \"DEPLOYED\")", true),
            ("(id < 2 or id > 2) and status != DEPLOYED", false),
            ("id=1 or id=3", true),
        ] {
            assert_eq!(parse_filter(f).unwrap().matches(&item), want, "{f}");
        }
        for bad in ["id =", "id ~ 3", "(id = 3", "name = \"open", "id in 3", "id = 3 junk"] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_and_fields() {
        assert_eq!(parse_range("items=0-4"), Some((0, 4)));
        assert_eq!(parse_range("items=5-1"), None);
        assert_eq!(parse_range("bytes=0-4"), None);
        let kept = select(obj(json!({"id": 1, "name": "a", "purpose": "SERVER"})), "id, subject(value),name");
        assert_eq!(Value::Object(kept), json!({"id": 1, "name": "a"}));
    }
}
