"""Collate: pad along T with lengths and a frame mask, or bucket equal shapes."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from sparkle_data.sampling import (
    BucketBatchSampler,
    collate_pad,
    collate_stack,
    group_by_length,
)


def sample(t: int, sid: str, *, h: int = 4, w: int = 6, fill: int = 7) -> dict[str, Any]:
    return {
        "sample_id": sid,
        "prompt": f"prompt {sid}",
        "source_video": torch.full((t, 3, h, w), fill, dtype=torch.uint8),
        "edited_video": torch.full((t, 3, h, w), fill + 1, dtype=torch.uint8),
        "mask": np.ones((t, h, w), dtype=bool),
        "score": 8.5,
        "metadata": {"edit_type": "location"},
        "plan_shape": torch.tensor([t, h, w]),
    }


def test_pad_different_lengths() -> None:
    batch = collate_pad([sample(5, "a"), sample(3, "b"), sample(4, "c")])
    assert list(batch) == [
        "sample_id",
        "prompt",
        "source_video",
        "edited_video",
        "mask",
        "score",
        "metadata",
        "plan_shape",
        "lengths",
        "frame_mask",
    ]
    assert batch["sample_id"] == ["a", "b", "c"]
    assert batch["score"] == [8.5, 8.5, 8.5]
    assert batch["metadata"] == [{"edit_type": "location"}] * 3
    v = batch["source_video"]
    assert v.shape == (3, 5, 3, 4, 6)
    assert v.dtype == torch.uint8
    assert batch["lengths"].tolist() == [5, 3, 4]
    assert batch["lengths"].dtype == torch.int64
    assert batch["frame_mask"].tolist() == [
        [True] * 5,
        [True] * 3 + [False] * 2,
        [True] * 4 + [False],
    ]
    assert (v[1, :3] == 7).all()
    assert (v[1, 3:] == 0).all()
    assert (batch["edited_video"][2, :4] == 8).all()
    assert (batch["edited_video"][2, 4:] == 0).all()
    m = batch["mask"]
    assert m.dtype == torch.bool
    assert m.shape == (3, 5, 4, 6)
    assert m[1, :3].all()
    assert not m[1, 3:].any()
    assert batch["plan_shape"].shape == (3, 3)  # 1-D, not temporal: stacked


def test_pad_value_and_explicit_time_keys() -> None:
    a = {"video": torch.ones(2, 1, 2, 2), "indices": torch.arange(2)}
    b = {"video": torch.ones(4, 1, 2, 2), "indices": torch.arange(4)}
    auto = collate_pad([a, b])  # 'indices' follows T of 'video' in every sample: padded
    assert auto["indices"].tolist() == [[0, 1, 0, 0], [0, 1, 2, 3]]
    with pytest.raises(ValueError, match="add it to time_keys"):
        collate_pad([a, {"video": torch.ones(4, 1, 2, 2), "indices": torch.arange(3)}])
    out = collate_pad([a, b], time_keys=["video", "indices"], pad_value=-1)
    assert out["indices"].tolist() == [[0, 1, -1, -1], [0, 1, 2, 3]]
    assert out["lengths"].tolist() == [2, 4]
    with pytest.raises(ValueError, match="disagree in T"):
        collate_pad(
            [a, {"video": torch.ones(4, 1, 2, 2), "indices": torch.arange(3)}],
            time_keys=["video", "indices"],
        )


def test_stack_requires_equal_lengths() -> None:
    out = collate_stack([sample(3, "a"), sample(3, "b")])
    assert out["source_video"].shape == (2, 3, 3, 4, 6)
    assert out["lengths"].tolist() == [3, 3]
    assert out["frame_mask"].all()
    with pytest.raises(ValueError, match=r"clip lengths differ.*\[3, 4\]"):
        collate_stack([sample(3, "a"), sample(4, "b")])


def test_collate_errors() -> None:
    with pytest.raises(ValueError, match="frame shapes"):
        collate_pad([sample(3, "a"), sample(3, "b", h=8)])
    with pytest.raises(ValueError, match="empty"):
        collate_pad([])
    with pytest.raises(ValueError, match="fields"):
        collate_pad([sample(3, "a"), {"sample_id": "b"}])
    mixed = sample(3, "b")
    mixed["mask"] = None
    with pytest.raises(ValueError, match="mixes arrays"):
        collate_pad([sample(3, "a"), mixed])
    clash = sample(3, "a")
    clash["lengths"] = 3
    with pytest.raises(ValueError, match="already has a field 'lengths'"):
        collate_pad([clash])
    wide = sample(3, "a")
    wide["source_video"] = wide["source_video"].int()
    with pytest.raises(ValueError, match="dtypes differ"):
        collate_pad([sample(3, "b"), wide])


def test_read_only_numpy_is_copied() -> None:
    arr = np.zeros((2, 2, 2), dtype=np.uint8)
    arr.setflags(write=False)
    out = collate_pad([{"m": arr}, {"m": arr}])
    assert out["m"].shape == (2, 2, 2, 2)


class Toy(Dataset[dict[str, Any]]):
    def __init__(self, lengths: list[int]) -> None:
        self.lengths = lengths

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return sample(self.lengths[i], f"s{i}", fill=i + 1)


@pytest.mark.parametrize("workers", [0, 1])
def test_dataloader_pad(workers: int) -> None:
    loader = DataLoader(
        Toy([5, 3, 4, 2]), batch_size=2, collate_fn=collate_pad, num_workers=workers
    )
    batches = list(loader)
    assert [b["lengths"].tolist() for b in batches] == [[5, 3], [4, 2]]
    assert batches[0]["source_video"].shape == (2, 5, 3, 4, 6)
    assert (batches[0]["source_video"][1, :3] == 2).all()
    assert (batches[0]["source_video"][1, 3:] == 0).all()
    assert batches[1]["sample_id"] == ["s2", "s3"]


def test_dataloader_bucket_sampler() -> None:
    lengths = [5, 3, 5, 3, 5, 4, 3]
    sampler = BucketBatchSampler([(t, 4, 6) for t in lengths], batch_size=2, seed=3)
    loader = DataLoader(Toy(lengths), batch_sampler=sampler, collate_fn=collate_stack)
    seen: list[str] = []
    for batch in loader:
        assert len(set(batch["lengths"].tolist())) == 1
        seen += batch["sample_id"]
    assert sorted(seen) == sorted(f"s{i}" for i in range(7))
    assert len(sampler) == len(list(sampler)) == 5


def test_group_by_length_properties() -> None:
    keys = [(t % 3, 48, 96) for t in range(23)]
    plain = group_by_length(keys, 4)
    assert plain[0] == [0, 3, 6, 9]
    for shuffle in (False, True):
        batches = group_by_length(keys, 4, shuffle=shuffle, seed=1, epoch=2)
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(23))
        assert all(len({keys[i] for i in b}) == 1 for b in batches)
        assert all(1 <= len(b) <= 4 for b in batches)
    e0 = group_by_length(keys, 4, shuffle=True, seed=1, epoch=0)
    assert e0 == group_by_length(keys, 4, shuffle=True, seed=1, epoch=0)
    assert e0 != group_by_length(keys, 4, shuffle=True, seed=1, epoch=1)
    dropped = group_by_length(keys, 4, drop_last=True)
    assert all(len(b) == 4 for b in dropped)
    assert Counter(keys[i] for b in dropped for i in b) == Counter(
        {(0, 48, 96): 8, (1, 48, 96): 8, (2, 48, 96): 4}
    )
    s = BucketBatchSampler(keys, 4, drop_last=True)
    assert len(s) == len(dropped) == 5
    first = list(s)
    s.set_epoch(1)
    assert list(s) != first
    assert "buckets=3" in repr(s)


def test_frame0_images_are_not_temporal() -> None:
    """``source_frame0`` is ``(3, H, W)``: three dimensions, but stacked, never padded."""
    import torch

    batch = [
        {
            "source_video": torch.full((t, 3, 4, 5), t, dtype=torch.uint8),
            "source_frame0": torch.full((3, 4, 5), t, dtype=torch.uint8),
        }
        for t in (5, 2)
    ]
    out = collate_pad(batch)
    assert out["source_video"].shape == (2, 5, 3, 4, 5)
    assert out["lengths"].tolist() == [5, 2]
    assert out["source_frame0"].shape == (2, 3, 4, 5)
    assert out["source_frame0"][1].eq(2).all()
