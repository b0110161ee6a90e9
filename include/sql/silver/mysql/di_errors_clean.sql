-- silver.di_errors_clean: typed, cleaned companion of silver.log_sensor_errors (pidb `dierrors`).
-- Grain: one row per pidb error (idError) that has a creationDate. Keeps the original's name and severity
-- rule; unlike the original, the message carries no personal data (stripped on the way from MySQL) and
-- sensor_id/room_id are filled when the message names a sensor's IP address.
-- Rebuilt by di_errors_clean_load.sql inside the snapshot's swap transaction.
CREATE TABLE IF NOT EXISTS silver.di_errors_clean (
    error_id      integer     PRIMARY KEY,         -- dierrors.idError
    building_id   integer,                         -- dierrors.idBuilding
    apartment     text,                            -- jimmy / jeremie, through silver.dim_buildings
    sensor_id     integer,                         -- silver.dim_sensors.idSensor whose IP the message names
    room_id       integer,                         -- that sensor's room (silver.dim_rooms.idRoom)
    "timestamp"   timestamptz NOT NULL,            -- creationDate, UTC
    severity      text        NOT NULL CHECK (severity IN ('high', 'medium', 'low')),
    error_message text                             -- personal data stripped
);
CREATE INDEX IF NOT EXISTS di_errors_clean_timestamp ON silver.di_errors_clean ("timestamp");
CREATE INDEX IF NOT EXISTS di_errors_clean_apartment ON silver.di_errors_clean (apartment, "timestamp");
