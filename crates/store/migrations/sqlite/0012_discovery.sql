-- Discovery: runs (TLS and filesystem scans, queued as jobs), the locations where each certificate was seen,
-- and what each run saw.
CREATE TABLE discovery_runs (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid                  TEXT    NOT NULL UNIQUE,
    kind                  TEXT    NOT NULL,
    -- The run's spec as JSON (passwords are not in it).
    spec                  TEXT    NOT NULL,
    state                 TEXT    NOT NULL,
    -- JSON: planned, examined, found, new_certificates, gone.
    counts                TEXT    NOT NULL,
    -- JSON array of strings.
    problems              TEXT    NOT NULL,
    error                 TEXT,
    stopped_at_limit      INTEGER NOT NULL,
    repeat_every_seconds  INTEGER,
    series                TEXT    NOT NULL,
    -- Passwords for PKCS#12 files and keys, sealed under the run's uuid.
    sealed_passwords      BLOB,
    created_by            TEXT    NOT NULL,
    created_at            INTEGER  NOT NULL,
    run_at                INTEGER  NOT NULL,
    started_at            INTEGER,
    finished_at           INTEGER
);
CREATE INDEX discovery_runs_series ON discovery_runs (series, id);

CREATE TABLE discovery_sightings (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    certificate_id  INTEGER  NOT NULL REFERENCES certificates (id),
    kind            TEXT    NOT NULL,
    -- tls://host@address:port or file:///path#entry
    location        TEXT    NOT NULL,
    -- JSON: where (the structured location), protocol, cipher, format, key, trust, hostname match.
    details         TEXT    NOT NULL,
    first_seen      INTEGER  NOT NULL,
    last_seen       INTEGER  NOT NULL,
    last_run_id     INTEGER  NOT NULL REFERENCES discovery_runs (id),
    gone_at         INTEGER,
    UNIQUE (location, certificate_id)
);
CREATE INDEX discovery_sightings_certificate ON discovery_sightings (certificate_id);
CREATE INDEX discovery_sightings_active ON discovery_sightings (kind, id) WHERE gone_at IS NULL;

-- outcome: seen (known certificate), new (added to the inventory by this run), gone.
CREATE TABLE discovery_results (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id          INTEGER  NOT NULL REFERENCES discovery_runs (id) ON DELETE CASCADE,
    sighting_id     INTEGER  NOT NULL REFERENCES discovery_sightings (id) ON DELETE CASCADE,
    outcome         TEXT    NOT NULL,
    UNIQUE (run_id, sighting_id)
);
