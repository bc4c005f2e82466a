"""write_folder_once: a generated folder is written once per settings and renamed into place."""

from __future__ import annotations

from pathlib import Path

from unlearnbench.storage import write_folder_once


def test_write_folder_once_writes_keeps_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "data" / "standin"
    calls: list[Path] = []

    def writer(version: str):
        def write(tmp: Path) -> None:
            calls.append(tmp)
            (tmp / "version").write_text(version)

        return write

    def current(version: str):
        return lambda folder: (folder / "version").is_file() and (folder / "version").read_text() == version

    assert write_folder_once(target, current("a"), writer("a")) == target
    assert (target / "version").read_text() == "a" and len(calls) == 1
    assert calls[0] != target and not calls[0].exists()  # written beside it, then renamed
    write_folder_once(target, current("a"), writer("a"))
    assert len(calls) == 1  # current: not written again
    write_folder_once(target, current("b"), writer("b"))
    assert (target / "version").read_text() == "b" and len(calls) == 2  # stale: replaced
    assert sorted(p.name for p in target.parent.iterdir()) == ["standin"]  # no temporary or old copy left
