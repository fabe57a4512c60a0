-- Deployment: locations (where certificates are installed; credentials sealed) and deployments (one
-- certificate to one location, or its removal, with the outcome).
CREATE TABLE locations (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid                TEXT    NOT NULL UNIQUE,
    name                TEXT    NOT NULL UNIQUE,
    -- JSON: kind, ssh, paths, commands, verify address.
    spec                TEXT    NOT NULL,
    sealed_credentials  BLOB,
    created_by          TEXT    NOT NULL,
    created_at          INTEGER  NOT NULL,
    updated_at          INTEGER  NOT NULL
);

CREATE TABLE deployments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid            TEXT    NOT NULL UNIQUE,
    certificate_id  INTEGER  NOT NULL REFERENCES certificates (id),
    location_id     INTEGER  NOT NULL REFERENCES locations (id),
    action          TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    -- JSON: steps, failed step, rolled back.
    details         TEXT    NOT NULL,
    error           TEXT,
    reason          TEXT    NOT NULL,
    created_by      TEXT    NOT NULL,
    created_at      INTEGER  NOT NULL,
    finished_at     INTEGER
);
CREATE INDEX deployments_certificate ON deployments (certificate_id, location_id, id);
CREATE INDEX deployments_location ON deployments (location_id, id);
