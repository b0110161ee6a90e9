"""Gold against a real Postgres: an independent recomputation, incremental == full, idempotency, atomicity, RLS.

The dataset: two generated UTC days (2023-10-28 and -29, so the Europe/Zurich DST change of 2023-10-29 01:00
UTC is inside) for both apartments, loaded through the real Silver loader, with missing minutes, null fields and
outliers from the generator's faults, plus scenarios written into Silver on purpose: a plug counter reset, a
30-minute gap of one plug, a door left open for two hours without motion. Weather forecasts (two issues, two
codes, gaps, an unconfigured site) and a reference snapshot with sensor errors are inserted as their loaders
would leave them. It is built once per module into a template database; each test gets a copy.

The expected Gold is recomputed here with pandas from silver.sensor_events, silver.file_manifest and the
inserted weather/reference rows, following docs/gold.md, without any of the Gold SQL.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql

from domotic import gold
from domotic.warehouse.migrations import apply as migrate
from tests.fixtures.gold import (
    DAY1,
    DAY2,
    DOOR_OPEN,
    END,
    ERRORS,
    GAP,
    RESET_AT,
    START,
    WEATHER,
    WEATHER_CODES,
    admin,
    conninfo,
    full_plan,
    run,
    run_changes,
    series_id,
    snapshot,
)

TARIFF = 0.34
LOOKBACK = timedelta(minutes=gold.LOOKBACK_MINUTES)
# (device_id, reference sensor) pairs the reference rows below must produce; appliance plug -> MySQL device.
EXPECTED_SENSOR = {"jimmy_Living Room_plug": 1, "jimmy_Bedroom_window": 3, "jimmy_Bathroom_door": 4,
                   "jimmy_Living Room_motion": 5, "jimmy_Living Room_meteo": 6, "jimmy_House_consumption": 8,
                   "jeremie_Bedroom_window": 11, "jeremie_Kitchen_window": 12, "jeremie_Kitchen_window_1": 13}


# ------------------------------------------------------------------------------------------- the dataset




























# ------------------------------------------------------------------------------- the independent recomputation


def stable_key(natural: str) -> int:
    return int(hashlib.md5(natural.encode()).hexdigest()[:16], 16) & (2**63 - 1)


def device_id(apartment: str, room: str, sensor_type: str, index: int) -> str:
    return f"{apartment}_{room}_{sensor_type}" + (f"_{index}" if index else "")


def minute_key(ts: pd.Series) -> pd.Series:
    return ts.dt.tz_convert("UTC").dt.strftime("%Y%m%d%H%M").astype("int64")


def read_csv(conn, query: str) -> pd.DataFrame:
    import io

    buffer = io.BytesIO()
    with conn.cursor().copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    return pd.read_csv(buffer)


def silver_frames(info: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    with psycopg.connect(info) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        events = read_csv(conn, "SELECT apartment, room, sensor_type, field, sensor_index, value,"
                                " \"timestamp\" AS ts, is_outlier FROM silver.sensor_events")
        manifest = read_csv(conn, "SELECT apartment, reading_ts, status, is_current FROM silver.file_manifest")
    events["ts"] = pd.to_datetime(events.ts, utc=True)
    events["is_outlier"] = events.is_outlier.eq("t")
    index = events.sensor_index
    events["device_id"] = (events.apartment + "_" + events.room + "_" + events.sensor_type
                           + np.where(index > 0, "_" + index.astype(str), ""))
    manifest["reading_ts"] = pd.to_datetime(manifest.reading_ts, utc=True)
    manifest["is_current"] = manifest.is_current.eq("t")
    return events, manifest


def expected_energy(ev: pd.DataFrame) -> pd.DataFrame:
    is_power = ((ev.sensor_type == "plug") & (ev.field == "power")) | (
        (ev.sensor_type == "consumption") & (ev.field == "total_power"))
    is_counter = (ev.sensor_type == "plug") & (ev.field == "total")
    rows = ev[is_power | is_counter].assign(kind=np.where(is_power[is_power | is_counter], "power", "counter"))
    wide = rows.pivot_table(index=["device_id", "apartment", "sensor_type", "ts"], columns="kind", values="value",
                            aggfunc="first").reset_index()
    outlier = rows.groupby(["device_id", "ts"]).is_outlier.any().rename("any_outlier").reset_index()
    wide = wide.merge(outlier, on=["device_id", "ts"])
    counters = wide[wide.counter.notna()].sort_values(["device_id", "ts"]).copy()
    counters["prev"] = counters.groupby("device_id").counter.shift(1)
    counters["prev_ts"] = counters.groupby("device_id").ts.shift(1)
    counters.loc[counters.ts - counters.prev_ts > LOOKBACK, "prev"] = np.nan
    wide = wide.merge(counters[["device_id", "ts", "prev"]], on=["device_id", "ts"], how="left")
    house = wide.sensor_type == "consumption"
    energy = np.where(wide.counter >= wide.prev, wide.counter - wide.prev, wide.counter)
    energy = np.where(wide.prev.isna(), np.nan, energy)
    energy = np.where(house, np.maximum(wide.power, 0) / 60.0, energy)
    out = pd.DataFrame({
        "datetime_key": minute_key(wide.ts), "device_id": wide.device_id, "apartment_id": wide.apartment,
        "meter_role": np.where(house, "house_meter", "plug"), "power_w": wide.power,
        "counter_total": wide.counter if "counter" in wide else np.nan, "energy_wh": energy,
        "is_counter_reset": (wide.counter < wide.prev).fillna(False).astype(bool),
        "is_valid": ~wide.any_outlier & ~(wide.power < 0),
    })
    out["energy_kwh"] = out.energy_wh / 1000.0
    out["cost_chf"] = out.energy_kwh * TARIFF  # every local date of the data is in 2023
    return out


def expected_environment(ev: pd.DataFrame) -> pd.DataFrame:
    source = {("meteo", "temperature_c"): ("temperature_c", 1, "meteo"),
              ("humidity", "temperature"): ("temperature_c", 2, "humidity"),
              ("motion", "temperature"): ("temperature_c", 3, "motion"),
              ("meteo", "humidity_pct"): ("humidity_pct", 1, "meteo"),
              ("humidity", "humidity"): ("humidity_pct", 2, "humidity"),
              ("meteo", "co2_ppm"): ("co2_ppm", 1, "meteo"), ("meteo", "noise_db"): ("noise_db", 1, "meteo"),
              ("meteo", "pressure_hpa"): ("pressure_hpa", 1, "meteo"), ("motion", "light"): ("light_lux", 1, "motion")}
    keys = ["apartment", "room", "ts"]
    m = ev.assign(pair=list(zip(ev.sensor_type, ev.field, strict=True)))
    measures = m[m.pair.isin(source)].copy()
    measures[["measure", "precedence", "source"]] = pd.DataFrame(measures.pair.map(source).tolist(),
                                                                 index=measures.index)
    chosen = (measures.sort_values([*keys, "measure", "is_outlier", "precedence", "value"],
                                   ascending=[True, True, True, True, True, True, False])
              .drop_duplicates([*keys, "measure"]))
    values = chosen.pivot_table(index=keys, columns="measure", values="value", aggfunc="first")
    sources = chosen[chosen.measure.isin(["temperature_c", "humidity_pct"])].pivot_table(
        index=keys, columns="measure", values="source", aggfunc="first").rename(
        columns={"temperature_c": "temperature_source", "humidity_pct": "humidity_source"})
    anomaly = chosen.groupby(keys).is_outlier.any().rename("is_anomaly")
    contacts = m[(m.field == "open") & m.sensor_type.isin(["door", "window"])]
    flags = contacts.assign(open=contacts.value == 1).pivot_table(
        index=keys, columns="sensor_type", values="open", aggfunc="max")
    flags = flags.rename(columns={"door": "door_open_flag", "window": "window_open_flag"})
    out = pd.concat([values, sources, anomaly, flags], axis=1).reset_index()
    out["is_anomaly"] = out.is_anomaly.fillna(False).astype(bool)
    out["datetime_key"] = minute_key(out.ts)
    out["is_outdoor"] = out.room == "Outdoor"
    return out


def expected_presence(ev: pd.DataFrame) -> pd.DataFrame:
    keys = ["apartment", "room", "ts"]
    motion = ev[(ev.sensor_type == "motion") & (ev.field == "motion")]
    door = ev[(ev.sensor_type == "door") & (ev.field == "open")].sort_values(["device_id", "ts"]).copy()
    door["prev"] = door.groupby("device_id").value.shift(1)
    door["prev_ts"] = door.groupby("device_id").ts.shift(1)
    door["changed"] = door.prev.notna() & (door.ts - door.prev_ts <= LOOKBACK) & (door.value != door.prev)
    out = pd.concat([
        motion.assign(moving=motion.value == 1).groupby(keys).moving.sum().rename("motion_count"),
        door.assign(open=door.value == 1).groupby(keys).open.any().rename("door_open_flag"),
        door.groupby(keys).changed.sum().rename("door_transition_count"),
    ], axis=1).reset_index()
    out["motion_count"] = out.motion_count.fillna(0).astype(int)
    out["door_transition_count"] = out.door_transition_count.fillna(0).astype(int)
    out["presence_flag"] = (out.motion_count > 0) | (out.door_transition_count > 0)
    out["datetime_key"] = minute_key(out.ts)
    return out


PRIMARY = {"plug": "power", "door": "open", "window": "open", "motion": "motion", "meteo": "temperature_c",
           "humidity": "humidity", "consumption": "total_power"}


def expected_health(ev: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    current = manifest[(manifest.status == "loaded") & manifest.is_current]
    covered = (current.assign(day=current.reading_ts.dt.date).groupby(["apartment", "day"]).reading_ts.nunique()
               .rename("covered_minutes"))
    ev = ev.assign(day=ev.ts.dt.date)
    devices = ev.groupby(["device_id", "apartment", "sensor_type"]).ts.min().rename("first").reset_index()
    by_device_day = dict(list(ev.groupby(["device_id", "day"])))
    rows = []
    for (apartment, day), covered_minutes in covered.items():
        day_end = pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)
        for dev in devices[(devices.apartment == apartment) & (devices["first"] < day_end)].itertuples():
            mine = by_device_day.get((dev.device_id, day), ev.iloc[:0])
            primary = mine[mine.field == PRIMARY[dev.sensor_type]]
            battery = mine[(mine.field == "battery") & ~mine.is_outlier].value
            errors = [e for e in ERRORS if pd.Timestamp(e[4]).date() == day]
            rows.append({
                "date_key": int(day.strftime("%Y%m%d")), "device_id": dev.device_id, "apartment_id": apartment,
                "covered_minutes": covered_minutes, "reading_minutes": len(primary),
                "missing_readings": max(covered_minutes - len(primary), 0),
                "uptime_pct": min(100.0, 100.0 * len(primary) / covered_minutes),
                "outlier_count": int(mine.is_outlier.sum()),
                "battery_min_pct": battery.min() if len(battery) else np.nan,
                "battery_avg_pct": battery.mean() if len(battery) else np.nan,
                "error_count": sum(1 for e in errors if e[3] is not None and e[3] == EXPECTED_SENSOR.get(dev.device_id)),
                "building_error_count": sum(1 for e in errors if e[2] == apartment),
            })
    return pd.DataFrame(rows)


def expected_weather(info: str) -> pd.DataFrame:
    with psycopg.connect(info) as conn:
        cur = conn.execute("SELECT * FROM silver.weather_forecasts WHERE site = 'Sion'")
        wf = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    wf["timestamp"] = pd.to_datetime(wf.timestamp, utc=True)
    chosen = (wf.assign(missing=wf.value.isna()).sort_values(["timestamp", "prediction_date", "measurement",
                                                              "missing", "prediction"])
              .drop_duplicates(["timestamp", "prediction_date", "measurement"]))
    out = chosen.pivot_table(index=["timestamp", "prediction_date"], columns="measurement", values="value",
                             aggfunc="first").rename(columns=WEATHER_CODES)
    out["is_outlier"] = chosen.assign(o=chosen.is_outlier & chosen.value.notna()).groupby(
        ["timestamp", "prediction_date"]).o.any()
    out["n_model_runs"] = wf.groupby(["timestamp", "prediction_date"]).prediction.nunique()
    out = out.reset_index()
    out["is_latest"] = out.prediction_date == out.groupby("timestamp").prediction_date.transform("max")
    out["datetime_key"] = minute_key(out.timestamp)
    return out


def gold_frame(info: str, query: str) -> pd.DataFrame:
    with psycopg.connect(info) as conn:
        cur = conn.execute(query)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame, keys: list[str], columns: list[str]) -> None:
    assert len(actual) == len(expected), (len(actual), len(expected))
    merged = actual.merge(expected, on=keys, how="outer", suffixes=("_gold", "_expected"), indicator=True)
    assert (merged._merge == "both").all(), merged[merged._merge != "both"].head()
    for column in columns:
        a, e = merged[f"{column}_gold"], merged[f"{column}_expected"]
        if pd.api.types.is_numeric_dtype(e) and not pd.api.types.is_bool_dtype(e):
            a = pd.to_numeric(a.astype(object).where(a.notna(), np.nan))
            same = np.isclose(a.astype(float), e.astype(float), rtol=1e-12, atol=1e-12, equal_nan=True)
        else:
            same = (a.astype(object).where(a.notna(), None) == e.astype(object).where(e.notna(), None)) | (
                a.isna() & e.isna())
        assert same.all(), (column, merged.loc[~same, [*keys, f"{column}_gold", f"{column}_expected"]].head())


# ------------------------------------------------------------------------------------------------- tests


def test_gold_equals_an_independent_recomputation(make_db):
    info = make_db()
    run(info, full_plan(), session_tz="Asia/Kathmandu")  # +05:45: any use of the session zone would show
    events, manifest = silver_frames(info)

    energy = gold_frame(info, "SELECT f.*, d.device_id FROM gold.fact_energy_minute f JOIN gold.dim_device d"
                              " USING (device_key)")
    assert_same(energy, expected_energy(events), ["datetime_key", "device_id"],
                ["apartment_id", "meter_role", "power_w", "counter_total", "energy_wh", "energy_kwh", "cost_chf",
                 "is_counter_reset", "is_valid"])
    # the scenarios, spelled out
    office = energy[energy.device_id == "jimmy_Office_plug"].set_index("datetime_key").sort_index()
    reset = office[office.is_counter_reset]
    assert len(reset) >= 1 and (reset.energy_wh == reset.counter_total).all()
    assert 202310291000 in reset.index and office.loc[202310291000, "energy_wh"] == 7
    assert (energy.energy_wh.dropna() >= 0).all()
    living = energy[energy.device_id == "jeremie_Living Room_plug"].set_index("datetime_key")
    assert not any(k in living.index for k in range(202310291500, 202310291530))
    before = living.loc[living.index < 202310291500].sort_index().iloc[-1]
    assert living.loc[202310291530, "energy_wh"] == living.loc[202310291530, "counter_total"] - before.counter_total
    assert set(energy.meter_role) == {"plug", "house_meter"}
    assert energy[energy.meter_role == "house_meter"].counter_total.isna().all()

    environment = gold_frame(info, "SELECT f.*, r.room_name AS room FROM gold.fact_environment_minute f"
                                   " JOIN gold.dim_room r USING (room_key)")
    expected = expected_environment(events).rename(columns={"apartment": "apartment_id"})
    assert_same(environment, expected, ["datetime_key", "apartment_id", "room"],
                ["temperature_c", "temperature_source", "humidity_pct", "humidity_source", "co2_ppm", "noise_db",
                 "pressure_hpa", "light_lux", "window_open_flag", "door_open_flag", "is_anomaly", "is_outdoor"])
    assert environment.is_anomaly.any()
    assert set(environment.temperature_source.dropna()) == {"meteo", "humidity", "motion"}

    presence = gold_frame(info, "SELECT f.*, r.room_name AS room FROM gold.fact_presence_minute f"
                                " JOIN gold.dim_room r USING (room_key)")
    expected = expected_presence(events).rename(columns={"apartment": "apartment_id"})
    assert_same(presence, expected, ["datetime_key", "apartment_id", "room"],
                ["motion_count", "door_open_flag", "door_transition_count", "presence_flag"])
    assert presence.presence_prob.isna().all()
    bedroom = presence[(presence.apartment_id == "jimmy") & (presence.room == "Bedroom")].set_index("datetime_key")
    bedroom = bedroom.sort_index()
    assert bedroom.loc[202310291200, "presence_flag"] and bedroom.loc[202310291400, "presence_flag"]
    standing_open = bedroom.loc[202310291201:202310291359]
    assert len(standing_open) > 60 and standing_open.door_open_flag.all() and not standing_open.presence_flag.any()

    health = gold_frame(info, "SELECT f.*, d.device_id FROM gold.fact_device_health_day f"
                              " JOIN gold.dim_device d USING (device_key)")
    assert_same(health, expected_health(events, manifest), ["date_key", "device_id"],
                ["apartment_id", "covered_minutes", "reading_minutes", "missing_readings", "uptime_pct",
                 "outlier_count", "battery_min_pct", "battery_avg_pct", "error_count", "building_error_count"])
    assert len(health) == 2 * health.device_id.nunique()  # every device, every day: not only battery ones
    assert (health.missing_readings > 0).any() and health.covered_minutes.max() < 1440  # missing minutes

    weather = gold_frame(info, "SELECT * FROM gold.fact_weather_hour_revision")
    expected = expected_weather(info)
    assert_same(weather, expected, ["datetime_key", "prediction_date"],
                ["temperature_c", "humidity_pct", "precipitation_mm", "radiation_wm2", "n_model_runs", "is_outlier",
                 "is_latest"])
    latest = gold_frame(info, "SELECT * FROM gold.fact_weather_hour")
    assert_same(latest, expected[expected.is_latest], ["datetime_key", "prediction_date"],
                ["temperature_c", "humidity_pct", "precipitation_mm", "radiation_wm2", "n_model_runs"])
    assert latest.site_key.eq(stable_key("site|Sion")).all()  # Visp is not configured


def test_dimensions_keys_calendar_and_reference(make_db):
    info = make_db()
    run(info, full_plan(), session_tz="America/St_Johns")  # -02:30 / -03:30
    dt = gold_frame(info, "SELECT * FROM gold.dim_datetime")
    days = gold_frame(info, "SELECT * FROM gold.dim_date ORDER BY date_key")
    assert list(days.date_key) == [20231028, 20231029, 20231030, 20231031, 20231101]
    assert len(dt) == 5 * 1440 and dt.datetime_key.is_unique
    ts = pd.to_datetime(dt.timestamp_utc, utc=True)
    assert (dt.datetime_key == minute_key(ts)).all()
    assert (dt.date_key == ts.dt.strftime("%Y%m%d").astype(int)).all()
    local = ts.dt.tz_convert("Europe/Zurich")
    assert (pd.to_datetime(dt.local_timestamp) == local.dt.tz_localize(None)).all()
    assert (dt.local_hour == local.dt.hour).all() and (dt.local_iso_week == local.dt.isocalendar().week).all()
    # 2023-10-29: the local hour 02:00-02:59 happens twice (CEST then CET), keys stay unique
    twice = dt[(dt.local_date == date(2023, 10, 29)) & (dt.local_hour == 2)]
    assert len(twice) == 120 and sorted(twice.utc_offset_minutes.unique()) == [60, 120]
    assert twice[twice.is_dst].datetime_key.min() == 202310290000
    assert twice[~twice.is_dst].datetime_key.min() == 202310290100
    assert len(dt[dt.local_date == date(2023, 10, 29)]) == 25 * 60
    assert dt.loc[dt.datetime_key == 202310282230, "local_date"].item() == date(2023, 10, 29)
    holiday = days.set_index("date_key").loc[20231101]
    assert holiday.is_holiday and holiday.holiday_name == "All Saints' Day"
    assert not days.set_index("date_key").loc[20231031].is_holiday
    assert dt.loc[dt.datetime_key == 202310312330, "is_holiday"].item()  # local 2023-11-01 00:30
    assert not dt.loc[dt.datetime_key == 202310312259, "is_holiday"].item()

    apartments = gold_frame(info, "SELECT * FROM gold.dim_apartment").set_index("apartment_id")
    assert apartments.loc["jimmy", "apartment_key"] == stable_key("apartment|jimmy")
    assert apartments.loc["jimmy", "building_name"] == "Building 1"
    assert apartments.loc["jeremie", "building_type"] == "Maison"
    assert apartments.owner_user_id.isna().all() and apartments.weather_site_name.eq("Sion").all()
    rooms = gold_frame(info, "SELECT * FROM gold.dim_room").set_index(["apartment_id", "room_name"])
    assert rooms.loc[("jimmy", "Living Room"), "room_id"] == 1 and rooms.loc[("jimmy", "Bathroom"), "room_id"] == 4
    assert rooms.loc[("jimmy", "Living Room"), "room_key"] == stable_key("room|jimmy|Living Room")
    assert rooms.loc[("jimmy", "Outdoor"), "room_type"] == "outdoor" and rooms.loc[("jimmy", "Outdoor"), "is_outdoor"]
    assert rooms.loc[("jeremie", "House"), "room_type"] == "meter"
    assert rooms.loc[("jeremie", "Dryer"), "room_type"] == "appliance"
    devices = gold_frame(info, "SELECT * FROM gold.dim_device").set_index("device_id")
    assert devices.device_key.to_dict() == {d: stable_key(f"device|{d}") for d in devices.index}
    matched = devices.reference_sensor_id.dropna().astype(int).to_dict()
    assert matched == EXPECTED_SENSOR
    assert not devices.loc["jeremie_Bedroom_window", "is_active"]
    assert devices.loc["jimmy_Dishwasher_plug", "rated_power_w"] == 2400
    assert devices.loc["jimmy_House_consumption", "meter_role"] == "house_meter"
    assert devices.loc["jimmy_Office_plug", "meter_role"] == "plug"
    assert devices.loc["jimmy_Bedroom_door", "is_battery_powered"]
    assert not devices.loc["jimmy_Living Room_motion", "is_battery_powered"]
    assert (pd.to_datetime(devices.first_reading_ts, utc=True) < pd.Timestamp("2023-10-28 00:10", tz="UTC")).all()
    tariff = gold_frame(info, "SELECT * FROM gold.dim_tariff ORDER BY valid_from")
    assert list(tariff.chf_per_kwh.astype(float)) == [0.34, 0.34, 0.34] and tariff.tariff_key.is_unique


def test_fresh_install_without_reference_or_weather_data(pg_service, monkeypatch):
    """Only sensor Silver exists (no MySQL mirrors, no forecasts): the build succeeds, unenriched."""

    name = f"domotic_gold_{uuid.uuid4().hex[:10]}"
    with admin(pg_service) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        info = conninfo(pg_service, name)
        with psycopg.connect(info) as conn:
            migrate(conn)
        run(info, gold.plan_for_day(DAY2))  # no Silver rows at all: calendar only
        with psycopg.connect(info) as conn:
            assert conn.execute("SELECT count(*) FROM gold.dim_datetime").fetchone()[0] == 1440
            assert conn.execute("SELECT count(*) FROM gold.fact_energy_minute").fetchone()[0] == 0
            assert conn.execute("SELECT to_regclass('silver.dim_buildings')").fetchone()[0] is None
    finally:
        with admin(pg_service) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_incremental_equals_full(make_db):
    full, by_day, by_window = make_db(), make_db(), make_db()
    run(full, full_plan())
    expected = snapshot(full)

    for day in (DAY2, DAY1):  # backfill order does not matter
        run(by_day, gold.plan_for_day(day), session_tz="Pacific/Chatham")
    run_changes(by_day, [("weather", WEATHER.start, WEATHER.end)])
    assert snapshot(by_day) == expected

    # Asset-triggered runs: one-minute windows (sensors_minutely) around the DST change, the counter reset, the
    # device gap and the door; irregular windows for the rest; a weather and a reference event; shuffled.
    minutes = [RESET_AT, datetime(2023, 10, 29, 0, 59, tzinfo=UTC), datetime(2023, 10, 29, 1, 0, tzinfo=UTC),
               GAP[1], DOOR_OPEN[0], DOOR_OPEN[1]]
    cuts = sorted({START, END, *minutes, *(m + timedelta(minutes=1) for m in minutes),
                   datetime(2023, 10, 28, 19, 2, tzinfo=UTC)})
    changes: list[tuple[str, datetime | None, datetime | None]] = [
        ("sensor", a, b) for a, b in itertools.pairwise(cuts)]
    changes += [("weather", WEATHER.start, WEATHER.end), ("reference", None, None)]
    random.Random(11).shuffle(changes)
    assert sum(1 for _, a, b in changes if a and b - a == timedelta(minutes=1)) >= len(minutes)
    for change in changes:
        run_changes(by_window, [change])
    assert snapshot(by_window) == expected


def test_rerun_changes_nothing_and_rewrites_no_row(make_db):
    info = make_db()
    run(info, full_plan())
    before = snapshot(info, with_xmin=True)
    run(info, full_plan())
    run(info, gold.plan_for_day(DAY2))
    assert snapshot(info, with_xmin=True) == before


def test_late_silver_correction_is_picked_up_by_its_window(make_db):
    """A late file changes one minute: rebuilding that minute alone gives what a full rebuild gives, including
    the next reading's energy (measured against the changed one): a full rebuild afterwards rewrites no row."""
    info = make_db()
    minute = datetime(2023, 10, 29, 16, 20, tzinfo=UTC)
    run(info, full_plan())
    with psycopg.connect(info) as conn:
        conn.execute("UPDATE silver.sensor_readings SET value = value + 50 WHERE ts = %s AND series_id = %s",
                     (minute, series_id(conn, "jimmy", "Office", "plug", "total")))
    run_changes(info, [("sensor", minute, minute + timedelta(minutes=1))])
    after_window = snapshot(info, with_xmin=True)
    energy = gold_frame(info, "SELECT f.* FROM gold.fact_energy_minute f JOIN gold.dim_device d USING (device_key)"
                              " WHERE d.device_id = 'jimmy_Office_plug'"
                              " AND f.datetime_key IN (202310291620, 202310291621)").set_index("datetime_key")
    assert energy.loc[202310291620, "energy_wh"] >= 50
    # the next reading is now lower than the corrected one: a new meter cycle, measured from zero
    assert energy.loc[202310291621, "is_counter_reset"]
    assert energy.loc[202310291621, "energy_wh"] == energy.loc[202310291621, "counter_total"]
    run(info, full_plan())
    assert snapshot(info, with_xmin=True) == after_window


