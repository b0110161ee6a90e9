"""Benchmark and evaluation of the forecasts (``make bench --only ml``): 70 generated days through Silver and
Gold, then, in a fresh process (its own peak memory): read Gold's history, the 14-day rolling-origin backtest,
the final fit and one day's prediction (the "train + backtest + predict" budget), and a daily prediction run
as ``ml_forecast_daily`` does it (history, artifact, issue, write, gates). Also draws docs/ml-*.png and
returns the metrics table of docs/ml.md.

    python -m domotic_dev.bench_ml --conninfo "host=... dbname=..." --model-dir var/bench/ml-models
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HISTORY_START = date(2023, 8, 18)
HISTORY_DAYS = 70
LAST_DAY = HISTORY_START + timedelta(days=HISTORY_DAYS - 1)
DOCS = Path(__file__).resolve().parents[2] / "docs"


def _timed(conninfo: str, model_dir: Path, backtest_days: int, refit_every: int) -> dict[str, Any]:
    import psycopg

    from domotic.ml import evaluation, forecast, models, registry
    from domotic.ml.history import read_history

    out: dict[str, Any] = {}
    started = time.perf_counter()
    with psycopg.connect(conninfo) as conn:
        history = read_history(conn, HISTORY_START, LAST_DAY, "Sion")
    out["read_s"] = time.perf_counter() - started
    started = time.perf_counter()
    frames = evaluation.feature_frames(history, LAST_DAY)
    result = evaluation.backtest(history, LAST_DAY, backtest_days, refit_every, frames)
    out["backtest_s"] = time.perf_counter() - started
    started = time.perf_counter()
    bundle = models.fit(*frames, history, LAST_DAY)
    issued = forecast.issue(bundle, "bench", history, LAST_DAY)
    out["fit_predict_s"] = time.perf_counter() - started
    out["train_backtest_predict_s"] = out["read_s"] + out["backtest_s"] + out["fit_predict_s"]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    data = registry.serialise(bundle)
    version = registry.version_of(data, LAST_DAY)
    path, sha = registry.write_artifact(model_dir, version, data)
    # the daily run: history, artifact, issue, write, gates (issue_forecasts + quality_gates without Airflow)
    started = time.perf_counter()
    with psycopg.connect(conninfo) as conn:
        history = read_history(conn, LAST_DAY - timedelta(days=HISTORY_DAYS - 1), LAST_DAY, "Sion")
        served = registry.load_artifact(str(path), sha)
        issued = forecast.issue(served, version, history, LAST_DAY)
        forecast.write(conn, issued, history.apartment_keys, "bench")
        failures = forecast.gate_failures(conn, LAST_DAY, "bench", history)
    out["daily_run_s"] = time.perf_counter() - started
    out["gate_failures"] = failures
    out["metrics"] = result.metrics
    out["reliability"] = result.reliability
    out["improvement"] = {a: result.improvement(a) for a in history.apartments}
    out["backtest"] = {"first_day": result.first_day.isoformat(), "last_day": result.last_day.isoformat(),
                       "refits": result.fits, "refit_every_days": refit_every}
    out["plots"] = _plots(result, issued)
    return out


def _plots(result: Any, issued: Any) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = []
    energy = result.energy
    week_start = result.last_day - timedelta(days=6)
    fig, axes = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    for ax, (apartment, group) in zip(axes, energy[energy["horizon"] <= 24].groupby("apartment"), strict=False):
        group = group[group["issue_day"] >= week_start - timedelta(days=1)].sort_values("target_hour")
        when = [datetime.fromtimestamp(int(h) * 3600, UTC) for h in group["target_hour"]]
        ax.plot(when, group["y"], color="black", lw=1, label="actual")
        ax.plot(when, group["prediction"], color="tab:blue", lw=1.2, label="model (next day)")
        ax.plot(when, group["mean_profile_4w"], color="tab:orange", lw=0.9, ls="--", label="4-week mean profile")
        ax.set_ylabel(f"{apartment}: kWh/h")
        ax.legend(loc="upper left", fontsize=8)
    axes[0].set_title("Hourly house-meter energy, last backtest week: next-day forecasts against actual")
    fig.tight_layout()
    fig.savefig(DOCS / "ml-energy-week.png", dpi=90)
    plt.close(fig)
    names.append("ml-energy-week.png")
    fig, ax = plt.subplots(figsize=(8, 4))
    for apartment, group in energy.groupby("apartment"):
        by = group.assign(error=(group["y"] - group["prediction"]).abs()).groupby("horizon")["error"].mean()
        base = group.assign(error=(group["y"] - group["mean_profile_4w"]).abs()).groupby("horizon")["error"].mean()
        ax.plot(by.index, by.values, label=f"{apartment}: model")
        ax.plot(base.index, base.values, ls="--", label=f"{apartment}: 4-week mean profile")
    ax.set_xlabel("horizon (hours after issue)")
    ax.set_ylabel("MAE (kWh/h)")
    ax.set_title("Energy error by horizon (rolling-origin backtest)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(DOCS / "ml-error-by-horizon.png", dpi=90)
    plt.close(fig)
    names.append("ml-error-by-horizon.png")
    fig, ax = plt.subplots(figsize=(5, 5))
    table = result.reliability
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
    ax.plot([r["mean_predicted"] for r in table], [r["observed_rate"] for r in table], marker="o")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title("Presence: reliability (backtest)")
    fig.tight_layout()
    fig.savefig(DOCS / "ml-presence-reliability.png", dpi=90)
    plt.close(fig)
    names.append("ml-presence-reliability.png")
    del np
    return names


def report_text(out: dict[str, Any]) -> str:
    from domotic.ml.evaluation import metric

    lines = [f"70 generated days (seed 2023, {HISTORY_START}..{LAST_DAY}) through Silver and Gold; a fresh process "
             "reads Gold, runs the 14-day rolling-origin backtest (refit every "
             f"{out['backtest']['refit_every_days']} days, {out['backtest']['refits']} fits), fits the final bundle "
             "and predicts one day.", "",
             "| measure | value | target |", "|---|---:|---|",
             f"| train + backtest + predict, both apartments | {out['train_backtest_predict_s']:.1f} s | < 60 s |",
             f"| of which reading Gold's 70 days | {out['read_s']:.1f} s | |",
             f"| peak memory of that process | {out['peak_rss_mb']:.0f} MB | < 1 GB |",
             f"| a daily prediction run (history, artifact, issue, write, gates) | {out['daily_run_s']:.1f} s | < 10 s |",
             "", "Backtest on the last 14 days (targets "
             f"{out['backtest']['first_day']}..{out['backtest']['last_day']}):", "",
             "| apartment | energy MAE model | same hour last week | 4-week mean profile | gain vs better | "
             "presence Brier model | hour-of-week | gain |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    rows = out["metrics"]
    for apartment, gains in sorted(out["improvement"].items()):
        lines.append(
            f"| {apartment} | {metric(rows, apartment, 'energy_kwh', 'mae', 'model'):.3f} | "
            f"{metric(rows, apartment, 'energy_kwh', 'mae', 'same_hour_last_week'):.3f} | "
            f"{metric(rows, apartment, 'energy_kwh', 'mae', 'mean_profile_4w'):.3f} | "
            f"{100 * gains['energy_mae_vs_best_baseline']:+.1f} % | "
            f"{metric(rows, apartment, 'presence', 'brier', 'model'):.4f} | "
            f"{metric(rows, apartment, 'presence', 'brier', 'hour_of_week'):.4f} | "
            f"{100 * gains['presence_brier_vs_hour_of_week']:+.1f} % |")
    lines += ["", "Targets (issue 19): energy MAE at least 10 % below the better naive baseline and presence Brier at "
              "least 10 % below hour-of-week, per apartment. See docs/ml.md for what is and is not met."]
    return "\n".join(lines)


def bench_ml(conninfo: str, model_dir: Path, *, build: bool = True, seed: int = 2023, backtest_days: int = 14,
             refit_every: int = 1) -> dict[str, Any]:
    """Build the 70-day warehouse (unless ``build`` is false), then time the forecasts in a child process."""
    out: dict[str, Any] = {}
    if build:
        from domotic_dev.ml_warehouse import build_history

        out["build"] = build_history(conninfo, HISTORY_START, HISTORY_DAYS, seed)
    child = subprocess.run([sys.executable, "-m", "domotic_dev.bench_ml", "--conninfo", conninfo, "--model-dir",
                            str(model_dir), "--backtest-days", str(backtest_days), "--refit-every",
                            str(refit_every)], check=True, capture_output=True, text=True)
    out.update(json.loads(child.stdout.strip().splitlines()[-1]))
    out["text"] = report_text(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conninfo", required=True)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--backtest-days", type=int, default=14)
    parser.add_argument("--refit-every", type=int, default=1)
    args = parser.parse_args()
    out = _timed(args.conninfo, args.model_dir, args.backtest_days, args.refit_every)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
