-- Managed private keys, certificate authorities, RA profiles and the certificate inventory.
CREATE TABLE keys (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid         TEXT    NOT NULL UNIQUE,
    algorithm    TEXT    NOT NULL,
    public_key   BYTEA   NOT NULL,
    sealed       BYTEA   NOT NULL,
    exportable   BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL,
    destroyed_at BIGINT
);

CREATE TABLE authorities (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid            TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,
    parent_id       BIGINT  REFERENCES authorities (id),
    key_id          BIGINT  REFERENCES keys (id),
    certificate     BYTEA   NOT NULL,
    subject         TEXT    NOT NULL,
    key_identifier  TEXT    NOT NULL,
    not_before      BIGINT  NOT NULL,
    not_after       BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL
);

CREATE TABLE ra_profiles (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid          TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL UNIQUE,
    authority_id  BIGINT  NOT NULL REFERENCES authorities (id),
    policy        TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

CREATE TABLE certificates (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid                 TEXT    NOT NULL UNIQUE,
    serial               TEXT    NOT NULL,
    issuer               TEXT    NOT NULL,
    subject              TEXT    NOT NULL,
    common_name          TEXT,
    sans                 TEXT    NOT NULL,
    not_before           BIGINT  NOT NULL,
    not_after            BIGINT  NOT NULL,
    key_algorithm        TEXT    NOT NULL,
    signature_algorithm  TEXT    NOT NULL,
    fingerprint          TEXT    NOT NULL,
    state                TEXT    NOT NULL,
    origin               TEXT    NOT NULL,
    authority_id         BIGINT  REFERENCES authorities (id),
    ra_profile_id        BIGINT  REFERENCES ra_profiles (id),
    key_id               BIGINT  REFERENCES keys (id),
    der                  BYTEA   NOT NULL,
    idempotency_key      TEXT,
    created_by           TEXT    NOT NULL,
    created_at           BIGINT  NOT NULL,
    UNIQUE (issuer, serial)
);
CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_common_name ON certificates (common_name);
CREATE INDEX certificates_authority ON certificates (authority_id, id);
CREATE INDEX certificates_fingerprint ON certificates (fingerprint);
CREATE UNIQUE INDEX certificates_idempotency ON certificates (created_by, idempotency_key);
