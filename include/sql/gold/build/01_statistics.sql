-- Fresh planner statistics on the Silver tables a build reads, when autovacuum has not caught up with a large
-- load yet (a history backfill loads millions of rows minutes before the first Gold build). With stale
-- statistics the planner takes a freshly filled table for nearly empty and picks nested loops: a 70-day build
-- then took over 5 minutes instead of one. Only tables changed by more than a tenth since their last ANALYZE
-- are analyzed (autovacuum's own rule), so a minute's build pays nothing.
DO $$
DECLARE
    stale record;
BEGIN
    FOR stale IN
        SELECT quote_ident(schemaname) || '.' || quote_ident(relname) AS name
        FROM pg_stat_user_tables
        WHERE schemaname = 'silver' AND n_mod_since_analyze > 50 + 0.1 * n_live_tup
    LOOP
        RAISE NOTICE USING MESSAGE = 'ANALYZE ' || stale.name || ': statistics older than its last large load';
        EXECUTE 'ANALYZE ' || stale.name;
    END LOOP;
END
$$
