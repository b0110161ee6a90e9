"""Weather cleaning, wide selection, fetch planning, Bronze naming and the generator: pure logic only."""

from __future__ import annotations

import gzip
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domotic.generator import weather as gen
from domotic.weather import bronze_day_dir, prediction_date_from_name, run_day
from domotic.weather.clean import (
    DROP_REASONS,
    REQUIRED_COLUMNS,
    WIDE_COLUMNS,
    QuarantinedFile,
    clean_forecast_file,
    describe_stats,
    latest_forecast_wide,
)
from domotic.weather.fetch import (
    DownloadTooLarge,
    KnownFile,
    RemoteFile,
    _HashingWriter,
    file_sha256,
    plan_fetch,
    store_in_bronze,
)
from domotic.weather.load import LoadReport, asset_extra
from tests.fixtures.weather import SAMPLE_CSV, SAMPLE_DATE, SAMPLE_ROWS, SAMPLE_STATS, SAMPLE_WIDE, at


def write_sample(folder: Path, name: str = "Pred_2023-09-01.csv", text: str = SAMPLE_CSV) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def nan_to_none(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def long_tuples(rows: pd.DataFrame) -> list[tuple]:
    return [
        (
            str(r.site),
            str(r.measurement),
            int(r.prediction),
            r.timestamp.to_pydatetime(),
            nan_to_none(r.value),
            str(r.unit),
            bool(r.is_outlier),
        )
        for r in rows.itertuples()
    ]


# ------------------------------------------------------------------------------------------- cleaning


def test_sample_cleaned_to_exact_rows_and_counts(tmp_path):
    cleaned = clean_forecast_file(write_sample(tmp_path), SAMPLE_DATE, min_year=2023)
    assert cleaned.stats == SAMPLE_STATS
    assert sorted(long_tuples(cleaned.rows)) == SAMPLE_ROWS
    assert cleaned.window == (at(1), at(8))  # hour buckets, half-open
    # The log line names every reason with example line numbers.
    line = describe_stats(cleaned)
    assert "bad_field_count=1 (lines 21)" in line
    assert "unparsable_time=2 (lines 14, 15)" in line
    assert "unparsable_value=2 (lines 16, 17)" in line
    assert "missing_key=2 (lines 19, 20)" in line
    assert "before_min_year=1 (lines 18)" in line
    assert "duplicate=1 (lines 12)" in line


def test_min_year_is_a_setting(tmp_path):
    cleaned = clean_forecast_file(write_sample(tmp_path), SAMPLE_DATE, min_year=2024)
    assert cleaned.stats["before_min_year"] == 16  # every row with a parsable time, value and key
    assert cleaned.stats["rows_loaded"] == 0
    assert cleaned.window is None


@pytest.mark.parametrize("missing", REQUIRED_COLUMNS)
def test_missing_required_column_quarantines_naming_it(tmp_path, missing):
    header = [c for c in REQUIRED_COLUMNS if c != missing]
    path = write_sample(tmp_path, text=",".join(header) + "\n" + "x," * (len(header) - 1) + "x\n")
    with pytest.raises(
        QuarantinedFile, match=rf"Pred_2023-09-01.csv: required column '{missing}' missing"
    ):
        clean_forecast_file(path, SAMPLE_DATE, 2023)


def test_empty_file_is_quarantined(tmp_path):
    with pytest.raises(QuarantinedFile, match="empty file"):
        clean_forecast_file(write_sample(tmp_path, text=""), SAMPLE_DATE, 2023)


def test_header_only_file_loads_nothing(tmp_path):
    cleaned = clean_forecast_file(
        write_sample(tmp_path, text="Time,Value,Prediction,Site,Measurement,Unit\n"), SAMPLE_DATE, 2023
    )
    assert cleaned.stats["rows_read"] == 0 and cleaned.rows.empty


def test_extra_columns_and_header_blanks_are_tolerated(tmp_path):
    text = (
        " Time ,Value,Prediction,Site,Measurement,Unit,Comment\n"
        "2023-09-01 01:00:00+00:00,1.5,00,Sion,PRED_T_2M_ctrl,°C,x\n"
    )
    cleaned = clean_forecast_file(write_sample(tmp_path, text=text), SAMPLE_DATE, 2023)
    assert cleaned.stats["rows_loaded"] == 1


def test_windows_export_cp1252_crlf_and_gzip_compacted_copy(tmp_path):
    path = tmp_path / "Pred_2023-09-01.csv"
    path.write_bytes(SAMPLE_CSV.replace("\n", "\r\n").encode("cp1252"))
    cleaned = clean_forecast_file(path, SAMPLE_DATE, 2023)
    assert cleaned.stats == SAMPLE_STATS
    assert sorted(long_tuples(cleaned.rows)) == SAMPLE_ROWS
    gz = tmp_path / "Pred_2023-09-01.csv.gz"
    gz.write_bytes(gzip.compress(SAMPLE_CSV.encode("utf-8")))
    assert clean_forecast_file(gz, SAMPLE_DATE, 2023, "Pred_2023-09-01.csv").stats == SAMPLE_STATS


# ------------------------------------------------------------------------------------- wide selection


def test_wide_rows_of_the_sample(tmp_path):
    cleaned = clean_forecast_file(write_sample(tmp_path), SAMPLE_DATE, 2023)
    wide = latest_forecast_wide(cleaned.rows.assign(prediction_date=SAMPLE_DATE))
    wide = wide.sort_values(["timestamp", "site"])
    got = [
        (
            r.timestamp.to_pydatetime(),
            r.site,
            *(nan_to_none(getattr(r, c)) for c in WIDE_COLUMNS),
            bool(r.is_outlier),
        )
        for r in wide.itertuples()
    ]
    assert got == SAMPLE_WIDE
    assert set(wide["prediction_date"]) == {SAMPLE_DATE}


def test_wide_takes_latest_issue_then_lowest_code_with_a_value():
    old, new = date(2023, 8, 31), date(2023, 9, 1)
    rows = pd.DataFrame(
        [
            (at(1), "Sion", old, 0, "PRED_T_2M_ctrl", 10.0, False),
            (at(1), "Sion", old, 0, "PRED_RELHUM_2M_ctrl", 70.0, False),
            (at(1), "Sion", new, 2, "PRED_T_2M_ctrl", 12.0, False),
            (at(1), "Sion", new, 1, "PRED_T_2M_ctrl", np.nan, False),
            (at(1), "Sion", new, 3, "PRED_T_2M_ctrl", 13.0, True),
            (at(4), "Sion", old, 0, "PRED_T_2M_ctrl", 8.0, False),  # only the old issue covers 04:00
            (at(1), "Sion", new, 0, "PRED_FF_10M_ctrl", 1.0, False),  # not a kept code
        ],
        columns=["timestamp", "site", "prediction_date", "prediction", "measurement", "value", "is_outlier"],
    )
    wide = latest_forecast_wide(rows).sort_values("timestamp").reset_index(drop=True)
    assert list(wide["prediction_date"]) == [new, old]
    # 01:00: the new issue only; code 1 is missing, code 2 is the lowest with a value; humidity of the old
    # issue is not mixed in.
    assert wide.loc[0, "temperature_c"] == 12.0 and math.isnan(wide.loc[0, "humidity_pct"])
    assert not wide.loc[0, "is_outlier"]
    assert wide.loc[1, "temperature_c"] == 8.0


# ---------------------------------------------------------------------------------------------- naming


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Pred_2023-09-01.csv", date(2023, 9, 1)),
        ("Pred_2023-02-30.csv", None),
        ("Pred_2023-09-01.csv.tmp", None),
        ("pred_2023-09-01.csv", None),
        ("README.txt", None),
        ("Pred_2023-09-01.csv\n", None),  # the whole name: '$' alone matched before a trailing newline
        (" Pred_2023-09-01.csv", None),
    ],
)
def test_prediction_date_from_name(name, expected):
    assert prediction_date_from_name(name) == expected


