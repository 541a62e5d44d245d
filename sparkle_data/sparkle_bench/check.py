"""Check an inference output dir against the items: missing, extra, unreadable outputs, and
frame-count or size mismatches against the source videos, per theme."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, get_args

from sparkle_data.errors import SparkleError
from sparkle_data.io import fs as sfs
from sparkle_data.readers.video import VideoInfo, probe_video
from sparkle_data.sparkle_bench.items import BenchItem
from sparkle_data.sparkle_bench.outputs import CONCAT_SUFFIX, concat_relpath, output_relpath

__all__ = [
    "FRAME_RULES",
    "SIZE_RULES",
    "CheckReport",
    "FrameRule",
    "Mismatch",
    "SizeRule",
    "ThemeCheck",
    "check_outputs",
    "format_check",
]

SizeRule = Literal["exact", "aspect", "none"]
SIZE_RULES: Final[tuple[SizeRule, ...]] = get_args(SizeRule)
FrameRule = Literal["exact", "none"]
FRAME_RULES: Final[tuple[FrameRule, ...]] = get_args(FrameRule)
_ASPECT_TOLERANCE: Final = 0.02


@dataclass(frozen=True, slots=True)
class Mismatch:
    """An output whose frame count or size disagrees with what its source implies."""

    sample_id: str
    expected: str
    found: str


@dataclass(frozen=True, slots=True)
class ThemeCheck:
    """Findings for one theme; ids are sorted, paths relative to the output dir."""

    theme: str
    expected: int
    present: int
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    unreadable: tuple[tuple[str, str], ...] = ()
    """``(id, error message)``."""
    source_unreadable: tuple[tuple[str, str], ...] = ()
    frame_mismatch: tuple[Mismatch, ...] = ()
    size_mismatch: tuple[Mismatch, ...] = ()

    @property
    def ok(self) -> bool:
        return not (
            self.missing or self.extra or self.unreadable or self.source_unreadable
            or self.frame_mismatch or self.size_mismatch
        )


@dataclass(frozen=True, slots=True)
class CheckReport:
    outdir: str
    themes: tuple[ThemeCheck, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.themes)

    def to_dict(self) -> dict[str, object]:
        return {
            "outdir": self.outdir,
            "ok": self.ok,
            "themes": [
                {
                    "theme": t.theme, "expected": t.expected, "present": t.present, "ok": t.ok,
                    "missing": list(t.missing), "extra": list(t.extra),
                    "unreadable": [list(u) for u in t.unreadable],
                    "source_unreadable": [list(u) for u in t.source_unreadable],
                    "frame_mismatch": [_row(m) for m in t.frame_mismatch],
                    "size_mismatch": [_row(m) for m in t.size_mismatch],
                }
                for t in self.themes
            ],
        }


def _row(m: Mismatch) -> list[str]:
    return [m.sample_id, m.expected, m.found]


def _probe_location(location: str) -> VideoInfo:
    with sfs.open_binary(location) as f:
        return probe_video(f, name=location)


def _files_under(folder: Path) -> list[str]:
    out: list[str] = []
    for dirpath, _, names in os.walk(folder):
        for n in names:
            out.append(Path(dirpath, n).relative_to(folder.parent).as_posix())
    return out


def _size_ok(rule: SizeRule, src: VideoInfo, out: VideoInfo) -> bool:
    if rule == "none":
        return True
    if rule == "exact":
        return (src.height, src.width) == (out.height, out.width)
    a, b = src.width / src.height, out.width / out.height
    return abs(a - b) <= _ASPECT_TOLERANCE * a


def _check_theme(
    outdir: Path,
    theme: str,
    items: Sequence[BenchItem],
    *,
    probe: bool,
    max_frames: int,
    frames: FrameRule,
    size: SizeRule,
    bar: object,
) -> ThemeCheck:
    expected = {output_relpath(it): it for it in items}
    allowed_side = {concat_relpath(it) for it in items}
    found = set(_files_under(outdir / theme)) if (outdir / theme).is_dir() else set()
    missing = sorted(it.sample_id for rel, it in expected.items() if rel not in found)
    extra = sorted(
        rel for rel in found
        if rel not in expected and not (rel in allowed_side and rel.endswith(CONCAT_SUFFIX))
    )
    unreadable: list[tuple[str, str]] = []
    src_bad: list[tuple[str, str]] = []
    fm: list[Mismatch] = []
    sm: list[Mismatch] = []
    present = [(rel, it) for rel, it in sorted(expected.items()) if rel in found]
    for rel, it in present:
        if bar is not None:
            bar.update(1)  # type: ignore[attr-defined]
        if not probe:
            continue
        path = outdir / rel
        try:
            out = probe_video(path, sample_id=it.sample_id)
        except (SparkleError, OSError) as e:
            unreadable.append((it.sample_id, str(e)))
            continue
        if frames == "none" and size == "none":
            continue
        try:
            src = _probe_location(it.source_video)
        except (SparkleError, OSError) as e:
            src_bad.append((it.sample_id, str(e)))
            continue
        want = src.num_frames if max_frames <= 0 else min(src.num_frames, max_frames)
        if frames == "exact" and out.num_frames != want:
            fm.append(Mismatch(it.sample_id, f"{want} frames", f"{out.num_frames} frames"))
        if not _size_ok(size, src, out):
            sm.append(
                Mismatch(it.sample_id, f"{src.width}x{src.height}", f"{out.width}x{out.height}")
            )
    return ThemeCheck(
        theme, len(expected), len(present), tuple(missing), tuple(extra), tuple(unreadable),
        tuple(src_bad), tuple(fm), tuple(sm),
    )


def check_outputs(
    outdir: str | os.PathLike[str],
    items: Sequence[BenchItem],
    *,
    probe: bool = True,
    max_frames: int = 81,
    frames: FrameRule = "exact",
    size: SizeRule = "exact",
    progress: bool = False,
) -> CheckReport:
    """Compare ``outdir`` (a local inference output dir) with ``items``, per theme.

    * missing: an item without ``{theme}/{subtheme}---{scene_key}/{id}_edited.mp4``;
    * extra: any other file under ``{theme}/`` (upstream's ``{id}_concat.mp4`` next to an
      expected output is allowed), e.g. an output in the wrong scene folder;
    * unreadable: an output whose MP4 header cannot be read (see
      :func:`~sparkle_data.readers.video.probe_video`);
    * frame mismatch (``frames="exact"``): frame count != ``min(source frames, max_frames)``
      (upstream generates ``min(81, len(source))`` frames; ``max_frames=0``: no cap);
    * size mismatch: ``size="exact"`` (width and height equal the source's), ``"aspect"``
      (aspect ratio within 2%: for models that resize), or ``"none"``.

    ``probe=False`` checks file names only (no video is opened).
    """
    base = Path(outdir)
    themes: dict[str, list[BenchItem]] = {}
    for it in items:
        themes.setdefault(it.theme, []).append(it)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(items), desc="check", unit="video", disable=None)
    try:
        checks = tuple(
            _check_theme(
                base, t, its, probe=probe, max_frames=max_frames, frames=frames, size=size, bar=bar
            )
            for t, its in themes.items()
        )
    finally:
        if bar is not None:
            bar.close()
    return CheckReport(str(base), checks)


def _examples(values: Sequence[object], limit: int = 5) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f", ... (+{len(values) - limit})" if len(values) > limit else "")


def format_check(report: CheckReport) -> str:
    """A readable per-theme summary, one line per theme plus one per kind of defect."""
    lines = [f"{'theme':<10} {'expected':>8} {'present':>8} {'missing':>8} {'extra':>6} "
             f"{'unread':>6} {'frames':>6} {'size':>5}  status"]
    for t in report.themes:
        bad = len(t.unreadable) + len(t.source_unreadable)
        lines.append(
            f"{t.theme:<10} {t.expected:>8} {t.present:>8} {len(t.missing):>8} {len(t.extra):>6} "
            f"{bad:>6} {len(t.frame_mismatch):>6} {len(t.size_mismatch):>5}  "
            f"{'OK' if t.ok else 'FAIL'}"
        )
    for t in report.themes:
        if t.missing:
            lines.append(f"  {t.theme} missing: {_examples(t.missing)}")
        if t.extra:
            lines.append(f"  {t.theme} extra: {_examples(t.extra)}")
        for sid, msg in t.unreadable[:5]:
            lines.append(f"  {t.theme} unreadable {sid}: {msg}")
        for sid, msg in t.source_unreadable[:5]:
            lines.append(f"  {t.theme} source unreadable {sid}: {msg}")
        for m in (*t.frame_mismatch[:5], *t.size_mismatch[:5]):
            lines.append(f"  {t.theme} {m.sample_id}: expected {m.expected}, found {m.found}")
    return "\n".join(lines)
