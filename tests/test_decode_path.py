"""One decode path: every field of a sample goes dataset -> sampling -> readers, nowhere else.

A profiler (``sys.setprofile``) watches one sample with every field being loaded through
``SparkleDataset`` and ``SparkleMapDataset`` and records, for each call into the readers, the
remote byte reads and tensor making, which module made the call. Names bound by ``from x import
y`` are seen too (nothing is patched). The rules:

* the dataset layer asks ``sampling.decode_sample`` once per sample and never calls a reader,
  ``io.remote.read_range`` or PIL itself;
* readers are called only by ``sampling`` (decoding) and ``catalog`` (record lines, locating);
* record bytes are fetched by ranged reads only through the catalog;
* tensors are made in one place (``sampling._output``);
* each video header is parsed once per decode.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pytest
import torch

import sparkle_data.sampling.decode as sampling_decode
from sparkle_data.catalog import build_catalog
from sparkle_data.dataset import FIELDS, SparkleDataset, SparkleMapDataset
from sparkle_data.dataset.fields import IMAGE_FIELDS, MASK_FIELDS, VIDEO_FIELDS
from sparkle_data.layout import ARTIFACTS
from sparkle_data.sampling import FrameSampler, Resize
from sparkle_data.testing import SampleTreeSummary

PACKAGE = Path(sampling_decode.__file__).resolve().parents[1]
_PLUMBING = frozenset({"contextlib", "functools", "abc", "typing", "threading"})


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)


@pytest.fixture(scope="module")
def catalog(sample_tree: SampleTreeSummary) -> Any:
    return build_catalog(sample_tree.root, cache=False)


@pytest.fixture(scope="module")
def full_id(catalog: Any) -> str:
    """A corpus sample that has every artifact and a grounding line (so every field loads)."""
    t = catalog.corpus()
    has_all = np.ones(len(t), dtype=bool)
    for a in ARTIFACTS:
        found = np.zeros(len(t), dtype=bool)
        for col in (f"{a}_file", f"{a}_shard"):
            if col in t.columns:
                found |= t[col].notna().to_numpy()
        has_all &= found
    for sid in sorted(t.index[has_all]):
        try:
            catalog.read_record_line(sid, "foreground_grounding_r2")
        except LookupError:
            continue
        return str(sid)
    pytest.skip("no sample of the synthetic tree has every field")


class Calls:
    """``(callee, caller module)`` of every call into the package or PIL, and C calls of
    ``torch.from_numpy``, while active."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()

    def _mod(self, frame: FrameType | None) -> str:
        """The module of ``frame``, looking through ``with`` blocks and other plumbing."""
        while frame is not None:
            name = str(frame.f_globals.get("__name__", "?"))
            if name not in _PLUMBING or frame.f_back is None:
                return name
            frame = frame.f_back
        return "?"

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            callee = frame.f_globals.get("__name__", "")
            if isinstance(callee, str) and callee.startswith(("sparkle_data.", "PIL.")):
                key = f"{callee}.{frame.f_code.co_name}"
                self.calls[(key, self._mod(frame.f_back))] += 1
        elif event == "c_call" and getattr(arg, "__name__", None) == "from_numpy":
            self.calls[("torch.from_numpy", self._mod(frame))] += 1

    def callers(self, predicate: Callable[[str], bool]) -> set[str]:
        return {caller for (callee, caller), _ in self.calls.items() if predicate(callee)}

    def count(self, callee: str) -> int:
        return sum(n for (name, _), n in self.calls.items() if name == callee)


def _traced(load: Callable[[], Any]) -> tuple[Any, Calls]:
    calls = Calls()
    sys.setprofile(calls)
    try:
        out = load()
    finally:
        sys.setprofile(None)
    return out, calls


def _inside(prefix: str) -> Callable[[str], bool]:
    return lambda name: name == prefix or name.startswith(prefix + ".")