@pytest.mark.parametrize(
    ("logical", "day"),
    [
        (
            datetime(2023, 9, 1, 0, 0, tzinfo=UTC),
            date(2023, 9, 1),
        ),  # airflow dags test weather_daily 2023-09-01
        (datetime(2023, 9, 1, 5, 30, tzinfo=UTC), date(2023, 9, 1)),  # the 07:30 Zurich (CEST) trigger
        (datetime(2023, 12, 1, 6, 30, tzinfo=UTC), date(2023, 12, 1)),  # the 07:30 Zurich (CET) trigger
        (datetime(2023, 8, 31, 22, 30, tzinfo=UTC), date(2023, 9, 1)),  # already the 1st in Zurich
    ],
)
def test_run_day_is_the_zurich_day_of_the_logical_date(logical, day):
    assert run_day(logical) == day


def test_run_day_without_logical_date_uses_run_after():
    assert run_day(None, datetime(2023, 9, 1, 6, 0, tzinfo=UTC)) == date(2023, 9, 1)


def test_bronze_day_dir():
    assert bronze_day_dir(Path("/b"), date(2023, 9, 1)) == Path("/b/weather/2023/09/01")


# ------------------------------------------------------------------------------------------ fetch plan


T = datetime(2023, 9, 2, 6, 0, tzinfo=UTC)


