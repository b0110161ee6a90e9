"""Live mode: play the apartments in real time, one file per apartment as each minute ends.

Files appear a few seconds after their minute (random jitter), occasionally late (minutes after) or never, as
on the real share. Files are written under a dot-name and renamed, so a reader never sees half a file.
``python -m domotic.generator live --out /data/smb`` runs until interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from domotic.generator.sensors import SensorSimulator


def _write(folder: Path, name: str, body: dict) -> None:
    tmp = folder / f".{name}.tmp"
    tmp.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    os.replace(tmp, folder / name)


def run_live(
    out_dir: Path,
    *,
    seed: int = 0,
    source_tz: str = "UTC",
    jitter_seconds: tuple[float, float] = (2.0, 12.0),
    late_rate: float = 0.01,
    missing_rate: float = 0.002,
    minutes: int | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    on_write: Callable[[str, float], None] | None = None,
) -> int:
    """Write each minute's files as it ends; returns the number of files written (``minutes`` bounds it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    minute = clock().replace(second=0, microsecond=0)
    # The simulated days start from the injected clock, never the wall clock: a test's fake clock may sit on
    # any date (the simulator refuses minutes before its first day).
    simulator = SensorSimulator(seed=seed, history_start=minute.date() - timedelta(days=1), source_tz=source_tz)
    pending: list[tuple[datetime, str, dict]] = []  # (due time, name, body), late files
    written = done = 0
    while minutes is None or done < minutes:
        ends = minute + timedelta(minutes=1)
        for handle, body in simulator.step(minute).items():
            name = simulator.file_name(handle, minute)
            draw = rng.random()
            if draw < missing_rate:
                continue
            delay = rng.uniform(120, 600) if draw < missing_rate + late_rate else rng.uniform(*jitter_seconds)
            pending.append((ends + timedelta(seconds=delay), name, body))
        pending.sort(key=lambda item: item[0])
        next_minute_ready = ends + timedelta(seconds=jitter_seconds[0])
        while pending and pending[0][0] <= next_minute_ready + timedelta(minutes=1):
            due, name, body = pending[0]
            wait = (due - clock()).total_seconds()
            if wait > 0:
                if due > next_minute_ready:
                    break
                sleep(wait)
            pending.pop(0)
            _write(out_dir, name, body)
            written += 1
            if on_write:
                on_write(name, clock().timestamp())
        done += 1
        minute = ends
        wait = (next_minute_ready - clock()).total_seconds() - jitter_seconds[0]
        if wait > 0 and (minutes is None or done < minutes):
            sleep(wait)
    for _, name, body in pending:  # bounded run: deliver what is still late, now
        _write(out_dir, name, body)
        written += 1
    return written


def add_live_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("live", help="write sensor files in real time, as the apartments do")
    parser.add_argument("--out", type=Path, required=True, help="the share folder")
    parser.add_argument("--seed", type=int, default=42, help="the forecast files' seed (same weather)")
    parser.add_argument("--source-tz", default="UTC")
    parser.add_argument("--late-rate", type=float, default=0.01, help="share of files arriving 2-10 min late")
    parser.add_argument("--missing-rate", type=float, default=0.002, help="share of files never delivered")
    parser.add_argument("--minutes", type=int, default=None, help="stop after N minutes (default: run forever)")

    def handler(args: argparse.Namespace) -> int:
        print(f"live: writing sensor files into {args.out} as each minute ends (Ctrl+C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            run_live(args.out, seed=args.seed, source_tz=args.source_tz, late_rate=args.late_rate,
                     missing_rate=args.missing_rate, minutes=args.minutes,
                     on_write=lambda name, _: print(f"live: {name}", flush=True))
        return 0

    parser.set_defaults(handler=handler)