def test_reference_event_refreshes_error_counts_of_every_day(make_db):
    info = make_db()
    run(info, full_plan())
    with psycopg.connect(info) as conn:
        conn.execute("INSERT INTO silver.di_errors_clean (error_id, building_id, apartment, sensor_id, \"timestamp\","
                     " severity) VALUES (99, 1, 'jimmy', 1, '2023-10-28 12:00+00', 'high')")
    run_changes(info, [("reference", None, None)])
    health = gold_frame(info, "SELECT h.*, d.device_id FROM gold.fact_device_health_day h JOIN gold.dim_device d"
                              " USING (device_key) WHERE h.date_key = 20231028").set_index("device_id")
    assert health.loc["jimmy_Living Room_plug", "error_count"] == 2
    assert (health[health.apartment_id == "jimmy"].building_error_count == 2).all()


def test_failure_half_way_leaves_gold_as_it_was(make_db, tmp_path):
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    info = make_db()  # also the domotic_postgres connection
    run(info, full_plan())
    before = snapshot(info, with_xmin=True)
    with psycopg.connect(info) as conn:  # Silver changes, so a complete build would change Gold
        conn.execute("UPDATE silver.sensor_readings SET value = value + 1"
                     " WHERE ts >= '2023-10-29 08:00+00' AND ts < '2023-10-29 09:00+00'")
    failing = tmp_path / "fails.sql"
    failing.write_text("SELECT 1 / (SELECT count(*) - count(*) FROM gold.fact_energy_minute)")
    statements = list(gold.BUILD_SQL)
    statements.insert(statements.index("gold/build/32_fact_presence_minute.sql"), str(failing))  # energy is rebuilt
    params = gold.plan_for_day(DAY2).parameters(["Sion"])
    with psycopg.connect(info) as conn, pytest.raises(psycopg.errors.DivisionByZero) as failure:
        gold.build(conn, params, statements)
    assert "fails.sql" in "".join(getattr(failure.value, "__notes__", []))
    assert snapshot(info, with_xmin=True) == before
    # the same through the provider hook, as build_gold runs it (autocommit=False, one connection)
    hook = PostgresHook(postgres_conn_id="domotic_postgres")
    with pytest.raises(psycopg.errors.DivisionByZero):
        hook.run(sql=[gold.read_sql(name) for name in statements], autocommit=False, parameters=params)
    assert snapshot(info, with_xmin=True) == before


