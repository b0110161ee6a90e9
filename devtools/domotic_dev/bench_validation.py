"""What the checks of issue 17 cost the Silver cold load (``make bench``, section ``validation``).

The same days are loaded cold, alternately, by the loader as it was before those checks (the ``include/`` tree of
``VALIDATION_BASE``, extracted with ``git archive``) and by the current one, each in its own process on the same
share, the same private Postgres and fresh databases: only the code differs. The checks are safe share reads
(``O_NOFOLLOW | O_NONBLOCK``, ``fstat`` twice and an ``lstat`` per file, the size cap), room names and caps on new
series, escaped names and reasons. Alternating the two cancels most of this VM's drift (±20 % over tens of minutes,
docs/decisions.md "Benchmarks"); the medians are compared.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

from domotic_dev.services import REPO_ROOT, Service

# The last commit before issue 17's checks (its parent on the branch that brought them).
VALIDATION_BASE = "2dc1a1c89e4b2828c5c889af0c658d092c5ac1f2"


def _base_tree(bench_dir: Path) -> Path:
    """``include/`` of VALIDATION_BASE under ``bench_dir`` (extracted once)."""
    tree = bench_dir / f"validation-base-{VALIDATION_BASE[:12]}"
    if not (tree / "include" / "python" / "domotic").is_dir():
        archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", VALIDATION_BASE, "include"],
                                 capture_output=True, check=False)
        if archive.returncode != 0:
            raise RuntimeError(f"git archive {VALIDATION_BASE} failed (a shallow clone?): {archive.stderr!r}")
        tree.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(tree, filter="data")
    return tree


def _one_load(pg: Service, days: int, code: Path | None) -> dict:
    env = {**os.environ, "BENCH_PG_PORT": str(pg.port)}
    if code is not None:  # first on the path: the older ``domotic`` (the editable install comes after it)
        env["PYTHONPATH"] = str(code / "include" / "python")
    done = subprocess.run([sys.executable, "-m", "domotic_dev.bench_validation", str(days)], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"validation load failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_validation(pg: Service, bench_dir: Path, days: int = 7, rounds: int = 7) -> dict:
    """Cold loads of ``days`` days, before and after the checks, ``rounds`` of each, alternating."""
    from domotic_dev import bench

    base = _base_tree(bench_dir)
    bench.share_of(days)  # generated (or linked) once, before anything is timed
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for i in range(rounds):
        for kind in (("before", "after") if i % 2 == 0 else ("after", "before")):
            run = _one_load(pg, days, base if kind == "before" else None)
            runs[kind].append(run)
            print(f"validation {kind}: {run['files']} files in {run['seconds']:.2f}s = {run['files_per_s']:,.0f} "
                  f"files/s", flush=True)
            bench.empty_trash()
    before, after = (statistics.median(r["files_per_s"] for r in runs[kind]) for kind in ("before", "after"))
    # Files per CPU second (the loaders' and their Postgres backends'): what the checks cost, without the waits
    # for cores other work holds, which wall time also counts on a shared machine.
    cpu_before, cpu_after = (statistics.median(r["files"] / r["cpu_s"] for r in runs[kind])
                             for kind in ("before", "after"))
    cost, cpu_cost = (before - after) / before * 100, (cpu_before - cpu_after) / cpu_before * 100
    figures = {kind: ", ".join(f"{run['files_per_s']:,.0f}" for run in kind_runs) for kind, kind_runs in runs.items()}
    text = (f"The Silver cold load of {days} days ({runs['after'][0]['files']:,} files, the `silver` section's "
            f"code path) by the loader before issue 17's checks (commit `{VALIDATION_BASE[:7]}`) and by the current "
            f"one, alternately, {rounds} cold loads each (medians): **{before:,.0f} files/s before, {after:,.0f} "
            f"files/s after, a cost of {cost:.1f} %** (target: under 5 %); per CPU second (loaders and their "
            f"Postgres backends) {cpu_before:,.0f} before and {cpu_after:,.0f} after, {cpu_cost:.1f} %. The checks "
            "are the safe share reads (`O_NOFOLLOW | O_NONBLOCK`, `fstat`, then one `lstat` per file to see whether "
            "the file changed while read, the size cap), room names and caps (paid only when a series is new) and "
            f"escaped names. Runs: before {figures['before']}; after {figures['after']} files/s.")
    return {"title": "Validation cost", "days": days, "runs": runs, "before_files_per_s": before,
            "after_files_per_s": after, "cost_percent": round(cost, 2), "before_files_per_cpu_s": cpu_before,
            "after_files_per_cpu_s": cpu_after, "cpu_cost_percent": round(cpu_cost, 2), "base": VALIDATION_BASE,
            "text": text}


def _load_once(days: int) -> dict:
    """One cold load in this process, with whichever ``domotic`` comes first on the path (see ``_one_load``)."""
    from domotic_dev import bench

    pg = Service("postgres", "127.0.0.1", int(os.environ["BENCH_PG_PORT"]), "postgres")
    info = bench.fresh_warehouse(pg, f"bench_silver_{days}d")
    seconds, out = bench.run_silver_load(info, bench.share_of(days), bench.fresh_folder("silver-bronze"), days)
    return {"days": days, "seconds": seconds, "files": out["files"], "rows": out["rows"],
            "files_per_s": out["files"] / seconds, "cpu_s": sum(out["day_cpu_s"])}


if __name__ == "__main__":
    print(json.dumps(_load_once(int(sys.argv[1]))))
