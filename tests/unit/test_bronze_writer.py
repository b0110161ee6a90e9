"""BronzeWriter: files land whole under their real name, with the share's timestamp, never overwritten,
and no temporary file is left behind, whether the filesystem has unnamed files (O_TMPFILE) or not."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from domotic.sensors import load as sensor_load
from domotic.sensors.load import BRONZE_FILE_MODE, BronzeWriter, CopyResult, checksum
from domotic.sensors.names import FileNaming, versioned_name
from tests.fixtures.sensors import REGISTRY

NAME = "18.08.2023 1000_JimmyLoup_received.json"
MTIME = 1_692_353_405.0


@pytest.fixture(params=["unnamed", "dot-named"])
def writer(request, tmp_path, monkeypatch) -> BronzeWriter:
    if request.param == "dot-named":
        real_open = os.open

        def no_unnamed_files(path, flags, *args, **kwargs):
            if flags & os.O_TMPFILE == os.O_TMPFILE:
                raise OSError(errno.EOPNOTSUPP, "Operation not supported", path)
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(sensor_load.os, "open", no_unnamed_files)
    return BronzeWriter(tmp_path / "bronze", FileNaming(REGISTRY))


def _all_files(root) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def test_store_writes_whole_file_with_share_mtime_and_leaves_no_temporaries(writer, tmp_path):
    data = b'{"datetime": "18.08.2023 10:00"}'
    result = CopyResult()

    path = writer.store(NAME, data, MTIME, checksum(data), result)

    assert path == str(tmp_path / "bronze" / "jimmy" / "2023" / "08" / "18" / "10" / NAME)
    info = os.stat(path)
    assert Path(path).read_bytes() == data
    assert info.st_mtime == MTIME
    assert stat.S_IMODE(info.st_mode) == BRONZE_FILE_MODE & ~_umask()  # the api_token: not world-readable
    assert _all_files(tmp_path / "bronze") == [f"jimmy/2023/08/18/10/{NAME}"]
    assert (result.copied, result.already_in_bronze) == (1, 0)


def test_same_content_is_found_and_new_content_goes_beside_never_over(writer, tmp_path):
    first, second = b'{"v": 1}', b'{"v": 2}'
    result = CopyResult()
    path = writer.store(NAME, first, MTIME, checksum(first), result)

    assert writer.store(NAME, first, MTIME, checksum(first), result) == path
    beside = writer.store(NAME, second, MTIME + 60, checksum(second), result)

    assert os.path.basename(beside) == versioned_name(NAME, checksum(second))
    assert Path(path).read_bytes() == first  # the first version is untouched
    assert Path(beside).read_bytes() == second
    assert (result.copied, result.already_in_bronze) == (2, 1)
    assert len(_all_files(tmp_path / "bronze")) == 2  # no temporary file left in either mode


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
