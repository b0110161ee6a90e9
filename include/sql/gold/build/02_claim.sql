-- Step 2 of a Gold build: claim Gold's work list. Every pending change of silver.gold_ledger (written by the
-- Silver writers in their own transactions) is taken out of the ledger into gold_claimed, for the windows
-- below. The delete is part of the build transaction: it commits with the rebuilt Gold or rolls back with it
-- (a failed or killed build leaves its rows pending for the next run). FOR UPDATE SKIP LOCKED: two builds
-- never claim the same row, even without the advisory lock of step 1.
-- Rows whose window lies outside the calendar years this run has holidays for (calendar_start/_end, from the
-- planner) are left pending: the next run plans them, and builds their days with the right holidays.
CREATE TEMP TABLE gold_claimed ON COMMIT DROP AS
WITH claimed AS (
    DELETE FROM silver.gold_ledger
    WHERE change_id IN (
        SELECT change_id
        FROM silver.gold_ledger
        WHERE scope = 'reference'
           OR (window_start >= %(calendar_start)s::timestamptz AND window_end <= %(calendar_end)s::timestamptz)
        FOR UPDATE SKIP LOCKED)
    RETURNING change_id, scope, window_start, window_end, source, recorded_at
)
SELECT change_id, scope, window_start, window_end, source, recorded_at FROM claimed
