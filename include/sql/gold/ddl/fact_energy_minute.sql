-- gold.fact_energy_minute: one row per energy device (plug or whole-house meter) and UTC minute in which the
-- device delivered a power or counter reading. Definitions in docs/gold.md ("fact_energy_minute").
-- Totals: sum meter_role = 'house_meter' for an apartment's consumption, 'plug' for the appliances it
-- contains; never both (the house meter already measures every plug).
CREATE TABLE IF NOT EXISTS gold.fact_energy_minute (
    datetime_key     bigint           NOT NULL,
    device_key       bigint           NOT NULL,
    date_key         integer          NOT NULL,
    room_key         bigint           NOT NULL,
    apartment_key    bigint           NOT NULL,
    apartment_id     text             NOT NULL,
    meter_role       text             NOT NULL CHECK (meter_role IN ('plug', 'house_meter')),
    power_w          double precision,
    counter_total    double precision,           -- raw cumulative counter (Wh), plugs only
    energy_wh        double precision CHECK (energy_wh >= 0),
    energy_kwh       double precision CHECK (energy_kwh >= 0),
    cost_chf         double precision CHECK (cost_chf >= 0),
    is_counter_reset boolean          NOT NULL DEFAULT false,
    is_valid         boolean          NOT NULL DEFAULT true,
    CONSTRAINT fact_energy_minute_pkey PRIMARY KEY (datetime_key, device_key)
);
