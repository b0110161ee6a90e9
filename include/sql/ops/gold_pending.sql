-- Gold's pending work (every row of silver.gold_ledger: no build has absorbed it yet), per scope: how many
-- changes, the span of their windows and how old the oldest is: what gold_build logs and the runbook shows.
SELECT scope,
       count(*)                 AS changes,
       min(window_start)        AS first_start,
       max(window_end)          AS last_end,
       min(recorded_at)         AS oldest_recorded_at,
       max(change_id)           AS last_change_id
FROM silver.gold_ledger
GROUP BY scope
ORDER BY scope
