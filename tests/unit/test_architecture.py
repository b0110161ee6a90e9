"""The package layout rules of docs/architecture.md, checked on the source (no import side effects).

* Only ``domotic.airflow_adapter`` imports Airflow; the other modules of the pipeline package run without it.
* Settings are read and connections opened only by the packages' ``tasks.py`` (and the adapter itself).
* Every pipeline package opens with a docstring saying what it owns.
* Development tooling (``domotic_dev``) is not part of the shipped package, and nothing shipped imports it.
* DAG files call their package's ``tasks`` module (one hop from a task in the UI to its code).
* No test module imports another test module (shared fixtures live in ``tests/fixtures``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "include" / "python" / "domotic"
PIPELINE_PACKAGES = ("sensors", "weather", "reference", "gold", "maintenance", "freshness", "warehouse", "ml")
ADAPTER = PACKAGE / "airflow_adapter.py"
# Names of the adapter that read settings or open connections (an alert writes ops.alerts and sends mail).
IO_NAMES = {"setting", "warehouse_connection", "warehouse_connect", "mysql_connection", "sftp_hook",
            "pg_command_env", "raise_alert"}


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every import statement in a file, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_only_the_adapter_imports_airflow():
    offenders = [rel(path) for path in package_files() if path != ADAPTER
                 for module, _ in imports(path) if module == "airflow" or module.startswith("airflow.")]
    assert offenders == [], f"import Airflow only in domotic/airflow_adapter.py: {sorted(set(offenders))}"


def test_settings_and_connections_only_in_tasks_modules():
    offenders = []
    for path in package_files():
        if path == ADAPTER or path.name == "tasks.py":
            continue
        for module, names in imports(path):
            if module == "domotic.airflow_adapter" and IO_NAMES & set(names):
                offenders.append(f"{rel(path)}: {sorted(IO_NAMES & set(names))}")
    assert offenders == [], f"read settings / open connections in the package's tasks.py only: {offenders}"


@pytest.mark.parametrize("package", PIPELINE_PACKAGES)
def test_every_pipeline_package_says_what_it_owns(package):
    init = PACKAGE / package / "__init__.py"
    assert init.is_file(), f"domotic/{package}/ is not a package"
    docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
    assert docstring and "Owns" in docstring, f"domotic/{package}/__init__.py must open with what it owns"
    assert (PACKAGE / package / "tasks.py").is_file(), f"domotic/{package}/tasks.py holds its task bodies"


def test_dev_tooling_is_not_in_the_shipped_package():
    assert not (PACKAGE / "devtools").exists()
    assert not list(PACKAGE.glob("bench*.py"))
    shipped = [*package_files(), *(REPO / "plugins").rglob("*.py"), *(REPO / "dags").rglob("*.py")]
    offenders = [rel(path) for path in shipped for module, _ in imports(path) if module.startswith("domotic_dev")]
    assert offenders == [], f"shipped code imports the dev tooling: {offenders}"


def test_dag_files_call_their_packages_tasks_module():
    """Each pipeline DAG's Python tasks are one call into ``domotic.<package>.tasks``."""
    expected = {"sensors_minutely.py": "sensors", "sensors_daily.py": "sensors", "weather_daily.py": "weather",
                "mysql_snapshot_weekly.py": "reference", "gold_build.py": "gold",
                "maintenance_bronze_compaction.py": "maintenance", "maintenance_vacuum.py": "maintenance",
                "maintenance_backup.py": "maintenance", "maintenance_disk_report.py": "maintenance",
                "data_freshness.py": "freshness", "warehouse_migrate.py": "warehouse",
                "ml_forecast_daily.py": "ml"}
    for name, package in expected.items():
        modules = {module for module, names in imports(REPO / "dags" / name)
                   for module in [module, *(f"{module}.{n}" for n in names)]}
        assert f"domotic.{package}.tasks" in modules, f"dags/{name} does not use domotic.{package}.tasks"


def test_no_test_module_imports_another():
    offenders = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        for module, _ in imports(path):
            parts = module.split(".")
            if parts[0] == "tests" and (parts[-1].startswith("test_") or parts[-1] == "conftest"):
                offenders.append(f"{rel(path)} imports {module}")
    assert offenders == [], offenders
