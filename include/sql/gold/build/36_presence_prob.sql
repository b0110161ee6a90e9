-- gold.fact_presence_minute.presence_prob of the minutes in this build's segments: the probability of the room's
-- hour from the latest presence forecast issued at or before that minute (gold.fact_ml_predictions, written by
-- ml_forecast_daily), NULL when none was. Forecasts are hourly: every minute of the hour takes its hour's value.
-- A forecast written after Gold built a minute records that window in Gold's ledger, so the next build comes
-- back here. Unchanged rows are not rewritten.
WITH latest AS (
    SELECT f.datetime_key, f.room_key, f.presence_prob, p.probability
    FROM gold_minute m
    JOIN gold.fact_presence_minute f ON f.datetime_key = m.datetime_key
    LEFT JOIN LATERAL (
        SELECT p.probability
        FROM gold.fact_ml_predictions p
        WHERE p.target = 'presence'
          AND p.room_key = f.room_key
          AND p.target_datetime_key = f.datetime_key / 100 * 100
          AND p.issued_at <= m.ts
        ORDER BY p.issued_at DESC, p.created_at DESC
        LIMIT 1
    ) AS p ON true
)
UPDATE gold.fact_presence_minute f
SET presence_prob = l.probability
FROM latest l
WHERE f.datetime_key = l.datetime_key AND f.room_key = l.room_key
  AND l.presence_prob IS DISTINCT FROM l.probability
