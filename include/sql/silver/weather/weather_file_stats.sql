-- silver.weather_file_stats: row counts of every cleaning step, per loaded file version.
-- Grain: (source_name, checksum, reason). Steps in order (step = position): rows_read, then the drop reasons
-- bad_field_count, unparsable_time, unparsable_value, missing_key, before_min_year, ignored_measurement,
-- duplicate (each dropped row counted once, under its first reason), then sentinel_null (kept as NULL),
-- outlier_flagged (kept, flagged) and rows_loaded. Source: domotic.weather.STEPS.
CREATE TABLE IF NOT EXISTS silver.weather_file_stats (
    source_name  text        NOT NULL,
    checksum     text        NOT NULL,
    step         smallint    NOT NULL,
    reason       text        NOT NULL,
    action       text        NOT NULL CHECK (action IN ('read', 'dropped', 'nulled', 'flagged', 'loaded')),
    rows         integer     NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT weather_file_stats_pkey PRIMARY KEY (source_name, checksum, reason),
    CONSTRAINT weather_file_stats_file_fkey FOREIGN KEY (source_name, checksum)
        REFERENCES silver.weather_file_manifest (source_name, checksum) ON DELETE CASCADE
);
