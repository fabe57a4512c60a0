-- OAuth 1.0a credentials: a consumer key and a token (public) with their secrets, sealed under the credential's
-- uuid because checking an HMAC signature needs them in clear. Used nonces go to the one-time nonce table.
CREATE TABLE oauth1_credentials (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid            TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL,
    principal_id    INTEGER NOT NULL REFERENCES principals (id),
    role            TEXT    NOT NULL,
    ra_profiles     TEXT    NOT NULL,
    consumer_key    TEXT    NOT NULL UNIQUE,
    token           TEXT    NOT NULL UNIQUE,
    sealed_secrets  BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    revoked_at      INTEGER
);
