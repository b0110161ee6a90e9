"""Realistic weather forecast files, as the MeteoSwiss sFTP server delivers them (legacy-system.md §2).

One file per issue date, ``Pred_YYYY-MM-DD.csv``, columns ``Time,Value,Prediction,Site,Measurement,Unit``:

- ``Time``: UTC ISO timestamps with ``+00:00``, 3-hourly steps (01:00, 04:00, ...) over ``horizon_days`` days
  starting on the issue date;
- ``Site``: MeteoSwiss station names, Sion first; names with a space or a slash are written quoted
  (``"Aadorf / Tänikon"``), as in the real files;
- ``Measurement``: all 7 codes; the 4 the pipeline keeps plus sunshine duration and wind speed/direction;
- ``Prediction``: zero-padded codes ``00``..``NN`` (several forecast runs of the same issue date);
- values follow altitude, season and time of day, with the sentinel ``-99999.0`` now and then, a few
  out-of-range values, and the occasional malformed row;
- at Sion (``SIMULATED_SITE``, the apartments' site) the four kept codes forecast the weather the sensor
  simulator shows (``generator/outdoor.py``, same seed): the truth plus an error growing with the lead time
  (~0.6 °C on the issue day, ~1.3 °C two days ahead), so a forecast is useful and never perfect. Use the same
  seed for the sensor files and the forecast files.

At full size (``rows_scale=1.0``) a file holds about 150,000 rows (90 sites x 7 codes x 5 runs x 48 steps).
Everything is deterministic: a file depends only on ``seed`` and its issue date, so generating one day or a
whole month yields the same file for that day.

The defects are injected on rows of the 4 kept measurements only, each at most once per row, and counted in
``ForecastFile.injected`` under the names the cleaner uses for its per-reason counts
(``domotic.weather.clean.STEPS``), so tests can compare the two exactly.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from domotic.generator import outdoor

# (station name, altitude in m). Sion first: the site the Gold layer reads by default.
SITES: tuple[tuple[str, int], ...] = (
    ("Sion", 482),
    ("Aadorf / Tänikon", 539),
    ("Adelboden", 1321),
    ("Aigle", 381),
    ("Altdorf", 438),
    ("Andermatt", 1438),
    ("Arosa", 1878),
    ("Basel / Binningen", 316),
    ("Bern / Zollikofen", 553),
    ("Bever", 1712),
    ("Bière", 684),
    ("Buchs / Aarau", 387),
    ("Cevio", 417),
    ("Chaumont", 1136),
    ("Chur", 556),
    ("Cimetta", 1661),
    ("Col du Grand St-Bernard", 2472),
    ("Davos", 1594),
    ("Delémont", 439),
    ("Disentis", 1197),
    ("Ebnat-Kappel", 623),
    ("Egolzwil", 521),
    ("Elm", 958),
    ("Engelberg", 1036),
    ("Evolène / Villa", 1825),
    ("Fahy", 596),
    ("Fey", 737),
    ("Genève / Cointrin", 411),
    ("Glarus", 517),
    ("Gösgen", 380),
    ("Grächen", 1605),
    ("Grono", 323),
    ("Güttingen", 440),
    ("Hallau", 419),
    ("Interlaken", 577),
    ("Jungfraujoch", 3571),
    ("La Chaux-de-Fonds", 1017),
    ("La Dôle", 1669),
    ("La Frétaz", 1202),
    ("Lägern", 845),
    ("Leibstadt", 341),
    ("Locarno / Monti", 367),
    ("Lugano", 273),
    ("Luzern", 454),
    ("Magadino / Cadenazzo", 203),
    ("Marsens", 702),
    ("Mathod", 435),
    ("Meiringen", 588),
    ("Montana", 1427),
    ("Mosen", 453),
    ("Napf", 1404),
    ("Neuchâtel", 485),
    ("Nyon / Changins", 455),
    ("Oron", 828),
    ("Payerne", 490),
    ("Piotta", 990),
    ("Plaffeien", 1042),
    ("Poschiavo / Robbia", 1078),
    ("Pully", 456),
    ("Robièi", 1896),
    ("Rünenberg", 611),
    ("Saint-Prex", 425),
    ("Samedan", 1708),
    ("San Bernardino", 1638),
    ("Säntis", 2502),
    ("Schaffhausen", 438),
    ("Scuol", 1304),
    ("Segl-Maria", 1804),
    ("Sihlbrugg", 570),
    ("Simplon-Dorf", 1465),
    ("St. Gallen", 776),
    ("Stabio", 353),
    ("Tänikon", 536),
    ("Ulrichen", 1346),
    ("Vaduz", 457),
    ("Valbella", 1569),
    ("Visp", 639),
    ("Wädenswil", 485),
    ("Weissfluhjoch", 2691),
    ("Wynau", 422),
    ("Würenlingen / PSI", 334),
    ("Zermatt", 1638),
    ("Zürich / Affoltern", 443),
    ("Zürich / Fluntern", 556),
    ("Zürich / Kloten", 426),
    ("Evionnaz", 482),
    ("Les Diablerets", 2964),
    ("Montagnier, Bagnes", 839),
    ("Crap Masegn", 2480),
    ("Hörnli", 1132),
)
FULL_SITES = 90

# Measurement code -> unit string. The first four are the ones the pipeline keeps.
MEASUREMENTS: dict[str, str] = {
    "PRED_T_2M_ctrl": "°C",
    "PRED_RELHUM_2M_ctrl": "%",
    "PRED_TOT_PREC_ctrl": "mm",
    "PRED_GLOB_ctrl": "Watt/m2",
    "PRED_DURSUN_ctrl": "min",
    "PRED_FF_10M_ctrl": "m/s",
    "PRED_DD_10M_ctrl": "degree",
}
USED_CODES = ("PRED_T_2M_ctrl", "PRED_RELHUM_2M_ctrl", "PRED_TOT_PREC_ctrl", "PRED_GLOB_ctrl")
SENTINEL = "-99999.0"
STEP_HOURS = 3
FIRST_HOUR = 1

# Defect rates per row of the kept measurements (each defect hits distinct rows).
RATES: dict[str, float] = {
    "sentinel_null": 0.002,
    "outlier_flagged": 0.0005,
    "unparsable_time": 0.0001,
    "unparsable_value": 0.0001,
    "missing_key": 0.00005,
    "before_min_year": 0.00005,
    "bad_field_count": 0.00005,
    "duplicate": 0.0002,
}
# Out-of-range values per kept code (flagged by the cleaner, never dropped).
OUTLIER_VALUES = {
    "PRED_T_2M_ctrl": (-63.5, 71.2),
    "PRED_RELHUM_2M_ctrl": (-4.0, 117.0),
    "PRED_TOT_PREC_ctrl": (-1.5, 612.0),
    "PRED_GLOB_ctrl": (-20.0, 1720.0),
}


@dataclass
class ForecastFile:
    """One generated file and what was injected into it, by the cleaner's reason names."""

    path: Path
    issue_date: date
    rows: int
    injected: dict[str, int] = field(default_factory=dict)


