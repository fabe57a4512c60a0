-- Certificates in the inventory, counted per node as they are stored, so the unfiltered inventory total is a sum
-- over a few rows instead of a count over every certificate.
CREATE TABLE inventory_counts (
    node          TEXT   PRIMARY KEY,
    certificates  BIGINT NOT NULL
);
INSERT INTO inventory_counts (node, certificates) SELECT 'before-counting', COUNT(*) FROM certificates;
