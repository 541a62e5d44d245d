"""The viewer's routes over HTTP (a real client against a loopback uvicorn): Range requests
byte-exact against the tar member bytes, 404/400 pages, escaping, the VP9 fallback."""

from __future__ import annotations

import csv
import io
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from sparkle_data.errors import RangeNotSatisfiableError
from sparkle_data.io.byteranges import ByteRange, parse_range
from sparkle_data.layout import edit_type_of
from sparkle_data.testing import SampleTreeSummary
from sparkle_data.view.cache import ByteCache

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


# ----------------------------------------------------------------------------- ranges (pure)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-", (0, 99)),
        ("bytes=10-19", (10, 19)),
        ("bytes=90-500", (90, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=99-99", (99, 99)),
        ("bytes=0-1,5-6", None),  # multi-range: the whole body
        ("items=0-5", None),
        ("bytes=5-2", None),  # invalid: ignored
        ("bytes=-", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    got = parse_range(header, 100)
    assert (None if got is None else (got.start, got.end)) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=-0"])
def test_unsatisfiable_range(header: str) -> None:
    with pytest.raises(RangeNotSatisfiableError) as e:
        parse_range(header, 100)
    assert e.value.size == 100


def test_byte_range_checks() -> None:
    assert ByteRange(0, 9, 10).content_range == "bytes 0-9/10"
    with pytest.raises(ValueError, match="ByteRange"):
        ByteRange(5, 4, 10)


def test_byte_cache_bounds_and_makes_once() -> None:
    cache = ByteCache(max_bytes=10)
    calls: list[str] = []

    def make(v: bytes) -> Any:
        return lambda: calls.append("x") or v

    assert cache.get_or_make("a", make(b"12345")) == b"12345"
    assert cache.get_or_make("a", make(b"zzz")) == b"12345"
    cache.put("b", b"123456")  # over the budget: "a" goes
    assert cache.get("a") is None
    assert cache.get("b") == b"123456"
    assert len(calls) == 1
    assert cache.hits == 1


# ----------------------------------------------------------------------------- the app


def _evil_tree(src: Path, dst: Path) -> tuple[Path, str]:
    root = dst / "Sparkle"
    shutil.copytree(src, root)
    path = root / "prompts" / "location_train.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    rows[1][0] = EVIL
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return root, rows[1][3]


@pytest.fixture(scope="module")
def served(
    sample_tree: SampleTreeSummary, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    from sparkle_data.catalog import build_catalog
    from sparkle_data.view import create_app, serve_in_thread

    root, evil_id = _evil_tree(sample_tree.root, tmp_path_factory.mktemp("view"))
    catalog = build_catalog(root, cache=False)
    with serve_in_thread(create_app(catalog)) as url, httpx.Client(base_url=url) as client:
        yield {"catalog": catalog, "client": client, "root": root, "evil_id": evil_id}


def _member_bytes(root: Path, catalog: Any, sid: str, artifact: str) -> bytes:
    """The member's bytes read with tarfile (independently of the catalog's index)."""
    loc = catalog.locate(sid, artifact)
    if loc.kind == "file":
        return (root / loc.path).read_bytes()
    with tarfile.open(root / loc.path) as tar:
        name = f"{edit_type_of(sid)}/{artifact}/{sid}.mp4"
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


def _shard_only(catalog: Any) -> str:
    t = catalog.corpus()
    return str(sorted(t[t["source_video_file"].isna() & t["source_video_shard"].notna()].index)[0])


@pytest.mark.network
@pytest.mark.parametrize("where", ["shard", "file"])
def test_ranges_are_byte_exact(served: dict[str, Any], where: str) -> None:
    catalog, client = served["catalog"], served["client"]
    t = catalog.corpus()
    sid = (
        _shard_only(catalog)
        if where == "shard"
        else str(sorted(t[t["source_video_file"].notna()].index)[0])
    )
    assert catalog.locate(sid, "source_video").kind == where
    data = _member_bytes(served["root"], catalog, sid, "source_video")
    n = len(data)
    url = f"/media/{sid}/source_video"
    whole = client.get(url)
    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/mp4"
    for header, start, end in [
        ("bytes=0-0", 0, 0),
        ("bytes=100-1099", 100, 1099),
        (f"bytes={n - 7}-{n + 50}", n - 7, n - 1),
        ("bytes=-300", n - 300, n - 1),  # suffix
        (f"bytes={n // 2}-", n // 2, n - 1),  # open-ended
        (f"bytes=-{n + 10}", 0, n - 1),
    ]:
        r = client.get(url, headers={"Range": header})
        assert r.status_code == 206, header
        assert r.content == data[start : end + 1], header
        assert r.headers["content-range"] == f"bytes {start}-{end}/{n}"
        assert int(r.headers["content-length"]) == end - start + 1
    for header in (f"bytes={n}-", f"bytes={n + 5}-{n + 9}", "bytes=-0"):
        r = client.get(url, headers={"Range": header})
        assert r.status_code == 416, header
        assert r.headers["content-range"] == f"bytes */{n}"
    head = client.head(url, headers={"Range": "bytes=10-19"})
    assert head.status_code == 206
    assert head.headers["content-length"] == "10"


@pytest.mark.network
def test_webm_fallback_is_vp9_with_every_frame(served: dict[str, Any]) -> None:
    import av

    catalog, client = served["catalog"], served["client"]
    sid = _shard_only(catalog)
    r = client.get(f"/media/{sid}/edited_video.webm")
    assert r.status_code == 200
    assert r.headers["content-type"] == "video/webm"
    from sparkle_data.view.frames import video_info

    mp4 = video_info(catalog, sid, "edited_video")
    with av.open(io.BytesIO(r.content)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "vp9"
        frames = list(c.decode(s))
    assert len(frames) == mp4.num_frames
    assert frames[-1].time == pytest.approx((mp4.num_frames - 1) / float(mp4.fps))
    tail = client.get(f"/media/{sid}/edited_video.webm", headers={"Range": "bytes=-100"})
    assert tail.status_code == 206
    assert tail.content == r.content[-100:]


@pytest.mark.network
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/sample/Sparkle_time_999999", 404),
        ("/sample/Sparkle_nothing_000000", 404),
        ("/media/Sparkle_time_000000/not_an_artifact", 404),
        ("/media/Sparkle_time_999999/source_video", 404),
        ("/mask/Sparkle_time_000000/100000.png", 404),
        ("/thumb/Sparkle_time_999999.png", 404),
        ("/?sort=nope", 400),
        ("/?page=0", 400),
        ("/?page=999", 404),
        ("/?per_page=abc", 400),
        ("/?theme=winter", 400),
        ("/?status=maybe", 400),
        ("/?where=__import__('os').system('true')", 400),
        ("/?where=nonexistent_column >= 1", 400),
        ("/no/such/route", 404),
    ],
)
def test_bad_requests_are_pages_not_tracebacks(
    served: dict[str, Any], path: str, status: int
) -> None:
    r = served["client"].get(path)
    assert r.status_code == status
    assert "Traceback" not in r.text
    assert 'File "' not in r.text


@pytest.mark.network
def test_rejected_media_is_404_and_sample_page_works(served: dict[str, Any]) -> None:
    catalog, client = served["catalog"], served["client"]
    sid = str(sorted(catalog.rejected().index)[0])
    page = client.get(f"/sample/{sid}")
    assert page.status_code == 200
    assert "rejected at " in page.text
    assert client.get(f"/media/{sid}/source_video").status_code == 404
    thumb = client.get(f"/thumb/{sid}.png")
    assert thumb.status_code == 200
    assert thumb.content.startswith(b"\x89PNG")


@pytest.mark.network
def test_data_strings_are_escaped(served: dict[str, Any]) -> None:
    client, sid = served["client"], served["evil_id"]
    page = client.get(f"/sample/{sid}").text
    assert EVIL not in page
    assert "&lt;script&gt;alert(" in page
    gallery = client.get("/", params={"keyword": "<script>x</script>"}).text
    assert "<script>x</script>" not in gallery
    api = client.get(f"/api/sample/{sid}.json").json()
    assert api["prompt"] == EVIL


@pytest.mark.network
def test_gallery_filters_sort_and_pages(served: dict[str, Any]) -> None:
    from sparkle_data.filters import PAPER, field

    catalog, client = served["catalog"], served["client"]
    expected = sorted((PAPER & field("edit_type").isin(["time", "style"])).apply(catalog).ids)
    html = client.get("/", params={"theme": "time,style", "where": "paper"}).text
    assert _card_ids(html) == expected
    table = catalog.corpus()
    order = table.sort_values("video_mean_o_score", ascending=False, kind="stable").index[:3]
    html = client.get("/", params={"sort": "video_mean_o_score", "order": "desc", "per_page": "3"})
    assert _card_ids(html.text) == [str(i) for i in order]
    assert 'rel="next"' in html.text
    second = client.get("/", params={"per_page": "3", "page": "2"}).text
    assert _card_ids(second) == sorted(catalog.table.index)[3:6]


def _card_ids(html: str) -> list[str]:
    import re

    return re.findall(r'<li class="card" data-id="([^"]+)"', html)


@pytest.mark.network
def test_mask_and_thumb_are_cached_pngs(served: dict[str, Any]) -> None:
    from PIL import Image

    catalog, client = served["catalog"], served["client"]
    sid = _shard_only(catalog)
    first = client.get(f"/mask/{sid}/0.png")
    again = client.get(f"/mask/{sid}/0.png")
    assert first.content == again.content
    im = Image.open(io.BytesIO(first.content))
    assert im.mode == "RGBA"
    from sparkle_data.view.frames import read_mask_frames

    mask = read_mask_frames(catalog, sid, [0])[0]
    alpha = im.getchannel("A")
    assert alpha.size == (mask.shape[1], mask.shape[0])
    assert int((np.asarray(alpha) > 0).sum()) == int(mask.sum())
    thumb = client.get(f"/thumb/{sid}.png")
    assert Image.open(io.BytesIO(thumb.content)).size[1] == 108


def test_is_loopback() -> None:
    from sparkle_data.view.server import is_loopback

    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert is_loopback(host)
    for host in ("0.0.0.0", "192.168.1.2", "example.org"):  # noqa: S104
        assert not is_loopback(host)


@pytest.mark.network
def test_https_root_reads_only_the_members_on_screen(
    sample_tree: SampleTreeSummary,
) -> None:
    """Over HTTP the viewer fetches a sample's members by ranged reads, never whole shards."""
    from sparkle_data.catalog import build_catalog
    from sparkle_data.testing import serve_directory
    from sparkle_data.view import create_app, serve_in_thread

    with serve_directory(sample_tree.root) as remote:
        catalog = build_catalog(remote.base_url, edit_types=["time"], cache=False)
        sid = _shard_only(catalog)
        loc = catalog.locate(sid, "source_video")
        data = _member_bytes(sample_tree.root, catalog, sid, "source_video")
        before = len(remote.requests)
        with serve_in_thread(create_app(catalog)) as url, httpx.Client(base_url=url) as c:
            r = c.get(f"/media/{sid}/source_video", headers={"Range": "bytes=-64"})
            assert r.status_code == 206
            assert r.content == data[-64:]
            assert c.get(f"/sample/{sid}").status_code == 200
        fetched = remote.requests[before:]
        assert fetched
        shard_gets = [q for q in fetched if q.method == "GET" and q.path.endswith(loc.path)]
        assert shard_gets
        assert all(q.range is not None for q in shard_gets), shard_gets
        assert all(q.path.endswith(".tar") or q.path.endswith(".jsonl") for q in fetched)
