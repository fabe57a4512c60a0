//! Mapping between table rows and domain entities, and the SELECT lists they come from.

use crate::sql::storage;
use certwright_core::audit::{ChainHead, Event, EventFilter, EventResult};
use certwright_core::auth::{ApiToken, OAuthClient, Role, TokenSource};
use certwright_core::{CoreError, Result};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};
use uuid::Uuid;

pub(crate) const TOKEN_SELECT: &str = "SELECT t.id, t.uuid, t.name, p.name AS principal, t.role, t.ra_profiles, \
     t.source, t.created_at, t.expires_at, t.revoked_at FROM api_tokens t JOIN principals p ON p.id = t.principal_id";

pub(crate) const CLIENT_SELECT: &str = "SELECT c.id, c.uuid, c.name, p.name AS principal, c.role, c.ra_profiles, \
     c.token_ttl_seconds, c.created_at, c.secret_hash FROM oauth_clients c JOIN principals p ON p.id = c.principal_id";

pub(crate) const EVENT_SELECT: &str = "SELECT id, uuid, chain, seq, time, actor, actor_token, action, object_type, \
     object_id, result, request_id, details, prev_hash, hash FROM events";

pub(crate) fn get<'r, T>(row: &'r AnyRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(column).map_err(storage)
}

pub(crate) fn json_err(e: serde_json::Error) -> CoreError {
    CoreError::Storage(format!("stored JSON: {e}"))
}

/// A value as the JSON text a column stores.
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(json_err)
}

/// A JSON text column, read back.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T> {
    serde_json::from_str(&get::<String>(row, column)?).map_err(json_err)
}

pub(crate) fn uuid(row: &AnyRow, column: &str) -> Result<Uuid> {
    let text: String = get(row, column)?;
    Uuid::parse_str(&text).map_err(|e| CoreError::Storage(format!("column {column} holds a bad uuid: {e}")))
}

pub(crate) fn profiles_to_json(profiles: &[String]) -> String {
    serde_json::Value::from(profiles.to_vec()).to_string()
}

pub(crate) fn profiles(row: &AnyRow) -> Result<Vec<String>> {
    let text: String = get(row, "ra_profiles")?;
    serde_json::from_str(&text).map_err(|e| CoreError::Storage(format!("ra_profiles is not a JSON list: {e}")))
}

pub(crate) fn role(row: &AnyRow) -> Result<Role> {
    let text: String = get(row, "role")?;
    Role::parse(&text).map_err(|_| CoreError::Storage(format!("unknown role '{text}' in the database")))
}

pub(crate) fn token(row: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        name: get(row, "name")?,
        principal: get(row, "principal")?,
        role: role(row)?,
        ra_profiles: profiles(row)?,
        source: TokenSource::parse(&get::<String>(row, "source")?)?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

pub(crate) fn client(row: &AnyRow) -> Result<OAuthClient> {
    Ok(OAuthClient {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        name: get(row, "name")?,
        principal: get(row, "principal")?,
        role: role(row)?,
        ra_profiles: profiles(row)?,
        token_ttl_seconds: get(row, "token_ttl_seconds")?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) fn event(row: &AnyRow) -> Result<Event> {
    let result: String = get(row, "result")?;
    let actor_token: Option<String> = get(row, "actor_token")?;
    Ok(Event {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        chain: get(row, "chain")?,
        seq: get(row, "seq")?,
        time: get(row, "time")?,
        actor: get(row, "actor")?,
        actor_token: actor_token
            .map(|t| Uuid::parse_str(&t))
            .transpose()
            .map_err(|e| CoreError::Storage(format!("actor_token holds a bad uuid: {e}")))?,
        action: get(row, "action")?,
        object_type: get(row, "object_type")?,
        object_id: get(row, "object_id")?,
        result: EventResult::parse(&result)
            .ok_or_else(|| CoreError::Storage(format!("unknown event result '{result}'")))?,
        request_id: get(row, "request_id")?,
        details: get(row, "details")?,
        prev_hash: get(row, "prev_hash")?,
        hash: get(row, "hash")?,
    })
}

pub(crate) fn chain_head(row: &AnyRow) -> Result<ChainHead> {
    Ok(ChainHead { chain: get(row, "chain")?, seq: get(row, "seq")?, hash: get(row, "hash")? })
}

/// A value bound into a dynamically built WHERE clause.
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// Builds `WHERE a = $1 AND b >= $2 ...` from an event filter, with the values to bind in order.
pub(crate) fn event_filter(f: &EventFilter) -> (String, Vec<Bind>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    let mut push = |clause: &str, bind: Bind| {
        binds.push(bind);
        clauses.push(format!("{clause} ${}", binds.len()));
    };
    let texts = [
        ("actor =", &f.actor),
        ("action =", &f.action),
        ("object_type =", &f.object_type),
        ("object_id =", &f.object_id),
        ("request_id =", &f.request_id),
    ];
    for (clause, value) in texts {
        if let Some(v) = value {
            push(clause, Bind::Text(v.clone()));
        }
    }
    if let Some(r) = f.result {
        push("result =", Bind::Text(r.as_str().to_owned()));
    }
    if let Some(t) = f.since {
        push("time >=", Bind::Int(t));
    }
    if let Some(t) = f.until {
        push("time <", Bind::Int(t));
    }
    let clause = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    (clause, binds)
}

pub(crate) fn bind_all<'q>(
    mut q: Query<'q, Any, AnyArguments<'q>>,
    binds: &'q [Bind],
) -> Query<'q, Any, AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.as_str()),
            Bind::Int(i) => q.bind(*i),
        };
    }
    q
}
