"""Where inference writes its videos and the rater its scores, relative to an output dir.

Upstream's layout, which the evaluator reads:

* ``{outdir}/{theme}/{subtheme}---{scene_key}/{id}_edited.mp4``: the edited video
  (``scene_key`` is the scene with spaces replaced by ``_``);
* ``{outdir}/{theme}/{subtheme}---{scene_key}/{id}_concat.mp4``: optional side-by-side
  preview written by upstream's inference script (ignored by the rater);
* ``{outdir}/{theme}_{rater}_sparkle_score.jsonl``: one JSON line per rated item;
* ``{outdir}/{theme}_{rater}_sparkle_unrated.json``: written by ``sparkle-data sparkle-bench
  rate``: the expected ids and the items that stayed unrated (not an upstream file).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

from sparkle_data.errors import LayoutError
from sparkle_data.layout import BENCH_EDIT_TYPES, scene_key, split_chosen_keyword
from sparkle_data.sparkle_bench.items import BenchItem

__all__ = [
    "CONCAT_SUFFIX",
    "EDITED_SUFFIX",
    "concat_relpath",
    "find_score_files",
    "output_path",
    "output_relpath",
    "rater_tag",
    "score_file_name",
    "status_file_name",
]

EDITED_SUFFIX: Final = "_edited.mp4"
CONCAT_SUFFIX: Final = "_concat.mp4"
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_SCORE_FILE = re.compile(
    r"(?P<theme>" + "|".join(BENCH_EDIT_TYPES) + r")_(?P<tag>.+)_sparkle_score\.jsonl"
)


def output_relpath(item: BenchItem) -> str:
    """``{theme}/{subtheme}---{scene_key}/{id}_edited.mp4``."""
    return item.output_relpath


def concat_relpath(item: BenchItem) -> str:
    """``{theme}/{subtheme}---{scene_key}/{id}_concat.mp4`` (upstream's preview)."""
    subtheme, scene = split_chosen_keyword(item.chosen_keyword)
    return f"{item.theme}/{subtheme}---{scene_key(scene)}/{item.sample_id}{CONCAT_SUFFIX}"


def output_path(outdir: str | os.PathLike[str], item: BenchItem) -> Path:
    """Local path of the edited video of ``item`` (parent folders are not created)."""
    return Path(outdir) / output_relpath(item)


def rater_tag(model: str) -> str:
    """The rater name used in score file names: ``model`` with ``/`` replaced by ``_``
    (``google/gemini-2.5-pro`` → ``google_gemini-2.5-pro``)."""
    tag = model.replace("/", "_")
    if not _TAG.fullmatch(tag):
        raise LayoutError.invalid(
            "rater model name", model,
            rule="must start with a letter or digit and hold only letters, digits, . _ + - /",
            hint="Pass --score-tag NAME to name the score files yourself.",
        )
    return tag


def score_file_name(theme: str, tag: str) -> str:
    """``{theme}_{tag}_sparkle_score.jsonl`` (upstream's name, ``tag`` = rater model)."""
    return f"{theme}_{rater_tag(tag)}_sparkle_score.jsonl"


def status_file_name(theme: str, tag: str) -> str:
    """``{theme}_{tag}_sparkle_unrated.json``: expected ids and unrated items of a rate run."""
    return f"{theme}_{rater_tag(tag)}_sparkle_unrated.json"


def find_score_files(outdir: str | os.PathLike[str]) -> dict[str, dict[str, Path]]:
    """``{tag: {theme: path}}`` for every score file directly in ``outdir``."""
    out: dict[str, dict[str, Path]] = {}
    base = Path(outdir)
    if not base.is_dir():
        return out
    for p in sorted(base.iterdir()):
        m = _SCORE_FILE.fullmatch(p.name)
        if m and p.is_file():
            out.setdefault(m["tag"], {})[m["theme"]] = p
    return out
