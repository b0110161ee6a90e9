-- Before the last step: what this build absorbed from Gold's work ledger, one row per scope, in
-- silver.gold_ledger_absorbed (the audit trail: which run built which change, how long it waited); rows older
-- than ledger_retention_days are pruned in the same statement.
WITH pruned AS (
    DELETE FROM silver.gold_ledger_absorbed
    WHERE absorbed_at < now() - make_interval(days => %(ledger_retention_days)s)
)
INSERT INTO silver.gold_ledger_absorbed
    (run_id, scope, changes, first_change_id, last_change_id, first_recorded_at, windows, sources)
SELECT %(run_id)s, scope, count(*), min(change_id), max(change_id), min(recorded_at),
       range_agg(tstzrange(window_start, window_end)) FILTER (WHERE window_start IS NOT NULL),
       array_agg(DISTINCT source ORDER BY source)
FROM gold_claimed
GROUP BY scope
