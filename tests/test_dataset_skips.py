"""``on_error="skip"`` across DataLoader workers: the main process sees the merged report."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sparkle_data.errors import SparkleSkipWarning
from sparkle_data.io.remote import RetryPolicy
from sparkle_data.policy import SkipReport
from sparkle_data.testing.http import Faults, serve_directory

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.network
FAST = RetryPolicy(retries=0, backoff=0.0, timeout=2.0)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "sparkle-cache"))


@contextlib.contextmanager
def failing_after_startup(sample_tree: object, edit_type: str, **options: Any) -> Iterator[Any]:
    """A remote ``SparkleDataset`` (source videos of one theme, ``on_error="skip"``) whose
    server fails every request once the dataset is built."""
    from sparkle_data.dataset import SparkleDataset

    root = sample_tree.root  # type: ignore[attr-defined]
    with serve_directory(root) as server:
        ds = SparkleDataset(
            server.url(),
            fields=["source_video"],
            edit_types=[edit_type],
            on_error="skip",
            retry=FAST,
            **options,
        )
        server.faults = Faults(fail_first=-1)
        yield ds


def test_worker_skips_reach_the_main_process_and_the_total_budget_warns(
    sample_tree: object,
) -> None:
    with failing_after_startup(sample_tree, "location", max_total_skips=2) as ds:
        n = len(ds.ids)
        assert n > 2
        assert ds.report.total == 0
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
        with warnings.catch_warnings(record=True):
            assert list(loader) == []
        with pytest.warns(SparkleSkipWarning, match="max_total_skips=2"):
            report = ds.report
        assert isinstance(report, SkipReport)
        assert report.total == n
        assert report.counts == {"RemoteError": n}
        assert report.examples[0].sample_id is not None
        assert ds.state_dict()["skips"]["total"] == n


def test_a_pass_that_skips_everything_warns_without_workers(sample_tree: object) -> None:
    with failing_after_startup(sample_tree, "season") as ds:
        with pytest.warns(SparkleSkipWarning, match="every sample of this pass was skipped"):
            assert list(ds) == []
        assert ds.report.total == len(ds.ids)


def test_per_worker_budget_warns_in_the_main_process_naming_each_worker(
    sample_tree: object,
) -> None:
    from sparkle_data.errors import SkipBudgetWarning

    # max_total_skips is not exceeded: only the per-worker budget speaks
    with failing_after_startup(
        sample_tree, "location", max_worker_skips=1, max_total_skips=1000
    ) as ds:
        n = len(ds.ids)
        assert n >= 4
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
        with warnings.catch_warnings(record=True):
            assert list(loader) == []  # budgets warn, the epoch is not stopped
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            report = ds.report
        budget = [w for w in caught if issubclass(w.category, SkipBudgetWarning)]
        texts = sorted(str(w.message) for w in budget)
        assert len(budget) == 2, texts  # one per worker, none for the total
        assert "rank0-worker0" in texts[0]
        assert "rank0-worker1" in texts[1]
        assert all("max_worker_skips=1" in t for t in texts)
        assert issubclass(SkipBudgetWarning, SparkleSkipWarning)
        assert report.total == n
        assert ds.state_dict()["skips"]["total"] == n  # the merged report, in state_dict


def test_per_worker_budget_without_workers_warns_during_the_pass(sample_tree: object) -> None:
    from sparkle_data.errors import SkipBudgetWarning

    with failing_after_startup(sample_tree, "season", max_worker_skips=0) as ds:
        with pytest.warns(SkipBudgetWarning, match="the main process.*max_worker_skips=0"):
            assert list(ds) == []
        assert ds.report.total == len(ds.ids)


def test_max_skips_stays_the_hard_limit(sample_tree: object) -> None:
    from sparkle_data.errors import RemoteError

    with (
        failing_after_startup(sample_tree, "season", max_skips=1, max_worker_skips=5) as ds,
        pytest.raises(RemoteError, match="skip budget exhausted: max_skips=1"),
    ):
        list(ds)


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_budgets_are_validated(bad: object) -> None:
    from sparkle_data.dataset.skips import SharedSkips

    with pytest.raises(ValueError, match="max_worker_skips"):
        SharedSkips(max_worker_skips=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_total_skips"):
        SharedSkips(max_total_skips=bad)  # type: ignore[arg-type]
