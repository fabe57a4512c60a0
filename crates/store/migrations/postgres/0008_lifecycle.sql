-- The certificate lifecycle: requests that are not certificates yet, pending revocations, approvals, links
-- between a certificate and the one it renews or rekeys, the job queue, and notification rules.

-- NULL for an internal CA; JSON describing how an external CA is reached otherwise.
ALTER TABLE authorities ADD COLUMN connector TEXT;

-- A request before it is a certificate: requested, pending_approval, pending_issue, rejected, failed, issued.
-- The certificate issued for it takes the request's uuid.
CREATE TABLE certificate_requests (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid                  TEXT    NOT NULL UNIQUE,
    -- issue, renew or rekey.
    action                TEXT    NOT NULL,
    state                 TEXT    NOT NULL,
    ra_profile_id         BIGINT NOT NULL REFERENCES ra_profiles (id),
    authority_id          BIGINT NOT NULL REFERENCES authorities (id),
    -- The PKCS#10 request as sent, when there was one.
    csr                   BYTEA,
    -- SubjectPublicKeyInfo and subject Name, DER: what the certificate must carry.
    public_key            BYTEA    NOT NULL,
    subject_der           BYTEA    NOT NULL,
    subject               TEXT    NOT NULL,
    common_name           TEXT,
    -- JSON array of SANs in API spelling.
    sans                  TEXT    NOT NULL,
    key_algorithm         TEXT    NOT NULL,
    key_id                BIGINT REFERENCES keys (id),
    validity_days         BIGINT NOT NULL,
    replaces_id           BIGINT REFERENCES certificates (id),
    replace_in_locations  BIGINT NOT NULL DEFAULT 0,
    certificate_id        BIGINT REFERENCES certificates (id),
    -- Where an external authority tracks it (an ACME order URL, a ticket number).
    external_ref          TEXT,
    -- Why it was rejected, failed or cancelled.
    reason                TEXT,
    -- A retry with the same key from the same principal finds this request instead of making another.
    idempotency_key       TEXT,
    created_by            TEXT    NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX certificate_requests_state ON certificate_requests (state, id);
CREATE UNIQUE INDEX certificate_requests_idempotency ON certificate_requests (created_by, idempotency_key);

-- Renewed-from and rekeyed-from.
CREATE TABLE certificate_links (
    certificate_id  BIGINT PRIMARY KEY REFERENCES certificates (id),
    previous_id     BIGINT NOT NULL REFERENCES certificates (id),
    kind            TEXT    NOT NULL
);
CREATE INDEX certificate_links_previous ON certificate_links (previous_id);

-- A revocation waiting for approval or for an external authority (certificate state pending_revoke).
CREATE TABLE revocation_requests (
    certificate_id   BIGINT PRIMARY KEY REFERENCES certificates (id),
    reason           TEXT    NOT NULL,
    invalidity_date  BIGINT,
    destroy_key      BIGINT NOT NULL,
    requested_by     TEXT    NOT NULL,
    requested_at     BIGINT NOT NULL
);

CREATE TABLE approvals (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid           TEXT    NOT NULL UNIQUE,
    -- issue or revoke.
    action         TEXT    NOT NULL,
    -- The request (issue) or certificate (revoke) waiting for it.
    object_uuid    TEXT    NOT NULL,
    ra_profile_id  BIGINT NOT NULL REFERENCES ra_profiles (id),
    required       BIGINT NOT NULL,
    approver_role  TEXT    NOT NULL,
    -- pending, approved, rejected, expired.
    status         TEXT    NOT NULL,
    requested_by   TEXT    NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    decided_at     BIGINT
);
CREATE INDEX approvals_status ON approvals (status, expires_at);
CREATE INDEX approvals_object ON approvals (object_uuid);

CREATE TABLE approval_votes (
    approval_id  BIGINT NOT NULL REFERENCES approvals (id),
    principal    TEXT    NOT NULL,
    decision     TEXT    NOT NULL,
    comment      TEXT,
    at           BIGINT NOT NULL,
    PRIMARY KEY (approval_id, principal)
);

CREATE TABLE jobs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid          TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    -- Enqueueing twice with one key makes one job.
    dedupe_key    TEXT    UNIQUE,
    -- queued, running, succeeded, failed.
    state         TEXT    NOT NULL,
    attempts      BIGINT NOT NULL,
    max_attempts  BIGINT NOT NULL,
    run_at        BIGINT NOT NULL,
    leased_by     TEXT,
    lease_until   BIGINT,
    last_error    TEXT,
    result        TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    finished_at   BIGINT
);
CREATE INDEX jobs_due ON jobs (state, run_at);

CREATE TABLE notification_rules (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid           TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL UNIQUE,
    -- email or webhook.
    channel        TEXT    NOT NULL,
    -- Comma-separated addresses, or the webhook URL.
    target         TEXT    NOT NULL,
    -- The webhook's signing secret, sealed under the master key.
    secret_sealed  BYTEA,
    -- JSON arrays: days before expiry, and event actions.
    days_before    TEXT    NOT NULL,
    events         TEXT    NOT NULL,
    ra_profile_id  BIGINT REFERENCES ra_profiles (id),
    enabled        BIGINT NOT NULL,
    created_by     TEXT    NOT NULL,
    created_at     BIGINT NOT NULL
);

-- One row per (rule, certificate, threshold) already notified: each threshold is sent once.
CREATE TABLE notification_marks (
    rule_id         BIGINT NOT NULL REFERENCES notification_rules (id) ON DELETE CASCADE,
    certificate_id  BIGINT NOT NULL REFERENCES certificates (id),
    threshold       BIGINT NOT NULL,
    at              BIGINT NOT NULL,
    PRIMARY KEY (rule_id, certificate_id, threshold)
);
