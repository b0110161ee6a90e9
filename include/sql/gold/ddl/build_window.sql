-- gold.build_window: the windows the latest gold_build transaction rebuilt (replaced by every build), read
-- by the quality gates that run after it. Build metadata, not BI data: not granted to the BI roles.
CREATE TABLE IF NOT EXISTS gold.build_window (
    scope          text        NOT NULL CHECK (scope IN ('sensor', 'weather')),
    window_start   timestamptz NOT NULL,
    window_end     timestamptz NOT NULL,
    key_start      bigint      NOT NULL,  -- datetime_key of window_start
    key_end        bigint      NOT NULL,  -- datetime_key of window_end (exclusive)
    date_key_start integer     NOT NULL,  -- first UTC day touched
    date_key_end   integer     NOT NULL,  -- last UTC day touched (inclusive)
    CONSTRAINT build_window_pkey PRIMARY KEY (scope, window_start, window_end)
);
