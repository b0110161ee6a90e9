-- The big tables VACUUM ANALYZE keeps healthy, those that exist, largest first, as quoted schema.table names.
-- Silver: sensor readings and their manifest (append-mostly, with deletes on re-deliveries), the weather
-- tables (a day's forecast rows are replaced as a whole); Gold: every fact table (window rebuilds delete and
-- re-insert rows). Names come from the catalog and are quoted with %I, so they are safe to paste into SQL.
SELECT format('%I.%I', n.nspname, c.relname) AS table_name
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm')
  AND (
        (n.nspname = 'silver' AND c.relname IN (
            'sensor_readings', 'file_manifest', 'sensor_series',
            'weather_forecasts', 'weather_clean', 'weather_file_manifest', 'weather_file_stats'))
     OR (n.nspname = 'gold' AND c.relname LIKE 'fact\_%')
  )
  AND NOT c.relispartition
ORDER BY pg_total_relation_size(c.oid) DESC, 1;
