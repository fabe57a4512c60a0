-- How many certificates carry each label, so that the total of a label search does not count the label index (half
-- the inventory may carry one). Nodes labelling certificates do not update one shared row per label, where they
-- would queue and could deadlock: each statement that adds or removes labels appends its changes per label, by
-- trigger, and a label's count is its settled row plus its pending changes. Each node folds the pending changes
-- into the settled rows every few seconds (one node at a time per schema, under an advisory lock).
-- No label changes between the count below and the triggers (nodes of an older build may still be writing).
LOCK TABLE certificate_labels IN SHARE ROW EXCLUSIVE MODE;
CREATE TABLE label_counts (
    key           TEXT   NOT NULL,
    value         TEXT   NOT NULL,
    certificates  BIGINT NOT NULL,
    PRIMARY KEY (key, value)
);
CREATE TABLE label_count_changes (
    id     BIGSERIAL PRIMARY KEY,
    key    TEXT   NOT NULL,
    value  TEXT   NOT NULL,
    delta  BIGINT NOT NULL
);
CREATE INDEX label_count_changes_pair ON label_count_changes (key, value);
INSERT INTO label_counts (key, value, certificates)
    SELECT key, value, COUNT(*) FROM certificate_labels GROUP BY key, value;

CREATE FUNCTION certificate_labels_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO label_count_changes (key, value, delta) SELECT key, value, COUNT(*) FROM added GROUP BY key, value;
    RETURN NULL;
END
$$;
CREATE FUNCTION certificate_labels_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO label_count_changes (key, value, delta) SELECT key, value, -COUNT(*) FROM removed GROUP BY key, value;
    RETURN NULL;
END
$$;
CREATE FUNCTION certificate_labels_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO label_count_changes (key, value, delta)
        SELECT key, value, SUM(delta) FROM (
            SELECT key, value, 1 AS delta FROM added UNION ALL SELECT key, value, -1 AS delta FROM removed
        ) AS changes GROUP BY key, value HAVING SUM(delta) <> 0;
    RETURN NULL;
END
$$;
CREATE TRIGGER certificate_labels_counted AFTER INSERT ON certificate_labels
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION certificate_labels_added();
CREATE TRIGGER certificate_labels_uncounted AFTER DELETE ON certificate_labels
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION certificate_labels_removed();
CREATE TRIGGER certificate_labels_recounted AFTER UPDATE ON certificate_labels
    REFERENCING OLD TABLE AS removed NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION certificate_labels_changed();
