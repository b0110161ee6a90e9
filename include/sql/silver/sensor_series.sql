-- silver.sensor_series: one row per physical measurement series (apartment, room, sensor, field).
-- Readings reference a series by a 4-byte id, which keeps silver.sensor_readings narrow and its key short.
-- sensor_index tells apart two contacts of the same type in one room (rule 2): their position among
-- contacts of that type, in file order.
CREATE TABLE IF NOT EXISTS silver.sensor_series (
    series_id    integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    apartment    text     NOT NULL,
    room         text     NOT NULL,
    sensor_type  text     NOT NULL,
    field        text     NOT NULL,
    sensor_index smallint NOT NULL DEFAULT 0,
    unit         text     NOT NULL,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sensor_series_natural_key UNIQUE (apartment, room, sensor_type, field, sensor_index)
);
