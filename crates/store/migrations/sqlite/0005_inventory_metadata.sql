-- What operators attach to certificates (owner, labels, custom attributes), RA profiles that can be switched off,
-- and the indexes that keep sorted, filtered and keyset-paged inventory lists fast.
ALTER TABLE certificates ADD COLUMN owner TEXT;
ALTER TABLE certificates ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
ALTER TABLE certificates ADD COLUMN custom_attributes TEXT NOT NULL DEFAULT '{}';
CREATE INDEX certificates_owner ON certificates (owner, id);
CREATE INDEX certificates_key_algorithm ON certificates (key_algorithm, id);
-- Sorting by common name: certificates without one sort as an empty name. (The index on not_after already ends
-- with the row id, so it serves the (not_after, id) order as it is.)
CREATE INDEX certificates_common_name_order ON certificates (COALESCE(common_name, ''), id);
-- One row per label, so that an exact label filter is an index lookup; certificates.labels stays the record.
CREATE TABLE certificate_labels (
    certificate_id  INTEGER NOT NULL REFERENCES certificates (id),
    key             TEXT    NOT NULL,
    value           TEXT    NOT NULL,
    PRIMARY KEY (certificate_id, key)
);
CREATE INDEX certificate_labels_pair ON certificate_labels (key, value, certificate_id);
ALTER TABLE ra_profiles ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;
