-- Revocation: what each authority has revoked (read by CRL generation and OCSP without touching the
-- inventory), the CRLs signed ahead of time, and each authority's delegated OCSP responder.
CREATE TABLE revocations (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The authority whose CRLs and OCSP answers list it (the issuer).
    authority_id          BIGINT  NOT NULL REFERENCES authorities (id),
    -- Lower-case hex, as certificates.serial.
    serial                TEXT    NOT NULL,
    -- The revoked inventory certificate, or the revoked subordinate authority.
    certificate_id        BIGINT  REFERENCES certificates (id),
    subject_authority_id  BIGINT  REFERENCES authorities (id),
    -- The CRL partition the certificate's distribution point names.
    partition_no          BIGINT  NOT NULL,
    not_after             BIGINT  NOT NULL,
    revoked_at            BIGINT  NOT NULL,
    reason                BIGINT  NOT NULL,
    invalidity_date       BIGINT,
    -- Set when a certificateHold is lifted: the certificate is valid again and leaves the CRLs.
    released_at           BIGINT,
    changed_at            BIGINT  NOT NULL,
    -- The CRL entry ready to read in one piece: `serial revoked_at reason [invalidity_date]`.
    crl_entry             TEXT    NOT NULL,
    UNIQUE (authority_id, serial)
);
CREATE INDEX revocations_partition ON revocations (authority_id, partition_no);
CREATE INDEX revocations_changed ON revocations (changed_at);

CREATE TABLE crls (
    authority_id  BIGINT  NOT NULL REFERENCES authorities (id),
    -- 'full', 'delta' or 'partition-N'.
    scope         TEXT    NOT NULL,
    number        BIGINT  NOT NULL,
    this_update   BIGINT  NOT NULL,
    next_update   BIGINT  NOT NULL,
    entries       BIGINT  NOT NULL,
    -- Length of the DER, kept in crl_parts.
    size          BIGINT  NOT NULL,
    PRIMARY KEY (authority_id, scope)
);

-- A CRL's DER in pieces of at most 1 MiB: a CRL of a million entries is about 40 MB, and neither database
-- driver should have to copy that as one value.
CREATE TABLE crl_parts (
    authority_id  BIGINT  NOT NULL,
    scope         TEXT    NOT NULL,
    part          BIGINT  NOT NULL,
    bytes         BYTEA   NOT NULL,
    PRIMARY KEY (authority_id, scope, part)
);

CREATE TABLE ocsp_responders (
    authority_id  BIGINT  PRIMARY KEY REFERENCES authorities (id),
    key_id        BIGINT  NOT NULL REFERENCES keys (id),
    certificate   BYTEA   NOT NULL,
    not_before    BIGINT  NOT NULL,
    not_after     BIGINT  NOT NULL
);

-- CRL numbers come from one counter per authority, shared by its full, delta and partition CRLs.
ALTER TABLE authorities ADD COLUMN crl_number BIGINT  NOT NULL DEFAULT 0;
ALTER TABLE authorities ADD COLUMN crl_partitions BIGINT  NOT NULL DEFAULT 4;
-- What changed since a full CRL, per authority (the delta).
CREATE INDEX revocations_authority_changed ON revocations (authority_id, changed_at);
