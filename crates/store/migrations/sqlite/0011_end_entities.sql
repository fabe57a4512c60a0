-- End entities (identities registered under an RA profile that enrol with a username and password), the
-- certificates issued for them, and the request attributes kept with a pending revocation.
CREATE TABLE end_entities (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid              TEXT    NOT NULL UNIQUE,
    ra_profile_id     INTEGER NOT NULL REFERENCES ra_profiles (id) ON DELETE CASCADE,
    username          TEXT    NOT NULL,
    -- pbkdf2-sha256$<rounds>$<salt>$<hash>
    password_hash     TEXT    NOT NULL,
    subject_dn        TEXT    NOT NULL,
    subject_alt_name  TEXT,
    email             TEXT,
    -- JSON array of {name, value}.
    extension_data    TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    created_by        TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (ra_profile_id, username)
);

CREATE TABLE end_entity_certificates (
    end_entity_id   INTEGER NOT NULL REFERENCES end_entities (id) ON DELETE CASCADE,
    certificate_id  INTEGER NOT NULL REFERENCES certificates (id),
    PRIMARY KEY (end_entity_id, certificate_id)
);

-- JSON array of the attributes sent with the revocation (secrets redacted); NULL when none.
ALTER TABLE revocation_requests ADD COLUMN attributes TEXT;
