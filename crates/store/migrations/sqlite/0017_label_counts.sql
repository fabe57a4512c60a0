-- How many certificates carry each label, kept by trigger as labels are added, changed and removed, so that the
-- total of a label search is one row instead of a count over the label index (half the inventory may carry one).
CREATE TABLE label_counts (
    key           TEXT    NOT NULL,
    value         TEXT    NOT NULL,
    certificates  INTEGER NOT NULL,
    PRIMARY KEY (key, value)
);
INSERT INTO label_counts (key, value, certificates)
    SELECT key, value, COUNT(*) FROM certificate_labels GROUP BY key, value;
CREATE TRIGGER certificate_labels_counted AFTER INSERT ON certificate_labels BEGIN
    INSERT INTO label_counts (key, value, certificates) VALUES (new.key, new.value, 1)
        ON CONFLICT (key, value) DO UPDATE SET certificates = certificates + 1;
END;
CREATE TRIGGER certificate_labels_uncounted AFTER DELETE ON certificate_labels BEGIN
    UPDATE label_counts SET certificates = certificates - 1 WHERE key = old.key AND value = old.value;
END;
CREATE TRIGGER certificate_labels_recounted AFTER UPDATE OF key, value ON certificate_labels BEGIN
    UPDATE label_counts SET certificates = certificates - 1 WHERE key = old.key AND value = old.value;
    INSERT INTO label_counts (key, value, certificates) VALUES (new.key, new.value, 1)
        ON CONFLICT (key, value) DO UPDATE SET certificates = certificates + 1;
END;
