-- Revocation: what each authority has revoked (read by CRL generation and OCSP without touching the
-- inventory), the CRLs signed ahead of time, and each authority's delegated OCSP responder.
CREATE TABLE revocations (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The authority whose CRLs and OCSP answers list it (the issuer).
    authority_id          INTEGER NOT NULL REFERENCES authorities (id),
    -- Lower-case hex, as certificates.serial.
    serial                TEXT    NOT NULL,
    -- The revoked inventory certificate, or the revoked subordinate authority.
    certificate_id        INTEGER REFERENCES certificates (id),
    subject_authority_id  INTEGER REFERENCES authorities (id),
    -- The CRL partition the certificate's distribution point names.
    partition_no          INTEGER NOT NULL,
    not_after             INTEGER NOT NULL,
    revoked_at            INTEGER NOT NULL,
    reason                INTEGER NOT NULL,
    invalidity_date       INTEGER,
    -- Set when a certificateHold is lifted: the certificate is valid again and leaves the CRLs.
    released_at           INTEGER,
    changed_at            INTEGER NOT NULL,
    -- The CRL entry ready to read in one piece: `serial revoked_at reason [invalidity_date]`.
    crl_entry             TEXT    NOT NULL,
    -- Rows are read for CRLs in groups of 4096 consecutive ids, joined by the database; indexed, the groups come
    -- in order and need no sorting.
    crl_chunk             INTEGER GENERATED ALWAYS AS (id / 4096) VIRTUAL,
    UNIQUE (authority_id, serial)
);
CREATE INDEX revocations_chunk ON revocations (authority_id, crl_chunk);
CREATE INDEX revocations_partition ON revocations (authority_id, partition_no, crl_chunk);
CREATE INDEX revocations_changed ON revocations (changed_at);

CREATE TABLE crls (
    authority_id  INTEGER NOT NULL REFERENCES authorities (id),
    -- 'full', 'delta' or 'partition-N'.
    scope         TEXT    NOT NULL,
    number        INTEGER NOT NULL,
    this_update   INTEGER NOT NULL,
    next_update   INTEGER NOT NULL,
    entries       INTEGER NOT NULL,
    -- Length of the DER, kept in crl_parts.
    size          INTEGER NOT NULL,
    PRIMARY KEY (authority_id, scope)
);

-- A CRL's DER in pieces of at most 1 MiB: a CRL of a million entries is about 40 MB, and neither database
-- driver should have to copy that as one value.
CREATE TABLE crl_parts (
    authority_id  INTEGER NOT NULL,
    scope         TEXT    NOT NULL,
    part          INTEGER NOT NULL,
    bytes         BLOB    NOT NULL,
    PRIMARY KEY (authority_id, scope, part)
);

CREATE TABLE ocsp_responders (
    authority_id  INTEGER PRIMARY KEY REFERENCES authorities (id),
    key_id        INTEGER NOT NULL REFERENCES keys (id),
    certificate   BLOB    NOT NULL,
    not_before    INTEGER NOT NULL,
    not_after     INTEGER NOT NULL
);

-- CRL numbers come from one counter per authority, shared by its full, delta and partition CRLs.
ALTER TABLE authorities ADD COLUMN crl_number INTEGER NOT NULL DEFAULT 0;
ALTER TABLE authorities ADD COLUMN crl_partitions INTEGER NOT NULL DEFAULT 4;
-- What changed since a full CRL, per authority (the delta).
CREATE INDEX revocations_authority_changed ON revocations (authority_id, changed_at);
