"""The one check of every path a command writes against every file it reads (by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from photostyle.errors import OutputError
from photostyle.files.paths import Folder, check_writes


def test_check_writes_by_hand(tmp_path: Path) -> None:
    inp = tmp_path / "in.png"
    inp.write_bytes(b"x")
    assert check_writes([("output", tmp_path / "new" / "o.png")], [("content", inp)]) == [
        tmp_path / "new" / "o.png"]
    assert not (tmp_path / "new").exists()
    with pytest.raises(OutputError, match="same file"):
        check_writes([("a", tmp_path / "o.png"), ("b", tmp_path / "." / "o.png")], [])
    with pytest.raises(OutputError, match="is a folder"):
        check_writes([("output", tmp_path)], [])
    (tmp_path / "snaps").mkdir()
    (tmp_path / "snaps" / "level0-00001.png").write_bytes(b"x")
    with pytest.raises(OutputError, match="lies in the snapshot folder"):
        check_writes([], [("content", tmp_path / "snaps" / "level0-00001.png")],
                     [Folder("snapshot folder", tmp_path / "snaps", "level*-*.png")])
    check_writes([], [("content", tmp_path / "snaps" / "level0-00001.png")],
                 [Folder("snapshot folder", tmp_path / "snaps", "other*.png")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "snaps"]
