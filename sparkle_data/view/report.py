"""``write_report``: a static HTML folder (opens from disk, no server) to share a look at a root.

Per theme a bounded, seeded sample (the same ids for the same seed: the rank is
``sha256(f"{seed}:{id}")``, as in subset specs), each with a thumbnail, an animated preview
(source | edited | mask overlay) and its own page; the statistics plots of ``write_stats``
(score histograms with the paper's thresholds, the rejection funnel) plus frame-count and
label-count plots. Every string from the data is escaped; the output is byte-deterministic.
"""

# ruff: noqa: E501  (embedded HTML, CSS and JavaScript)

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sparkle_data.io.atomic import atomic_write_bytes, atomic_write_text
from sparkle_data.layout import EDIT_TYPES
from sparkle_data.view import render
from sparkle_data.view.sample import SampleInfo, sample_info

if TYPE_CHECKING:
    from sparkle_data.catalog import Catalog
    from sparkle_data.filters import Filter, ScorePreset

__all__ = ["ReportFiles", "write_report"]

_INDEX: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sparkle report: {{ root }}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; background: #16181c; color: #e6e6e6; }
a { color: #8ecbff; } img { max-width: 100%; background: #000; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; }
.card { background: #1f2227; padding: 8px; border-radius: 6px; }
.sid { font-family: monospace; } .prompt { color: #ccd; font-size: 13px; }
.plots img { max-width: 640px; display: block; margin: 8px 0; background: #fff; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; border-bottom: 1px solid #333; }
</style></head><body>
<h1>Sparkle report</h1>
<p>root <code>{{ root }}</code> · {{ n_corpus }} corpus samples, {{ n_rejected }} rejected ids ·
filter <code>{{ where }}</code> · {{ per_theme }} per theme, seed {{ seed }} ·
scores judged against <code>{{ preset }}</code></p>
<nav>{% for theme, cards in themes %}<a href="#{{ theme }}">{{ theme }}</a> · {% endfor %}<a href="#statistics">statistics</a></nav>
{% for theme, cards in themes %}
<h2 id="{{ theme }}">{{ theme }} <small>({{ cards|length }} shown of {{ counts[theme] }})</small></h2>
<div class="cards">
{% for c in cards %}<div class="card">
<a href="samples/{{ c.info.sample_id }}.html"><img src="{{ c.preview }}" alt="preview of {{ c.info.sample_id }}"></a>
<div class="sid"><a href="samples/{{ c.info.sample_id }}.html">{{ c.info.sample_id }}</a> · {{ c.info.badge }}</div>
<div class="prompt">{{ c.info.prompt or '' }}</div>
</div>{% endfor %}
</div>
{% endfor %}
<h2 id="statistics">statistics</h2>
<div class="plots">{% for title, src in plots %}<h3>{{ title }}</h3><img src="{{ src }}" alt="{{ title }}">{% endfor %}</div>
<p>Tables: {% for name in tables %}<a href="{{ name }}">{{ name }}</a> {% endfor %}</p>
</body></html>
"""

_SAMPLE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ s.sample_id }}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; background: #16181c; color: #e6e6e6; }
a { color: #8ecbff; } img { max-width: 100%; background: #000; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; } dd { margin: 0; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; border-bottom: 1px solid #333; }
.pass { color: #6fdc8c; } .fail { color: #ff7b72; }
</style></head><body>
<p><a href="../index.html#{{ s.edit_type }}">&larr; report</a></p>
<h1>{{ s.sample_id }} <small>{{ s.badge }}</small></h1>
<img src="{{ preview }}" alt="source | edited | mask overlay">
{% if frame0 %}<h2>source frame 0 with round-1 boxes</h2><img src="{{ frame0 }}" alt="frame 0 with boxes">{% endif %}
<dl><dt>prompt</dt><dd>{{ s.prompt or '—' }}</dd><dt>keyword</dt><dd>{{ s.keyword or '—' }}</dd>
<dt>scene</dt><dd>{{ s.scene or '—' }}</dd><dt>original scene</dt><dd>{{ s.original_scene or '—' }}</dd></dl>
<table><tr><th>score</th><th>value</th><th>threshold</th><th></th></tr>
{% for c in s.scores %}<tr><td>{{ c.label }}</td><td>{{ c.shown }}</td><td>{{ '≥ %g'|format(c.threshold) if c.threshold is not none else '' }}</td>
<td class="{{ 'pass' if c.passed else 'fail' if c.passed is not none else '' }}">{{ 'pass' if c.passed else 'fail' if c.passed is not none else '' }}</td></tr>{% endfor %}
</table></body></html>
"""


@dataclass(frozen=True, eq=False)
class ReportFiles:
    """What :func:`write_report` wrote."""

    index: Path
    sample_ids: tuple[str, ...]
    files: tuple[Path, ...]


def _env() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.DictLoader({"index.html": _INDEX, "sample.html": _SAMPLE}),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _preview_gif(catalog: Catalog, sid: str, frames: int, height: int) -> bytes | None:
    from sparkle_data.view.frames import has_artifact
    from sparkle_data.view.grid import gif_bytes, grid_frames

    if not any(has_artifact(catalog, sid, a) for a in ("source_video", "edited_video")):
        return None
    from sparkle_data.view.frames import video_info

    base = "source_video" if has_artifact(catalog, sid, "source_video") else "edited_video"
    native = video_info(catalog, sid, base).height
    grid = grid_frames(
        catalog,
        sid,
        num_frames=frames,
        height=min(height, native),
        columns=("source", "edited", "mask overlay"),
    )
    return gif_bytes(grid, step=1, duration_ms=125)


def _frame0_boxes(catalog: Catalog, sid: str) -> bytes | None:
    from sparkle_data.view.frames import has_artifact, read_image
    from sparkle_data.view.grounding import GroundingLookup

    if not has_artifact(catalog, sid, "source_frame0"):
        return None
    image = read_image(catalog, sid, "source_frame0")
    r1 = GroundingLookup(catalog).round1(sid)
    if r1 is None:
        return render.png_bytes(image)
    from sparkle_data.readers.grounding import boxes_array

    arr = boxes_array(r1, image.shape[1], image.shape[0])
    boxes = [
        tuple(int(v) for v in arr.boxes[j]) if arr.valid[j] else None
        for j in range(len(arr.labels))
    ]
    return render.png_bytes(render.draw_boxes(image, boxes, arr.labels))  # type: ignore[arg-type]


def _count_plots(catalog: Catalog, ids: Sequence[str], out: Path) -> list[tuple[str, str]]:
    """Frame counts (every corpus row when probed, else the sampled clips) and label counts."""
    from matplotlib.figure import Figure

    from sparkle_data.view.frames import has_artifact, video_info

    table = catalog.table
    plots: list[tuple[str, str]] = []
    counts: dict[str, list[Any]]
    if "num_frames" in table.columns:
        counts = {
            et: table.loc[(table["edit_type"] == et) & table["in_corpus"], "num_frames"]
            .dropna()
            .tolist()
            for et in EDIT_TYPES
        }
        what = "frames per clip (corpus, probed)"
    else:
        counts = {}
        for sid in ids:
            if has_artifact(catalog, sid, "source_video"):
                et = str(table.at[sid, "edit_type"])
                counts.setdefault(et, []).append(
                    video_info(catalog, sid, "source_video").num_frames
                )
        what = f"frames per clip (the {len(ids)} sampled clips)"
    labels = {
        et: table.loc[table["edit_type"] == et, "grounding_num_labels"].dropna().tolist()
        for et in EDIT_TYPES
        if "grounding_num_labels" in table.columns
    }
    for name, title, data in (
        ("frame_counts.png", what, counts),
        ("label_counts.png", "grounding labels per sample (round 2)", labels),
    ):
        data = {k: v for k, v in data.items() if v}
        if not data:
            continue
        fig = Figure(figsize=(6.4, 3.2), dpi=100, layout="constrained")
        ax = fig.add_subplot()
        ax.hist(list(data.values()), bins=20, label=list(data.keys()), stacked=True)
        ax.set_title(title)
        ax.legend(fontsize=8)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
        atomic_write_bytes(out / name, buf.getvalue())
        plots.append((title, f"stats/{name}"))
    return plots


def write_report(
    catalog: Catalog,
    out_dir: str | os.PathLike[str],
    *,
    per_theme: int = 4,
    where: Filter | None = None,
    seed: int = 0,
    preset: ScorePreset | None = None,
    preview_frames: int = 16,
    preview_height: int = 120,
    progress: bool = False,
) -> ReportFiles:
    """Write ``out_dir/index.html``, ``samples/{id}.html``, ``media/`` and ``stats/``.

    ``where`` filters the corpus before sampling ``per_theme`` ids per edit type. Raises
    :class:`LookupError` when the filter leaves no sample.
    """
    from tqdm.auto import tqdm

    from sparkle_data.errors import MissingArtifactError
    from sparkle_data.filters import PAPER, subset_ids, write_stats

    if per_theme < 1:
        raise ValueError(f"Invalid per_theme {per_theme!r}: must be >= 1.")
    preset = preset or PAPER
    out = Path(out_dir)
    ids = subset_ids(catalog, where, seed=seed, limit_per_theme=per_theme)
    if not ids:
        raise MissingArtifactError.invalid(
            "filter", where.describe() if where else "corpus", rule="selects no sample",
            path=catalog.root,
        )  # fmt: skip
    all_ids = subset_ids(catalog, where, seed=seed)
    table = catalog.table
    written: list[Path] = []
    cards: dict[str, list[dict[str, Any]]] = {}
    env = _env()
    for sid in tqdm(ids, disable=not progress, unit="sample", desc="report"):
        info: SampleInfo = sample_info(table, sid, preset)
        gif = _preview_gif(catalog, sid, preview_frames, preview_height)
        preview = f"media/{sid}.gif"
        if gif is None:
            from sparkle_data.view.media import placeholder_png

            gif, preview = placeholder_png(), f"media/{sid}.png"
        atomic_write_bytes(out / preview, gif)
        written.append(out / preview)
        frame0 = None
        png = _frame0_boxes(catalog, sid)
        if png is not None:
            frame0 = f"media/{sid}_frame0.png"
            atomic_write_bytes(out / frame0, png)
            written.append(out / frame0)
        page = env.get_template("sample.html").render(
            s=info, preview=f"../{preview}", frame0=f"../{frame0}" if frame0 else None
        )
        atomic_write_text(out / "samples" / f"{sid}.html", page)
        written.append(out / "samples" / f"{sid}.html")
        cards.setdefault(info.edit_type, []).append({"info": info, "preview": preview})
    stats = write_stats(catalog, out / "stats")
    written.extend(stats.paths)
    plots = [
        (p.stem.replace("_", " "), f"stats/{p.name}") for p in stats.paths if p.suffix == ".png"
    ]
    plots += _count_plots(catalog, ids, out / "stats")
    written.extend(out / p for _, p in plots if (out / p) not in written)
    counts = {et: sum(1 for i in all_ids if str(table.at[i, "edit_type"]) == et) for et in cards}
    index = env.get_template("index.html").render(
        root=catalog.root,
        n_corpus=int(table["in_corpus"].sum()),
        n_rejected=int((table["status"] == "rejected").sum()),
        where=where.describe() if where else "corpus",
        per_theme=per_theme,
        seed=seed,
        preset=preset.describe(),
        themes=[(et, cards[et]) for et in EDIT_TYPES if et in cards],
        counts=counts,
        plots=plots,
        tables=[f"stats/{p.name}" for p in stats.paths if p.suffix in (".csv", ".json")],
    )
    atomic_write_text(out / "index.html", index)
    written.append(out / "index.html")
    return ReportFiles(out / "index.html", ids, tuple(written))
