-- Migration 0001: the warehouse as the pipeline built it before versioned migrations (schemas silver, gold,
-- ops; the tariff seed; the tenants of the BI layer). Every statement is idempotent (IF NOT EXISTS, OR REPLACE,
-- ON CONFLICT DO NOTHING), so a database built by an earlier version is upgraded in place, its data intact:
-- this migration then only records version 1. Later changes are new numbered files, never edits of this one.
-- The row-level security of Gold is the repeatable script repeatable/gold_security.sql, re-run by every
-- migrate (new tables get their policies).

-- ====================================================================================================
-- silver/00_schema
-- ====================================================================================================
-- Schema of the cleaned, full-resolution layer.
CREATE SCHEMA IF NOT EXISTS silver;

-- ====================================================================================================
-- silver/gold_ledger
-- ====================================================================================================
-- Gold's work ledger. Every change to the Silver tables Gold reads is recorded in silver.gold_ledger by its
-- writer, IN THE SAME TRANSACTION as the change itself (sensor load batches, compaction replays, weather file
-- loads, reference snapshot swaps): a committed Silver change always has its row, a rolled-back one never does.
-- gold_build claims every row inside its build transaction (DELETE ... FOR UPDATE SKIP LOCKED, build/02_claim.sql)
-- and records what it absorbed in silver.gold_ledger_absorbed; both commit with the rebuilt Gold or roll back
-- with it. So Gold's work list never depends on which asset events Airflow delivers (apache/airflow#56050 drops
-- some); asset events only wake gold_build up. See docs/gold.md, "Gold's work ledger".
--   scope 'sensor':    sensor facts of the window's minutes, device health of its UTC days;
--   scope 'weather':   weather facts of the window's hours;
--   scope 'reference': the pidb snapshot changed; no window: dimensions and every error count are refreshed.
-- Every row of silver.gold_ledger is pending: a build deletes the rows it absorbs (a delete is half the cost of
-- an update here: 10,000 changes are claimed in ~25 ms).
CREATE TABLE IF NOT EXISTS silver.gold_ledger (
    change_id    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope        text        NOT NULL CHECK (scope IN ('sensor', 'weather', 'reference')),
    window_start timestamptz,              -- half-open [window_start, window_end), UTC, whole minutes
    window_end   timestamptz,
    source       text        NOT NULL,     -- the writer: sensor_load, archive_replay, weather_load, ...
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT gold_ledger_window CHECK (
        (scope = 'reference' AND window_start IS NULL AND window_end IS NULL)
        OR (scope <> 'reference' AND window_end > window_start))
);

