"""Command line for the source generators: ``python -m domotic.generator <source> ...``.

One subcommand per source so that others (e.g. ``weather``) can be added by registering a function in
:data:`SUBCOMMANDS` without touching the existing ones. Each registrar adds its parser and sets ``handler``,
a function taking the parsed namespace and returning the process exit code.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domotic.generator.sensors import FAULT_KINDS, parse_fault_args, write_range

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def _time_zone(text: str) -> str:
    if text.upper() == "UTC":
        return "UTC"
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"unknown time zone: {text!r}") from None
    return text


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _run_sensors(args: argparse.Namespace) -> int:
    try:
        faults = parse_fault_args(args.fault or [])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        report = write_range(
            args.out,
            args.start,
            args.start + timedelta(days=args.days),
            faults,
            late_dir=args.late_dir,
            redelivery_dir=args.redelivery_dir,
            seed=args.seed,
            history_start=args.history_start or args.start,
            source_tz=args.source_tz,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    print(f"sensors: {report.summary()} in {elapsed:.1f} s")
    return 0


def add_sensors_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``sensors``: one JSON file per apartment per minute, as on the SMB share."""
    p = subparsers.add_parser(
        "sensors",
        help="write sensor JSON files (one per apartment per minute)",
        description="Write deterministic sensor JSON files named 'DD.MM.YYYY HHMM_<handle>_received.json'.",
    )
    p.add_argument("--out", required=True, help="folder the files are written to (flat, created if missing)")
    p.add_argument("--start", required=True, type=_iso_date, help="first day (YYYY-MM-DD, in --source-tz)")
    p.add_argument("--days", type=_positive_int, default=1, help="number of days to write (default 1)")
    p.add_argument("--seed", type=int, default=42, help="random seed; same arguments give identical files")
    p.add_argument(
        "--history-start",
        type=_iso_date,
        default=None,
        help="day the simulation starts (default --start); keep it fixed to extend a history consistently",
    )
    p.add_argument(
        "--fault",
        action="append",
        metavar="NAME=RATE",
        help=f"inject a fault with a per-file probability (repeatable); NAME in: {', '.join(FAULT_KINDS)}",
    )
    p.add_argument("--late-dir", default=None, help="folder for late files (needed by late_files)")
    p.add_argument(
        "--redelivery-dir",
        default=None,
        help="folder for re-deliveries (duplicate_delivery, changed_redelivery)",
    )
    p.add_argument(
        "--source-tz",
        type=_time_zone,
        default="UTC",
        help="clock of file names and payload datetime (default UTC)",
    )
    p.set_defaults(handler=_run_sensors)


def _add_live(subparsers: argparse._SubParsersAction) -> None:
    from domotic.generator.live import add_live_command

    add_live_command(subparsers)


def _add_weather(subparsers: argparse._SubParsersAction) -> None:
    from domotic.generator.weather import add_weather_subcommand

    add_weather_subcommand(subparsers)
    # The weather registrar names its handler ``func``; this CLI calls ``handler``.
    parser = subparsers.choices["weather"]
    parser.set_defaults(handler=lambda args: args.func(args))


SUBCOMMANDS: list[Registrar] = [add_sensors_command, _add_weather, _add_live]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="domotic-generate", description="Generate realistic source data.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in SUBCOMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
