-- silver.weather_file_manifest: every remote forecast file ever seen, one row per distinct content.
-- Grain: (source_name, checksum). Source: the sFTP listing (name, size, mtime) and the downloaded bytes (sha256).
-- The fetch step compares the remote listing with the current row of each name, never with Bronze, so deleting
-- or compacting Bronze does not trigger downloads. A re-delivery with new content gets a new row that becomes
-- current; its predecessor stays for the audit trail (is_current = false). Names that are not
-- Pred_YYYY-MM-DD.csv are recorded once with status 'ignored' and checksum '' (never downloaded).
CREATE TABLE IF NOT EXISTS silver.weather_file_manifest (
    source_name      text        NOT NULL,               -- remote file name, e.g. Pred_2023-09-01.csv
    checksum         text        NOT NULL,               -- sha256 of the content ('' for ignored names)
    prediction_date  date,                               -- issue date from the name (NULL for ignored names)
    remote_path      text        NOT NULL,
    remote_size      bigint      NOT NULL,
    remote_mtime     timestamptz NOT NULL,
    bronze_path      text,
    status           text        NOT NULL
        CHECK (status IN ('downloaded', 'loaded', 'quarantined', 'ignored')),
    reason           text,                               -- why quarantined / ignored
    rows_read        integer,
    rows_loaded      integer,
    window_start     timestamptz,                        -- forecast hours loaded, UTC, half-open
    window_end       timestamptz,
    is_current       boolean     NOT NULL DEFAULT true,  -- the version the server delivers now
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    downloaded_at    timestamptz,
    processed_at     timestamptz,                        -- loaded or quarantined at
    CONSTRAINT weather_file_manifest_pkey PRIMARY KEY (source_name, checksum)
);
CREATE UNIQUE INDEX IF NOT EXISTS weather_file_manifest_current
    ON silver.weather_file_manifest (source_name) WHERE is_current;
