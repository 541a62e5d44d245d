"""SparkleDataset / SparkleMapDataset: pairing, partitioning, shuffling, exact resume."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sparkle_data.catalog import build_catalog
from sparkle_data.dataset import SparkleDataset, SparkleMapDataset, merge_states
from sparkle_data.dataset.order import ResumeStateError, Slot, epoch_order, slot_positions
from sparkle_data.errors import CorruptVideoError, MissingArtifactError
from sparkle_data.readers.mask import read_mask
from sparkle_data.readers.video import read_video
from sparkle_data.sampling import FrameSampler, Resize, collate_pad
from sparkle_data.testing import SampleTreeSummary

LIGHT = ["metadata", "scores"]


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)


@pytest.fixture(scope="module")
def catalog(sample_tree: SampleTreeSummary) -> Any:
    return build_catalog(sample_tree.root, cache=False)


def _ids(batches: Any) -> list[str]:
    out: list[str] = []
    for b in batches:
        out.extend(b["sample_id"] if isinstance(b, dict) else [b])
    return out


def test_pairs_by_id_across_misaligned_shards(catalog: Any, sample_tree: SampleTreeSummary) -> None:
    ds = SparkleDataset(
        catalog,
        fields=["source_video", "edited_video", "source_video_mask"],
        edit_types=["location"],
        output="numpy",
    )
    seen = 0
    for sample in ds:
        sid = sample["sample_id"]
        # Reference: read each artifact straight from its own extracted bytes by id.
        src = read_video(catalog.read_bytes(sid, "source_video"))
        tgt = read_video(catalog.read_bytes(sid, "edited_video"))
        mask = read_mask(catalog.read_bytes(sid, "source_video_mask"))
        t = min(len(src), len(tgt), len(mask))
        assert sample["source_video"].shape[0] == len(sample["frame_indices"]) <= t
        np.testing.assert_array_equal(
            sample["source_video"], src[: len(sample["source_video"])].transpose(0, 3, 1, 2)
        )
        np.testing.assert_array_equal(
            sample["edited_video"], tgt[: len(sample["edited_video"])].transpose(0, 3, 1, 2)
        )
        np.testing.assert_array_equal(
            sample["source_video_mask"], mask[: len(sample["source_video_mask"])]
        )
        seen += 1
    assert seen == len(sample_tree["location"].corpus_ids)
    # The synthetic tree cuts source and edited shards at different places.
    shards = catalog.corpus()[["source_video_shard", "edited_video_shard"]].dropna()
    assert (
        shards["source_video_shard"].str.replace("source", "edited") != shards["edited_video_shard"]
    ).any()


def test_all_fields_synchronized(catalog: Any) -> None:
    ds = SparkleMapDataset(
        catalog,
        fields=[
            "source_video",
            "edited_video",
            "source_video_mask",
            "edited_background_video",
            "edited_video_canny",
            "source_frame0",
            "edited_frame0",
            "edited_frame0_foreground_removed",
            "boxes",
            "scores",
            "metadata",
        ],
        frames=FrameSampler("uniform", num_frames=9),
        resize=Resize(height=48, width=64),
        frame_mismatch="min",
    )
    s = ds[0]
    for f in ("source_video", "edited_video", "edited_background_video", "edited_video_canny"):
        assert s[f].shape == (9, 3, 48, 64), f
        assert s[f].dtype == torch.uint8
    assert s["source_video_mask"].shape == (9, 48, 64)
    assert s["source_video_mask"].dtype == torch.bool
    assert s["edited_frame0"].shape == (3, 48, 64)
    boxes = s["boxes"]
    assert boxes["boxes"].shape[1:] == (len(boxes["labels"]), 4)
    assert int(boxes["boxes"][..., 2].max()) < 64
    # Foreground of the mask overlaps the boxes' union on the first sampled frame.
    assert s["frame_indices"][0] == 0
    m = s["source_video_mask"][0].numpy()
    x1, y1, x2, y2 = boxes["boxes"][0][boxes["valid"][0]].numpy().T
    inside = np.zeros_like(m)
    for a, b, c, d in zip(x1, y1, x2, y2, strict=True):
        inside[b : d + 1, a : c + 1] = True
    assert m.sum() > 0
    assert (m & inside).sum() / m.sum() > 0.9
    assert s["metadata"]["prompt"]
    assert s["scores"]["frame0_overall"] >= 8


def test_partition_two_ranks_two_workers_exactly_once(
    catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        ds = SparkleDataset(catalog, fields=LIGHT, shuffle=True, seed=3, balance="none")
        loader = DataLoader(ds, batch_size=None, num_workers=2)
        got = [s["sample_id"] for s in loader]
        assert got, "every rank reads something"
        seen.extend(got)
    assert Counter(seen) == Counter(catalog.corpus().index)


def test_balance_pad_gives_equal_rank_lengths() -> None:
    lens = [len(slot_positions(7, Slot(r, 2, 0, 1), balance="pad")) for r in range(2)]
    assert lens == [4, 4]
    lens = [len(slot_positions(7, Slot(r, 2, 0, 1), balance="drop")) for r in range(2)]
    assert lens == [3, 3]
    covered = {
        p
        for r in range(3)
        for w in range(2)
        for p in slot_positions(10, Slot(r, 3, w, 2), balance="none")
    }
    assert covered == set(range(10))


@pytest.mark.parametrize("balance", ["pad", "drop", "none"])
@pytest.mark.parametrize("n", [7, 10, 30])
def test_what_a_rank_reads_does_not_depend_on_its_workers(balance: str, n: int) -> None:
    for world in (2, 3):
        per_rank = []
        for r in range(world):
            alone = slot_positions(n, Slot(r, world, 0, 1), balance=balance)  # type: ignore[arg-type]
            split = [
                slot_positions(n, Slot(r, world, w, workers), balance=balance)  # type: ignore[arg-type]
                for workers in (2, 3)
                for w in range(workers)
            ]
            # 2 workers and 3 workers each cover exactly what the rank reads alone
            assert sorted(split[0] + split[1]) == sorted(alone)
            assert sorted(split[2] + split[3] + split[4]) == sorted(alone)
            per_rank.append(len(alone))
        if balance != "none":
            assert len(set(per_rank)) == 1, "every rank gets the same count (DDP needs it)"


@pytest.mark.parametrize("balance", ["pad", "drop", "none"])
def test_len_is_what_the_rank_yields_through_workers(
    catalog: Any, monkeypatch: pytest.MonkeyPatch, balance: str
) -> None:
    n = len(catalog.corpus())
    assert n % 4 != 0  # a count where splitting by worker first would unbalance the ranks
    lengths = []
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        ds = SparkleDataset(catalog, fields=LIGHT, balance=balance)  # type: ignore[arg-type]
        got = [s["sample_id"] for s in DataLoader(ds, batch_size=None, num_workers=2)]
        assert len(got) == len(ds)
        lengths.append(len(got))
    expected = {"pad": -(-n // 2), "drop": n // 2, "none": None}[balance]
    if expected is None:
        assert sum(lengths) == n
    else:
        assert lengths == [expected, expected]


def test_merge_states_takes_stateful_dataloader_states(catalog: Any) -> None:
    from torchdata.stateful_dataloader import StatefulDataLoader

    from sparkle_data.dataset import slot_states

    ds = SparkleDataset(catalog, fields=LIGHT, shuffle=True, seed=2, balance="none")
    loader = StatefulDataLoader(ds, batch_size=None)  # no workers: the state has one slot
    it = iter(loader)
    first = [next(it)["sample_id"] for _ in range(5)]
    state = json.loads(json.dumps(loader.state_dict()))
    (slot,) = slot_states(state)
    assert slot["yielded"] == 5
    rest = SparkleDataset(catalog, fields=LIGHT, shuffle=True, seed=2, balance="none")
    rest.load_state_dict(merge_states([state]))
    assert first + [s["sample_id"] for s in rest] == ds.order()
    with pytest.raises(ResumeStateError, match="neither a dataset state"):
        merge_states([{"step": 3}])


def test_version_1_states(catalog: Any) -> None:
    old = [
        {
            "version": 1,
            "kind": "slot",
            "seed": 5,
            "epoch": 0,
            "rank": r,
            "world_size": 2,
            "worker": w,
            "num_workers": 2,
            "yielded": y,
        }
        for (r, w), y in zip([(0, 0), (0, 1), (1, 0), (1, 1)], [3, 2, 3, 3], strict=True)
    ]
    # version 1 numbered slots rank * num_workers + worker: slot 1 = (0, 1) has read 2, so
    # positions 1 and 5 are consumed and 9 is not: the common prefix ends at 9
    assert merge_states(old)["consumed_prefix"] == 9
    new = [{**st, "version": 2} for st in old]
    # version 2 numbers them worker * world_size + rank: (0, 1) is slot 2, read 2 -> 10
    assert merge_states(new)["consumed_prefix"] == 10
    ds = SparkleDataset(catalog, fields=LIGHT, seed=5)
    with pytest.raises(ResumeStateError, match="merge_states"):
        ds.load_state_dict(old[0])
    ds.load_state_dict({**merge_states(old), "version": 1})  # a v1 global state still loads
    with pytest.raises(ResumeStateError, match="versions differ"):
        merge_states([old[0], *new[1:]])
    with pytest.raises(ResumeStateError, match="already merged"):
        merge_states([merge_states(new)])
    with pytest.raises(ResumeStateError, match="reads versions"):
        ds.load_state_dict({**new[0], "version": 3})


def test_shuffle_is_seeded_and_changes_per_epoch(catalog: Any) -> None:
    ds = SparkleDataset(catalog, fields=LIGHT, shuffle=True, seed=7)
    a = ds.order(0)
    assert a == SparkleDataset(catalog, fields=LIGHT, shuffle=True, seed=7).order(0)
    assert a != ds.order(1)
    assert sorted(a) == sorted(ds.ids)
    groups = [["a", "b", "c"], ["d", "e"], ["f"]]
    assert sorted(epoch_order(groups, seed=1, epoch=0, shuffle=True, buffer_size=2)) == list(
        "abcdef"
    )


def test_workers_and_pooled_buffers_give_the_same_samples(catalog: Any) -> None:
    """Every tensor through 2 workers (pooled shared buffers, cropped views, masks, a padded
    batch built in the worker) equals the in-process result, sample by sample."""
    fields = ["source_video", "edited_video", "source_video_mask", "source_frame0", "boxes"]
    opts: dict[str, Any] = {
        "fields": fields,
        "edit_types": ["location", "time"],
        "frames": FrameSampler("random_window", num_frames=9, stride=2, seed=4),
        "resize": Resize(height=40, width=40),  # a crop of a wider frame: views
    }

    def by_id(loader: Any) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for batch in loader:
            for k, sid in enumerate(batch["sample_id"]):
                t = int(batch["lengths"][k])
                out[sid] = {
                    "source_video": batch["source_video"][k, :t],
                    "edited_video": batch["edited_video"][k, :t],
                    "source_video_mask": batch["source_video_mask"][k, :t],
                    "source_frame0": batch["source_frame0"][k],
                    "boxes": batch["boxes"][k]["boxes"],
                }
        return out

    ds = SparkleDataset(catalog, **opts)
    ds.set_epoch(3)
    workers = by_id(DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate_pad))
    ref = SparkleDataset(catalog, **opts)
    ref.set_epoch(3)
    alone = by_id(DataLoader(ref, batch_size=2, num_workers=0, collate_fn=collate_pad))
    assert sorted(workers) == sorted(alone) == sorted(ds.ids)
    for sid, sample in alone.items():
        for key, value in sample.items():
            assert torch.equal(workers[sid][key], value), (sid, key)


@pytest.mark.parametrize("context", ["fork", pytest.param("spawn", marks=pytest.mark.slow)])
def test_set_epoch_reaches_persistent_workers(catalog: Any, context: str) -> None:
    ds = SparkleDataset(
        catalog, fields=LIGHT, ids=catalog.corpus().index[:12], shuffle=True, seed=1
    )
    loader = DataLoader(
        ds,
        batch_size=None,
        num_workers=2,
        persistent_workers=True,
        multiprocessing_context=context,
    )
    orders = []
    for epoch in range(3):
        ds.set_epoch(epoch)
        orders.append([s["sample_id"] for s in loader])
    assert orders[0] != orders[1] != orders[2]
    for epoch, got in enumerate(orders):  # the same as fresh workers would give
        fresh = SparkleDataset(catalog, fields=LIGHT, ids=ds.ids, shuffle=True, seed=1)
        fresh.set_epoch(epoch)
        assert got == [s["sample_id"] for s in DataLoader(fresh, batch_size=None, num_workers=2)]


def test_exact_resume_three_interruptions_stateful_loader(catalog: Any) -> None:
    from torchdata.stateful_dataloader import StatefulDataLoader

    def make() -> Any:
        ds = SparkleDataset(catalog, fields=LIGHT, shuffle=True, seed=11)
        return StatefulDataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate_pad)

    full = _ids(make())
    got: list[str] = []
    state = None
    for stop_after in (3, 4, 2, None):  # three interruptions, then run to the end
        loader = make()
        if state is not None:
            loader.load_state_dict(json.loads(json.dumps(state)))  # JSON round trip
        for i, batch in enumerate(loader):
            got.extend(batch["sample_id"])
            if stop_after is not None and i + 1 == stop_after:
                state = loader.state_dict()
                break
    assert Counter(got) == Counter(full)
    assert sorted(got) == sorted(catalog.corpus().index)


def test_resume_without_workers_and_world_size_change(
    catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = SparkleDataset(catalog, fields=LIGHT, shuffle=True, seed=5, balance="none")
    it = iter(ds)
    first = [next(it)["sample_id"] for _ in range(4)]
    state = json.loads(json.dumps(ds.state_dict()))
    ds2 = SparkleDataset(catalog, fields=LIGHT, shuffle=True, seed=5, balance="none")
    ds2.load_state_dict(state)
    rest = [s["sample_id"] for s in ds2]
    assert Counter(first + rest) == Counter(ds.ids)
    # 2 ranks x 1 worker -> merge -> resume on 3 ranks: nothing lost.
    states, consumed = [], []
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        d = SparkleDataset(catalog, fields=LIGHT, shuffle=True, seed=5, balance="none")
        it = iter(d)
        consumed += [next(it)["sample_id"] for _ in range(3 + rank)]
        states.append(d.state_dict())
    merged = merge_states(states)
    resumed: list[str] = []
    for rank in range(3):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "3")
        d = SparkleDataset(catalog, fields=LIGHT, shuffle=True, seed=5, balance="none")
        d.load_state_dict(merged)
        resumed += [s["sample_id"] for s in d]
    assert set(consumed) | set(resumed) == set(ds.ids)
    assert len(set(consumed) & set(resumed)) <= 2 - 1  # at most total_slots - 1 repeats
    d = SparkleDataset(catalog, fields=LIGHT, seed=5)
    d.load_state_dict(states[0])
    with pytest.raises(ResumeStateError, match="merge_states"):
        list(d)


def test_missing_and_corrupt_fields(sample_tree_copy: Path) -> None:
    root = sample_tree_copy
    # A corrupt edited video (preview file) for one sample, and no canny at all.
    cat = build_catalog(root, edit_types=["style"], cache=False)
    victim = cat.corpus().index[0]
    loc = cat.locate(victim, "edited_video")
    assert loc.kind == "file"
    (root / loc.path).write_bytes(b"\x00" * 4000)
    for p in list(root.glob("intermediate_data/style_edited_video_canny_part*.tar")):
        p.unlink()
    shutil.rmtree(root / "intermediate_data/style/edited_video_canny")
    cat = build_catalog(root, edit_types=["style"], cache=False)
    with pytest.raises(CorruptVideoError):
        list(SparkleDataset(cat, fields=["edited_video"]))
    ds = SparkleDataset(cat, fields=["edited_video"], on_error="skip")
    ids = [s["sample_id"] for s in ds]
    assert victim not in ids
    assert len(ids) == len(cat.corpus()) - 1
    assert ds.report.total == 1
    with pytest.raises(MissingArtifactError, match="edited_video_canny"):
        next(iter(SparkleDataset(cat, fields=["edited_video_canny"])))
    ds = SparkleDataset(cat, fields=["edited_video_canny"], on_error="skip", max_skips=2)
    with pytest.raises(MissingArtifactError, match="skip budget exhausted"):
        list(ds)


@pytest.mark.network
def test_streams_over_loopback_http(sample_tree: SampleTreeSummary, catalog: Any) -> None:
    from sparkle_data.testing.http import serve_directory

    with serve_directory(sample_tree.root) as server:
        ds = SparkleDataset(
            server.base_url,
            fields=["source_video", "edited_video"],
            edit_types=["time"],
            frames=FrameSampler("stride", stride=4),
            output="numpy",
        )
        for s in ds:
            sid = s["sample_id"]
            ref = read_video(catalog.read_bytes(sid, "edited_video"), indices=s["frame_indices"])
            np.testing.assert_array_equal(s["edited_video"], ref.transpose(0, 3, 1, 2))


@pytest.mark.network
def test_boxes_line_index_is_built_once_before_the_workers(
    sample_tree: SampleTreeSummary, catalog: Any
) -> None:
    from sparkle_data.testing.http import serve_directory

    r2 = "intermediate_data/time/foreground_grounding_r2.jsonl"
    size = (Path(sample_tree.root) / r2).stat().st_size
    with serve_directory(sample_tree.root) as server:
        ds = SparkleDataset(server.base_url, fields=["boxes"], edit_types=["time"])
        server.reset()
        loader = DataLoader(ds, batch_size=None, num_workers=2, collate_fn=lambda x: x)
        got = {s["sample_id"]: s["boxes"]["boxes"] for s in loader}
        fetched = 0
        for r in server.requests:
            if r.path.endswith(r2) and r.method == "GET":
                assert r.range is not None
                first, last = r.range.removeprefix("bytes=").split("-")
                fetched += int(last) - int(first) + 1
    assert sorted(got) == sorted(ds.ids)
    # the workers read only the lines they need (a block each), not the whole file each
    assert fetched < size, (fetched, size)
    reference = SparkleDataset(catalog, fields=["boxes"], edit_types=["time"])
    for s in reference:
        assert torch.equal(got[s["sample_id"]], s["boxes"]["boxes"])


def test_previews_only_root(sample_tree: SampleTreeSummary, tmp_path: Path) -> None:
    src = Path(sample_tree.root)
    root = tmp_path / "previews"
    shutil.copytree(src / "prompts", root / "prompts")
    shutil.copytree(src / "season", root / "season")
    ds = SparkleDataset(
        root, edit_types=["season"], fields=["source_video", "edited_video"], on_error="skip"
    )
    got = [s["sample_id"] for s in ds]
    assert got == sorted(sample_tree["season"].preview_ids)
    assert ds.report.counts["MissingArtifactError"] == len(sample_tree["season"].corpus_ids) - len(
        got
    )


def test_where_predicate_and_ids(catalog: Any) -> None:
    ds = SparkleDataset(catalog, fields=LIGHT, where=lambda t: t["frame0_overall"] >= 9)
    assert all(catalog.table.loc[i, "frame0_overall"] >= 9 for i in ds.ids)
    some = list(catalog.corpus().index[:2])
    assert SparkleDataset(catalog, fields=LIGHT, ids=some).ids == sorted(some)
    with pytest.raises(ValueError, match="not corpus samples"):
        SparkleDataset(catalog, fields=LIGHT, ids=[catalog.rejected().index[0]])
    with pytest.raises(ValueError, match="Invalid field"):
        SparkleDataset(catalog, fields=["mask"])


def test_extracted_root_matches_shards(sample_tree: SampleTreeSummary, tmp_path: Path) -> None:
    """A tree extracted with `tar -xf` as the card describes streams the same pairs."""
    import subprocess

    src = Path(sample_tree.root)
    root = tmp_path / "extracted"
    shutil.copytree(src / "prompts", root / "prompts")
    (root / "intermediate_data").mkdir()
    for tar in src.glob("openve3m_*.tar"):
        subprocess.run(["tar", "-xf", str(tar), "-C", str(root)], check=True)
    for tar in (src / "intermediate_data").glob("openve3m_*.tar"):
        subprocess.run(["tar", "-xf", str(tar), "-C", str(root / "intermediate_data")], check=True)
    fields = ["source_video", "edited_video", "source_video_mask"]
    kw: dict[str, Any] = {"fields": fields, "edit_types": ["openve3m"], "output": "numpy"}
    kw["frames"] = FrameSampler("uniform", num_frames=5)
    extracted = list(SparkleDataset(root, **kw))
    sharded = list(SparkleDataset(src, **kw))
    assert [s["sample_id"] for s in extracted] == [s["sample_id"] for s in sharded]
    assert len(extracted) == len(sample_tree["openve3m"].corpus_ids)
    for a, b in zip(extracted, sharded, strict=True):
        for f in fields:
            np.testing.assert_array_equal(a[f], b[f])
