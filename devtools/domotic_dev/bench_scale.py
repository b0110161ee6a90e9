"""``make bench``, section ``scale`` (issue 21): the design measured at 1,000 apartments on this machine.

* ``share``: one generated day of ``apartments`` apartments (1,440 files each; 1.44 M at 1,000: the demo's two
  plus :func:`~domotic.generator.sensors.synthetic_inventory` ones, their inventories varied), cached under
  ``var/bench/scale-<N>``. It is simulated in a child process (a day of 1,000 apartments holds gigabytes of
  arrays), so the loaders never inherit that memory.
* ``registry``: the 998 synthetic apartments onboarded in ONE transaction (``tenants.onboard_many``, what
  ``python -m domotic.warehouse.tenants import fleet.csv`` runs), roles and memberships included.
* ``load``: ``sensors_daily``'s code on that day: ``reconcile_day``'s listing with the registry, split into
  whole-hour chunks at the default ``sensor_chunk_files`` (an hour of 1,000 apartments is one chunk), each
  chunk loaded by ``ingest_chunk``'s function in one of ``LOAD_WORKERS`` worker processes (Airflow task slots:
  the mapped tasks run in the default pool, as many at once as the executor's parallelism allows). Wall time from the listing to the last commit, and each worker's peak memory after its
  first and after its last chunk: flat memory means the second is no bigger than the first.
* ``gold``: the day's Gold build as ``gold_build`` runs it after that load (it claims the day's changes from the
  ledger; dimensions included).
* ``rls``: one tenant's day (three dashboard queries, as ``role_jimmy``) at 1,000 tenants against the same
  queries on a two-tenant warehouse holding the same day of the same two apartments; median of 15 each.

The minutely latency with 1,000 predicted files is measured by ``bench.bench_minutely_latency(apartments=1000)``.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from itertools import repeat
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

SCALE_APARTMENTS = 1000
LOAD_WORKERS = 3  # task slots on the 2 cores: the third keeps them busy while the others wait on Postgres
TENANT = "jimmy"  # the owner whose day is queried at 2 and at 1,000 tenants (same files in both)
TENANT_DAY_QUERIES = {
    "energy by hour": """
        SELECT datetime_key / 100 AS hour, sum(energy_kwh), sum(cost_chf)
        FROM gold.fact_energy_minute
        WHERE datetime_key >= %(start)s AND datetime_key < %(end)s AND meter_role = 'house_meter'
        GROUP BY 1""",
    "environment by room and hour": """
        SELECT room_key, datetime_key / 100 AS hour, avg(temperature_c), avg(humidity_pct), max(co2_ppm)
        FROM gold.fact_environment_minute
        WHERE datetime_key >= %(start)s AND datetime_key < %(end)s AND NOT is_outdoor
        GROUP BY 1, 2""",
    "presence minutes by room": """
        SELECT room_key, count(*) FILTER (WHERE presence_flag), sum(motion_count)
        FROM gold.fact_presence_minute
        WHERE datetime_key >= %(start)s AND datetime_key < %(end)s
        GROUP BY 1""",
}


# ------------------------------------------------------------------------------------------------ share


def _generate(share: str, day: date, apartments: int, seed: int) -> tuple[int, float]:
    from domotic.generator.sensors import write_range

    started = time.perf_counter()
    report = write_range(share, day, day + timedelta(days=1), seed=seed, history_start=day, apartments=apartments)
    return report.files_written, time.perf_counter() - started


def scale_share(bench_dir: Path, day: date, apartments: int, seed: int) -> Path:
    """The cached share holding ``day`` for ``apartments`` apartments (generated the first time)."""
    root = bench_dir / f"scale-{apartments}"
    share, stamp = root / "share", root / "share.done"
    if not stamp.exists():
        shutil.rmtree(share, ignore_errors=True)
        share.mkdir(parents=True)
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as child:
            files, seconds = child.submit(_generate, str(share), day, apartments, seed).result()
        print(f"scale: generated {files:,} files of {apartments} apartments in {seconds:.0f} s", flush=True)
        stamp.write_text(str(files))
    return share


# ------------------------------------------------------------------------------------------------ registry


def import_fleet(info: str, apartments: int, day: date) -> dict[str, Any]:
    """Onboard the generated apartments beyond the seeded two in one transaction; seconds and counts."""
    from domotic.generator.sensors import inventories
    from domotic.warehouse import tenants

    registrations = [tenants.Registration(inv.handle, day) for inv in inventories(apartments)[2:]]
    with psycopg.connect(info, autocommit=True) as conn:
        started = time.perf_counter()
        done, created = tenants.onboard_many(conn, registrations)
        seconds = time.perf_counter() - started
        members = conn.execute("SELECT count(*) FROM gold.tenant_membership").fetchone()[0]
    return {"apartments": len(done), "roles_created": created, "memberships": members, "seconds": seconds}


# ------------------------------------------------------------------------------------------------ load


def _ingest_chunk(info: str, share: str, bronze: str, names: list[str]) -> dict[str, Any]:
    """One ``ingest_chunk`` task's work in a worker process."""
    from domotic.sensors.load import ingest_share_files

    started = time.perf_counter()
    result = ingest_share_files(lambda: psycopg.connect(info), Path(share), names, Path(bronze))
    return {"pid": os.getpid(), "files": len(names), "loaded": result.silver.files_loaded,
            "quarantined": result.silver.files_quarantined, "rows": result.silver.rows,
            "seconds": time.perf_counter() - started,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def load_day(info: str, share: Path, bronze: Path, day: date, *, only_registered: bool = False,
             chunk_files: int | None = None) -> dict[str, Any]:
    """``sensors_daily``'s reconcile_day + ingest_chunk tasks on ``day``: listed with the registry, chunked, the
    chunks loaded by ``LOAD_WORKERS`` fresh worker processes. ``only_registered``: leave out the names of owners
    this warehouse's registry does not know (instead of quarantining them): the two-tenant reference warehouse
    takes only its two apartments' files from the shared day."""
    from domotic.sensors.load import list_share_day
    from domotic.settings import VARIABLES
    from domotic.warehouse.tenants import read_registry

    max_files = chunk_files or int(VARIABLES["sensor_chunk_files"].default)
    started = time.perf_counter()
    with psycopg.connect(info) as conn:
        apartments = read_registry(conn)
    listing = list_share_day(share, day, apartments=apartments)
    if only_registered:
        listing.bad_names = []
    chunks = listing.chunks(max_files)
    listed = time.perf_counter() - started
    context = multiprocessing.get_context("forkserver")  # workers start clean, as a task's process does
    with ProcessPoolExecutor(max_workers=LOAD_WORKERS, mp_context=context) as pool:
        results = list(pool.map(_ingest_chunk, repeat(info), repeat(str(share)), repeat(str(bronze)), chunks))
    wall = time.perf_counter() - started
    by_worker: dict[int, list[dict]] = {}
    for result in results:
        by_worker.setdefault(result["pid"], []).append(result)
    files = sum(r["files"] for r in results)
    return {"files": files, "loaded": sum(r["loaded"] for r in results),
            "quarantined": sum(r["quarantined"] for r in results), "rows": sum(r["rows"] for r in results),
            "chunks": len(chunks), "chunk_files": max_files, "listing_s": listed, "seconds": wall,
            "files_per_s": files / wall,
            "workers": [[round(r["peak_rss_mb"], 1) for r in done] for done in by_worker.values()]}  # peak after each chunk


# ------------------------------------------------------------------------------------------------ gold


def build_gold_day(info: str) -> dict[str, Any]:
    """The Gold build ``gold_build`` runs after the day's load: it claims the day's changes from the ledger and
    builds their window (dimensions included) in one transaction."""
    from domotic import gold
    from domotic.gold import ledger

    with contextlib.closing(psycopg.connect(info)) as conn:
        started = time.perf_counter()
        steps = gold.build(conn, gold.plan_from_context(None, None, None, ledger.pending(conn)).parameters())
        seconds = time.perf_counter() - started
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")  # what autovacuum does after a large load
        rows = {table: conn.execute(sql.SQL("SELECT count(*) FROM gold.{}").format(sql.Identifier(table))).fetchone()[0]
                for table in ("fact_energy_minute", "fact_environment_minute", "fact_presence_minute")}
    return {"seconds": seconds, "rows": rows,
            "steps": dict(sorted(((name.removeprefix("gold/build/"), s) for name, s in steps),
                                 key=lambda item: -item[1])[:6])}


# ------------------------------------------------------------------------------------------------ rls


def tenant_day_cost(info: str, day: date, role: str = f"role_{TENANT}", repeats: int = 15) -> dict[str, Any]:
    """Median seconds of one tenant's day (the three ``TENANT_DAY_QUERIES``) as ``role``, and the rows it saw."""
    start = int(day.strftime("%Y%m%d")) * 10_000
    params = {"start": start, "end": start + 10_000}
    with psycopg.connect(info, autocommit=True) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        seen = {name: len(conn.execute(query, params).fetchall()) for name, query in TENANT_DAY_QUERIES.items()}
        apartments = [row[0] for row in conn.execute("SELECT DISTINCT apartment_id FROM gold.fact_energy_minute "
                                                     "WHERE datetime_key >= %(start)s AND datetime_key < %(end)s",
                                                     params)]
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            for query in TENANT_DAY_QUERIES.values():
                conn.execute(query, params).fetchall()
            runs.append(time.perf_counter() - started)
    return {"seconds": statistics.median(runs), "result_rows": seen, "apartments_seen": apartments}


# ------------------------------------------------------------------------------------------------ section


def bench_scale(fresh_warehouse: Callable[[str], str], bench_dir: Path, fresh_folder: Callable[[str], Path],
                day: date, seed: int, apartments: int = SCALE_APARTMENTS) -> dict[str, Any]:
    """Every figure of the section; ``fresh_warehouse(dbname)`` gives a migrated empty warehouse's conninfo."""
    share = scale_share(bench_dir, day, apartments, seed)
    generated = json.loads((share.parent / "share.done").read_text())

    small = fresh_warehouse("bench_scale_2")  # the two seeded apartments only: the RLS reference
    load_day(small, share, fresh_folder("scale-bronze-2"), day, only_registered=True)
    build_gold_day(small)
    two_tenants = tenant_day_cost(small, day)

    info = fresh_warehouse("bench_scale")
    registry = import_fleet(info, apartments, day)
    print(f"scale: {registry['apartments']} apartments onboarded in {registry['seconds']:.1f} s", flush=True)
    load = load_day(info, share, fresh_folder("scale-bronze"), day)
    print(f"scale: {load['files']:,} files ({load['rows']:,} readings) through sensors_daily's code in "
          f"{load['seconds']:.0f} s = {load['files_per_s']:,.0f} files/s; workers {load['workers']}", flush=True)
    built = build_gold_day(info)
    print(f"scale: Gold day for {apartments} apartments {built['seconds']:.1f} s {built['steps']}", flush=True)
    many_tenants = tenant_day_cost(info, day)
    print(f"scale: one tenant's day {many_tenants['seconds'] * 1000:.1f} ms at {apartments} tenants, "
          f"{two_tenants['seconds'] * 1000:.1f} ms at 2", flush=True)
    with psycopg.connect(info) as conn:
        sizes = dict(conn.execute(
            "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relname IN "
            "('sensor_readings', 'fact_energy_minute', 'fact_environment_minute', 'fact_presence_minute')"
        ).fetchall())
    return {"apartments": apartments, "generated_files": int(generated), "registry": registry, "load": load,
            "gold": built, "rls": {"two_tenants": two_tenants, "many_tenants": many_tenants},
            "sizes_mb": {name: size / 2**20 for name, size in sizes.items()}}


def scale_text(out: dict[str, Any], minutely: dict[str, Any] | None) -> str:
    """The markdown of docs/benchmarks.md's scale section."""
    load, built, rls = out["load"], out["gold"], out["rls"]
    n = out["apartments"]
    ratio = rls["many_tenants"]["seconds"] / rls["two_tenants"]["seconds"]
    workers = "; ".join(f"{len(peaks)} chunks, {peaks[0]:.0f} MB after the first and {peaks[-1]:.0f} MB after "
                        "the last" for peaks in load["workers"])
    lines = [
        f"One generated day of **{n:,} apartments** ({out['generated_files']:,} files; the demo's two plus "
        f"{n - 2:,} synthetic inventories of 2-5 plugs, 2-4 rooms with 1-2 contacts, 2-4 motion sensors, 1-3 "
        "stations, 0-2 humidity sensors), `devtools/domotic_dev/bench_scale.py`. Targets from issue 21.", "",
        "| measure | result | target |", "|---|---:|---:|",
        f"| onboarding {out['registry']['apartments']:,} apartments (one `tenants import`, roles and memberships) | "
        f"{out['registry']['seconds']:.1f} s | – |",
        f"| one day through `sensors_daily`'s code ({load['files']:,} files, {load['rows']:,} readings; "
        f"{load['chunks']} hour chunks on {LOAD_WORKERS} workers) | **{load['seconds']:.0f} s** "
        f"({load['files_per_s']:,.0f} files/s; listing {load['listing_s']:.1f} s) | < 300 s |",
        f"| peak memory of a loading worker | {workers} | flat |",
        f"| Gold: the day's build after that load ({n:,} apartments, claims the ledger, dimensions included) | "
        f"**{built['seconds']:.1f} s** | < 60 s |",
        f"| one tenant's day (3 dashboard queries as `role_{TENANT}`) at {n:,} tenants vs 2 tenants | "
        f"**{rls['many_tenants']['seconds'] * 1000:.1f} ms vs {rls['two_tenants']['seconds'] * 1000:.1f} ms "
        f"({ratio:.2f}×)** | < 2× |",
    ]
    if minutely:
        lines.append(
            f"| `sensors_minutely` with {minutely['apartments']:,} predicted files a minute, arrival → Silver "
            f"(every file, {len(minutely['file_samples']):,} over {len(minutely['samples'])} minutes) | "
            f"**p95 {minutely['file_p95_s']:.1f} s** (median {minutely['file_median_s']:.1f} s; last file of a "
            f"minute: median {minutely['median_s']:.1f} s) | p95 < 30 s |")
    lines += [
        "", f"Gold's rows for the day: {', '.join(f'{t} {c:,}' for t, c in built['rows'].items())}. "
        f"Sizes after it: {', '.join(f'{t} {mb:,.0f} MB' for t, mb in out['sizes_mb'].items())}. "
        "The slowest statements of the day's build: "
        + ", ".join(f"`{name}` {s:.1f} s" for name, s in built["steps"].items()) + ".",
        "", f"The tenant's queries saw only its apartment ({rls['many_tenants']['apartments_seen']}) and the "
        f"same result rows at both sizes ({rls['many_tenants']['result_rows']} vs "
        f"{rls['two_tenants']['result_rows']}): the policy's `apartment_id = ANY (gold.my_apartments())` is an "
        "index range scan per apartment the role sees (`(apartment_id, datetime_key)` indexes of migration 0006) "
        "over heap pages that hold that apartment's rows together (Gold writes facts in apartment order); "
        "docs/decisions.md, *At 1,000 apartments*.",
    ]
    return "\n".join(lines)
