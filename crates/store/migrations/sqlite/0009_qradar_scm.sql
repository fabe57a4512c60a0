-- Keystores and scopes (the IBM QRadar and Palo Alto SCM faces): components, staged end certificates with their
-- keys and chains, key requests (CSRs whose key the server holds), staged trust anchors, deploy runs, and
-- certificates named within a folder, snippet or device. Every certificate here is also in `certificates`.
CREATE TABLE components (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE key_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    description  TEXT,
    purpose      TEXT    NOT NULL,
    key_id       INTEGER NOT NULL REFERENCES keys (id),
    public_key   BLOB    NOT NULL,
    csr          BLOB    NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE TABLE staged_certificates (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL UNIQUE,
    purpose         TEXT    NOT NULL,
    component_id    INTEGER REFERENCES components (id),
    status          TEXT    NOT NULL,
    certificate_id  INTEGER NOT NULL REFERENCES certificates (id),
    -- Intermediates, PEM, child first.
    chain           TEXT    NOT NULL,
    key_id          INTEGER REFERENCES keys (id),
    key_request_id  BIGINT,
    validation      INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE staged_roots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id_hex  TEXT    NOT NULL UNIQUE,
    der         BLOB    NOT NULL,
    status      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE deploy_runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid           TEXT    NOT NULL UNIQUE,
    kind           TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    -- 1 while running, NULL afterwards: at most one run at a time, on every node.
    running        INTEGER UNIQUE,
    initiated_by   TEXT    NOT NULL,
    node           TEXT    NOT NULL,
    changes        INTEGER NOT NULL,
    error_message  TEXT,
    started_at     INTEGER NOT NULL,
    finished_at    BIGINT
);

CREATE TABLE scoped_certificates (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    scope_kind      TEXT    NOT NULL,
    scope_name      TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    certificate_id  INTEGER NOT NULL REFERENCES certificates (id),
    signed_by       INTEGER REFERENCES scoped_certificates (id),
    created_at      INTEGER NOT NULL,
    UNIQUE (scope_kind, scope_name, name)
);
CREATE INDEX scoped_certificates_name ON scoped_certificates (name);
