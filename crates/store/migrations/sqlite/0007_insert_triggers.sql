-- A stored certificate enters the name index and the certificate count in the statement that stores it, by
-- trigger, instead of two more statements per write: the single writer is what limits issuance on SQLite.
CREATE TRIGGER certificates_name_index AFTER INSERT ON certificates BEGIN
    INSERT INTO certificate_names (rowid, names) VALUES (new.id, LOWER(COALESCE(new.common_name, '') || ' ' || new.sans));
END;
CREATE TRIGGER certificates_count AFTER INSERT ON certificates BEGIN
    INSERT INTO inventory_counts (node, certificates) VALUES ('sqlite', 1)
        ON CONFLICT (node) DO UPDATE SET certificates = certificates + 1;
END;
