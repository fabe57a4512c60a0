-- Managed private keys, certificate authorities, RA profiles and the certificate inventory.
CREATE TABLE keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid         TEXT    NOT NULL UNIQUE,
    algorithm    TEXT    NOT NULL,
    public_key   BLOB    NOT NULL,
    sealed       BLOB    NOT NULL,
    exportable   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    destroyed_at INTEGER
);

CREATE TABLE authorities (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid            TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,
    parent_id       INTEGER REFERENCES authorities (id),
    key_id          INTEGER REFERENCES keys (id),
    certificate     BLOB    NOT NULL,
    subject         TEXT    NOT NULL,
    key_identifier  TEXT    NOT NULL,
    not_before      INTEGER NOT NULL,
    not_after       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);

CREATE TABLE ra_profiles (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid          TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL UNIQUE,
    authority_id  INTEGER NOT NULL REFERENCES authorities (id),
    policy        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE certificates (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid                 TEXT    NOT NULL UNIQUE,
    serial               TEXT    NOT NULL,
    issuer               TEXT    NOT NULL,
    subject              TEXT    NOT NULL,
    common_name          TEXT,
    sans                 TEXT    NOT NULL,
    not_before           INTEGER NOT NULL,
    not_after            INTEGER NOT NULL,
    key_algorithm        TEXT    NOT NULL,
    signature_algorithm  TEXT    NOT NULL,
    fingerprint          TEXT    NOT NULL,
    state                TEXT    NOT NULL,
    origin               TEXT    NOT NULL,
    authority_id         INTEGER REFERENCES authorities (id),
    ra_profile_id        INTEGER REFERENCES ra_profiles (id),
    key_id               INTEGER REFERENCES keys (id),
    der                  BLOB    NOT NULL,
    idempotency_key      TEXT,
    created_by           TEXT    NOT NULL,
    created_at           INTEGER NOT NULL,
    UNIQUE (issuer, serial)
);
CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_common_name ON certificates (common_name);
CREATE INDEX certificates_authority ON certificates (authority_id, id);
CREATE INDEX certificates_fingerprint ON certificates (fingerprint);
CREATE UNIQUE INDEX certificates_idempotency ON certificates (created_by, idempotency_key);
