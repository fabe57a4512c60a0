-- The ACME server: accounts (one key each, per RA profile directory), external account binding keys, orders,
-- authorizations with their challenges, and the nonces already used.
CREATE TABLE acme_accounts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid           TEXT    NOT NULL UNIQUE,
    ra_profile_id  INTEGER NOT NULL REFERENCES ra_profiles (id),
    -- RFC 7638 thumbprint and canonical JWK of the current key.
    thumbprint     TEXT    NOT NULL,
    jwk            TEXT    NOT NULL,
    -- JSON array of contact URLs.
    contact        TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    eab_kid        TEXT,
    owner          TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE UNIQUE INDEX acme_accounts_key ON acme_accounts (ra_profile_id, thumbprint);

CREATE TABLE acme_eab_keys (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    kid            TEXT    NOT NULL UNIQUE,
    ra_profile_id  INTEGER NOT NULL REFERENCES ra_profiles (id),
    owner          TEXT,
    comment        TEXT,
    -- The HS256 key, sealed like private keys.
    sealed_key     BLOB    NOT NULL,
    account_id     INTEGER REFERENCES acme_accounts (id),
    created_by     TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE acme_authorizations (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid              TEXT    NOT NULL UNIQUE,
    account_id        INTEGER NOT NULL REFERENCES acme_accounts (id),
    identifier_type   TEXT    NOT NULL,
    identifier_value  TEXT    NOT NULL,
    wildcard          INTEGER NOT NULL,
    status            TEXT    NOT NULL,
    expires           INTEGER NOT NULL,
    -- JSON array of the challenges with their state.
    challenges        TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX acme_authorizations_reuse
    ON acme_authorizations (account_id, identifier_type, identifier_value, wildcard, status, expires);

CREATE TABLE acme_orders (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid                     TEXT    NOT NULL UNIQUE,
    account_id               INTEGER NOT NULL REFERENCES acme_accounts (id),
    ra_profile_id            INTEGER NOT NULL REFERENCES ra_profiles (id),
    status                   TEXT    NOT NULL,
    -- JSON arrays: the identifiers, and the uuids of their authorizations.
    identifiers              TEXT    NOT NULL,
    authorizations           TEXT    NOT NULL,
    not_before               INTEGER,
    not_after                INTEGER,
    profile                  TEXT,
    replaces                 TEXT,
    replaces_certificate_id  INTEGER REFERENCES certificates (id),
    certificate_id           INTEGER REFERENCES certificates (id),
    -- JSON problem document when the order failed.
    error                    TEXT,
    expires                  INTEGER NOT NULL,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders (account_id, id);
CREATE INDEX acme_orders_certificate ON acme_orders (certificate_id);
CREATE INDEX acme_orders_replaces ON acme_orders (replaces_certificate_id);

-- Nonces are self-authenticating (a MAC and an expiry); the ones already redeemed are kept until they expire.
CREATE TABLE acme_used_nonces (
    nonce    TEXT    PRIMARY KEY,
    expires  INTEGER NOT NULL
);
CREATE INDEX acme_used_nonces_expires ON acme_used_nonces (expires);
