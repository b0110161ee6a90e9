"""``make airflow`` runs the whole system and SIGTERM (what systemd, CI timeouts and ``kill`` send) stops all of
it: exit code 0, and none of the ports it announced still listens."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time

import pytest


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_sigterm_stops_every_component_and_leaves_no_listener():
    proc = subprocess.Popen([sys.executable, "-m", "domotic_dev.airflow_local", "--port", "0", "--name", "live-test"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 300
        while not any("stops everything" in line for line in lines):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"make airflow exited with {proc.returncode}:\n{''.join(lines)[-3000:]}")
            lines.append(line)
            assert time.monotonic() < deadline, "".join(lines)[-3000:]
        announced = "".join(lines)
        ports = sorted({int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", announced)})
        assert len(ports) >= 4, announced  # UI, warehouse, SMTP, runbook
        assert all(listening(port) for port in ports), announced
        assert "/var/live-test/mail/*.eml" in announced and "admin / admin" in announced
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
    time.sleep(2)
    assert [port for port in ports if listening(port)] == []
