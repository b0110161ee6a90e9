-- One Silver change for Gold's work list (silver/gold_ledger.sql), run by the writer inside the transaction of
-- the change it describes. Windows are rounded out to whole minutes, UTC, half-open.
INSERT INTO silver.gold_ledger (scope, window_start, window_end, source)
VALUES (%(scope)s,
        date_trunc('minute', %(window_start)s::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
        CASE WHEN %(window_end)s::timestamptz IS NULL THEN NULL
             ELSE date_trunc('minute', (%(window_end)s::timestamptz + interval '59.999999 seconds')
                                       AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' END,
        %(source)s)
