-- A file version was loaded or quarantined (same transaction as its Silver rows).
UPDATE silver.weather_file_manifest
SET status       = %(status)s,
    reason       = %(reason)s,
    rows_read    = %(rows_read)s,
    rows_loaded  = %(rows_loaded)s,
    window_start = %(window_start)s,
    window_end   = %(window_end)s,
    processed_at = now()
WHERE source_name = %(source_name)s AND checksum = %(checksum)s
