"""The JSON run report: counts, time per stage and every failure with its reason."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sparkle_data.io.atomic import atomic_write_text
from sparkle_data.regen.paths import REGEN_DIR
from sparkle_data.regen.worker import ItemResult

__all__ = ["REPORT_FORMAT", "RunReport", "report_path"]

REPORT_FORMAT: Final = "sparkle-data/regen-report"


def report_path(out: str | Path, rank: int = 0, world: int = 1) -> Path:
    name = "report.json" if world == 1 else f"report.rank{rank:05d}-of-{world:05d}.json"
    return Path(out) / REGEN_DIR / name


@dataclass
class RunReport:
    runner: str
    workers: int
    rank: int = 0
    world: int = 1
    results: list[ItemResult] = field(default_factory=list)
    wall_seconds: float = 0.0
    aborted: str | None = None
    """Why the run stopped early (the failure cap), or ``None``."""
    not_run: int = 0
    """Items left when the run stopped early."""
    pack: dict[str, Any] | None = None
    """What packing did (``--pack``; :meth:`~.pack.PackReport.to_dict`), else ``None``."""
    records: dict[str, int] = field(default_factory=dict)
    """Record files the run merged lines into, with the number of lines
    (:func:`~.records.merge_records`)."""

    def add(self, results: Iterable[ItemResult]) -> None:
        self.results.extend(results)

    def over_cap(self, max_failures: int | None, total: int) -> bool:
        """Whether more than ``max_failures`` samples failed; then the run is marked aborted,
        with the ``total - done`` samples it leaves unrun."""
        if max_failures is None or len(self.failed) <= max_failures:
            return False
        self.aborted = f"more than {max_failures} samples failed"
        self.not_run = total - len(self.results)
        return True

    @property
    def failed(self) -> list[ItemResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed and self.aborted is None

    def to_dict(self) -> dict[str, Any]:
        written: Counter[str] = Counter(a for r in self.results for a in r.written)
        skipped: Counter[str] = Counter(a for r in self.results for a in r.skipped)
        secs: dict[str, float] = {}
        runs: Counter[str] = Counter()
        for r in self.results:
            for s, t in r.seconds.items():
                secs[s] = secs.get(s, 0.0) + t
                runs[s] += 1
        return {
            "format": REPORT_FORMAT,
            "version": 1,
            "runner": self.runner,
            "workers": self.workers,
            "rank": self.rank,
            "world": self.world,
            "samples": len(self.results),
            "ok": sum(r.ok for r in self.results),
            "failed": len(self.failed),
            "not_run": self.not_run,
            "aborted": self.aborted,
            "written": dict(sorted(written.items())),
            "already_done": dict(sorted(skipped.items())),
            "stages": {
                s: {"samples": runs[s], "seconds": round(secs[s], 4),
                    "seconds_per_sample": round(secs[s] / runs[s], 4)}
                for s in sorted(secs)
            },
            "wall_seconds": round(self.wall_seconds, 3),
            "pack": self.pack,
            "records": self.records,
            "failures": [
                {"sample_id": r.sample_id, "attempts": r.attempts, "error": r.error}
                | ({} if r.raw_output is None else {"raw_output": r.raw_output})
                for r in self.failed
            ],
        }

    def write(self, out: str | Path) -> Path:
        path = report_path(out, self.rank, self.world)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    def format(self) -> str:
        d = self.to_dict()
        lines = [
            f"regen ({self.runner}, {self.workers} workers"
            + (f", rank {self.rank}/{self.world}" if self.world > 1 else "")
            + f"): {d['ok']} ok, {d['failed']} failed of {d['samples']} samples "
            f"in {d['wall_seconds']} s",
        ]
        for a, n in d["written"].items():
            lines.append(f"  wrote {n} {a}")
        for a, n in d["already_done"].items():
            lines.append(f"  {n} {a} already done (resumed)")
        for rel, n in self.records.items():
            lines.append(f"  merged {n} lines into {rel}")
        for s, st in d["stages"].items():
            lines.append(f"  stage {s}: {st['samples']} samples, {st['seconds_per_sample']} s each")
        for f in d["failures"][:10]:
            lines.append(f"  FAILED {f['sample_id']}: {f['error']}")
        if self.pack is not None:
            p = self.pack
            if p.get("staged_only"):
                lines.append(f"  staged for packing (rank {self.rank}/{self.world}): run "
                             "`sparkle-data regen pack OUT` once every rank has finished")
            else:
                lines.append(f"  packed {p['members']} members into {len(p['shards'])} shards"
                             + (f": {', '.join(p['shards'][:4])}" if p["shards"] else "")
                             + (" ..." if len(p["shards"]) > 4 else ""))
        if self.aborted:
            lines.append(f"  ABORTED: {self.aborted} ({self.not_run} samples not run)")
        return "\n".join(lines)
