"""``report`` (a static folder: links resolve, images open, deterministic for a seed),
``grid`` (PNG / GIF / MP4) and the three commands' CLI."""

from __future__ import annotations

import csv
import hashlib
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import pytest
from PIL import Image

from sparkle_data.cli import main
from sparkle_data.layout import edit_type_of
from sparkle_data.testing import SampleTreeSummary

EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def tree(sample_tree: SampleTreeSummary, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session tree whose first ``style`` prompt holds a script tag."""
    root = tmp_path_factory.mktemp("view") / "Sparkle"
    shutil.copytree(sample_tree.root, root)
    path = root / "prompts" / "style_train.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    for row in rows[1:]:
        row[0] = EVIL + row[0]
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return root


@pytest.fixture(scope="module")
def catalog(tree: Path) -> Any:
    from sparkle_data.catalog import build_catalog

    return build_catalog(tree, cache=False)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        d = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if d.get("id"):
            self.ids.add(str(d["id"]))
        for key in ("href", "src"):
            if d.get(key):
                self.links.append(str(d[key]))


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_report_links_resolve_images_open_and_is_deterministic(
    catalog: Any, tmp_path: Path
) -> None:
    from sparkle_data.view.report import write_report

    files = write_report(catalog, tmp_path / "a", per_theme=1, seed=3)
    out = tmp_path / "a"
    assert files.index == out / "index.html"
    themes = [edit_type_of(sid) for sid in files.sample_ids]
    assert sorted(themes) == sorted(set(themes))  # one per theme
    assert len(themes) == 5
    pages = sorted(out.rglob("*.html"))
    assert len(pages) == 1 + len(files.sample_ids)
    parsed = {p: _parse(p) for p in pages}
    linked: set[Path] = set()
    for page, p in parsed.items():
        assert p.scripts == 0  # static: no script, and the data's <script> is text
        for link in p.links:
            parts = urlsplit(link)
            assert not parts.scheme, link  # nothing remote
            target = (page.parent / parts.path).resolve() if parts.path else page
            assert target.is_file(), f"{page.name}: {link}"
            linked.add(target)
            if parts.fragment:
                assert parts.fragment in parsed[target].ids, link
    images = [p for p in out.rglob("*") if p.suffix in (".png", ".gif")]
    assert {"funnel.png", "frame_counts.png", "label_counts.png"} <= {p.name for p in images}
    assert any(p.name.startswith("hist_") for p in images)
    for image in images:
        with Image.open(image) as im:
            im.verify()
        assert image.resolve() in linked, image
    style = next(s for s in files.sample_ids if "_style_" in s)
    text = (out / "samples" / f"{style}.html").read_text(encoding="utf-8")
    assert EVIL not in text
    assert "&lt;script&gt;" in text
    # the same seed gives the same bytes; another seed may pick other ids
    again = write_report(catalog, tmp_path / "b", per_theme=1, seed=3)
    assert again.sample_ids == files.sample_ids
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_report_of_nothing_fails(tree: Path, tmp_path: Path, capsys: Any) -> None:
    code = main(["report", str(tree), "--out", str(tmp_path / "r"), "-q", "--where",
                 "video_mean_o_score > 100"])  # fmt: skip
    assert code == 1
    assert "selects no sample" in capsys.readouterr().err
    assert not (tmp_path / "r" / "index.html").exists()


def _full_sample(catalog: Any) -> str:
    t = catalog.corpus()
    return str(sorted(t[t["edited_video_canny_shard"].notna()].index)[0])


def test_grid_png_gif_mp4(catalog: Any, tree: Path, tmp_path: Path) -> None:
    from sparkle_data.view.frames import video_info

    sid = _full_sample(catalog)
    n = video_info(catalog, sid, "source_video").num_frames
    assert main(["grid", str(tree), sid, "--out", str(tmp_path / "g.png"), "--height", "54"]) == 0
    with Image.open(tmp_path / "g.png") as im:
        w, h = im.size
    # 4 columns of 96 px + 3 gaps; a 16 px header + 4 rows of 54 px + 4 gaps
    assert (w, h) == (4 * 96 + 3 * 4, 16 + 4 * (54 + 4))
    assert main(["grid", str(tree), sid, "--out", str(tmp_path / "g2.png"), "--height", "54"]) == 0
    assert (tmp_path / "g.png").read_bytes() == (tmp_path / "g2.png").read_bytes()
    assert main(["grid", str(tree), sid, "--out", str(tmp_path / "g.gif"), "--step", "4"]) == 0
    with Image.open(tmp_path / "g.gif") as im:
        assert im.n_frames == len(range(0, n, 4))
    out = tmp_path / "g.mp4"
    assert main(["grid", str(tree), sid, "--out", str(out), "--columns", "source", "edited"]) == 0
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264"
        assert sum(1 for _ in c.decode(s)) == n
        assert s.codec_context.width == 2 * 96 + 4


def test_grid_errors(catalog: Any, tree: Path, tmp_path: Path, capsys: Any) -> None:
    from sparkle_data.errors import MissingArtifactError
    from sparkle_data.view.grid import write_grid

    rejected = str(sorted(catalog.rejected().index)[0])
    with pytest.raises(MissingArtifactError, match="neither a source nor an edited video"):
        write_grid(catalog, rejected, tmp_path / "x.png")
    with pytest.raises(ValueError, match="must end in one of"):
        write_grid(catalog, _full_sample(catalog), tmp_path / "x.jpg")
    with pytest.raises(IndexError):
        write_grid(catalog, _full_sample(catalog), tmp_path / "x.png", frames=[10_000])
    assert main(["grid", str(tree), rejected, "--out", str(tmp_path / "y.png")]) == 1
    assert "neither a source" in capsys.readouterr().err


def test_view_cli_binds_loopback_and_warns_elsewhere(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    assert main(["view", str(tree), "-q", "--preset", "paper", "--port", "9999"]) == 0
    assert calls[-1]["host"] == "127.0.0.1"
    assert calls[-1]["port"] == 9999
    state = calls[-1]["app"].state.viewer
    assert set(state.table.index) == set(catalog_ids(state.catalog))
    assert "warning" not in capsys.readouterr().err
    assert main(["view", str(tree), "-q", "--host", "0.0.0.0"]) == 0  # noqa: S104
    assert calls[-1]["host"] == "0.0.0.0"  # noqa: S104
    assert "warning: binding 0.0.0.0" in capsys.readouterr().err


def catalog_ids(catalog: Any) -> list[str]:
    from sparkle_data.filters import PAPER

    return list(PAPER.apply(catalog).ids)


def test_help_teaches(capsys: Any) -> None:
    from sparkle_data.cli.grid import COLUMNS as CLI_COLUMNS
    from sparkle_data.view.grid import COLUMNS

    assert CLI_COLUMNS == COLUMNS
    for command in ("view", "report", "grid"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "examples:" in capsys.readouterr().out
