-- Substring search over certificate names (common name and SANs) that stays fast on large inventories:
-- a trigram GIN index over a lower-cased copy of the names.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
ALTER TABLE certificates ADD COLUMN search_names TEXT NOT NULL DEFAULT '';
UPDATE certificates SET search_names = LOWER(COALESCE(common_name, '') || ' ' || sans);
CREATE INDEX certificates_search_names ON certificates USING gin (search_names public.gin_trgm_ops);
CREATE INDEX certificates_origin ON certificates (origin, id);
CREATE INDEX certificates_ra_profile ON certificates (ra_profile_id, id);
