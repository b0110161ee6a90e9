-- Forecasts of the ml_forecast_daily DAG (docs/ml.md): the predictions Gold serves to BI, and the model
-- lifecycle's own tables (schema ml: registry, metrics), which BI roles cannot read.

-- ====================================================================================================
-- gold.fact_ml_predictions
-- ====================================================================================================
-- One row per forecast: (model_version, issue_date, target, apartment, room, target hour).
-- Grain: target 'energy_kwh' = kWh of the apartment's whole-house meter in the UTC hour starting at
-- target_datetime_key (room_key NULL); target 'presence' = probability that the room shows presence (motion, or
-- a door opened or closed) at least once in that hour (room_key set).
-- issued_at: end of the issue day (the run for logical date D issues at D+1 00:00 UTC, from data up to then);
-- horizon_hours: 1 for the first hour after issued_at. Idempotent per (model_version, issue_date): a re-run
-- deletes and re-inserts that pair in one transaction. weather_used false = the no-weather fallback model
-- (fallback_reason says why). baseline_value: the naive baseline of the same cell (energy: mean of the same
-- hour of the last 4 weeks; presence: hour-of-week frequency), for BI comparison.
-- RLS: apartment_id makes the repeatable gold_security.sql give it the tenant policies automatically.
CREATE TABLE IF NOT EXISTS gold.fact_ml_predictions (
    model_version        text             NOT NULL,
    issue_date           date             NOT NULL,
    target               text             NOT NULL CHECK (target IN ('energy_kwh', 'presence')),
    apartment_key        bigint           NOT NULL,
    apartment_id         text             NOT NULL,
    room_key             bigint,          -- NULL for apartment-level targets (energy_kwh)
    target_datetime_key  bigint           NOT NULL,  -- YYYYMMDDHHMI (UTC) of the hour's first minute
    target_date_key      integer          NOT NULL,  -- YYYYMMDD (UTC)
    target_hour_start    timestamptz      NOT NULL,
    issued_at            timestamptz      NOT NULL,
    horizon_hours        smallint         NOT NULL CHECK (horizon_hours >= 1),
    value_kwh            double precision CHECK (value_kwh >= 0),
    probability          double precision CHECK (probability >= 0 AND probability <= 1),
    baseline_value       double precision,
    weather_used         boolean          NOT NULL,
    fallback_reason      text,
    run_id               text             NOT NULL,
    created_at           timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT fact_ml_predictions_value CHECK (
        (target = 'energy_kwh' AND value_kwh IS NOT NULL AND probability IS NULL AND room_key IS NULL)
        OR (target = 'presence' AND probability IS NOT NULL AND value_kwh IS NULL AND room_key IS NOT NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS fact_ml_predictions_cell
    ON gold.fact_ml_predictions (model_version, issue_date, target, apartment_id, coalesce(room_key, 0),
                                 target_datetime_key);
-- Gold's presence_prob lookup: the latest presence forecast of a room and hour issued before a minute.
CREATE INDEX IF NOT EXISTS fact_ml_predictions_presence_lookup
    ON gold.fact_ml_predictions (room_key, target_datetime_key, issued_at DESC) WHERE target = 'presence';
CREATE INDEX IF NOT EXISTS fact_ml_predictions_issue ON gold.fact_ml_predictions (issue_date);

-- ====================================================================================================
-- ml.model_registry: every model bundle ever trained (energy with weather, energy without, presence)
-- ====================================================================================================
-- status: 'promoted' (passed its backtest gate; it serves every issue day from train_end on until a later
-- promoted bundle) or 'rejected' (failed its gate: never serves). artifact_path/artifact_sha256: the pickled
-- bundle, written atomically; loading checks the checksum.
CREATE SCHEMA IF NOT EXISTS ml;
CREATE TABLE IF NOT EXISTS ml.model_registry (
    model_version     text        PRIMARY KEY,
    trained_at        timestamptz NOT NULL,
    train_start       date        NOT NULL,   -- first issue day of the training window
    train_end         date        NOT NULL,   -- the data used ends with this UTC day
    trigger           text        NOT NULL,   -- first | schedule | degradation | manual
    features          jsonb       NOT NULL,   -- per sub-model: the feature columns
    params            jsonb       NOT NULL,   -- hyper-parameters and seeds
    library_versions  jsonb       NOT NULL,
    metrics           jsonb       NOT NULL,   -- the backtest: per apartment, model against baselines; reliability
    gate              jsonb       NOT NULL,   -- the gate's verdict per apartment and target
    status            text        NOT NULL CHECK (status IN ('promoted', 'rejected')),
    artifact_path     text        NOT NULL,
    artifact_sha256   text        NOT NULL,
    run_id            text        NOT NULL
);
CREATE INDEX IF NOT EXISTS model_registry_serving ON ml.model_registry (train_end) WHERE status = 'promoted';

-- ====================================================================================================
-- ml.metrics: MAE / RMSE / Brier per run, apartment, target and predictor
-- ====================================================================================================
-- scope 'backtest': the rolling-origin backtest of a newly trained bundle (run that trained it);
-- scope 'live': the serving bundle's error over the recent issue days whose targets are complete.
-- predictor: 'model' or a naive baseline ('same_hour_last_week', 'mean_profile_4w', 'hour_of_week').
CREATE TABLE IF NOT EXISTS ml.metrics (
    run_id         text             NOT NULL,
    scope          text             NOT NULL CHECK (scope IN ('backtest', 'live')),
    model_version  text             NOT NULL,
    apartment_id   text             NOT NULL,
    target         text             NOT NULL,
    metric         text             NOT NULL CHECK (metric IN ('mae', 'rmse', 'brier')),
    predictor      text             NOT NULL,
    value          double precision NOT NULL,
    n              integer          NOT NULL,
    first_day      date             NOT NULL,  -- target days evaluated
    last_day       date             NOT NULL,
    recorded_at    timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT metrics_pkey PRIMARY KEY (run_id, scope, model_version, apartment_id, target, metric, predictor)
);