-- What each build absorbed, one row per build and scope (the audit trail; pruned after ledger_retention_days).
CREATE TABLE IF NOT EXISTS silver.gold_ledger_absorbed (
    absorbed_id      bigint         GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    absorbed_at      timestamptz    NOT NULL DEFAULT now(),  -- the build transaction's start
    run_id           text           NOT NULL,                -- the gold_build run (or the caller's label)
    scope            text           NOT NULL,
    changes          integer        NOT NULL,
    first_change_id  bigint         NOT NULL,
    last_change_id   bigint         NOT NULL,
    first_recorded_at timestamptz   NOT NULL,                -- the oldest change: how long Gold lagged
    windows          tstzmultirange,                         -- the merged windows (NULL for reference)
    sources          text[]         NOT NULL
);
CREATE INDEX IF NOT EXISTS gold_ledger_absorbed_run ON silver.gold_ledger_absorbed (run_id);

-- ====================================================================================================
-- silver/sensor_series
-- ====================================================================================================
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

-- ====================================================================================================
-- silver/file_manifest
-- ====================================================================================================
-- silver.file_manifest: every sensor source file ever seen, one row per distinct content (name, checksum).
-- Replaces the original's watermark table and skip list: a file whose checksum is here is skipped cheaply;
-- a re-delivery with new content gets a new row, becomes current, and its predecessor is marked not current.
CREATE TABLE IF NOT EXISTS silver.file_manifest (
    file_id             integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    source_name         text        NOT NULL,
    apartment           text,                       -- NULL when the name could not be parsed
    file_ts             timestamptz,                -- file-name minute, UTC
    checksum            text        NOT NULL,       -- sha256 of the content
    size_bytes          integer     NOT NULL,
    status              text        NOT NULL CHECK (status IN ('loaded', 'quarantined')),
    reason              text,                       -- why quarantined, or notes (e.g. timestamp fallback)
    rows                integer     NOT NULL DEFAULT 0,
    skipped_readings    integer     NOT NULL DEFAULT 0,
    skip_reasons        jsonb,
    payload_ts          timestamptz,                -- payload 'datetime' converted to UTC (NULL if unparsable)
    reading_ts          timestamptz,                -- the timestamp its readings carry
    ts_fallback         boolean     NOT NULL DEFAULT false,  -- true: file-name minute used (rule 4)
    payload_gap_minutes integer,                    -- payload minute minus file-name minute
    bronze_path         text,
    is_current          boolean     NOT NULL DEFAULT true,
    loaded_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT file_manifest_content_key UNIQUE (source_name, checksum)
);
CREATE UNIQUE INDEX IF NOT EXISTS file_manifest_current_name ON silver.file_manifest (source_name) WHERE is_current;
CREATE INDEX IF NOT EXISTS file_manifest_file_ts ON silver.file_manifest (file_ts);

-- ====================================================================================================
-- silver/sensor_readings
-- ====================================================================================================
-- silver.sensor_readings: the physical store behind silver.sensor_events, one row per reading.
-- Narrow on purpose (~56 bytes a row) and keyed (ts, series_id): bulk COPY appends in time order, Gold's
-- time-window queries are index range scans, and the key is the dedup rule (one value per series and minute).
-- file_id points at the manifest row of the file version that wrote the reading (for re-deliveries).
CREATE TABLE IF NOT EXISTS silver.sensor_readings (
    ts         timestamptz      NOT NULL,
    value      double precision NOT NULL,
    series_id  integer          NOT NULL,
    file_id    integer          NOT NULL,
    is_outlier boolean          NOT NULL,
    CONSTRAINT sensor_readings_pkey PRIMARY KEY (ts, series_id)
);

-- ====================================================================================================
-- silver/sensor_events
-- ====================================================================================================
-- silver.sensor_events: the BI-facing long table of the original (apartment, room, sensor_type, field,
-- value, unit, timestamp, is_outlier), as a view over the lean physical design.
CREATE OR REPLACE VIEW silver.sensor_events AS
SELECT s.apartment,
       s.room,
       s.sensor_type,
       s.field,
       r.value,
       s.unit,
       r.ts AS "timestamp",
       r.is_outlier,
       s.sensor_index,
       r.series_id,
       r.file_id
FROM silver.sensor_readings r
JOIN silver.sensor_series s USING (series_id);

-- ====================================================================================================
-- silver/weather/weather_file_manifest
-- ====================================================================================================
-- silver.weather_file_manifest: every remote forecast file ever seen, one row per distinct content.
-- Grain: (source_name, checksum). Source: the sFTP listing (name, size, mtime) and the downloaded bytes (sha256).
-- The fetch step compares the remote listing with the current row of each name, never with Bronze, so deleting
-- or compacting Bronze does not trigger downloads. A re-delivery with new content gets a new row that becomes
-- current; its predecessor stays for the audit trail (is_current = false). Names that are not
-- Pred_YYYY-MM-DD.csv are recorded once with status 'ignored' and checksum '' (never downloaded).
CREATE TABLE IF NOT EXISTS silver.weather_file_manifest (
    source_name      text        NOT NULL,               -- remote file name, e.g. Pred_2023-09-01.csv
    checksum         text        NOT NULL,               -- sha256 of the content ('' for ignored names)
    prediction_date  date,                               -- issue date from the name (NULL for ignored names)
    remote_path      text        NOT NULL,
    remote_size      bigint      NOT NULL,
    remote_mtime     timestamptz NOT NULL,
    bronze_path      text,
    status           text        NOT NULL
        CHECK (status IN ('downloaded', 'loaded', 'quarantined', 'ignored')),
    reason           text,                               -- why quarantined / ignored
    rows_read        integer,
    rows_loaded      integer,
    window_start     timestamptz,                        -- forecast hours loaded, UTC, half-open
    window_end       timestamptz,
    is_current       boolean     NOT NULL DEFAULT true,  -- the version the server delivers now
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    downloaded_at    timestamptz,
    processed_at     timestamptz,                        -- loaded or quarantined at
    CONSTRAINT weather_file_manifest_pkey PRIMARY KEY (source_name, checksum)
);
CREATE UNIQUE INDEX IF NOT EXISTS weather_file_manifest_current
    ON silver.weather_file_manifest (source_name) WHERE is_current;

-- ====================================================================================================
-- silver/weather/weather_file_stats
-- ====================================================================================================
-- silver.weather_file_stats: row counts of every cleaning step, per loaded file version.
-- Grain: (source_name, checksum, reason). Steps in order (step = position): rows_read, then the drop reasons
-- bad_field_count, unparsable_time, unparsable_value, missing_key, before_min_year, ignored_measurement,
-- duplicate (each dropped row counted once, under its first reason), then sentinel_null (kept as NULL),
-- outlier_flagged (kept, flagged) and rows_loaded. Source: domotic.weather.STEPS.
CREATE TABLE IF NOT EXISTS silver.weather_file_stats (
    source_name  text        NOT NULL,
    checksum     text        NOT NULL,
    step         smallint    NOT NULL,
    reason       text        NOT NULL,
    action       text        NOT NULL CHECK (action IN ('read', 'dropped', 'nulled', 'flagged', 'loaded')),
    rows         integer     NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT weather_file_stats_pkey PRIMARY KEY (source_name, checksum, reason),
    CONSTRAINT weather_file_stats_file_fkey FOREIGN KEY (source_name, checksum)
        REFERENCES silver.weather_file_manifest (source_name, checksum) ON DELETE CASCADE
);

-- ====================================================================================================
-- silver/weather/weather_forecasts
-- ====================================================================================================
-- silver.weather_forecasts: every forecast revision, long format, one row per kept CSV value.
-- Grain: (prediction_date, timestamp, site, measurement, prediction) - the issue's unique key, as primary key so
-- no column of it can be NULL (a NULL site or prediction defeated the original's key). The fixed-width columns
-- lead so that most key comparisons during a load never reach the text columns. Source: the cleaned
-- Pred_YYYY-MM-DD.csv files; prediction_date is the issue date from the file name. Loading an issue date
-- replaces all of its rows, so a corrected re-delivery leaves exactly its own rows.
-- value is NULL where the source sent the sentinel -99999.0 (missing); is_outlier flags values outside the
-- measurement's plausible range (T -50..60, RH 0..100, precipitation 0..500, radiation 0..1500; inclusive).
CREATE TABLE IF NOT EXISTS silver.weather_forecasts (
    prediction_date  date             NOT NULL,
    timestamp        timestamptz      NOT NULL,  -- forecast time, UTC
    site             text             NOT NULL,
    measurement      text             NOT NULL,  -- source code, e.g. PRED_T_2M_ctrl
    prediction       smallint         NOT NULL,  -- the file's Prediction code ("00" -> 0)
    value            double precision,
    unit             text             NOT NULL,
    is_outlier       boolean          NOT NULL DEFAULT false,
    CONSTRAINT weather_forecasts_pkey PRIMARY KEY (prediction_date, timestamp, site, measurement, prediction)
);
-- Gold reads forecast windows by time. Rows arrive issue date by issue date and a file covers only the days
-- after its issue date, so physical order follows time closely: a BRIN index serves time ranges at a fraction
-- of a B-tree's cost per insert (a B-tree here doubled the load time).
CREATE INDEX IF NOT EXISTS weather_forecasts_timestamp_brin ON silver.weather_forecasts USING brin (timestamp);

-- ====================================================================================================
-- silver/weather/weather_clean
-- ====================================================================================================
-- silver.weather_clean: the most recent forecast per forecast hour and site, wide (the original's v1 table).
-- Grain: (timestamp, site). Source: silver.weather_forecasts. For each key the rows of the latest
-- prediction_date count; per measurement the lowest prediction code that has a value is taken (see
-- docs/weather.md for why). is_outlier is true when any of the chosen values is flagged. prediction_date says
-- which issue the row comes from; an older issue loaded later (backfill) never replaces a newer one.
CREATE TABLE IF NOT EXISTS silver.weather_clean (
    timestamp         timestamptz      NOT NULL,
    site              text             NOT NULL,
    temperature_c     double precision,
    humidity_pct      double precision,
    precipitation_mm  double precision,
    radiation_wm2     double precision,
    is_outlier        boolean          NOT NULL DEFAULT false,
    prediction_date   date             NOT NULL,
    updated_at        timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT weather_clean_pkey PRIMARY KEY (timestamp, site)
);
CREATE INDEX IF NOT EXISTS weather_clean_prediction_date ON silver.weather_clean (prediction_date);

-- ====================================================================================================
-- silver/mysql/snapshot_log
-- ====================================================================================================
-- silver.mysql_snapshot_log: one row per pidb table per run of mysql_snapshot_weekly.
-- Grain: (snapshot_id, source_table). A run either swaps every table ('swapped') or none: then the tables
-- that failed say why ('failed') and the others keep their previous snapshot ('kept').
-- The current snapshot of a table is its latest 'swapped' row.
CREATE TABLE IF NOT EXISTS silver.mysql_snapshot_log (
    snapshot_id        uuid        NOT NULL,
    taken_at           timestamptz NOT NULL,            -- start of the consistent MySQL read
    source_table       text        NOT NULL,            -- pidb table
    silver_table       text        NOT NULL,            -- e.g. silver.dim_buildings
    status             text        NOT NULL CHECK (status IN ('swapped', 'failed', 'kept')),
    row_count          bigint,                          -- rows read (NULL when the table could not be read)
    unexpected_columns text[]      NOT NULL DEFAULT '{}',  -- new upstream columns, not on the allow-list
    message            text,                            -- how it was swapped, or why it failed
    airflow_run_id     text,
    logged_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (snapshot_id, source_table)
);
CREATE INDEX IF NOT EXISTS mysql_snapshot_log_taken_at ON silver.mysql_snapshot_log (taken_at);

-- ====================================================================================================
-- silver/mysql/di_errors_clean
-- ====================================================================================================
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

-- ====================================================================================================
-- gold/ddl/00_schema
-- ====================================================================================================
-- Schema of the business-ready star schema, and the helpers every Gold template shares.
CREATE SCHEMA IF NOT EXISTS gold;

-- Surrogate keys are derived from natural keys, never from a sequence: the same natural key gives the same
-- key on every run and every reinstall, so facts never need renumbering. 63 bits of md5 (non-negative
-- bigint); with a few thousand keys a collision has a probability below 1e-12 (primary keys would refuse it).
CREATE OR REPLACE FUNCTION gold.stable_key(natural_key text) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ('x' || substr(md5(natural_key), 1, 16))::bit(64)::bigint & 9223372036854775807;

-- The natural id of a device: <apartment>_<room>_<sensor_type>, as the original named it, with _<index>
-- appended for the second, third... contact of the same type in one room (index 0 keeps the original id).
CREATE OR REPLACE FUNCTION gold.device_id(apartment text, room text, sensor_type text, sensor_index integer)
    RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN apartment || '_' || room || '_' || sensor_type
           || CASE WHEN sensor_index > 0 THEN '_' || sensor_index::text ELSE '' END;

-- ====================================================================================================
-- gold/ddl/dim_date
-- ====================================================================================================
-- gold.dim_date: one row per calendar date that any build covered (a UTC day of a window).
-- Grain: date. Key: date_key = YYYYMMDD of the date. A date is a date: the attributes below are those of the
-- calendar date itself (the UTC day of date_key), and is_holiday says whether that date is a public holiday
-- in the canton of Valais (Python `holidays`, country CH, subdivision VS; computed by gold_build's planner).
CREATE TABLE IF NOT EXISTS gold.dim_date (
    date_key        integer  PRIMARY KEY,
    date            date     NOT NULL UNIQUE,
    day_of_week     text     NOT NULL,   -- English name, Monday..Sunday
    iso_day_of_week smallint NOT NULL,   -- 1 = Monday .. 7 = Sunday
    week            smallint NOT NULL,   -- ISO week
    iso_year        smallint NOT NULL,   -- year the ISO week belongs to
    month           smallint NOT NULL,
    quarter         smallint NOT NULL,
    year            smallint NOT NULL,
    is_weekend      boolean  NOT NULL,   -- ISO day 6 or 7
    is_holiday      boolean  NOT NULL DEFAULT false,
    holiday_name    text                 -- English name from the holidays library, NULL on other days
);

-- ====================================================================================================
-- gold/ddl/dim_datetime
-- ====================================================================================================
-- gold.dim_datetime: every minute of every covered UTC day (1,440 rows a day, observed or not).
-- Grain: minute. Key: datetime_key = YYYYMMDDHHMI of the minute in UTC, computed with an explicit
-- AT TIME ZONE 'UTC' (never the session time zone). The unprefixed attributes are UTC (as date_key);
-- the local_* attributes are Europe/Zurich wall-clock time, for BI. On the autumn DST change the local
-- hour 02:00-02:59 appears twice (is_dst tells them apart); in spring 02:00-02:59 local does not exist.
-- is_holiday: the minute's *local* date is a Valais public holiday (holidays are a local notion).
CREATE TABLE IF NOT EXISTS gold.dim_datetime (
    datetime_key       bigint      PRIMARY KEY,
    timestamp_utc      timestamptz NOT NULL UNIQUE,
    date_key           integer     NOT NULL,  -- UTC date, YYYYMMDD
    hour               smallint    NOT NULL,  -- UTC
    minute             smallint    NOT NULL,
    day_of_week        text        NOT NULL,  -- English name of the UTC date
    week               smallint    NOT NULL,  -- ISO week of the UTC date
    month              smallint    NOT NULL,
    year               smallint    NOT NULL,
    is_weekend         boolean     NOT NULL,
    is_holiday         boolean     NOT NULL DEFAULT false,
    local_timestamp    timestamp   NOT NULL,  -- Europe/Zurich wall clock
    local_date         date        NOT NULL,
    local_date_key     integer     NOT NULL,  -- YYYYMMDD of local_date
    local_hour         smallint    NOT NULL,
    local_minute       smallint    NOT NULL,
    local_day_of_week  text        NOT NULL,
    local_iso_week     smallint    NOT NULL,
    local_iso_year     smallint    NOT NULL,
    local_is_weekend   boolean     NOT NULL,
    utc_offset_minutes smallint    NOT NULL,  -- +60 (CET) or +120 (CEST)
    is_dst             boolean     NOT NULL
);
CREATE INDEX IF NOT EXISTS dim_datetime_date_key ON gold.dim_datetime (date_key);
CREATE INDEX IF NOT EXISTS dim_datetime_local_date ON gold.dim_datetime (local_date);

-- ====================================================================================================
-- gold/ddl/dim_weather_site
-- ====================================================================================================
-- gold.dim_weather_site: the MeteoSwiss stations Gold reports (Variable weather_sites, default "Sion").
-- Grain: site. Key: site_key = stable_key('site|' || site_name). A site removed from the setting stays (its
-- facts keep their key) with is_configured = false; its forecasts are no longer refreshed.
CREATE TABLE IF NOT EXISTS gold.dim_weather_site (
    site_key      bigint  PRIMARY KEY,
    site_name     text    NOT NULL UNIQUE,
    is_configured boolean NOT NULL DEFAULT true
);

-- ====================================================================================================
-- gold/ddl/dim_apartment
-- ====================================================================================================
-- gold.dim_apartment: one row per apartment (tenant) seen in Silver.
-- Grain: apartment. Natural key apartment_id ('jimmy', 'jeremie'): the tenant key of row-level security.
-- Key: apartment_key = stable_key('apartment|' || apartment_id). Building attributes come from the MySQL
-- reference snapshot (silver.dim_buildings) when it has the apartment; personal data never reaches Gold:
-- building_name is masked as 'Building <id>' and owner_user_id is always NULL (kept for the BI contract).
CREATE TABLE IF NOT EXISTS gold.dim_apartment (
    apartment_key     bigint   PRIMARY KEY,
    apartment_id      text     NOT NULL UNIQUE,
    name              text     NOT NULL,
    owner_user_id     text,
    building_id       integer,
    building_name     text,
    building_type     text,
    building_year     smallint,
    nb_people         smallint,
    heating_electric  boolean,
    surface_m2        numeric,
    floor             integer,            -- unknown in every source: NULL (BI contract)
    weather_site_key  bigint,             -- the first configured weather site
    weather_site_name text
);

-- ====================================================================================================
-- gold/ddl/dim_room
-- ====================================================================================================
-- gold.dim_room: one row per (apartment, room) seen in Silver; pseudo-rooms included and typed.
-- Grain: room of an apartment. Natural key (apartment_id, room_name); room_key = stable_key('room|' ||
-- apartment_id || '|' || room_name). room_type: 'indoor'; 'outdoor' (the outdoor station: kept apart from
-- every indoor figure, is_outdoor); 'meter' (House, the whole-house meter); 'appliance' (plug keys that are
-- appliances: Dishwasher, Dryer, WashingMachine). Reference attributes from silver.dim_rooms when it matches.
CREATE TABLE IF NOT EXISTS gold.dim_room (
    room_key      bigint  PRIMARY KEY,
    apartment_key bigint  NOT NULL,
    apartment_id  text    NOT NULL,
    room_name     text    NOT NULL,
    room_type     text    NOT NULL CHECK (room_type IN ('indoor', 'outdoor', 'meter', 'appliance')),
    is_outdoor    boolean NOT NULL,
    room_id       integer,            -- silver.dim_rooms.idRoom
    floor         smallint,
    orientation   text,
    surface_m2    numeric,
    has_window    boolean,
    CONSTRAINT dim_room_natural_key UNIQUE (apartment_id, room_name)
);

-- ====================================================================================================
-- gold/ddl/dim_device
-- ====================================================================================================
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

-- ====================================================================================================
-- gold/ddl/dim_tariff
-- ====================================================================================================
-- gold.dim_tariff: electricity price by validity dates, half-open [valid_from, valid_to) in local
-- (Europe/Zurich) dates; valid_to NULL = open-ended. At most one tariff applies to any date (exclusion
-- constraint). tariff_key is derived from the natural key (provider, valid_from).
-- Seeded by dim_tariff_seed.sql; operators change prices here (see docs/gold.md) and rebuild the dates.
CREATE TABLE IF NOT EXISTS gold.dim_tariff (
    tariff_key  bigint GENERATED ALWAYS AS
                    (gold.stable_key('tariff|' || provider || '|' || (valid_from - DATE '2000-01-01')::text)) STORED,
    provider    text          NOT NULL,
    valid_from  date          NOT NULL,
    valid_to    date,
    chf_per_kwh numeric(8, 4) NOT NULL CHECK (chf_per_kwh >= 0),
    year        smallint,     -- informational: the calendar year when the row covers exactly one year
    note        text,
    CONSTRAINT dim_tariff_pkey PRIMARY KEY (tariff_key),
    CONSTRAINT dim_tariff_natural_key UNIQUE (provider, valid_from),
    CONSTRAINT dim_tariff_valid_range CHECK (valid_to IS NULL OR valid_to > valid_from),
    CONSTRAINT dim_tariff_no_overlap EXCLUDE USING gist (daterange(valid_from, valid_to) WITH &&)
);

-- ====================================================================================================
-- gold/ddl/dim_tariff_seed
-- ====================================================================================================
-- Seed of gold.dim_tariff: the original's OIKEN tariff, 0.34 CHF/kWh for 2023, 2024 and 2025.
-- Inserted only where nothing covers the dates yet (ON CONFLICT DO NOTHING also yields to the no-overlap
-- constraint), so a price an operator changed or a row an operator added is never overwritten.
INSERT INTO gold.dim_tariff (provider, valid_from, valid_to, chf_per_kwh, year, note)
VALUES ('OIKEN', DATE '2023-01-01', DATE '2024-01-01', 0.3400, 2023, 'seed: original tariff'),
       ('OIKEN', DATE '2024-01-01', DATE '2025-01-01', 0.3400, 2024, 'seed: original tariff'),
       ('OIKEN', DATE '2025-01-01', DATE '2026-01-01', 0.3400, 2025, 'seed: original tariff')
ON CONFLICT DO NOTHING;

-- ====================================================================================================
-- gold/ddl/fact_energy_minute
-- ====================================================================================================
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

-- ====================================================================================================
-- gold/ddl/fact_environment_minute
-- ====================================================================================================
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

-- ====================================================================================================
-- gold/ddl/fact_presence_minute
-- ====================================================================================================
-- gold.fact_presence_minute: one row per room and UTC minute with a motion or door reading.
-- presence_flag = motion in that minute OR a door opened/closed in that minute (a state change against the
-- contact's previous reading); a door standing open is not presence. presence_prob stays NULL until a
-- model fills it. Definitions in docs/gold.md ("fact_presence_minute").
CREATE TABLE IF NOT EXISTS gold.fact_presence_minute (
    datetime_key          bigint           NOT NULL,
    room_key              bigint           NOT NULL,
    date_key              integer          NOT NULL,
    apartment_key         bigint           NOT NULL,
    apartment_id          text             NOT NULL,
    motion_count          integer          NOT NULL CHECK (motion_count >= 0),
    door_open_flag        boolean,         -- NULL: no door reading in that minute
    door_transition_count integer          NOT NULL CHECK (door_transition_count >= 0),
    presence_flag         boolean          NOT NULL,
    presence_prob         double precision,
    CONSTRAINT fact_presence_minute_pkey PRIMARY KEY (datetime_key, room_key),
    CONSTRAINT fact_presence_minute_flag CHECK (presence_flag = (motion_count > 0 OR door_transition_count > 0))
);

-- ====================================================================================================
-- gold/ddl/fact_device_health_day
-- ====================================================================================================
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

-- ====================================================================================================
-- gold/ddl/fact_weather_hour
-- ====================================================================================================
-- Weather facts, per configured site and forecast hour (UTC), from silver.weather_forecasts.
-- gold.fact_weather_hour: the LATEST forecast of each hour (the most recent issue date that covers it).
-- gold.fact_weather_hour_revision: EVERY forecast of each hour, one row per issue date (prediction_date),
-- with its lead time, for forecast-accuracy analysis; is_latest marks the row fact_weather_hour holds.
-- Per measurement the value is that of the lowest prediction code with a value (as silver.weather_clean),
-- averaged over the forecast timestamps inside the hour. Definitions in docs/gold.md.
CREATE TABLE IF NOT EXISTS gold.fact_weather_hour (
    datetime_key     bigint           NOT NULL,  -- the hour's first minute
    site_key         bigint           NOT NULL,
    date_key         integer          NOT NULL,
    prediction_date  date             NOT NULL,  -- issue date of the forecast shown
    temperature_c    double precision,
    humidity_pct     double precision,
    precipitation_mm double precision,
    radiation_wm2    double precision,
    n_model_runs     integer          NOT NULL,  -- distinct prediction codes in that issue for the hour
    is_outlier       boolean          NOT NULL DEFAULT false,
    CONSTRAINT fact_weather_hour_pkey PRIMARY KEY (datetime_key, site_key)
);
CREATE TABLE IF NOT EXISTS gold.fact_weather_hour_revision (
    datetime_key     bigint           NOT NULL,
    site_key         bigint           NOT NULL,
    prediction_date  date             NOT NULL,
    date_key         integer          NOT NULL,
    lead_hours       integer          NOT NULL,  -- hours from the issue date's 00:00 UTC to the hour
    temperature_c    double precision,
    humidity_pct     double precision,
    precipitation_mm double precision,
    radiation_wm2    double precision,
    n_model_runs     integer          NOT NULL,
    is_outlier       boolean          NOT NULL DEFAULT false,
    is_latest        boolean          NOT NULL,
    CONSTRAINT fact_weather_hour_revision_pkey PRIMARY KEY (datetime_key, site_key, prediction_date)
);

-- ====================================================================================================
-- gold/ddl/build_window
-- ====================================================================================================
-- gold.build_window: the windows the latest gold_build transaction rebuilt (replaced by every build), read
-- by the quality gates that run after it. Build metadata, not BI data: not granted to the BI roles.
CREATE TABLE IF NOT EXISTS gold.build_window (
    scope          text        NOT NULL CHECK (scope IN ('sensor', 'weather')),
    window_start   timestamptz NOT NULL,
    window_end     timestamptz NOT NULL,
    key_start      bigint      NOT NULL,  -- datetime_key of window_start
    key_end        bigint      NOT NULL,  -- datetime_key of window_end (exclusive)
    date_key_start integer     NOT NULL,  -- first UTC day touched
    date_key_end   integer     NOT NULL,  -- last UTC day touched (inclusive)
    CONSTRAINT build_window_pkey PRIMARY KEY (scope, window_start, window_end)
);

-- ====================================================================================================
-- gold/security/tenants
-- ====================================================================================================
-- Tenants of the BI layer: which database role sees which apartment. Add a row (and run gold_build, or this
-- file and rls.sql) to onboard an apartment. Read by rls.sql, never by BI roles.
CREATE TABLE IF NOT EXISTS gold.tenant_role (
    role_name    text PRIMARY KEY,
    apartment_id text NOT NULL
);
INSERT INTO gold.tenant_role (role_name, apartment_id)
VALUES ('role_jimmy', 'jimmy'), ('role_jeremie', 'jeremie')
ON CONFLICT (role_name) DO NOTHING;

-- ====================================================================================================
-- ops/alerts
-- ====================================================================================================
-- ops.alerts: every alert the pipeline raised (task failures after the last retry, missed deadlines,
-- stale data, maintenance warnings), whether or not its e-mail went out. Written by
-- plugins/domotic_airflow/alerts.py; read it when the mail server itself was down.
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.alerts (
    alert_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    raised_at   timestamptz NOT NULL DEFAULT now(),
    kind        text        NOT NULL,   -- task_failure | deadline_missed | stale_data | maintenance
    dag_id      text,
    task_id     text,
    run_id      text,
    subject     text        NOT NULL,
    message     text        NOT NULL,
    details     jsonb,
    email_sent  boolean     NOT NULL DEFAULT false,
    email_error text
);
CREATE INDEX IF NOT EXISTS alerts_raised_at ON ops.alerts (raised_at);