def forecast_file_name(issue_date: date) -> str:
    return f"Pred_{issue_date.isoformat()}.csv"


def site_count(rows_scale: float) -> int:
    """Sites in a file of the given scale: at least Sion and one quoted name."""
    return max(2, min(len(SITES), round(FULL_SITES * rows_scale)))


def _quote(name: str) -> str:
    # The real files quote names with blanks or slashes; a comma would need it per RFC 4180 anyway.
    return f'"{name}"' if any(ch in name for ch in " /,") else name


def _values(
    rng: np.random.Generator,
    code: str,
    hours: np.ndarray,
    doy: np.ndarray,
    alt: np.ndarray,
    lead_days: np.ndarray,
    run: np.ndarray,
) -> np.ndarray:
    """Plausible values for one measurement, vectorised over (site, run, step) rows."""
    n = hours.size
    spread = 0.3 + 0.4 * lead_days  # later steps and other runs disagree more
    # Coldest mid-January, 6.5 K per km of altitude, warmest in the afternoon.
    temp = (
        9.0
        - 10.0 * np.cos(2 * np.pi * (doy - 15) / 365.25)
        - 0.0065 * (alt - 500)
        + 5.0 * np.sin(2 * np.pi * (hours - 9) / 24)
        + rng.normal(0, 1, n) * spread
        + 0.2 * run
    )
    sun = np.clip(np.sin(np.pi * (hours - 6) / 12), 0, None) * (
        0.6 + 0.4 * np.cos(2 * np.pi * (doy - 172) / 365.25)
    )
    if code == "PRED_T_2M_ctrl":
        return np.round(temp, 2)
    if code == "PRED_RELHUM_2M_ctrl":
        return np.round(np.clip(78 - 2.2 * (temp - temp.mean()) + rng.normal(0, 8, n), 8, 100), 1)
    if code == "PRED_TOT_PREC_ctrl":
        wet = rng.random(n) < 0.18
        return np.round(np.where(wet, rng.gamma(0.8, 1.6, n), 0.0), 2)
    if code == "PRED_GLOB_ctrl":
        cloud = rng.uniform(0.35, 1.0, n)
        return np.round(900 * sun * cloud, 1)
    if code == "PRED_DURSUN_ctrl":
        return np.round(np.clip(180 * sun * rng.uniform(0, 1.1, n), 0, 180), 0)
    if code == "PRED_FF_10M_ctrl":
        return np.round(rng.gamma(2.0, 1.4, n) * (1 + alt / 3000), 1)
    return np.round(rng.uniform(0, 360, n), 0)


