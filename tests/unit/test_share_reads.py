"""Reading the share as hostile input (domotic.sensors.share): no link followed, nothing blocks, regular files of a
bounded size only, a file rewritten while it is read is read again. Real files, FIFOs, sockets and links."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from domotic.sensors import share as share_module
from domotic.sensors.load import list_share_day
from domotic.sensors.share import ShareEntryError, read_share_file
from tests.fixtures.sensors import DAY

CAP = 4096


def rejected(path: Path, max_bytes: int = CAP) -> ShareEntryError:
    with pytest.raises(ShareEntryError) as caught:
        read_share_file(str(path), max_bytes)
    return caught.value


def test_a_regular_file_is_read_with_its_mtime(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b'{"a": 1}')
    os.utime(path, (1_700_000_000, 1_700_000_000))
    assert read_share_file(str(path), CAP) == (b'{"a": 1}', 1_700_000_000)


@pytest.mark.parametrize("target", ["/etc/passwd", "/dev/zero", "outside.json"])
def test_a_symbolic_link_is_never_followed(tmp_path, target):
    outside = tmp_path / "outside.json"
    outside.write_bytes(b'{"plugs": {}}')
    link = tmp_path / "share-link.json"
    link.symlink_to(target if target.startswith("/") else outside)
    error = rejected(link)
    assert not error.transient and error.reason.startswith("a symbolic link")
    assert target.split("/")[-1] in error.reason  # says where it pointed, without going there


def test_a_fifo_does_not_block_and_is_not_read(tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    outcome: list[object] = []
    reader = threading.Thread(target=lambda: outcome.append(rejected(fifo)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "opening a FIFO blocked"
    assert outcome[0].reason == "not a regular file: a FIFO" and not outcome[0].transient


def test_a_directory_and_a_socket_are_not_files(tmp_path):
    folder = tmp_path / "folder.json"
    folder.mkdir()
    assert rejected(folder).reason == "not a regular file: a directory"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "s.json"))
        error = rejected(tmp_path / "s.json")
    assert error.transient or error.reason == "not a regular file: a socket"  # open() refuses a socket (ENXIO)


def test_a_file_over_the_cap_is_not_read(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (CAP + 1))
    error = rejected(big)
    assert not error.transient and "over the cap sensor_max_file_bytes=4096" in error.reason
    assert error.size == CAP + 1
    assert rejected(big).digest == error.digest  # found again as it was: the same manifest key, recorded once


def test_a_vanished_file_is_left_for_the_next_run(tmp_path):
    error = rejected(tmp_path / "gone.json")
    assert error.transient and error.reason.startswith("vanished")


def test_a_file_replaced_while_it_is_read_is_read_again(tmp_path, monkeypatch):
    path = tmp_path / "f.json"
    path.write_bytes(b'{"version": 1}')
    real_read = share_module.read_fd
    calls = []

    def replace_during_first_read(fd, size, limit):
        data = real_read(fd, size, limit)
        if not calls:
            new = tmp_path / ".f.json.tmp"
            new.write_bytes(b'{"version": 2, "longer": true}')
            os.replace(new, path)  # a writer's atomic rename over the name
        calls.append(data)
        return data

    monkeypatch.setattr(share_module, "read_fd", replace_during_first_read)
    assert read_share_file(str(path), CAP)[0] == b'{"version": 2, "longer": true}'
    assert len(calls) == 2


def test_a_file_that_keeps_changing_is_skipped_not_quarantined(tmp_path, monkeypatch):
    path = tmp_path / "f.json"
    path.write_bytes(b"{}")
    real_read = share_module.read_fd

    def append_while_reading(fd, size, limit):
        data = real_read(fd, size, limit)
        with path.open("ab") as handle:  # rewritten in place, every time
            handle.write(b" ")
        return data

    monkeypatch.setattr(share_module, "read_fd", append_while_reading)
    error = rejected(path)
    assert error.transient and error.reason.startswith("changing while read")


def test_listing_escapes_bad_names_and_dates_unprintable_ones_by_mtime(tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    dated = f"{DAY:%d.%m.%Y} 0800_JimmyLoup_received.json"
    (share / dated).write_bytes(b"{}")
    (share / f"{DAY:%d.%m.%Y} 0801_JimmyLoup_received.json\n").write_bytes(b"{}")  # fullmatch: not a good name
    (share / "notes.json").write_bytes(b"{}")  # undated, printable: every day reports it (quarantined once)
    undecodable = os.fsdecode(b"\xff\xfe.json")
    (share / undecodable).write_bytes(b"{}")
    os.utime(share / undecodable, (1_000_000_000, 1_000_000_000))  # delivered 2001-09-09
    (share / "folder.json").mkdir()
    (share / "link.json").symlink_to("/etc/passwd")
    listing = list_share_day(share, DAY)
    assert listing.names == [dated]
    assert listing.bad_names == sorted([f"{DAY:%d.%m.%Y} 0801_JimmyLoup_received.json\\x0a", "folder.json",
                                        "link.json", "notes.json"])
    on_its_day = list_share_day(share, __import__("datetime").date(2001, 9, 9))
    assert "\\xff\\xfe.json" in on_its_day.bad_names and on_its_day.names == []
    for name in listing.bad_names + on_its_day.bad_names:
        name.encode("utf-8")  # XCom and the manifest can hold every one
