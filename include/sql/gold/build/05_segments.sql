-- The rebuilt minutes as segments (runs of consecutive minutes), half-open [seg_start, seg_end), with their
-- key range. Facts read Silver per segment (a primary-key range scan each, so a window's cost does not grow
-- with history) and find their own rows per segment (a primary-key range scan of the fact table).
CREATE TEMP TABLE gold_segment ON COMMIT DROP AS
SELECT seg_start,
       max(ts) + interval '1 minute'                                             AS seg_end,
       min(datetime_key)                                                         AS key_start,
       to_char((max(ts) + interval '1 minute') AT TIME ZONE 'UTC', 'YYYYMMDDHH24MI')::bigint AS key_end
FROM gold_minute
GROUP BY seg_start
