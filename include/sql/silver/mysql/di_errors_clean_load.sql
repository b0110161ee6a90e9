-- Rebuild silver.di_errors_clean from silver.log_sensor_errors (run inside the snapshot's swap transaction,
-- so readers see the old rows or the new ones, never a mix).
-- Source: silver.log_sensor_errors (message already stripped of personal data), silver.dim_buildings
-- (apartment), silver.dim_sensors (IP address -> sensor, room).
-- Severity, as the original: fatal|crash|down|offline -> high; fail|error|exception|null -> medium; else low.
DELETE FROM silver.di_errors_clean;

INSERT INTO silver.di_errors_clean
    (error_id, building_id, apartment, sensor_id, room_id, "timestamp", severity, error_message)
SELECT e."idError",
       e."idBuilding",
       b.apartment,
       s."idSensor",
       s."idRoom",
       e."creationDate",
       CASE
           WHEN lower(e."errorMessage") ~ '(fatal|crash|down|offline)' THEN 'high'
           WHEN lower(e."errorMessage") ~ '(fail|error|exception|null)' THEN 'medium'
           ELSE 'low'
       END,
       e."errorMessage"
FROM silver.log_sensor_errors e
LEFT JOIN silver.dim_buildings b ON b."idBuilding" = e."idBuilding"
LEFT JOIN LATERAL (
    SELECT d."idSensor", d."idRoom"
    FROM silver.dim_sensors d
    WHERE d."ipAddress" = substring(e."errorMessage" FROM '(?:^|[^0-9.])([0-9]{1,3}(?:\.[0-9]{1,3}){3})(?:[^0-9.]|$)')
    ORDER BY d."idSensor"
    LIMIT 1
) s ON true
WHERE e."creationDate" IS NOT NULL;
