-- Request forms: certificate requests described with business metadata (validation level, domain kind,
-- organization, tags, environments, systems, project, responsible) and signed later; the organizations and
-- catalog terms they name; and the passwords that guard a key's export and a certificate's revocation.
CREATE TABLE organizations (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid        TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL UNIQUE,
    created_by  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

-- Tags, environments and systems: created on first use.
CREATE TABLE catalog_terms (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- tag, environment or system.
    kind        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    UNIQUE (kind, name)
);

CREATE TABLE request_forms (
    id                        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid                      TEXT    NOT NULL UNIQUE,
    -- 1 domain validated, 2 organization validated, 3 extended validation.
    validation_level          BIGINT  NOT NULL,
    -- single, multiple or wildcard.
    domain_kind               TEXT    NOT NULL,
    organization_id           BIGINT  NOT NULL REFERENCES organizations (id),
    common_name               TEXT    NOT NULL,
    -- JSON array of names as given (DNS names or IP addresses).
    sans                      TEXT    NOT NULL,
    -- rsa or dsa.
    key_family                TEXT    NOT NULL,
    key_size                  BIGINT  NOT NULL,
    -- sha256, sha384 or sha512.
    digest                    TEXT    NOT NULL,
    validity_days             BIGINT  NOT NULL,
    -- pbkdf2-sha256$<rounds>$<salt>$<hash>
    key_password_hash         TEXT,
    revocation_password_hash  TEXT,
    project                   TEXT,
    external_ip               TEXT,
    hostname                  TEXT,
    justification             TEXT,
    responsible_id            BIGINT  REFERENCES principals (id),
    description               TEXT,
    -- JSON: {tags, environments, systems} as names, in the order given.
    terms                     TEXT    NOT NULL,
    -- Once signed: the certificate's uuid (while it waits for approval or its authority, the uuid of the
    -- lifecycle request, which the certificate takes when issued), and what the signer said.
    certificate_uuid          TEXT,
    -- The signing attempt in progress (its idempotency key) and when it was claimed.
    sign_attempt              TEXT,
    sign_claimed_at           BIGINT,
    self_signed               BIGINT,
    authority_id              BIGINT  REFERENCES authorities (id),
    sign_reason               BIGINT,
    sign_justification        TEXT,
    itsm_code                 TEXT,
    signed_by                 TEXT,
    signed_at                 BIGINT,
    created_by                TEXT    NOT NULL,
    created_at                BIGINT  NOT NULL,
    updated_at                BIGINT  NOT NULL
);
CREATE UNIQUE INDEX request_forms_certificate ON request_forms (certificate_uuid);

CREATE TABLE request_form_terms (
    form_id  BIGINT  NOT NULL REFERENCES request_forms (id) ON DELETE CASCADE,
    term_id  BIGINT  NOT NULL REFERENCES catalog_terms (id),
    PRIMARY KEY (form_id, term_id)
);
CREATE INDEX request_form_terms_term ON request_form_terms (term_id, form_id);

-- The password a key's export asks for (set by the request form that made the key, or the upload that brought
-- it), and the password a certificate's revocation asks for (set by an upload; a form's is read from the form).
CREATE TABLE key_passwords (
    key_id         BIGINT  PRIMARY KEY REFERENCES keys (id),
    password_hash  TEXT    NOT NULL
);

CREATE TABLE revocation_passwords (
    certificate_id  BIGINT  PRIMARY KEY REFERENCES certificates (id),
    password_hash   TEXT    NOT NULL
);
