"""Skip reports of DataLoader workers, merged where the training loop can see them.

Each worker of a :class:`~sparkle_data.dataset.SparkleDataset` skips (``on_error="skip"``)
into its own :class:`~sparkle_data.policy.SkipReport`, in its own process. A
:class:`SharedSkips` made in the main process gives every worker a small file (one per worker
process, in a private temporary folder, written atomically after each skip); the main
process's ``dataset.report`` (and ``state_dict()["skips"]``) merges them.

It also keeps the two skip **budgets**, which warn
(:class:`~sparkle_data.errors.SkipBudgetWarning`, once per budget and process) and never
stop the epoch:

* ``max_worker_skips``: one worker (or the main process, without workers) skipped more than
  this. The worker warns on its own stderr; the main process warns too, naming the worker,
  when it merges the reports;
* ``max_total_skips``: the workers together skipped more than this.

A worker that skipped every sample of its pass warns too (a server that fails everything
after start-up must not end an epoch silently). ``max_skips`` of the
:class:`~sparkle_data.policy.SkipReport` is the hard limit: one skip more raises.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
import weakref
from collections import Counter
from typing import Any

from sparkle_data.errors import SkipBudgetWarning, SparkleSkipWarning
from sparkle_data.io.atomic import atomic_write_bytes
from sparkle_data.policy import SkipExample, SkipReport

__all__ = ["SharedSkips"]


def _remove(path: str, owner: int) -> None:
    if os.getpid() == owner:
        shutil.rmtree(path, ignore_errors=True)


def _check_budget_value(name: str, value: int | None) -> None:
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or value < 0
    ):
        raise ValueError(f"Invalid {name} {value!r}: must be an integer >= 0 or None.")


class SharedSkips:
    """The folder where workers publish their skip reports, and the budgets (see the module
    doc)."""

    def __init__(
        self, *, max_total_skips: int | None = None, max_worker_skips: int | None = None
    ) -> None:
        _check_budget_value("max_total_skips", max_total_skips)
        _check_budget_value("max_worker_skips", max_worker_skips)
        self.max_total_skips = max_total_skips
        self.max_worker_skips = max_worker_skips
        self.folder = tempfile.mkdtemp(prefix="sparkle-skips-")
        self._owner = os.getpid()
        self._warned: set[str] = set()
        weakref.finalize(self, _remove, self.folder, self._owner)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_warned"] = set()
        return state

    def publish(self, report: SkipReport, *, slot: str) -> None:
        """Write this worker's report (called in the worker after each skip) and apply the
        budgets as far as this worker can see them."""
        self.check_worker(report, slot=slot)
        payload = {"slot": slot, "pid": os.getpid(), **report.to_dict()}
        path = os.path.join(self.folder, f"{slot}-{os.getpid()}.json")
        try:
            atomic_write_bytes(path, json.dumps(payload).encode("utf-8"))
        except OSError:  # the main process is gone, or the folder was removed
            return
        others = sum(int(r.get("total", 0)) for r in self._worker_reports())
        self._check_total(report.total + others)

    def check_worker(self, report: SkipReport, *, slot: str) -> None:
        """Warn once when ``report`` (one worker's, or the main process's) is over
        ``max_worker_skips``."""
        budget = self.max_worker_skips
        if budget is None or report.total <= budget or slot in self._warned:
            return
        self._warned.add(slot)
        warnings.warn(
            f"{report.total} samples skipped by {slot}, over the per-worker budget "
            f"max_worker_skips={budget}: check the data or the connection ({report})",
            SkipBudgetWarning,
            stacklevel=3,
        )

    def _worker_reports(self) -> list[dict[str, Any]]:
        out = []
        try:
            names = sorted(os.listdir(self.folder))
        except OSError:
            return []
        for name in names:
            if not name.endswith(".json") or int(name.rsplit("-", 1)[-1][:-5]) == os.getpid():
                continue
            try:
                with open(os.path.join(self.folder, name), "rb") as f:
                    out.append(json.loads(f.read()))
            except (OSError, ValueError):
                continue
        return out

    def merged(self, own: SkipReport, *, slot: str = "the main process") -> SkipReport:
        """``own`` when no worker published; else a new report: ``own`` plus every worker's.
        Both budgets are applied (each worker's, then the total)."""
        self.check_worker(own, slot=slot)
        reports = self._worker_reports()
        if not reports:
            return own
        merged = SkipReport(
            on_error=own.on_error, max_skips=own.max_skips, keep_examples=own.keep_examples
        )
        merged.merge(own)
        for r in reports:
            other = SkipReport(on_error=own.on_error, keep_examples=own.keep_examples)
            other.counts = Counter({str(k): int(v) for k, v in r.get("counts", {}).items()})
            other.examples = [SkipExample(**e) for e in r.get("examples", [])]
            self.check_worker(other, slot=str(r.get("slot", "a worker")))
            merged.merge(other)
        self._check_total(merged.total)
        return merged

    def _check_total(self, total: int) -> None:
        if self.max_total_skips is None or "total" in self._warned:
            return
        if total > self.max_total_skips:
            self._warned.add("total")
            warnings.warn(
                f"{total} samples skipped by the DataLoader workers together, over the total "
                f"budget max_total_skips={self.max_total_skips}: check the data or the "
                "connection (dataset.report has the reasons)",
                SkipBudgetWarning,
                stacklevel=3,
            )

    @staticmethod
    def end_of_pass(report: SkipReport, *, skipped: int, loaded: int, slot: str) -> None:
        """Warn when this worker's pass skipped every sample it was given."""
        if skipped and not loaded:
            warnings.warn(
                f"every sample of this pass was skipped ({skipped} in {slot}): {report}",
                SparkleSkipWarning,
                stacklevel=3,
            )
