-- Substring search over certificate names (common name and SANs) that stays fast on large inventories:
-- an FTS5 trigram index keyed by the certificate id.
CREATE VIRTUAL TABLE certificate_names USING fts5 (names, tokenize = 'trigram');
INSERT INTO certificate_names (rowid, names)
    SELECT id, LOWER(COALESCE(common_name, '') || ' ' || sans) FROM certificates;
CREATE INDEX certificates_origin ON certificates (origin, id);
CREATE INDEX certificates_ra_profile ON certificates (ra_profile_id, id);
