-- Gold's work ledger. Every change to the Silver tables Gold reads is recorded in silver.gold_ledger by its
-- writer, IN THE SAME TRANSACTION as the change itself (sensor load batches, compaction replays, weather file
-- loads, reference snapshot swaps): a committed Silver change always has its row, a rolled-back one never does.
-- gold_build claims every row inside its build transaction (DELETE ... FOR UPDATE SKIP LOCKED, build/02_claim.sql)
-- and records what it absorbed in silver.gold_ledger_absorbed; both commit with the rebuilt Gold or roll back
-- with it. So Gold's work list never depends on which asset events Airflow delivers (apache/airflow#56050 drops
-- some); asset events only wake gold_build up. See docs/gold.md, "Gold's work ledger".
--   scope 'sensor':    sensor facts of the window's minutes, device health of its UTC days;
--   scope 'weather':   weather facts of the window's hours;
--   scope 'reference': the pidb snapshot changed; no window: dimensions and every error count are refreshed.
-- Every row of silver.gold_ledger is pending: a build deletes the rows it absorbs (a delete is half the cost of
-- an update here: 10,000 changes are claimed in ~25 ms).
CREATE TABLE IF NOT EXISTS silver.gold_ledger (
    change_id    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope        text        NOT NULL CHECK (scope IN ('sensor', 'weather', 'reference')),
    window_start timestamptz,              -- half-open [window_start, window_end), UTC, whole minutes
    window_end   timestamptz,
    source       text        NOT NULL,     -- the writer: sensor_load, archive_replay, weather_load, ...
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT gold_ledger_window CHECK (
        (scope = 'reference' AND window_start IS NULL AND window_end IS NULL)
        OR (scope <> 'reference' AND window_end > window_start))
);

-- What each build absorbed, one row per build and scope (the audit trail; pruned after ledger_retention_days).
CREATE TABLE IF NOT EXISTS silver.gold_ledger_absorbed (
    absorbed_id      bigint         GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    absorbed_at      timestamptz    NOT NULL DEFAULT now(),  -- the build transaction's start
    run_id           text           NOT NULL,                -- the gold_build run (or the caller's label)
    scope            text           NOT NULL,
    changes          integer        NOT NULL,
    first_change_id  bigint         NOT NULL,
    last_change_id   bigint         NOT NULL,
    first_recorded_at timestamptz   NOT NULL,                -- the oldest change: how long Gold lagged
    windows          tstzmultirange,                         -- the merged windows (NULL for reference)
    sources          text[]         NOT NULL
);
CREATE INDEX IF NOT EXISTS gold_ledger_absorbed_run ON silver.gold_ledger_absorbed (run_id);
