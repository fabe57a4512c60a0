-- Principals, API tokens, OAuth2 clients and the hash-chained audit log.
CREATE TABLE principals (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid        TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE oauth_clients (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid               TEXT    NOT NULL UNIQUE,
    name               TEXT    NOT NULL,
    principal_id       BIGINT NOT NULL REFERENCES principals (id),
    role               TEXT    NOT NULL,
    ra_profiles        TEXT    NOT NULL,
    token_ttl_seconds  BIGINT NOT NULL,
    secret_hash        TEXT    NOT NULL,
    created_at         BIGINT NOT NULL,
    deleted_at         BIGINT
);

CREATE TABLE api_tokens (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid             TEXT    NOT NULL UNIQUE,
    name             TEXT    NOT NULL,
    principal_id     BIGINT NOT NULL REFERENCES principals (id),
    role             TEXT    NOT NULL,
    ra_profiles      TEXT    NOT NULL,
    source           TEXT    NOT NULL,
    oauth_client_id  BIGINT  REFERENCES oauth_clients (id),
    secret_hash      TEXT    NOT NULL UNIQUE,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT ,
    revoked_at       BIGINT
);
CREATE INDEX api_tokens_oauth_client ON api_tokens (oauth_client_id);

CREATE TABLE audit_chains (
    chain  TEXT    PRIMARY KEY,
    seq    BIGINT NOT NULL,
    hash   TEXT    NOT NULL
);

CREATE TABLE events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid         TEXT    NOT NULL UNIQUE,
    chain        TEXT    NOT NULL,
    seq          BIGINT NOT NULL,
    time         BIGINT NOT NULL,
    actor        TEXT    NOT NULL,
    actor_token  TEXT,
    action       TEXT    NOT NULL,
    object_type  TEXT    NOT NULL,
    object_id    TEXT,
    result       TEXT    NOT NULL,
    request_id   TEXT,
    details      TEXT    NOT NULL,
    prev_hash    TEXT    NOT NULL,
    hash         TEXT    NOT NULL,
    UNIQUE (chain, seq)
);
CREATE INDEX events_time ON events (time);
CREATE INDEX events_object ON events (object_type, object_id);
CREATE INDEX events_actor ON events (actor);

-- Facts about the installation itself, e.g. the check value that ties the database to its master key.
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
