-- A remote file that is not downloaded: a name that is not Pred_YYYY-MM-DD.csv, or a file over the size cap
-- (Variable weather_max_file_bytes). Recorded with the reason, so it is reported once and not on every run; it
-- is what the server delivers under that name now (fetch.py first marks a version loaded before as no longer
-- current; its rows stay loaded).
INSERT INTO silver.weather_file_manifest
    (source_name, checksum, prediction_date, remote_path, remote_size, remote_mtime, status, reason, is_current)
VALUES (%(source_name)s, '', %(prediction_date)s, %(remote_path)s, %(remote_size)s, %(remote_mtime)s, 'ignored',
        %(reason)s, true)
ON CONFLICT (source_name, checksum) DO UPDATE
SET remote_size = EXCLUDED.remote_size, remote_mtime = EXCLUDED.remote_mtime, remote_path = EXCLUDED.remote_path,
    reason = EXCLUDED.reason, is_current = true