def remote(name: str, size: int = 100, mtime: datetime = T) -> RemoteFile:
    return RemoteFile(name, f"/Meteo2/{name}", size, mtime)


def test_files_over_the_size_cap_are_not_fetched_and_a_download_stops_at_it(tmp_path):
    plan = plan_fetch([remote("Pred_2023-08-30.csv", size=1000), remote("Pred_2023-08-31.csv", size=10)], {},
                      date(2023, 9, 1), max_bytes=100)
    assert [r.name for r in plan.too_large] == ["Pred_2023-08-30.csv"]
    assert [r.name for r in plan.fetch] == ["Pred_2023-08-31.csv"]
    # Listed under the cap, larger when downloaded (growing on the server): the transfer stops at the cap.
    with (tmp_path / "part").open("wb") as handle:
        writer = _HashingWriter(handle, max_bytes=100)
        writer.write(b"x" * 60)
        with pytest.raises(DownloadTooLarge):
            writer.write(b"x" * 60)
    assert (tmp_path / "part").stat().st_size == 60  # nothing past the cap reached the disk


def test_plan_fetch_uses_only_the_manifest():
    known = {
        "Pred_2023-08-30.csv": KnownFile("a", 100, T, "loaded"),
        "Pred_2023-08-31.csv": KnownFile("b", 100, T, "loaded"),
        "Pred_2023-09-01.csv": KnownFile("c", 100, T, "quarantined"),
        "notes.txt": KnownFile("", 5, T, "ignored"),
    }
    plan = plan_fetch(
        [
            remote("Pred_2023-08-30.csv"),  # unchanged
            remote("Pred_2023-08-31.csv", size=120),  # size changed
            remote("Pred_2023-09-01.csv", mtime=T + timedelta(hours=1)),  # mtime changed
            remote("Pred_2023-08-29.csv"),  # new
            remote("Pred_2023-09-02.csv"),  # issued after the run's day
            remote("notes.txt", size=5),  # ignored, already recorded
            remote("other.csv"),  # ignored, new
        ],
        known,
        date(2023, 9, 1),
    )
    assert [r.name for r in plan.fetch] == [
        "Pred_2023-08-29.csv",
        "Pred_2023-08-31.csv",
        "Pred_2023-09-01.csv",
    ]
    assert [r.name for r in plan.unchanged] == ["Pred_2023-08-30.csv"]
    assert [r.name for r in plan.later] == ["Pred_2023-09-02.csv"]
    assert [r.name for r in plan.ignored] == ["other.csv"]


def test_store_in_bronze_never_overwrites(tmp_path):
    day = tmp_path / "weather/2023/09/01"
    day.mkdir(parents=True)

    def downloaded(content: bytes) -> tuple[Path, str]:
        tmp = day / ".part"
        tmp.write_bytes(content)
        return tmp, file_sha256(tmp)

    tmp, sha1 = downloaded(b"v1")
    first = store_in_bronze(tmp, "Pred_2023-09-01.csv", sha1, day)
    assert first == day / "Pred_2023-09-01.csv"
    tmp, sha2 = downloaded(b"v2")
    second = store_in_bronze(tmp, "Pred_2023-09-01.csv", sha2, day)
    assert second == day / f"Pred_2023-09-01~{sha2[:12]}.csv"
    assert first.read_bytes() == b"v1" and second.read_bytes() == b"v2"
    tmp, _ = downloaded(b"v1")  # the same content again reuses the existing file
    assert store_in_bronze(tmp, "Pred_2023-09-01.csv", sha1, day) == first
    assert sorted(p.name for p in day.iterdir()) == [
        "Pred_2023-09-01.csv",
        f"Pred_2023-09-01~{sha2[:12]}.csv",
    ]


