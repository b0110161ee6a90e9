-- The BI view of the ML forecasts, gold.bi_forecast_hour: created (or refreshed) at every migrate once
-- gold.fact_ml_predictions exists (issue 19 adds that table), absent before. `make bi` imports the Forecast
-- dashboard only when this view exists (docs/bi.md, "Forecast").
--
-- It reads the columns of fact_ml_predictions the BI layer relies on: apartment_id, room_key (NULL for
-- apartment-level targets), target ('energy_kwh', 'presence', ...), target_datetime_key (YYYYMMDDHHMI, UTC),
-- issued_at, horizon_hours, value_kwh (energy) or probability (presence), model_version. Per target, apartment, room and hour it keeps the latest
-- forecast issued, with the actual house-meter energy of that hour beside energy forecasts. If the table
-- lacks one of these columns the view is not created and a warning names the error: a deploy never fails
-- for the BI layer.
-- security_invoker: row-level security of fact_ml_predictions applies to whoever queries the view.
DO $$
BEGIN
    IF to_regclass('gold.fact_ml_predictions') IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        EXECUTE $view$
            CREATE OR REPLACE VIEW gold.bi_forecast_hour WITH (security_invoker = true) AS
            WITH latest AS (
                SELECT DISTINCT ON (p.target, p.apartment_id, p.room_key, p.target_datetime_key)
                       p.target, p.apartment_id, p.room_key, p.target_datetime_key, p.issued_at,
                       p.horizon_hours, coalesce(p.value_kwh, p.probability) AS predicted, p.model_version::text AS model_version
                FROM gold.fact_ml_predictions p
                ORDER BY p.target, p.apartment_id, p.room_key, p.target_datetime_key, p.issued_at DESC
            ), timed AS (
                SELECT l.*, make_timestamptz((l.target_datetime_key / 100000000)::int,
                                             (l.target_datetime_key / 1000000 % 100)::int,
                                             (l.target_datetime_key / 10000 % 100)::int,
                                             (l.target_datetime_key / 100 % 100)::int,
                                             (l.target_datetime_key % 100)::int, 0, 'UTC') AS hour_utc
                FROM latest l
            )
            SELECT t.target, t.apartment_id, r.room_name, t.hour_utc,
                   (t.hour_utc AT TIME ZONE 'Europe/Zurich') AS hour_local,
                   (t.hour_utc AT TIME ZONE 'Europe/Zurich')::date AS local_date,
                   t.issued_at, t.horizon_hours, t.predicted, t.model_version,
                   CASE WHEN t.target = 'energy_kwh' THEN e.energy_kwh END AS actual
            FROM timed t
            LEFT JOIN gold.dim_room r ON r.room_key = t.room_key
            LEFT JOIN gold.bi_energy_hour e ON e.apartment_id = t.apartment_id AND e.hour_utc = t.hour_utc
        $view$;
        GRANT SELECT ON gold.bi_forecast_hour TO PUBLIC;
    EXCEPTION
        WHEN undefined_column OR undefined_table OR datatype_mismatch OR undefined_function THEN
            RAISE WARNING 'bi_forecast.sql: gold.bi_forecast_hour not created (%): the Forecast dashboard stays '
                          'off until the view matches gold.fact_ml_predictions', SQLERRM;
    END;
END
$$;
