-- silver.mysql_snapshot_log: one row per pidb table per run of mysql_snapshot_weekly.
-- Grain: (snapshot_id, source_table). A run either swaps every table ('swapped') or none: then the tables
-- that failed say why ('failed') and the others keep their previous snapshot ('kept').
-- The current snapshot of a table is its latest 'swapped' row.
CREATE TABLE IF NOT EXISTS silver.mysql_snapshot_log (
    snapshot_id        uuid        NOT NULL,
    taken_at           timestamptz NOT NULL,            -- start of the consistent MySQL read
    source_table       text        NOT NULL,            -- pidb table
    silver_table       text        NOT NULL,            -- e.g. silver.dim_buildings
    status             text        NOT NULL CHECK (status IN ('swapped', 'failed', 'kept')),
    row_count          bigint,                          -- rows read (NULL when the table could not be read)
    unexpected_columns text[]      NOT NULL DEFAULT '{}',  -- new upstream columns, not on the allow-list
    message            text,                            -- how it was swapped, or why it failed
    airflow_run_id     text,
    logged_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (snapshot_id, source_table)
);
CREATE INDEX IF NOT EXISTS mysql_snapshot_log_taken_at ON silver.mysql_snapshot_log (taken_at);
