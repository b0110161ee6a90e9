-- gold.fact_environment_minute: one row per room and UTC minute with at least one environment reading
-- (meteo station, humidity sensor, motion sensor temperature/light, door or window contact).
-- Each measure comes from the room's best source by a fixed precedence, not a MAX across sensors;
-- *_source says which. The Outdoor station has its own rows (is_outdoor): exclude them from indoor figures.
-- Definitions in docs/gold.md ("fact_environment_minute").
CREATE TABLE IF NOT EXISTS gold.fact_environment_minute (
    datetime_key       bigint           NOT NULL,
    room_key           bigint           NOT NULL,
    date_key           integer          NOT NULL,
    apartment_key      bigint           NOT NULL,
    apartment_id       text             NOT NULL,
    is_outdoor         boolean          NOT NULL,
    temperature_c      double precision,
    temperature_source text,            -- meteo | humidity | motion
    humidity_pct       double precision,
    humidity_source    text,            -- meteo | humidity
    co2_ppm            double precision,
    noise_db           double precision,
    pressure_hpa       double precision,
    light_lux          double precision,
    window_open_flag   boolean,         -- NULL: no window reading in that minute
    door_open_flag     boolean,         -- NULL: no door reading in that minute
    is_anomaly         boolean          NOT NULL DEFAULT false,
    CONSTRAINT fact_environment_minute_pkey PRIMARY KEY (datetime_key, room_key)
);
