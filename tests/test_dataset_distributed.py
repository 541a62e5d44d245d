"""SparkleDataset under a real ``torch.distributed`` process group (gloo, 2 CPU ranks).

The ranks are started by ``torch.multiprocessing.spawn`` with no ``RANK``/``WORLD_SIZE`` in the
environment, so the split can only come from the process group, also inside DataLoader workers
started with ``fork`` (which inherit the group) and ``spawn`` (which do not).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader

from sparkle_data.catalog import build_catalog
from sparkle_data.testing import SampleTreeSummary

pytestmark = pytest.mark.slow

FIELDS = ["metadata", "scores"]


def _rank_main(rank: int, root: str, out: str, context: str, balance: str) -> None:
    from sparkle_data.dataset import SparkleDataset

    dist.init_process_group("gloo", init_method=f"file://{out}.rendezvous", rank=rank, world_size=2)
    try:
        ds = SparkleDataset(
            root,
            fields=FIELDS,
            shuffle=True,
            seed=5,
            balance=balance,  # type: ignore[arg-type]
        )
        ds.set_epoch(1)
        loader = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context=context)
        ids = [s["sample_id"] for s in loader]
        gathered: list[Any] = [None, None]
        dist.all_gather_object(gathered, {"rank": rank, "ids": ids, "len": len(ds)})
        if rank == 0:
            Path(out).write_text(json.dumps(gathered))
    finally:
        dist.destroy_process_group()


@pytest.fixture
def no_rank_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "cache"))


def _run(root: Path, tmp_path: Path, context: str, balance: str) -> list[dict[str, Any]]:
    out = tmp_path / f"result-{context}-{balance}.json"
    mp.spawn(_rank_main, args=(str(root), str(out), context, balance), nprocs=2, join=True)
    result: list[dict[str, Any]] = json.loads(out.read_text())
    return result


@pytest.mark.parametrize("context", ["fork", "spawn"])
@pytest.mark.usefixtures("no_rank_env")
def test_two_ranks_two_workers_every_sample_once(
    sample_tree: SampleTreeSummary, tmp_path: Path, context: str
) -> None:
    corpus = list(build_catalog(sample_tree.root, cache=False).corpus().index)
    result = _run(sample_tree.root, tmp_path, context, "none")
    per_rank = [r["ids"] for r in sorted(result, key=lambda r: r["rank"])]
    assert all(per_rank), "both ranks read something"
    assert not set(per_rank[0]) & set(per_rank[1]), "no sample on both ranks"
    assert Counter(per_rank[0] + per_rank[1]) == Counter(corpus)
    assert [r["len"] for r in result] == [len(ids) for ids in per_rank]


@pytest.mark.usefixtures("no_rank_env")
def test_two_ranks_balance_pad_equal_lengths(
    sample_tree: SampleTreeSummary, tmp_path: Path
) -> None:
    corpus = set(build_catalog(sample_tree.root, cache=False).corpus().index)
    result = _run(sample_tree.root, tmp_path, "fork", "pad")
    lengths = {len(r["ids"]) for r in result}
    assert len(lengths) == 1, "every rank gets the same number of samples"
    assert set(result[0]["ids"]) | set(result[1]["ids"]) == corpus


def _resume_main(rank: int, root: str, out: str) -> None:
    from torchdata.stateful_dataloader import StatefulDataLoader

    from sparkle_data.dataset import SparkleDataset

    dist.init_process_group("gloo", init_method=f"file://{out}.rendezvous", rank=rank, world_size=2)
    try:

        def make() -> Any:
            ds = SparkleDataset(root, fields=FIELDS, shuffle=True, seed=9, balance="none")
            return StatefulDataLoader(
                ds, batch_size=None, num_workers=2, multiprocessing_context="spawn"
            )

        got: list[str] = []
        state = None
        for stop_after in (3, 2):  # two interruptions; the rest is read after a layout change
            loader = make()
            if state is not None:
                loader.load_state_dict(json.loads(json.dumps(state)))
            for i, sample in enumerate(loader):
                got.append(sample["sample_id"])
                if i + 1 == stop_after:
                    state = loader.state_dict()
                    break
        assert state is not None
        gathered: list[Any] = [None, None]
        dist.all_gather_object(gathered, {"rank": rank, "ids": got, "loader_state": state})
        if rank == 0:
            Path(out).write_text(json.dumps(gathered))
    finally:
        dist.destroy_process_group()


@pytest.mark.usefixtures("no_rank_env")
def test_resume_under_real_ranks_then_on_one_process(
    sample_tree: SampleTreeSummary, tmp_path: Path
) -> None:
    from sparkle_data.dataset import SparkleDataset, merge_states, slot_states

    out = tmp_path / "resume.json"
    mp.spawn(_resume_main, args=(str(sample_tree.root), str(out)), nprocs=2, join=True)
    result = json.loads(out.read_text())
    before = [sid for r in result for sid in r["ids"]]
    assert len(before) == len(set(before)) == 2 * (3 + 2)  # nothing repeated across resumes
    loader_states = [r["loader_state"] for r in result]  # StatefulDataLoader.state_dict()s
    slots = [st for ls in loader_states for st in slot_states(ls)]
    assert {(st["rank"], st["worker"]) for st in slots} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    # the 2 ranks x 2 workers layout resumes on one process with 2 workers (another layout)
    rest = SparkleDataset(sample_tree.root, fields=FIELDS, shuffle=True, seed=9, balance="none")
    rest.load_state_dict(merge_states(loader_states))
    after = [s["sample_id"] for s in DataLoader(rest, batch_size=None, num_workers=2)]
    corpus = set(build_catalog(sample_tree.root, cache=False).corpus().index)
    assert set(before) | set(after) == corpus  # nothing lost
    assert len(set(before) & set(after)) <= 4 - 1  # at most total slots - 1 seen again
