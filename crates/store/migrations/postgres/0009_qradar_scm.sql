-- Keystores and scopes (the IBM QRadar and Palo Alto SCM faces): components, staged end certificates with their
-- keys and chains, key requests (CSRs whose key the server holds), staged trust anchors, deploy runs, and
-- certificates named within a folder, snippet or device. Every certificate here is also in `certificates`.
CREATE TABLE components (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE key_requests (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    description  TEXT,
    purpose      TEXT    NOT NULL,
    key_id       BIGINT  NOT NULL REFERENCES keys (id),
    public_key   BYTEA   NOT NULL,
    csr          BYTEA   NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL
);

CREATE TABLE staged_certificates (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    purpose         TEXT    NOT NULL,
    component_id    BIGINT  REFERENCES components (id),
    status          TEXT    NOT NULL,
    certificate_id  BIGINT  NOT NULL REFERENCES certificates (id),
    -- Intermediates, PEM, child first.
    chain           TEXT    NOT NULL,
    key_id          BIGINT  REFERENCES keys (id),
    key_request_id  BIGINT,
    validation      BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE staged_roots (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_id_hex  TEXT    NOT NULL UNIQUE,
    der         BYTEA   NOT NULL,
    status      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE deploy_runs (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid           TEXT    NOT NULL UNIQUE,
    kind           TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    -- 1 while running, NULL afterwards: at most one run at a time, on every node.
    running        BIGINT  UNIQUE,
    initiated_by   TEXT    NOT NULL,
    node           TEXT    NOT NULL,
    changes        BIGINT  NOT NULL,
    error_message  TEXT,
    started_at     BIGINT  NOT NULL,
    finished_at    BIGINT
);

CREATE TABLE scoped_certificates (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope_kind      TEXT    NOT NULL,
    scope_name      TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    certificate_id  BIGINT  NOT NULL REFERENCES certificates (id),
    signed_by       BIGINT  REFERENCES scoped_certificates (id),
    created_at      BIGINT  NOT NULL,
    UNIQUE (scope_kind, scope_name, name)
);
CREATE INDEX scoped_certificates_name ON scoped_certificates (name);
