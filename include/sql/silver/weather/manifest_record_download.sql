-- A downloaded version becomes the current one; content seen before (a revert) is made current and reloaded.
INSERT INTO silver.weather_file_manifest
    (source_name, checksum, prediction_date, remote_path, remote_size, remote_mtime, bronze_path, status,
     is_current, downloaded_at)
VALUES (%(source_name)s, %(checksum)s, %(prediction_date)s, %(remote_path)s, %(remote_size)s, %(remote_mtime)s,
        %(bronze_path)s, 'downloaded', true, now())
ON CONFLICT (source_name, checksum) DO UPDATE
SET remote_path   = EXCLUDED.remote_path,
    remote_size   = EXCLUDED.remote_size,
    remote_mtime  = EXCLUDED.remote_mtime,
    bronze_path   = EXCLUDED.bronze_path,
    status        = 'downloaded',
    reason        = NULL,
    is_current    = true,
    downloaded_at = EXCLUDED.downloaded_at
