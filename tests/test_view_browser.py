"""The viewer in headless Chromium (Debian's, driven by Playwright): what a user sees.

Skipped only on a developer machine without Chromium; in CI (``CI`` set) a missing browser
fails. Screenshots go to ``$SPARKLE_TEST_ARTIFACTS`` (or a temporary folder).
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sparkle_data.testing import SampleTreeSummary

pytestmark = pytest.mark.network

EVIL = 'Evil <script>window.__xss = 1</script><b id="bold">bold</b> & "quoted"'
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _need_browser() -> Any:
    missing = None
    if CHROMIUM is None:
        missing = "chromium is not installed (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright is not installed (pip install playwright)"
        sync_playwright = None
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {missing}")
        pytest.skip(missing)
    return sync_playwright


def _evil_tree(src: Path, dst: Path) -> tuple[Path, str]:
    """A copy of ``src`` whose first ``time`` prompt holds HTML and a script."""
    root = dst / "Sparkle"
    shutil.copytree(src, root)
    csv_path = root / "prompts" / "time_train.csv"
    with csv_path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    rows[1][0] = EVIL
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return root, rows[1][3]


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("SPARKLE_TEST_ARTIFACTS")
    if where:
        path = Path(where) / "view"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def viewer(
    sample_tree: SampleTreeSummary, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    from sparkle_data.catalog import build_catalog
    from sparkle_data.view import create_app, serve_in_thread

    root, evil_id = _evil_tree(sample_tree.root, tmp_path_factory.mktemp("view"))
    catalog = build_catalog(root, cache=False)
    with (
        serve_in_thread(create_app(catalog)) as url,
        serve_in_thread(create_app(catalog, video_format="webm")) as webm_url,
    ):
        yield {"catalog": catalog, "url": url, "webm_url": webm_url, "evil_id": evil_id}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_playwright = _need_browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    yield pg
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def _first_full_sample(catalog: Any) -> str:
    corpus = catalog.corpus()
    full = corpus[
        corpus["source_video_mask_file"].notna() | corpus["source_video_mask_shard"].notna()
    ]
    return str(sorted(full[full["in_foreground_grounding_r2"]].index)[0])


def test_gallery_shows_the_ids_of_a_filter(viewer: dict[str, Any], page: Any, shots: Path) -> None:
    from sparkle_data.filters import PAPER, field

    expected = sorted((PAPER & field("edit_type").isin(["time"])).apply(viewer["catalog"]).ids)
    assert expected
    response = page.goto(f"{viewer['url']}/?theme=time&where=paper")
    assert response.status == 200
    ids = page.eval_on_selector_all(".card", "cs => cs.map(c => c.dataset.id)")
    assert ids == expected
    assert page.inner_text("#count").startswith(f"{len(expected)} sample")
    # thumbnails are real images
    page.wait_for_function(
        "() => [...document.querySelectorAll('.card img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    page.screenshot(path=str(shots / "gallery_time_paper.png"), full_page=True)
    # the status filter shows badges of rejected ids
    page.goto(f"{viewer['url']}/?status=rejected")
    badges = page.eval_on_selector_all(".card .badge", "bs => bs.map(b => b.textContent)")
    assert badges
    assert all(b.startswith("rejected at ") for b in badges)


def _wait_ready(page: Any) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('video')].every(v => v.readyState >= 2)",
        timeout=30_000,
    )


def _seek(page: Any, frame: int) -> None:
    page.evaluate(
        """f => { const s = document.getElementById('seek'); s.value = String(f);
                 s.dispatchEvent(new Event('input')); }""",
        frame,
    )
    page.wait_for_function(
        """f => { const vs = [...document.querySelectorAll('video')];
                 const o = document.getElementById('overlay');
                 return vs.every(v => !v.seeking && v.readyState >= 2
                                  && Math.abs(v.currentTime - (f + 0.5) / 16) < 0.02)
                        && o.dataset.frame === String(f) && o.dataset.maskDrawn === '1'; }""",
        arg=frame,
        timeout=30_000,
    )


def _overlay_pixels(page: Any, canvas: str) -> int:
    return int(
        page.evaluate(
            """id => { const c = document.getElementById(id);
                      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                      let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; }
                      return n; }""",
            canvas,
        )
    )


@pytest.mark.parametrize("server", ["url", "webm_url"])
def test_sample_page_plays_seeks_and_draws(
    viewer: dict[str, Any], page: Any, shots: Path, server: str
) -> None:
    sid = _first_full_sample(viewer["catalog"])
    response = page.goto(f"{viewer[server]}/sample/{sid}")
    assert response.status == 200
    _wait_ready(page)
    sources = page.eval_on_selector_all("video", "vs => vs.map(v => v.currentSrc)")
    assert len(sources) == 4  # source, edited, background, canny
    if server == "webm_url":
        assert all(s.endswith(".webm") for s in sources)
    _seek(page, 16)  # a 2-FPS grounding frame: round-2 boxes of frame 16
    overlay = page.eval_on_selector("#overlay", "o => ({...o.dataset})")
    assert overlay["boxFrame"] == "16"
    assert int(overlay["boxes"]) > 0
    assert _overlay_pixels(page, "overlay") > 0
    # the mask toggle clears the mask, the boxes stay
    page.uncheck("#mask-on")
    assert page.eval_on_selector("#overlay", "o => o.dataset.maskDrawn") == "0"
    page.check("#mask-on")
    page.wait_for_function("() => document.getElementById('overlay').dataset.maskDrawn === '1'")
    # round-1 boxes on frame 0
    page.wait_for_function("() => Number(document.getElementById('r1-overlay').dataset.boxes) > 0")
    assert _overlay_pixels(page, "r1-overlay") > 0
    # played in sync: every video at the same time after play/pause
    page.click("#play")
    page.wait_for_function(
        "() => document.getElementById('source_video').currentTime > 1.6", timeout=30_000
    )
    page.click("#play")
    page.wait_for_function(
        """() => { const vs = [...document.querySelectorAll('video')];
                  const t = vs[0].currentTime;
                  return vs.every(v => v.paused && !v.seeking
                                   && Math.abs(v.currentTime - t) < 0.07); }""",
        timeout=30_000,
    )
    _seek(page, 40)
    page.screenshot(path=str(shots / f"sample_{server}.png"), full_page=True)


def test_prompt_with_script_is_text(viewer: dict[str, Any], page: Any, shots: Path) -> None:
    page.goto(f"{viewer['url']}/sample/{viewer['evil_id']}")
    assert page.inner_text("#prompt") == EVIL
    assert page.evaluate("() => window.__xss") is None
    assert page.query_selector("#bold") is None
    page.screenshot(path=str(shots / "sample_escaped_prompt.png"))
    page.goto(f"{viewer['url']}/?keyword=%3Cscript%3E")  # a query value is escaped too
    assert page.evaluate("() => window.__xss") is None


@pytest.mark.parametrize(
    "path",
    ["/sample/Sparkle_time_999999", "/sample/not-an-id", "/sample/%3Cscript%3Ex", "/nowhere"],
)
def test_bad_id_is_a_404_page(viewer: dict[str, Any], page: Any, shots: Path, path: str) -> None:
    response = page.goto(f"{viewer['url']}{path}")
    assert response.status == 404
    assert page.inner_text("#error-status").startswith("404")
    assert "Traceback" not in page.content()
    if path.endswith("999999"):
        page.screenshot(path=str(shots / "not_found.png"))


def test_bad_query_is_a_400_page(viewer: dict[str, Any], page: Any) -> None:
    response = page.goto(f"{viewer['url']}/?where=__import__('os')")
    assert response.status == 400
    assert page.inner_text("#error-status").startswith("400")
