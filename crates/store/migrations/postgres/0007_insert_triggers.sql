-- Nothing on PostgreSQL: the name index is a column of the certificate row, and each node keeps its own count
-- row so that nodes do not queue on one (see 0004).
SELECT 1;