def test_row_level_security_both_ways(make_db, pg_service):
    info = make_db()
    run(info, full_plan())
    login = f"bi_jimmy_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(info, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE role_jimmy").format(sql.Identifier(login)))
        with psycopg.connect(info) as again:  # the security script is repeatable (no new policy, no error)
            again.execute(gold.read_sql("migrations/repeatable/gold_security.sql"))
        policies = conn.execute("SELECT count(*) FROM pg_policies WHERE schemaname = 'gold'").fetchone()[0]
        assert policies == 2 * len(gold.TENANT_TABLES)  # tenant_membership + admin_all, whatever the apartments
        # forecasts are written by ml_forecast_daily, not by the build: one per apartment, as it would
        conn.execute("INSERT INTO gold.fact_ml_predictions (model_version, issue_date, target, apartment_key,"
                     " apartment_id, target_datetime_key, target_date_key, target_hour_start, issued_at,"
                     " horizon_hours, value_kwh, weather_used, run_id)"
                     " SELECT 'v', '2023-10-29', 'energy_kwh', apartment_key, apartment_id, 202310300000, 20231030,"
                     " '2023-10-30 00:00+00', '2023-10-30 00:00+00', 1, 0.2, true, 'test' FROM gold.dim_apartment")
    try:
        for role, mine, other in (("role_jimmy", "jimmy", "jeremie"), ("role_jeremie", "jeremie", "jimmy")):
            with psycopg.connect(info) as conn:
                conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
                for table in gold.TENANT_TABLES:
                    counts = dict(conn.execute(sql.SQL("SELECT apartment_id, count(*) FROM gold.{} GROUP BY 1")
                                               .format(sql.Identifier(table))).fetchall())
                    assert counts.get(other, 0) == 0, (role, table)
                    assert counts.get(mine, 0) > 0, (role, table)
                for table in set(gold.GOLD_TABLES) - set(gold.TENANT_TABLES):  # shared reference data
                    conn.execute(sql.SQL("SELECT count(*) FROM gold.{}").format(sql.Identifier(table)))
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute("SELECT * FROM gold.build_window")
        with psycopg.connect(info) as conn:
            conn.execute("SET ROLE role_admin")
            for table in gold.TENANT_TABLES:
                seen = {r[0] for r in conn.execute(sql.SQL("SELECT DISTINCT apartment_id FROM gold.{}")
                                                   .format(sql.Identifier(table)))}
                assert seen == {"jimmy", "jeremie"}, table
        # a BI login that is a member of role_jimmy inherits the isolation
        bi = info.replace(f"user={pg_service.user}", f"user={login}")
        with psycopg.connect(bi) as conn:
            rows = conn.execute("SELECT DISTINCT apartment_id FROM gold.fact_energy_minute").fetchall()
            assert rows == [("jimmy",)]
            joined = conn.execute("SELECT count(*) FROM gold.fact_energy_minute f JOIN gold.dim_device d"
                                  " USING (device_key) WHERE d.apartment_id = 'jeremie'").fetchone()[0]
            assert joined == 0
    finally:
        with psycopg.connect(info, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))


