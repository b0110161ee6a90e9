"""The BI measure views (migration ``*_bi_measures.sql``) and the conditional forecast view
(``repeatable/bi_forecast.sql``): their figures against the facts, and row-level security through them.

Read through logins that are members of the BI group roles, as Superset's logins are (bi/users.yaml).
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from domotic.warehouse.migrations import apply as migrate
from tests.fixtures.gold import full_plan, run

pytestmark = pytest.mark.integration

VIEWS = ["bi_energy_hour", "bi_plug_energy_day", "bi_energy_day", "bi_environment_hour", "bi_comfort_day",
         "bi_presence_hour", "bi_occupancy_hour", "bi_device_health_day", "bi_weather_hour"]
TENANT_VIEWS = [v for v in VIEWS if v != "bi_weather_hour"]


@pytest.fixture
def gold_db(make_db):
    info = make_db()
    run(info, full_plan())
    return info


@pytest.fixture
def logins(gold_db, pg_service):
    """Throw-away logins in role_jimmy, role_admin and in no BI role; dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    made = {"jimmy": f"t_bi_jimmy_{suffix}", "admin": f"t_bi_admin_{suffix}", "none": f"t_bi_none_{suffix}"}
    with psycopg.connect(gold_db, autocommit=True) as conn:
        for key, login in made.items():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(login)))
            if key != "none":
                conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(f"role_{key}"), sql.Identifier(login)))
    yield {key: f"{gold_db} user={login}".replace(f"user={pg_service.user} ", "") for key, login in made.items()}
    with psycopg.connect(gold_db, autocommit=True) as conn:
        for login in made.values():
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(login)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))


def one(info: str, query: str, params: tuple = ()) -> tuple:
    with psycopg.connect(info) as conn:
        return conn.execute(query, params).fetchone()


