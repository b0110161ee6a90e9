"""One registry of settings (domotic.settings): the README is generated from it, the code reads nothing else,
and a bad value fails at once naming the setting and where to set it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domotic import settings, settings_doc
from domotic.airflow_adapter import convert
from domotic.errors import ConfigurationError, PermanentError

REPO = Path(__file__).resolve().parents[2]
CODE = [*(REPO / "include" / "python").rglob("*.py"), *(REPO / "plugins").rglob("*.py"),
        *(REPO / "dags").rglob("*.py"), *(REPO / "devtools").rglob("*.py")]
VARIABLE_READ = re.compile(r"""\b(?:setting|var_template)\(\s*["']([a-z0-9_]+)["']""")
ENV_READ = re.compile(r"""\b(?:env|env_flag)\(\s*["'](DOMOTIC_[A-Z0-9_]+)["']""")
DIRECT_ENV = re.compile(r"""os\.environ(?:\.get)?[\[(]\s*f?["'](DOMOTIC_[A-Z0-9_{}.()]+)""")
VAR_ENV = re.compile(r"""["']AIRFLOW_VAR_([A-Z0-9_]+)["']""")


def test_readme_tables_are_the_registry():
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index(settings_doc.BEGIN) + len(settings_doc.BEGIN):readme.index(settings_doc.END)]
    assert block.strip() == settings_doc.tables().strip(), (
        "README's configuration tables differ from domotic.settings: run python -m domotic.settings_doc --write "
        "README.md")


def test_code_reads_only_registered_settings():
    unknown = []
    for path in CODE:
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(REPO).as_posix()
        unknown += [f"{rel}: Variable {key}" for key in VARIABLE_READ.findall(text) if key not in settings.VARIABLES]
        unknown += [f"{rel}: AIRFLOW_VAR_{key}" for key in VAR_ENV.findall(text)
                    if key.lower() not in settings.VARIABLES]
        unknown += [f"{rel}: {name}" for name in ENV_READ.findall(text) if name not in settings.ENVIRONMENT]
        for name in [] if rel.startswith("devtools/") else DIRECT_ENV.findall(text):  # dev tools' own knobs
            pattern = "DOMOTIC_DEADLINE_<DAG_ID>_MINUTES" if name.startswith("DOMOTIC_DEADLINE_{") else name
            if pattern not in settings.ENVIRONMENT:
                unknown.append(f"{rel}: {name}")
    assert unknown == [], f"register these in include/python/domotic/settings.py: {unknown}"


def test_variables_are_read_only_through_the_adapter():
    readers = [p.relative_to(REPO).as_posix() for p in CODE
               if "Variable.get(" in p.read_text(encoding="utf-8")]
    assert readers == ["include/python/domotic/airflow_adapter.py"], readers


def test_every_default_has_its_registered_type():
    for key, setting in settings.VARIABLES.items():
        assert isinstance(convert(key, setting.default), setting.type), key


@pytest.mark.parametrize(("key", "raw"), [("sensor_wait_seconds", "three minutes"),
                                          ("freshness_max_lag_minutes", "20min")])
def test_a_value_of_the_wrong_type_fails_at_once_naming_the_variable(key, raw):
    with pytest.raises(ConfigurationError) as failed:
        convert(key, raw)
    message = str(failed.value)
    assert key in message and f"AIRFLOW_VAR_{key.upper()}" in message and "Admin > Variables" in message
    assert isinstance(failed.value, PermanentError)  # the retry policy fails it at once
