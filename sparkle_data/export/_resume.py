"""Resumable exports: units, a journal of finished units, and a manifest written last.

Every export is planned first as a list of *units*: one output file or shard each, written
atomically by :meth:`Unit.run`, which returns the size and sha256 of what it wrote. The plan
(the export kind, the options that change bytes, and every unit with its sources) has a
*fingerprint*. The output folder holds, while an export runs::

    OUT/.sparkle-export/plan.json       the fingerprint of the plan being written
    OUT/.sparkle-export/checks.jsonl    one line per sample checked: its verdict
    OUT/.sparkle-export/journal.jsonl   one line per finished unit: its files, sizes, sha256

and, once everything is written, the done-marker ``OUT/export.json`` (the manifest: the
plan's fingerprint, the options, a summary, every file with its size and sha256, and what
each unit wrote). The manifest is written last and the state folder is then removed.

Before any unit runs, every sample's members get the bounded check of ``verify --deep``
(:mod:`._validate`: one check unit per sample, run by the same engine); verdicts are
journaled, a sample that fails is dropped from the plan (``on_error="skip"``) or fails the
export before anything of it is written. The plan's fingerprint covers the checks and the
plan of every requested id; the units actually written are the plan of the ids kept.

A unit is journaled once all its files are written; one interrupted between two of its
files leaves the finished ones (whole, never partial), and a rerun writes the unit again.
A rerun of the same plan skips every unit whose files are present and match the journal
(or the manifest) by size and sha256 (``verify="size"``: size only), and redoes the others;
files of a killed run are never half-written (atomic writes) and the temp files it left
behind are removed. A rerun of a *complete* export verifies it and writes nothing. A folder
that holds another plan's export (another fingerprint) or foreign files is refused unless
``overwrite=True``: the files the other export listed are then deleted first (foreign files
are written over where names collide, never deleted).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from sparkle_data._version import __version__
from sparkle_data.export._engine import run_units
from sparkle_data.export._errors import ExportError
from sparkle_data.export._plan import (
    VERIFY_MODES,
    Checked,
    ExportOptions,
    ExportPlan,
    Planner,
    Unit,
    UnitResult,
    Verify,
    default_workers,
)
from sparkle_data.export._validate import CheckUnit, checked_shapes, recorded_error
from sparkle_data.export._writer import FileDigest, hash_file
from sparkle_data.io.atomic import atomic_write_text, fsync_dir, remove_stale_temps

__all__ = [
    "EXPORT_MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "STATE_DIR",
    "ExportReport",
    "read_manifest",
    "run_export",
    "verify_files",
]

MANIFEST_NAME: Final = "export.json"
EXPORT_MANIFEST_FORMAT: Final = "sparkle-data/export"
MANIFEST_VERSION: Final = 1
STATE_DIR: Final = ".sparkle-export"
_EXAMPLES: Final = 5


@dataclass(frozen=True)
class ExportReport:
    """The outcome of one export call."""

    kind: str
    out: Path
    requested: int
    """Sample ids asked for."""
    samples: int
    """Samples in the export (``requested`` minus the dropped ones)."""
    counts: Mapping[str, int]
    """Exported samples per edit type."""
    dropped: Mapping[str, int]
    """Dropped samples by reason (Kiwi pairs that do not match, ...)."""
    dropped_examples: Mapping[str, tuple[str, ...]]
    units: int
    written: int
    """Units written by this call."""
    skipped: int
    """Units found complete and verified (a resumed or repeated export)."""
    files: int
    bytes: int
    fingerprint: str

    @property
    def manifest(self) -> Path:
        return self.out / MANIFEST_NAME

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "out": str(self.out),
            "requested": self.requested,
            "samples": self.samples,
            "counts": dict(self.counts),
            "dropped": dict(self.dropped),
            "dropped_examples": {k: list(v) for k, v in self.dropped_examples.items()},
            "units": self.units,
            "written": self.written,
            "skipped": self.skipped,
            "files": self.files,
            "bytes": self.bytes,
            "fingerprint": self.fingerprint,
        }

    def __str__(self) -> str:
        lines = [
            f"{self.kind} export {self.out}: {self.samples} of {self.requested} samples, "
            f"{self.files} files, {self.bytes / 2**20:.1f} MiB",
            f"  units: {self.units} ({self.written} written, {self.skipped} already complete)",
        ]
        if self.counts:
            lines.append(
                "  per edit type: " + ", ".join(f"{k} {v}" for k, v in self.counts.items())
            )
        for reason, n in sorted(self.dropped.items()):
            ex = ", ".join(self.dropped_examples.get(reason, ()))
            lines.append(f"  dropped {n} ({reason})" + (f": {ex}" if ex else ""))
        return "\n".join(lines)


# --------------------------------------------------------------------------- fingerprint


def plan_fingerprint(kind: str, options: Mapping[str, Any], units: Sequence[Unit]) -> str:
    """sha256 of the canonical JSON of the kind, options and every unit (streamed)."""
    digest = hashlib.sha256()

    def feed(obj: Any) -> None:
        digest.update(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8"))
        digest.update(b"\n")

    feed({"format": EXPORT_MANIFEST_FORMAT, "version": MANIFEST_VERSION, "kind": kind})
    feed(dict(options))
    for unit in units:
        feed({"key": unit.key, **unit.to_dict()})
    return digest.hexdigest()


# --------------------------------------------------------------------------- files


def _check_one(out: Path, rel: str, digest: FileDigest, mode: Verify) -> bool:
    path = out / rel
    try:
        if not path.is_file() or path.stat().st_size != digest.size:
            return False
    except OSError:
        return False
    if mode == "size" or digest.sha256 is None:
        return True
    return hash_file(path).sha256 == digest.sha256


def verify_files(
    out: Path, files: Mapping[str, FileDigest], *, verify: Verify = "sha256", workers: int = 1
) -> set[str]:
    """The paths among ``files`` that are missing or differ from their digest."""
    if verify not in VERIFY_MODES:
        raise ValueError(f"Invalid verify {verify!r}: must be one of {', '.join(VERIFY_MODES)}.")
    items = sorted(files.items())
    if workers > 1 and len(items) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            ok = list(pool.map(lambda kv: _check_one(out, kv[0], kv[1], verify), items))
    else:
        ok = [_check_one(out, k, v, verify) for k, v in items]
    return {k for (k, _), good in zip(items, ok, strict=True) if not good}


def read_manifest(out: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest of a complete export in ``out``, or ``None`` when there is none."""
    path = Path(out) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ExportError.invalid(
            "export manifest", str(path), rule=f"unreadable ({e})", path=str(path)
        ) from e
    if not isinstance(data, dict) or data.get("format") != EXPORT_MANIFEST_FORMAT:
        raise ExportError.invalid(
            "export manifest", str(path), rule=f"is not a {EXPORT_MANIFEST_FORMAT} manifest"
        )
    if data.get("format_version") != MANIFEST_VERSION:
        raise ExportError.invalid(
            "export manifest version",
            data.get("format_version"),
            rule=f"this sparkle-data reads version {MANIFEST_VERSION}",
            path=str(path),
        )
    return data


