-- The largest tables of the warehouse (heap + indexes + TOAST), for the daily disk-usage report.
-- Parameter: limit, how many tables. (%% is a literal percent sign: the query is run with parameters.)
SELECT format('%%I.%%I', n.nspname, c.relname)           AS table_name,
       pg_total_relation_size(c.oid)                   AS total_bytes,
       pg_relation_size(c.oid)                         AS table_bytes,
       pg_indexes_size(c.oid)                          AS index_bytes,
       -- reltuples is -1 until the table is first vacuumed or analyzed: unknown, not "0 rows"
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END AS estimated_rows
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
ORDER BY pg_total_relation_size(c.oid) DESC, 1
LIMIT %(limit)s;