def _analyze_count(info: str, table: str) -> int:
    with psycopg.connect(info) as conn:
        return conn.execute("SELECT analyze_count FROM pg_stat_user_tables WHERE schemaname = 'silver' "
                            "AND relname = %s", (table,)).fetchone()[0]


def _wait_for(predicate, what: str, seconds: float = 15) -> None:
    """Cumulative statistics reach pg_stat_* asynchronously (a backend flushes them when it goes idle)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_build_analyzes_silver_tables_a_large_load_left_without_statistics(make_db):
    """A history backfill fills Silver minutes before the first build: the build must not plan on stale
    statistics (it once took 5 minutes instead of one); a build after small changes analyzes nothing."""
    info = make_db()
    with psycopg.connect(info) as conn:
        conn.execute("UPDATE silver.sensor_readings SET value = value")  # every row changed: a large load
    with psycopg.connect(info) as conn:
        _wait_for(lambda: conn.execute(
            "SELECT n_mod_since_analyze > 0.1 * n_live_tup FROM pg_stat_user_tables WHERE schemaname = 'silver' "
            "AND relname = 'sensor_readings'").fetchone()[0], "the update to show in pg_stat_user_tables")
    before = _analyze_count(info, "sensor_readings")
    run(info, full_plan())
    _wait_for(lambda: _analyze_count(info, "sensor_readings") == before + 1, "the build's ANALYZE")
    run(info, full_plan())  # nothing changed since: no second ANALYZE
    time.sleep(1.5)  # long enough for the second build's statistics to be flushed, had it analyzed
    assert _analyze_count(info, "sensor_readings") == before + 1