def _manifest_units(manifest: Mapping[str, Any]) -> dict[str, UnitResult]:
    files = {k: FileDigest.from_json(v) for k, v in manifest.get("files", {}).items()}
    out: dict[str, UnitResult] = {}
    for key, entry in manifest.get("units", {}).items():
        out[key] = UnitResult(key, {f: files[f] for f in entry["files"]}, entry.get("data", {}))
    return out


def _read_journal(path: Path) -> dict[str, UnitResult]:
    out: dict[str, UnitResult] = {}
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return out
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            result = UnitResult.from_json(json.loads(line))
        except ValueError:
            continue  # a line torn by a kill: that unit is simply redone
        out[result.key] = result
    return out


def _delete_listed(out: Path, rels: Iterable[str]) -> None:
    root = out.resolve()
    for rel in rels:
        path = (out / rel).resolve()
        if root not in path.parents:
            continue  # never outside the folder, whatever a manifest says
        path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the driver


class _State:
    """The ``.sparkle-export`` folder of one running export."""

    def __init__(self, out: Path, kind: str, fingerprint: str) -> None:
        self.dir = out / STATE_DIR
        self.kind = kind
        self.fingerprint = fingerprint
        self._journal: IO[bytes] | None = None
        self._checks: IO[bytes] | None = None

    def begin(self) -> None:
        """Write the plan (the folder then belongs to this plan's export)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            self.dir / "plan.json",
            json.dumps({"kind": self.kind, "fingerprint": self.fingerprint}, indent=1) + "\n",
        )

    def plan(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.dir / "plan.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def journal(self) -> dict[str, UnitResult]:
        return _read_journal(self.dir / "journal.jsonl")

    def checks(self) -> dict[str, UnitResult]:
        return _read_journal(self.dir / "checks.jsonl")

    def record_check(self, result: UnitResult) -> None:
        """Append one check's verdict to ``checks.jsonl`` (flushed)."""
        if self._checks is None:
            self._checks = open(self.dir / "checks.jsonl", "ab")  # noqa: SIM115 - see close
        self._checks.write(json.dumps(result.to_json(), sort_keys=True).encode("utf-8") + b"\n")
        self._checks.flush()

    def start(self, keep: Iterable[UnitResult]) -> None:
        """Write the plan and a journal holding ``keep`` (verified units) only."""
        self.begin()
        lines = "".join(json.dumps(r.to_json(), sort_keys=True) + "\n" for r in keep)
        atomic_write_text(self.dir / "journal.jsonl", lines)
        self._journal = open(self.dir / "journal.jsonl", "ab")  # noqa: SIM115 - closed in finish

    def record(self, result: UnitResult) -> None:
        if self._journal is None:
            raise RuntimeError("export state not started")
        self._journal.write(json.dumps(result.to_json(), sort_keys=True).encode("utf-8") + b"\n")
        self._journal.flush()

    def close(self) -> None:
        for f in (self._journal, self._checks):
            if f is not None:
                f.close()
        self._journal = self._checks = None

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        fsync_dir(self.dir.parent)


