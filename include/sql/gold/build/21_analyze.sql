-- Fresh statistics on the work tables, so the planner picks Silver primary-key range scans for small windows
-- and sequential scans with hash joins for large ones; and on the dimensions the build has just written (small
-- tables, sampled in milliseconds): after onboarding many apartments, dim_device's statistics said 0 rows, and
-- fact_device_health_day's join re-ran its coverage count once per device (137 s of a 200-apartment day's build,
-- docs/benchmarks.md).
ANALYZE gold_window, gold_minute, gold_segment, gold_day, gold_series,
        gold.dim_apartment, gold.dim_room, gold.dim_device
