-- gold.fact_device_health_day: one row per device and UTC day on which the device's apartment delivered
-- data (covered_minutes > 0), for every device (not only battery-powered ones) from its first reading on.
-- Definitions in docs/gold.md ("fact_device_health_day").
CREATE TABLE IF NOT EXISTS gold.fact_device_health_day (
    date_key             integer          NOT NULL,
    device_key           bigint           NOT NULL,
    room_key             bigint           NOT NULL,
    apartment_key        bigint           NOT NULL,
    apartment_id         text             NOT NULL,
    covered_minutes      integer          NOT NULL CHECK (covered_minutes BETWEEN 1 AND 1440),
    reading_minutes      integer          NOT NULL CHECK (reading_minutes >= 0),
    missing_readings     integer          NOT NULL DEFAULT 0 CHECK (missing_readings >= 0),
    uptime_pct           double precision NOT NULL CHECK (uptime_pct BETWEEN 0 AND 100),
    outlier_count        integer          NOT NULL DEFAULT 0,
    battery_min_pct      double precision,
    battery_avg_pct      double precision,
    error_count          integer          NOT NULL DEFAULT 0,  -- errors naming this device's sensor
    building_error_count integer          NOT NULL DEFAULT 0,  -- all errors of the building that day
    CONSTRAINT fact_device_health_day_pkey PRIMARY KEY (date_key, device_key)
);
