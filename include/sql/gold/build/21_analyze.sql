-- Fresh statistics on the work tables, so the planner picks Silver primary-key range scans for small windows
-- and sequential scans with hash joins for large ones.
ANALYZE gold_window, gold_minute, gold_segment, gold_day, gold_series
