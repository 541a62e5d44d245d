"""The factory writes atomically and never clobbers what it did not make."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

import av
import pytest

from sparkle_data.testing import BENCH_DIR, DATASET_DIR, MARKER_NAME, is_sample_tree
from sparkle_data.testing import make_sample_tree as make_tree
from sparkle_data.testing.synth import tree as tree_module

SMALL: dict[str, Any] = {
    "edit_types": ("location", "season"),
    "samples": 2,
    "shard_size": 16384,
    "bench": False,
}


def hashes(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def assert_every_file_complete(out: Path) -> None:
    for p in out.rglob("*"):
        assert ".tmp-" not in p.name, p
        if p.suffix == ".tar":
            with tarfile.open(p) as tf:
                for m in tf.getmembers():
                    f = tf.extractfile(m)
                    assert f is not None
                    assert len(f.read()) == m.size
        elif p.suffix == ".mp4":
            with av.open(str(p)) as c:
                assert sum(1 for _ in c.decode(video=0)) >= 69
        elif p.suffix == ".jsonl":
            for line in p.read_text(encoding="utf-8").splitlines():
                json.loads(line)
        elif p.suffix == ".json":
            json.loads(p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("where", ["sample", "tar"])
def test_interrupted_build_leaves_no_partial_file_and_reruns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    out = tmp_path / "out"
    calls = {"n": 0}
    if where == "sample":
        real = tree_module.make_sample_artifacts

        def failing(*args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 3:  # second edit type, after the first one's shards
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(tree_module, "make_sample_artifacts", failing)
    else:
        real_addfile = tarfile.TarFile.addfile

        def failing_addfile(self: tarfile.TarFile, *args: Any, **kwargs: Any) -> None:
            calls["n"] += 1
            if calls["n"] == 22:  # in the middle of the second edit type's shards
                raise OSError("disk full")
            real_addfile(self, *args, **kwargs)

        monkeypatch.setattr(tarfile.TarFile, "addfile", failing_addfile)
    with pytest.raises((KeyboardInterrupt, OSError)):
        make_tree(out, **SMALL)
    monkeypatch.undo()
    assert list((out / DATASET_DIR).rglob("*.tar"))  # it got somewhere
    assert_every_file_complete(out)
    marker = json.loads((out / MARKER_NAME).read_text())
    assert marker["complete"] is False
    assert is_sample_tree(out)

    # A rerun (no force needed) replaces the broken tree with the same bytes as a fresh one.
    make_tree(out, **SMALL)
    make_tree(tmp_path / "fresh", **SMALL)
    assert hashes(out) == hashes(tmp_path / "fresh")


def test_refuses_foreign_content(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="force"):
        make_tree(tmp_path, edit_types=("time",), samples=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]

    summary = make_tree(tmp_path, edit_types=("time",), samples=1, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert summary.root == tmp_path / DATASET_DIR


def test_never_overwrites_a_foreign_dataset_folder(tmp_path: Path) -> None:
    (tmp_path / DATASET_DIR / "prompts").mkdir(parents=True)
    (tmp_path / DATASET_DIR / "prompts" / "time_train.csv").write_text("real data")
    with pytest.raises(FileExistsError, match="refusing"):
        make_tree(tmp_path, edit_types=("time",), samples=1, force=True)
    assert (tmp_path / DATASET_DIR / "prompts" / "time_train.csv").read_text() == "real data"


def test_output_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        make_tree(tmp_path / "file", samples=1)


def test_rebuild_removes_stale_files(tmp_path: Path) -> None:
    make_tree(tmp_path, edit_types=("location",), samples=2)
    summary = make_tree(tmp_path, edit_types=("time",), samples=1, bench=False)
    assert summary.bench_root is None
    assert not (tmp_path / BENCH_DIR).exists()
    assert not list(tmp_path.rglob("*location*"))
    assert list((tmp_path / DATASET_DIR).rglob("*time*"))