def test_views_are_security_invoker_and_readable_by_the_bi_roles(gold_db, logins):
    with psycopg.connect(gold_db) as conn:
        options = dict(conn.execute(
            "SELECT c.relname, c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'gold' AND c.relkind = 'v' AND c.relname LIKE 'bi\\_%'").fetchall())
    assert set(options) >= set(VIEWS)
    for view in VIEWS:
        assert "security_invoker=true" in (options[view] or []), view
    for view in TENANT_VIEWS:
        jimmy = one(logins["jimmy"], f"SELECT array_agg(DISTINCT apartment_id) FROM gold.{view}")[0]
        admin = one(logins["admin"], f"SELECT array_agg(DISTINCT apartment_id ORDER BY apartment_id) FROM gold.{view}")[0]
        assert jimmy == ["jimmy"], view
        assert admin == ["jeremie", "jimmy"], view
    # A login in no BI role reads nothing through the views (the grant to PUBLIC adds no right).
    with psycopg.connect(logins["none"]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT count(*) FROM gold.bi_energy_hour").fetchone()


def test_energy_comes_from_the_house_meter_only(gold_db, logins):
    facts = one(gold_db, "SELECT sum(energy_kwh), sum(cost_chf), sum(energy_kwh) FILTER (WHERE meter_role = 'plug')"
                         " FROM gold.fact_energy_minute WHERE is_valid AND apartment_id = 'jimmy'"
                         " AND meter_role = 'house_meter'")
    hourly = one(logins["jimmy"], "SELECT sum(energy_kwh), sum(cost_chf) FROM gold.bi_energy_hour")
    daily = one(logins["jimmy"], "SELECT sum(energy_kwh), sum(cost_chf), sum(plug_energy_kwh),"
                                 " sum(unmetered_energy_kwh) FROM gold.bi_energy_day")
    plugs = one(gold_db, "SELECT sum(energy_kwh) FROM gold.fact_energy_minute WHERE is_valid"
                         " AND apartment_id = 'jimmy' AND meter_role = 'plug'")[0]
    assert hourly[0] == pytest.approx(facts[0]) and hourly[1] == pytest.approx(facts[1])
    assert daily[0] == pytest.approx(facts[0]) and daily[2] == pytest.approx(plugs)
    assert daily[3] == pytest.approx(max(facts[0] - plugs, 0), rel=0.05)
    assert one(logins["jimmy"], "SELECT sum(energy_kwh) FROM gold.bi_plug_energy_day")[0] == pytest.approx(plugs)


def test_presence_comfort_and_uptime_definitions(gold_db, logins):
    occupied = one(logins["jimmy"], "SELECT sum(occupied_minutes) FROM gold.bi_occupancy_hour")[0]
    expected = one(gold_db, "SELECT count(DISTINCT datetime_key) FROM gold.fact_presence_minute"
                            " WHERE presence_flag AND apartment_id = 'jimmy'")[0]
    room_minutes = one(logins["jimmy"], "SELECT sum(presence_minutes) FROM gold.bi_presence_hour")[0]
    assert occupied == expected and 0 < occupied <= room_minutes
    shares = one(logins["jimmy"], "SELECT min(total), max(total) FROM (SELECT sum(share_pct) AS total"
                                  " FROM gold.bi_comfort_day GROUP BY apartment_id, room_name, local_date, measure) s")
    assert shares == (pytest.approx(100, abs=0.05), pytest.approx(100, abs=0.05))
    bands = one(logins["jimmy"], "SELECT sum(cold_minutes + comfortable_minutes + warm_minutes),"
                                 " sum(temperature_minutes) FILTER (WHERE NOT is_outdoor) FROM gold.bi_environment_hour")
    assert bands[0] == bands[1] > 0
    uptime = one(logins["jimmy"], "SELECT 100.0 * sum(reading_minutes) / sum(covered_minutes)"
                                  " FROM gold.bi_device_health_day")[0]
    facts = one(gold_db, "SELECT 100.0 * sum(reading_minutes) / sum(covered_minutes) FROM gold.fact_device_health_day"
                         " WHERE apartment_id = 'jimmy'")[0]
    assert float(uptime) == pytest.approx(float(facts)) and 0 < uptime <= 100
    assert one(gold_db, "SELECT gold.temperature_band(19.99), gold.temperature_band(20), gold.temperature_band(24),"
                        " gold.temperature_band(24.01), gold.co2_band(1000), gold.co2_band(1400),"
                        " gold.co2_band(1400.5)") == ("cold", "comfortable", "comfortable", "warm", "good",
                                                      "moderate", "poor")


FORECASTS = """
INSERT INTO gold.fact_ml_predictions (model_version, issue_date, target, apartment_key, apartment_id, room_key,
    target_datetime_key, target_date_key, target_hour_start, issued_at, horizon_hours, value_kwh, probability,
    weather_used, run_id)
SELECT v.model_version, v.issue_date::date, 'energy_kwh', a.apartment_key, a.apartment_id, NULL, 202310291100,
       20231029, '2023-10-29 11:00+00', v.issued_at::timestamptz, v.horizon, v.kwh, NULL, true, 'r'
FROM (VALUES ('v1', '2023-10-28', '2023-10-29 00:00+00', 11, 0.5, 'jimmy'),
             ('v2', '2023-10-29', '2023-10-29 06:00+00', 5, 0.7, 'jimmy'),
             ('v2', '2023-10-29', '2023-10-29 06:00+00', 5, 0.9, 'jeremie'))
     AS v(model_version, issue_date, issued_at, horizon, kwh, apartment_id)
JOIN gold.dim_apartment a USING (apartment_id);
"""


def test_forecast_view_serves_the_latest_issue_per_hour_under_rls(gold_db, logins):
    """gold.fact_ml_predictions comes with the migrations (ml_forecast_daily's table): the view is there, keeps
    the latest forecast issued for each hour, puts the house meter's energy beside it and obeys the tenant's RLS."""
    assert one(gold_db, "SELECT to_regclass('gold.bi_forecast_hour') IS NOT NULL") == (True,)
    with psycopg.connect(gold_db) as conn:
        conn.execute(FORECASTS)
    rows = one(logins["jimmy"], "SELECT count(*), max(predicted), max(hour_utc), max(actual) IS NOT NULL"
                                " FROM gold.bi_forecast_hour")
    assert rows[0] == 1 and rows[1] == 0.7  # the latest issue only, jimmy's only
    assert str(rows[2]).startswith("2023-10-29 11:00:00") and rows[3]
    assert one(logins["admin"], "SELECT count(*) FROM gold.bi_forecast_hour") == (2,)


def test_forecast_view_waits_for_the_columns_it_reads(gold_db):
    """A predictions table without the columns the view reads: a warning, the deploy goes on, no view."""
    with psycopg.connect(gold_db) as conn:
        conn.execute("DROP TABLE gold.fact_ml_predictions CASCADE")
        conn.execute("CREATE TABLE gold.fact_ml_predictions (apartment_id text, something_else integer)")
        conn.commit()
        migrate(conn)
    assert one(gold_db, "SELECT to_regclass('gold.bi_forecast_hour') IS NULL") == (True,)
