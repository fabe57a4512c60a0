-- Publication: devices (hosts and appliances certificates are published to), the credentials that log in to
-- them (secrets sealed), publication profiles, and publications (one certificate pushed to some of a profile's
-- devices, each push a deployment).
CREATE TABLE devices (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid          TEXT    NOT NULL UNIQUE,
    hostname      TEXT    NOT NULL UNIQUE,
    ip            TEXT    NOT NULL,
    model         TEXT,
    kind          TEXT,
    vendor        TEXT,
    site          TEXT,
    domain        TEXT,
    -- JSON array of tags.
    tags          TEXT    NOT NULL,
    ssh_port      BIGINT NOT NULL,
    -- The pinned OpenSSH host key.
    ssh_host_key  TEXT,
    ca_pem        TEXT,
    winrm_port    BIGINT NOT NULL,
    active        BIGINT NOT NULL,
    created_by    TEXT    NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX devices_ip ON devices (ip, id);

CREATE TABLE credentials (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid             TEXT    NOT NULL UNIQUE,
    identifier       TEXT    NOT NULL UNIQUE,
    username         TEXT    NOT NULL,
    device_id        BIGINT NOT NULL REFERENCES devices (id),
    -- none, password or private_key.
    secret_kind      TEXT    NOT NULL,
    -- Sealed under the credential's uuid.
    sealed_secret    BYTEA,
    additional       TEXT,
    tags             TEXT    NOT NULL,
    credential_type  TEXT,
    active           BIGINT NOT NULL,
    created_by       TEXT    NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX credentials_username ON credentials (username, device_id, id);

CREATE TABLE publication_profiles (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid           TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL,
    -- apache, iis, bigip or was.
    kind           TEXT    NOT NULL,
    -- JSON: the kind's settings.
    settings       TEXT    NOT NULL,
    credential_id  BIGINT REFERENCES credentials (id),
    username       TEXT,
    -- JSON array of device ids.
    devices        TEXT    NOT NULL,
    -- The key database password (was), sealed under the profile's uuid.
    sealed_secret  BYTEA,
    created_by     TEXT    NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE publications (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid            TEXT    NOT NULL UNIQUE,
    certificate_id  BIGINT NOT NULL REFERENCES certificates (id),
    profile_id      BIGINT NOT NULL REFERENCES publication_profiles (id),
    reason          BIGINT NOT NULL,
    justification   TEXT,
    itms_code       TEXT,
    credential_id   BIGINT REFERENCES credentials (id),
    username        TEXT,
    created_by      TEXT    NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX publications_certificate ON publications (certificate_id, id);
CREATE INDEX publications_profile ON publications (profile_id, id);

-- One push: a device (on a BIG-IP, one client-ssl profile of it), the location and the deployment; their
-- history may be deleted with the location, which leaves the push without a state.
CREATE TABLE publication_targets (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    publication_id  BIGINT NOT NULL REFERENCES publications (id) ON DELETE CASCADE,
    device_id       BIGINT NOT NULL REFERENCES devices (id),
    label           TEXT    NOT NULL,
    location_id     BIGINT REFERENCES locations (id) ON DELETE SET NULL,
    deployment_id   BIGINT REFERENCES deployments (id) ON DELETE SET NULL
);
CREATE INDEX publication_targets_publication ON publication_targets (publication_id, id);
CREATE INDEX publication_targets_device ON publication_targets (device_id, publication_id);
CREATE INDEX publication_targets_location ON publication_targets (location_id);
CREATE INDEX publication_targets_deployment ON publication_targets (deployment_id);