# The site whose forecast describes the simulated apartments' weather (generator/outdoor.py).
SIMULATED_SITE = "Sion"
# Forecast error: sd of the control run's error at lead 0 and its growth per day of lead, per kept code.
FORECAST_ERROR = {"PRED_T_2M_ctrl": (0.6, 0.35), "PRED_GLOB_ctrl": (0.25, 0.12), "PRED_RELHUM_2M_ctrl": (4.0, 1.5)}


def _simulated_site_values(seed: int, start: datetime, n_steps: int, n_runs: int,
                           rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The kept codes' values at the simulated site, (runs x steps) in run order: the true weather of
    ``generator/outdoor.py`` (the one the sensor simulator shows) plus a forecast error that grows with the lead
    time and is smooth along it (an AR(1) over the 3-hourly steps); run 00, the control run Silver keeps, errs
    least, the other runs add their own spread. Temperature errs in °C, cloudiness (hence radiation and
    precipitation) in its latent variable, humidity in %."""
    first_hour = int(start.timestamp()) // 3600
    truth = outdoor.hourly(seed, first_hour, n_steps * STEP_HOURS)
    at = np.arange(n_steps) * STEP_HOURS
    lead_days = at / 24.0
    values: dict[str, np.ndarray] = {}

    def error(code: str) -> np.ndarray:
        base, growth = FORECAST_ERROR[code]
        shocks = rng.standard_normal((n_runs, n_steps))
        smooth = np.empty_like(shocks)
        smooth[:, 0] = shocks[:, 0]
        for k in range(1, n_steps):
            smooth[:, k] = 0.85 * smooth[:, k - 1] + np.sqrt(1 - 0.85**2) * shocks[:, k]
        spread = 1.0 + 0.5 * (np.arange(n_runs)[:, None] > 0)
        return smooth * (base + growth * lead_days) * spread

    temperature = truth.temperature[at] + error("PRED_T_2M_ctrl")
    latent = truth.cloud_latent[at] + error("PRED_GLOB_ctrl") * 4
    cloud = outdoor.cloud_cover(latent)
    values["PRED_T_2M_ctrl"] = np.round(temperature, 2)
    values["PRED_GLOB_ctrl"] = np.round(outdoor.radiation(truth.sun[at], cloud), 1)
    values["PRED_TOT_PREC_ctrl"] = np.round(outdoor.precipitation(latent) * STEP_HOURS, 2)
    values["PRED_RELHUM_2M_ctrl"] = np.round(np.clip(
        outdoor.humidity(temperature, truth.seasonal_mean[at], cloud) + error("PRED_RELHUM_2M_ctrl"), 8, 100), 1)
    return values


def _format_value(v: float) -> str:
    return repr(float(v))


Cell = tuple[str, str, str, str, str, str]  # Time, Value, Prediction, Site, Measurement, Unit


def _forecast_cells(rng: np.random.Generator, site_rows: list[tuple[str, float]], start: datetime,
                    predictions: int, horizon_days: int, seed: int | None = None) -> tuple[list[Cell], list[int]]:
    """Every forecast cell, ordered site, measurement, run, step (the way the real export groups them), and
    the positions of the cells of the measurements the cleaner keeps."""
    steps = [start + timedelta(hours=STEP_HOURS * i) for i in range(horizon_days * 24 // STEP_HOURS)]
    times = np.array([t.strftime("%Y-%m-%d %H:%M:%S+00:00") for t in steps], dtype=object)
    step_hours = np.array([t.hour for t in steps], dtype=float)
    step_doy = np.array([t.timetuple().tm_yday for t in steps], dtype=float)
    step_lead = np.array([(t - start).total_seconds() / 86400 for t in steps])
    n_steps, n_runs = len(steps), predictions
    per_code = n_runs * n_steps
    used_index: list[int] = []
    cells: list[Cell] = []
    for site_name, alt in site_rows:
        site_field = _quote(site_name)
        simulated = (_simulated_site_values(seed, start, n_steps, n_runs, np.random.default_rng([seed, 77, start.toordinal()]))
                     if site_name == SIMULATED_SITE and seed is not None else {})
        for code, unit in MEASUREMENTS.items():
            run = np.repeat(np.arange(n_runs), n_steps)
            vals = _values(rng, code, np.tile(step_hours, n_runs), np.tile(step_doy, n_runs),
                           np.full(per_code, alt), np.tile(step_lead, n_runs), run)
            if code in simulated:  # same draws as any site (the other sites unchanged), the simulated values
                vals = simulated[code].ravel()
            tcol = np.tile(times, n_runs)
            for i in range(per_code):
                if code in USED_CODES:
                    used_index.append(len(cells))
                cells.append((tcol[i], _format_value(vals[i]), f"{run[i]:02d}", site_field, code, unit))
    return cells, used_index


def _defective(reason: str, cell: Cell, rng: np.random.Generator) -> Cell | None:
    """The cell with one defect of ``reason`` injected (None for a duplicate: the cell is written twice)."""
    t, v, p, s, m, u = cell
    if reason == "sentinel_null":
        return (t, SENTINEL, p, s, m, u)
    if reason == "outlier_flagged":
        low, high = OUTLIER_VALUES[m]
        return (t, repr(low if rng.random() < 0.5 else high), p, s, m, u)
    if reason == "unparsable_time":
        return (str(rng.choice(["2023-02-30 25:00:00+00:00", "not-a-time", ""])), v, p, s, m, u)
    if reason == "unparsable_value":
        return (t, str(rng.choice(["n/a", "", "1.2.3", "NaN"])), p, s, m, u)
    if reason == "missing_key":
        return (t, v, p, "", m, u) if rng.random() < 0.5 else (t, v, "", s, m, u)
    if reason == "before_min_year":
        return ("1970-01-01 00:00:00+00:00", v, p, s, m, u)
    if reason == "bad_field_count":
        # An unquoted comma inside a site name: one field too many, the parser skips the line.
        return (t, v, p, s.strip('"').replace(" / ", ", ") + ",CH", m, u)
    return None  # duplicate


def _inject_defects(rng: np.random.Generator, cells: list[Cell], used_index: list[int]
                    ) -> tuple[dict[str, int], dict[int, list[str]]]:
    """Defects at the rates of ``RATES`` among the kept measurements' cells (in place); the counts, and the
    duplicate lines to write after a cell."""
    injected = dict.fromkeys(RATES, 0)
    extra_lines: dict[int, list[str]] = {}
    picks = rng.permutation(np.array(used_index))
    cursor = 0
    for reason, rate in RATES.items():
        k = round(rate * len(used_index))
        chosen = picks[cursor : cursor + k]
        cursor += k
        injected[reason] = k
        for idx in chosen:
            changed = _defective(reason, cells[idx], rng)
            if changed is None:
                extra_lines.setdefault(int(idx), []).append(",".join(cells[idx]))
            else:
                cells[idx] = changed
    return injected, extra_lines


def build_forecast_lines(
    issue_date: date,
    seed: int = 42,
    rows_scale: float = 1.0,
    *,
    sites: int | None = None,
    predictions: int = 5,
    horizon_days: int = 6,
    defects: bool = True,
) -> tuple[list[str], dict[str, int]]:
    """The CSV lines (header first) of one forecast file and the injected defect counts."""
    rng = np.random.default_rng([seed, issue_date.toordinal()])
    n_sites = sites if sites is not None else site_count(rows_scale)
    start = datetime(issue_date.year, issue_date.month, issue_date.day, FIRST_HOUR, tzinfo=UTC)
    cells, used_index = _forecast_cells(rng, SITES[:n_sites], start, predictions, horizon_days, seed)
    injected, extra_lines = dict.fromkeys(RATES, 0), {}
    if defects and used_index:
        injected, extra_lines = _inject_defects(rng, cells, used_index)
    lines = ["Time,Value,Prediction,Site,Measurement,Unit"]
    for i, row in enumerate(cells):
        lines.append(",".join(row))
        lines.extend(extra_lines.get(i, ()))
    injected["ignored_measurement"] = sum(1 for c in cells if c[4] not in USED_CODES)
    injected["rows"] = len(lines) - 1
    return lines, injected


def write_forecast_file(
    out_dir: Path, issue_date: date, seed: int = 42, rows_scale: float = 1.0, **kwargs: object
) -> ForecastFile:
    lines, injected = build_forecast_lines(issue_date, seed, rows_scale, **kwargs)  # type: ignore[arg-type]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / forecast_file_name(issue_date)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)  # the server never shows a half-written file
    return ForecastFile(path=path, issue_date=issue_date, rows=injected.pop("rows"), injected=injected)


def write_forecast_files(
    out_dir: Path | str,
    start: date,
    days: int,
    seed: int = 42,
    rows_scale: float = 1.0,
    *,
    sites: int | None = None,
    predictions: int = 5,
    horizon_days: int = 6,
    defects: bool = True,
) -> list[ForecastFile]:
    """Write ``days`` consecutive daily forecast files (issue dates from ``start``) into ``out_dir``.

    ``rows_scale`` scales the number of sites (1.0: about 150,000 rows per file); ``sites``, ``predictions``
    and ``horizon_days`` override the shape for small test files; ``defects=False`` writes clean files.
    """
    out = Path(out_dir)
    return [
        write_forecast_file(
            out,
            start + timedelta(days=i),
            seed,
            rows_scale,
            sites=sites,
            predictions=predictions,
            horizon_days=horizon_days,
            defects=defects,
        )
        for i in range(days)
    ]


# ------------------------------------------------------------------------------------------------ CLI


def _run_cli(args: argparse.Namespace) -> int:
    files = write_forecast_files(
        args.out,
        args.start,
        args.days,
        seed=args.seed,
        rows_scale=args.rows_scale,
        sites=args.sites,
        predictions=args.predictions,
        horizon_days=args.horizon_days,
    )
    total = sum(f.rows for f in files)
    print(f"wrote {len(files)} forecast file(s), {total} rows, into {args.out}")
    return 0


def add_weather_subcommand(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``weather`` on a CLI's subparsers; the handler is stored as ``func`` (returns an exit code)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "weather",
        help="write daily weather forecast files Pred_YYYY-MM-DD.csv (sFTP source)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="folder the sFTP server serves, e.g. <root>/Meteo2"
    )
    parser.add_argument(
        "--start", type=date.fromisoformat, default=date(2023, 8, 18), help="first issue date"
    )
    parser.add_argument("--days", type=int, default=1, help="number of daily files")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rows-scale", type=float, default=1.0, help="1.0 = about 150,000 rows per file")
    parser.add_argument("--sites", type=int, default=None, help="number of sites (overrides --rows-scale)")
    parser.add_argument("--predictions", type=int, default=5, help="prediction codes per file (00..NN)")
    parser.add_argument("--horizon-days", type=int, default=6, help="forecast days per file (3-hourly steps)")
    parser.set_defaults(func=_run_cli)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m domotic.generator.weather weather --out DIR ...``."""
    parser = argparse.ArgumentParser(prog="domotic-weather")
    add_weather_subcommand(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