def _check_one_path(calls: Calls, sample: dict[str, Any]) -> None:
    # every requested field came back
    for f in FIELDS:
        assert f in sample, f
    # the dataset asked sampling once, and nothing below sampling itself
    assert calls.count("sparkle_data.sampling.decode.decode_sample") == 1
    below = ("sparkle_data.readers", "sparkle_data.io", "PIL")
    dataset_callees = {
        callee
        for (callee, caller) in calls.calls
        if caller.startswith("sparkle_data.dataset")
        and any(_inside(p)(callee.rsplit(".", 1)[0]) for p in below)
    }
    assert dataset_callees == set(), dataset_callees
    # readers are called by sampling (decoding) and catalog (record lines) only
    reader_callers = {
        c
        for c in calls.callers(lambda n: n.startswith("sparkle_data.readers."))
        if not c.startswith("sparkle_data.readers")
    }
    assert reader_callers <= {
        "sparkle_data.sampling.decode",
        "sparkle_data.sampling.sync",
        "sparkle_data.catalog.lines",
    }, reader_callers
    assert any(c.startswith("sparkle_data.sampling") for c in reader_callers)
    # PIL (the frame-0 resize) only from the image reader
    pil_callers = {
        c for c in calls.callers(lambda n: n.startswith("PIL.")) if not c.startswith("PIL")
    }
    assert pil_callers <= {"sparkle_data.readers.image"}, pil_callers
    # ranged record reads only through the catalog
    range_callers = calls.callers(lambda n: n == "sparkle_data.io.remote.read_range")
    assert range_callers <= {"sparkle_data.catalog.lines"}, range_callers
    # tensors are made in one place
    tensor_makers = calls.callers(lambda n: n == "torch.from_numpy")
    assert tensor_makers == {"sparkle_data.sampling._output"}, tensor_makers
    # each video header is parsed once: one container open per video field
    videos = [f for f in FIELDS if f in VIDEO_FIELDS]
    assert calls.count("sparkle_data.readers.video._probe") == len(videos)


def test_every_field_goes_through_sampling(catalog: Any, full_id: str) -> None:
    ds = SparkleDataset(
        catalog,
        fields=list(FIELDS),
        ids=[full_id],
        frames=FrameSampler("stride", stride=2),
        resize=Resize(max_pixels=64 * 96, division=8),
    )
    (sample,), calls = _traced(lambda: list(ds))
    _check_one_path(calls, sample)
    t = sample["frame_indices"].numel()
    for f in VIDEO_FIELDS:
        assert sample[f].dtype == torch.uint8, f
        assert sample[f].shape[:2] == (t, 3), f
    for f in MASK_FIELDS:
        assert sample[f].dtype == torch.bool, f
        assert sample[f].shape[0] == t, f
    h, w = sample["source_video"].shape[2:]
    for f in IMAGE_FIELDS:
        assert sample[f].shape == (3, h, w), f
    assert sample["boxes"]["boxes"].shape[-1] == 4
    assert sample["metadata"]["prompt"]
    assert set(sample["scores"]) >= {"video_mean_o_score"}


def test_map_dataset_numpy_goes_through_sampling(catalog: Any, full_id: str) -> None:
    ds = SparkleMapDataset(catalog, fields=list(FIELDS), ids=[full_id], output="numpy")
    sample, calls = _traced(lambda: ds[0])
    for f in FIELDS:
        assert f in sample, f
    assert calls.count("sparkle_data.sampling.decode.decode_sample") == 1
    assert calls.callers(lambda n: n == "torch.from_numpy") == set()
    assert isinstance(sample["source_video"], np.ndarray)
    assert sample["source_video"].shape[1] == 3  # (T, 3, H, W) for numpy too


def test_hf_rows_decode_through_sampling(catalog: Any, full_id: str) -> None:
    from sparkle_data.hf.rows import RowGenerator, RowSpec

    wanted = tuple(f for f in FIELDS if f not in ("scores", "metadata"))
    gen = RowGenerator(catalog, {"one": [full_id]}, RowSpec(wanted, decode=True))

    def rows() -> Iterator[Any]:
        return iter(list(gen(["one"])))

    (row,), calls = _traced(lambda: list(rows()))
    assert calls.count("sparkle_data.sampling.decode.decode_sample") == 1
    hf_callees = {
        callee
        for (callee, caller) in calls.calls
        if caller.startswith("sparkle_data.hf")
        and callee.startswith(("sparkle_data.readers", "sparkle_data.io"))
    }
    assert hf_callees == set(), hf_callees
    assert row["source_video"].shape[1] == 3
