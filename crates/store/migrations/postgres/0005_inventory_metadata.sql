-- What operators attach to certificates (owner, labels, custom attributes), RA profiles that can be switched off,
-- and the indexes that keep sorted, filtered and keyset-paged inventory lists fast.
ALTER TABLE certificates ADD COLUMN owner TEXT;
ALTER TABLE certificates ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
ALTER TABLE certificates ADD COLUMN custom_attributes TEXT NOT NULL DEFAULT '{}';
CREATE INDEX certificates_owner ON certificates (owner, id);
CREATE INDEX certificates_key_algorithm ON certificates (key_algorithm, id);
-- Sorting by common name in byte order, whatever the database's collation; certificates without one sort as an
-- empty name.
CREATE INDEX certificates_common_name_order ON certificates ((COALESCE(common_name, '') COLLATE "C"), id);
-- A (not_after, id) keyset needs both columns in the index; it also serves every expiry filter the index on
-- not_after alone served.
CREATE INDEX certificates_not_after_id ON certificates (not_after, id);
DROP INDEX certificates_not_after;
-- One row per label, so that an exact label filter is an index lookup; certificates.labels stays the record.
CREATE TABLE certificate_labels (
    certificate_id  BIGINT NOT NULL REFERENCES certificates (id),
    key             TEXT   NOT NULL,
    value           TEXT   NOT NULL,
    PRIMARY KEY (certificate_id, key)
);
CREATE INDEX certificate_labels_pair ON certificate_labels (key, value, certificate_id);
ALTER TABLE ra_profiles ADD COLUMN enabled BIGINT NOT NULL DEFAULT 1;
