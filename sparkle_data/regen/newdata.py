"""``regen new``: a Sparkle-layout tree for your own source videos.

Input: a folder of videos and a prompts CSV in the card's format (``prompt, src_video,
tgt_video, task``), where ``src_video`` names a file in the folder, ``tgt_video`` may be empty
(the edited video does not exist yet) and ``task`` is your own label (kept in
``.regen/new-samples.json``). Optional extra columns ``chosen_keyword`` (``subtheme: scene``)
and ``original_scene`` fill the metadata line.

Ids: the layout only admits ``Sparkle_{edit_type}_{NNNNNN}`` with one of the five edit types,
so user samples live in a reserved **index range**, ``900000``-``999999`` (Sparkle's released
ids are far below: about 30K per edit type). They never collide with Sparkle's ids, so a user
tree and the released tree can sit side by side or be merged.

Videos already in the card's format (H.264 ``yuv420p``, 16 fps, at most 81 frames, even
sides) are copied byte for byte; others are re-encoded: frames resampled to 16 fps by
nearest timestamp, cut to 81, cropped to even sides, H.264 at ``crf`` 18.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import av
import numpy as np

from sparkle_data.io.atomic import atomic_write_bytes, atomic_write_text
from sparkle_data.layout import (
    FPS,
    MAX_FRAMES,
    PROMPTS_CSV_COLUMNS,
    artifact_relpath,
    format_sample_id,
    metadata_edit_type,
    parse_edit_type,
    prompts_csv_path,
    prompts_metadata_path,
)
from sparkle_data.readers.video import read_video
from sparkle_data.regen.media import encode_mp4
from sparkle_data.regen.paths import REGEN_DIR

__all__ = ["USER_INDEX_START", "NewSamples", "make_user_tree"]

USER_INDEX_START: Final = 900_000
"""First index of the user namespace (``Sparkle_{edit_type}_900000`` ...)."""
_USER_INDEX_END: Final = 999_999


@dataclass(frozen=True)
class NewSamples:
    root: Path
    edit_type: str
    ids: tuple[str, ...]
    copied: int
    reencoded: int

    def __repr__(self) -> str:
        return f"NewSamples({str(self.root)!r}, {len(self.ids)} samples of {self.edit_type})"


def _is_card_format(path: Path) -> bool:
    try:
        with av.open(str(path)) as c:
            if len(c.streams.video) != 1 or c.streams.audio:
                return False
            s = c.streams.video[0]
            ctx = s.codec_context
            frames = s.frames
            rate = s.average_rate
            return bool(
                ctx.name == "h264"
                and ctx.pix_fmt == "yuv420p"
                and rate is not None
                and Fraction(rate) == FPS
                and 0 < frames <= MAX_FRAMES
                and s.width % 2 == 0
                and s.height % 2 == 0
            )
    except (av.error.FFmpegError, OSError, ValueError):
        return False


def _source_fps(path: Path) -> Fraction:
    with av.open(str(path)) as c:
        rate = c.streams.video[0].average_rate
    if rate is None or rate <= 0:
        raise ValueError(f"Invalid video {str(path)!r}: no frame rate in its header.")
    return Fraction(rate)


def _reencode(path: Path) -> bytes:
    frames = read_video(str(path))
    fps = _source_fps(path)
    n_out = min(MAX_FRAMES, int(len(frames) * FPS / fps))
    if n_out < 1:
        raise ValueError(f"Invalid video {str(path)!r}: shorter than one frame at {FPS} fps.")
    step = float(fps / FPS)
    idx = np.minimum(len(frames) - 1, np.round(np.arange(n_out) * step).astype(np.int64))
    h, w = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
    return encode_mp4(np.ascontiguousarray(frames[idx, :h, :w]), fps=FPS, crf=18, preset="medium")


def _read_rows(prompts_csv: Path) -> list[dict[str, str]]:
    with open(prompts_csv, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("prompt", "src_video") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"Invalid prompts CSV {str(prompts_csv)!r}: missing columns {missing}; the card's "
                f"columns are {', '.join(PROMPTS_CSV_COLUMNS)}."
            )
        rows = list(reader)
    if not rows:
        raise ValueError(f"Invalid prompts CSV {str(prompts_csv)!r}: no rows.")
    return rows


def make_user_tree(
    videos: str | os.PathLike[str],
    prompts_csv: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    edit_type: str,
    start: int = USER_INDEX_START,
) -> NewSamples:
    """Build ``out`` (a Sparkle root: prompts CSV + metadata + ``{t}/source_video/``) for
    the videos the CSV lists; see the module docstring. ``out`` must not hold prompts of
    ``edit_type`` yet."""
    et = parse_edit_type(edit_type)
    if not USER_INDEX_START <= start <= _USER_INDEX_END:
        raise ValueError(
            f"Invalid start {start}: user ids must be in [{USER_INDEX_START}, "
            f"{_USER_INDEX_END}] so they never collide with Sparkle's."
        )
    vdir, root = Path(videos), Path(out)
    rows = _read_rows(Path(prompts_csv))
    if start + len(rows) - 1 > _USER_INDEX_END:
        raise ValueError(f"Invalid prompts CSV: {len(rows)} rows overflow the user id range.")
    if (root / prompts_csv_path(et)).exists():
        raise FileExistsError(
            f"Invalid out {str(root)!r}: {prompts_csv_path(et)} exists; choose an empty folder."
        )
    csv_buf = io.StringIO()
    w = csv.writer(csv_buf, lineterminator="\n")
    w.writerow(PROMPTS_CSV_COLUMNS)
    meta_lines: list[str] = []
    origin: dict[str, Any] = {}
    ids: list[str] = []
    copied = reencoded = 0
    for k, row in enumerate(rows):
        prompt = (row.get("prompt") or "").strip()
        src = vdir / (row.get("src_video") or "")
        if not prompt:
            raise ValueError(
                f"Invalid prompt '' in {prompts_csv} (row {k + 2}): must not be empty."
            )
        if not src.is_file():
            raise FileNotFoundError(
                f"Invalid src_video {row.get('src_video')!r} in {prompts_csv} (row {k + 2}): "
                f"no such file under {vdir}."
            )
        sid = format_sample_id(et, start + k)
        if _is_card_format(src):
            data = src.read_bytes()
            copied += 1
        else:
            data = _reencode(src)
            reencoded += 1
        atomic_write_bytes(root / artifact_relpath(sid, "source_video"), data)
        w.writerow([prompt, artifact_relpath(sid, "source_video"),
                    artifact_relpath(sid, "edited_video"), sid])
        keyword = (row.get("chosen_keyword") or "").strip() or None
        if keyword is None and et != "openve3m":
            keyword = f"user: {src.stem}"
        meta_lines.append(json.dumps({
            "id": sid,
            "prompt": prompt,
            "metadata": {
                "edit_type": metadata_edit_type(et),
                "chosen_keyword": keyword,
                "original_scene": (row.get("original_scene") or "").strip(),
            },
        }, ensure_ascii=False))
        origin[sid] = {"src_video": row.get("src_video"), "task": row.get("task") or None}
        ids.append(sid)
    atomic_write_text(root / prompts_metadata_path(et), "\n".join(meta_lines) + "\n")
    atomic_write_text(root / REGEN_DIR / f"new-samples-{et}.json",
                      json.dumps(origin, indent=1, ensure_ascii=False) + "\n")
    # The CSV last: a tree with a CSV is a complete one.
    atomic_write_text(root / prompts_csv_path(et), csv_buf.getvalue())
    return NewSamples(root, et, tuple(ids), copied, reencoded)