def test_asset_extra_is_utc_half_open():
    report = LoadReport(window_start=at(1), window_end=at(8))
    assert asset_extra(report) == {
        "window_start": "2023-09-01T01:00:00+00:00",
        "window_end": "2023-09-01T08:00:00+00:00",
    }
    assert asset_extra(LoadReport()) is None


# ------------------------------------------------------------------------------------------- generator


def test_generator_is_deterministic_and_realistic(tmp_path):
    a = gen.write_forecast_files(tmp_path / "a", date(2023, 9, 1), 2, seed=5, rows_scale=0.05)
    b = gen.write_forecast_files(tmp_path / "b", date(2023, 9, 2), 1, seed=5, rows_scale=0.05)
    assert [f.path.name for f in a] == ["Pred_2023-09-01.csv", "Pred_2023-09-02.csv"]
    assert a[1].path.read_bytes() == b[0].path.read_bytes()  # a file depends on seed and date only
    text = a[0].path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "Time,Value,Prediction,Site,Measurement,Unit"
    assert ',"Aadorf / Tänikon",' in text and ",Sion," in text
    assert {line.split(",")[-2] for line in lines[1:] if line.count(",") == 5} >= set(gen.MEASUREMENTS)
    assert {"00", "01", "02", "03", "04"} <= {line.split(",")[2] for line in lines[1:]}
    assert "2023-09-01 01:00:00+00:00" in text and "2023-09-01 04:00:00+00:00" in text
    assert "-99999.0" in text


def test_full_size_file_has_about_150000_rows():
    lines, injected = gen.build_forecast_lines(date(2023, 9, 1), rows_scale=1.0)
    assert 140_000 <= len(lines) - 1 <= 160_000
    assert all(injected[reason] > 0 for reason in DROP_REASONS)


def test_cleaner_counts_match_what_the_generator_injected(tmp_path):
    f = gen.write_forecast_files(tmp_path, date(2023, 9, 1), 1, seed=11, rows_scale=0.1)[0]
    cleaned = clean_forecast_file(f.path, f.issue_date, 2023)
    for reason in (*DROP_REASONS, "sentinel_null", "outlier_flagged"):
        assert cleaned.stats[reason] == f.injected[reason], reason
    assert cleaned.stats["rows_read"] == f.rows
    assert cleaned.stats["rows_loaded"] == f.rows - sum(f.injected[r] for r in DROP_REASONS)


def test_generator_cli_subcommand(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    gen.add_weather_subcommand(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "weather",
            "--out",
            str(tmp_path),
            "--start",
            "2023-09-01",
            "--days",
            "2",
            "--sites",
            "2",
            "--predictions",
            "2",
            "--horizon-days",
            "1",
        ]
    )
    assert args.func(args) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Pred_2023-09-01.csv", "Pred_2023-09-02.csv"]


# ------------------------------------------------------------------------------------------------- DAG


def test_dag_file_imports_no_pandas():
    """Parsing the DAG file imports ``domotic.weather`` (DDL, time zone) and ``domotic.weather.tasks``;
    neither may pull in pandas or numpy (seconds of import time on every parse)."""
    import subprocess
    import sys

    dag_file = Path(__file__).resolve().parents[2] / "dags" / "weather_daily.py"
    probe = (
        "import runpy, sys\n"
        "import domotic.weather, domotic.weather.tasks\n"
        "light = lambda: 'pandas' not in sys.modules and 'numpy' not in sys.modules\n"
        "assert light(), 'importing domotic.weather imports pandas'\n"
        f"runpy.run_path({str(dag_file)!r})\n"
        "assert light(), 'parsing the DAG file imports pandas'\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
