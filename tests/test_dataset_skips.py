"""``on_error="skip"`` across DataLoader workers: the main process sees the merged report."""

from __future__ import annotations

import warnings
from pathlib import Path

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


def test_worker_skips_reach_the_main_process_and_the_total_budget_warns(
    sample_tree: object,
) -> None:
    from sparkle_data.dataset import SparkleDataset

    root = sample_tree.root  # type: ignore[attr-defined]
    with serve_directory(root) as server:
        ds = SparkleDataset(
            server.url(),
            fields=["source_video"],
            edit_types=["location"],
            on_error="skip",
            retry=FAST,
            max_total_skips=2,
        )
        n = len(ds.ids)
        assert n > 2
        assert ds.report.total == 0
        server.faults = Faults(fail_first=-1)  # the server fails everything after start-up
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
    from sparkle_data.dataset import SparkleDataset

    root = sample_tree.root  # type: ignore[attr-defined]
    with serve_directory(root) as server:
        ds = SparkleDataset(
            server.url(), fields=["source_video"], edit_types=["season"], on_error="skip",
            retry=FAST,
        )
        server.faults = Faults(fail_first=-1)
        with pytest.warns(SparkleSkipWarning, match="every sample of this pass was skipped"):
            assert list(ds) == []
        assert ds.report.total == len(ds.ids)