def _bad_folder(out: Path, rule: str, hint: str) -> ExportError:
    return ExportError.invalid("output folder", str(out), rule=rule, hint=hint)


def _prepare(out: Path, state: _State, *, overwrite: bool) -> dict[str, Any] | None:
    """Check what ``out`` holds; returns the manifest of the same plan, if complete."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out)
    plan = state.plan()
    if manifest is not None and manifest.get("fingerprint") != state.fingerprint:
        if not overwrite:
            raise _bad_folder(
                out,
                f"holds a complete {manifest.get('kind')} export of another plan "
                f"(fingerprint {str(manifest.get('fingerprint'))[:12]}, this one "
                f"{state.fingerprint[:12]}): other ids, options or sources",
                "Choose another folder, or pass overwrite=True (--overwrite) to replace it.",
            )
        _delete_listed(out, [*manifest.get("files", {}), MANIFEST_NAME])
        manifest = None
    if plan is not None and plan.get("fingerprint") != state.fingerprint:
        if not overwrite:
            raise _bad_folder(
                out,
                f"holds an unfinished {plan.get('kind')} export of another plan "
                f"(fingerprint {str(plan.get('fingerprint'))[:12]})",
                "Rerun that export to finish it, choose another folder, or pass "
                "overwrite=True (--overwrite) to replace it.",
            )
        _delete_listed(out, [f for r in state.journal().values() for f in r.files])
        state.remove()
        plan = None
    if manifest is None and plan is None and not overwrite:
        foreign = sorted(p.name for p in out.iterdir() if p.name != STATE_DIR)
        if foreign:
            raise _bad_folder(
                out,
                f"is not empty and holds no sparkle-data export ({', '.join(foreign[:5])})",
                "Choose an empty or new folder, or pass overwrite=True (--overwrite) to "
                "write into it anyway (existing files are kept unless names collide).",
            )
    remove_stale_temps(out)
    return manifest


def _check_members(
    root: Path,
    kind: str,
    state: _State,
    manifest: Mapping[str, Any] | None,
    checks: Sequence[CheckUnit],
    common: ExportOptions,
) -> tuple[dict[str, dict[str, Any]], Checked]:
    """Run the checks not done yet (journaled): ``{sample id: drop}`` of the dropped ones,
    and what the planner gets (the drops, and the members' shapes the verdicts recorded).

    Strict (``on_error="error"``): the first failing check raises, and so does a drop that
    an earlier lenient run recorded.
    """
    from tqdm.auto import tqdm

    if manifest is not None:
        recorded = manifest.get("checks", {}).get("dropped", {})
        verdicts = {c.key: dict(recorded.get(c.key, {})) for c in checks}
    else:
        journal = state.checks()
        verdicts = {c.key: dict(journal[c.key].data) for c in checks if c.key in journal}
    todo = [c for c in checks if c.key not in verdicts]
    if todo:
        state.begin()
        try:
            with tqdm(
                total=len(checks),
                initial=len(checks) - len(todo),
                disable=not common.progress,
                unit="sample",
                desc=f"check {kind}",
            ) as bar:
                units = run_units(todo, root, engine=common.engine, workers=common.workers)
                for result in units:
                    state.record_check(result)
                    verdicts[result.key] = dict(result.data)
                    bar.update(1)
        finally:
            state.close()
    drops = {c.sample_id: verdicts[c.key] for c in checks if "dropped" in verdicts[c.key]}
    if drops and common.on_error == "error":
        sid, data = next(iter(drops.items()))
        raise recorded_error(sid, data)
    shapes = {c.sample_id: checked_shapes(verdicts[c.key]) for c in checks}
    return drops, Checked(frozenset(drops), {s: v for s, v in shapes.items() if v})


def run_export(
    out: str | os.PathLike[str],
    kind: str,
    plan: Planner,
    options: Mapping[str, Any],
    common: ExportOptions,
    *,
    checks: Sequence[CheckUnit] = (),
    unit_name: str = "file",
) -> ExportReport:
    """Plan, check, resume, run and finalize one export (see the module doc).

    ``plan`` gives the format's units and finalizer for the requested ids less the dropped
    ones; ``checks`` are the member checks of the samples (:mod:`._validate`). ``options``
    are the format's own options (they enter the plan's fingerprint); ``common`` the options
    every export takes.
    """
    from tqdm.auto import tqdm

    engine, workers, verify = common.engine, common.workers, common.verify
    planned: ExportPlan = plan(Checked())
    units = planned.units
    keys = [u.key for u in units]
    all_keys = [*keys, *(c.key for c in checks)]
    if len(set(all_keys)) != len(all_keys):
        raise ValueError("unit keys must be unique")  # a planning bug, not a user error
    root = Path(out)
    fingerprint = plan_fingerprint(kind, options, [*checks, *units])
    state = _State(root, kind, fingerprint)
    manifest = _prepare(root, state, overwrite=common.overwrite)
    drops, checked = _check_members(root, kind, state, manifest, checks, common)
    if checked.dropped or checked.shapes:
        planned = plan(checked)
        units = planned.units
        keys = [u.key for u in units]
    n_verify = workers or default_workers()

    candidates = _manifest_units(manifest) if manifest is not None else state.journal()
    wanted = set(keys)
    candidates = {k: v for k, v in candidates.items() if k in wanted}
    bad = verify_files(
        root,
        {f: d for r in candidates.values() for f, d in r.files.items()},
        verify=verify,
        workers=n_verify,
    )
    done = {k: r for k, r in candidates.items() if not (set(r.files) & bad)}
    if manifest is not None:
        unit_files = {f for r in done.values() for f in r.files}
        extra = {
            f: FileDigest.from_json(d) for f, d in manifest["files"].items() if f not in unit_files
        }
        if len(done) == len(units) and not verify_files(
            root, extra, verify=verify, workers=n_verify
        ):
            return _report(kind, root, manifest, len(units), written=0)
        (root / MANIFEST_NAME).unlink()  # repairing: the folder is no longer complete
        fsync_dir(root)

    todo = [u for u in units if u.key not in done]
    state.start(done[k] for k in keys if k in done)
    try:
        with tqdm(
            total=len(units),
            initial=len(done),
            disable=not common.progress,
            unit=unit_name,
            desc=f"export {kind}",
        ) as bar:
            for result in run_units(todo, root, engine=engine, workers=workers):
                state.record(result)
                done[result.key] = result
                bar.update(1)
    finally:
        state.close()
    results = [done[k] for k in keys]
    final = planned.finalize(results)
    files: dict[str, FileDigest] = {}
    for r in results:
        files.update(r.files)
    files.update(final.files)
    manifest = {
        "format": EXPORT_MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "kind": kind,
        "fingerprint": fingerprint,
        "created_by": f"sparkle-data {__version__}",
        "options": dict(options),
        "summary": _with_drops(final.summary, drops),
        "files": {k: files[k].to_json() for k in sorted(files)},
        "units": {r.key: {"files": sorted(r.files), "data": _canon(r.data)} for r in results},
        "checks": {
            "checked": len(checks),
            "dropped": {c.key: _canon(drops[c.sample_id]) for c in checks if c.sample_id in drops},
        },
    }
    atomic_write_text(
        root / MANIFEST_NAME, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n"
    )
    state.remove()
    return _report(kind, root, manifest, len(units), written=len(todo))


def _with_drops(
    summary: Mapping[str, Any], drops: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The finalizer's summary with the samples the checks dropped first in ``dropped``."""
    checked = [
        {"id": sid, "reason": d["dropped"], "detail": d.get("detail"), "member": d.get("member")}
        for sid, d in drops.items()
    ]
    return {**summary, "dropped": checked + list(summary.get("dropped", []))}


def _canon(obj: Any) -> Any:
    """``obj`` with every mapping's keys sorted (a journal round trip sorts them too)."""
    if isinstance(obj, Mapping):
        return {str(k): _canon(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, (list, tuple)):
        return [_canon(v) for v in obj]
    return obj


def _report(
    kind: str, out: Path, manifest: Mapping[str, Any], units: int, *, written: int
) -> ExportReport:
    summary = manifest.get("summary", {})
    dropped: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    for item in summary.get("dropped", []):
        reason = str(item["reason"])
        dropped[reason] = dropped.get(reason, 0) + 1
        if len(examples.setdefault(reason, [])) < _EXAMPLES:
            examples[reason].append(str(item["id"]))
    files = manifest.get("files", {})
    return ExportReport(
        kind=kind,
        out=out,
        requested=int(summary.get("requested", 0)),
        samples=int(summary.get("samples", 0)),
        counts=dict(summary.get("counts", {})),
        dropped=dropped,
        dropped_examples={k: tuple(v) for k, v in examples.items()},
        units=units,
        written=written,
        skipped=units - written,
        files=len(files) + 1,
        bytes=sum(int(v[0]) for v in files.values()),
        fingerprint=str(manifest.get("fingerprint")),
    )
