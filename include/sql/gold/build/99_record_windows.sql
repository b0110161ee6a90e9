-- Last step: remember the windows of this build for the quality gates that run after the commit
-- (gold.build_window holds exactly the latest build's windows).
WITH recorded AS (
    INSERT INTO gold.build_window AS b
        (scope, window_start, window_end, key_start, key_end, date_key_start, date_key_end)
    SELECT scope, ws, we,
           to_char(ws AT TIME ZONE 'UTC', 'YYYYMMDDHH24MI')::bigint,
           to_char(we AT TIME ZONE 'UTC', 'YYYYMMDDHH24MI')::bigint,
           to_char(ws AT TIME ZONE 'UTC', 'YYYYMMDD')::integer,
           to_char((we - interval '1 minute') AT TIME ZONE 'UTC', 'YYYYMMDD')::integer
    FROM gold_window
    ON CONFLICT ON CONSTRAINT build_window_pkey DO NOTHING
)
DELETE FROM gold.build_window b
WHERE NOT EXISTS (SELECT 1 FROM gold_window w
                  WHERE w.scope = b.scope AND w.ws = b.window_start AND w.we = b.window_end)
