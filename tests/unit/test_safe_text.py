"""Names and reasons from outside, made safe to store and to log (domotic.safe_text)."""

from __future__ import annotations

import os

import pytest

from domotic.safe_text import escape_name, safe_text, unescape_name

HOSTILE_NAMES = [
    "14.09.2023 0800_JimmyLoup_received.json",  # the contract: unchanged
    "Pred_2023-08-31.csv\n",  # a newline would forge a log line
    "a\x00b.json",  # NUL: PostgreSQL refuses it in text
    "\x1b[31mred\x1b[0m.json",  # terminal escapes
    os.fsdecode(b"\xff\xfe caf\xe9.json"),  # not UTF-8: os.listdir gives surrogates, which cannot be encoded
    "caf\u00e9 \u00a0\u00ad \u2028 \U0001F600.json",  # printable and not (NBSP, soft hyphen, line separator)
    "back\\slash \\x41 \\\\.json",  # backslashes, even ones that look like escapes
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_escaped_names_are_printable_storable_and_map_back(name):
    escaped = escape_name(name)
    assert escaped.isprintable() and "\x00" not in escaped
    escaped.encode("utf-8")  # storable in PostgreSQL text
    assert unescape_name(escaped) == name
    assert escape_name(name) == escaped  # stable: the manifest key of a name never changes


def test_names_of_the_contract_pass_unchanged():
    assert escape_name("Pred_2023-08-31.csv") == "Pred_2023-08-31.csv"
    assert escape_name("Pred_2023-08-31.csv\n") == "Pred_2023-08-31.csv\\x0a"
    assert escape_name(os.fsdecode(b"x\xff.json")) == "x\\xff.json"


def test_safe_text_escapes_and_caps_with_a_digest():
    assert safe_text("line one\nline two\x00") == "line one\\x0aline two\\x00"
    long = safe_text("r" * 100_000, limit=100)
    assert len(long) < 160 and long.startswith("r" * 100) and "99900 more characters, sha256" in long
    assert safe_text("r" * 100_000, limit=100) != safe_text("r" * 99_999 + "s", limit=100)  # distinguishable
    assert safe_text(ValueError("bad\x00value")) == "bad\\x00value"
