-- gold.dim_device: one row per physical sensor device seen in Silver: (apartment, room, sensor_type,
-- sensor_index); its fields (power, total, battery...) are series of the device.
-- Natural key device_id = gold.device_id(...) ('jimmy_Living Room_plug', 'jeremie_Kitchen_window_1');
-- device_key = stable_key('device|' || device_id).
-- meter_role: 'plug' (a smart plug: one appliance or socket) or 'house_meter' (the whole-house 3-phase meter,
-- whose total already contains every plug), NULL for devices that measure no energy. Never add the two.
-- first_reading_ts: earliest reading Gold has built for the device (maintained by fact_device_health_day.sql);
-- health rows start on that day.
CREATE TABLE IF NOT EXISTS gold.dim_device (
    device_key          bigint   PRIMARY KEY,
    device_id           text     NOT NULL,
    apartment_key       bigint   NOT NULL,
    apartment_id        text     NOT NULL,
    room_key            bigint   NOT NULL,
    room_name           text     NOT NULL,
    device_name         text     NOT NULL,
    device_type         text     NOT NULL,  -- = sensor_type (BI contract)
    sensor_type         text     NOT NULL,
    sensor_index        smallint NOT NULL,
    meter_role          text     CHECK (meter_role IN ('plug', 'house_meter')),
    is_battery_powered  boolean  NOT NULL,  -- has a battery series
    is_active           boolean  NOT NULL DEFAULT true,  -- silver.dim_sensors.active when matched
    reference_sensor_id integer,            -- silver.dim_sensors.idSensor
    reference_device_id integer,            -- silver.dim_devices.idDevice (appliance plugs)
    rated_power_w       integer,
    first_reading_ts    timestamptz,
    CONSTRAINT dim_device_id_key UNIQUE (device_id, sensor_type),
    CONSTRAINT dim_device_natural_key UNIQUE (apartment_id, room_name, sensor_type, sensor_index)
);
