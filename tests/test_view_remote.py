"""The viewer over an ``hf://`` root (the loopback fake Hub): pages render, video bytes are
byte-exact against the local tree, and only the members of the samples on screen are fetched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sparkle_data.testing import SampleTreeSummary

pytestmark = pytest.mark.network

REPO = "stdKonjac/Sparkle"


@pytest.fixture(scope="module")
def remote_view(sample_tree: SampleTreeSummary) -> Iterator[dict[str, Any]]:
    from sparkle_data.catalog import build_catalog
    from sparkle_data.testing.hub import FakeHub, serve_fake_hub
    from sparkle_data.view import create_app, serve_in_thread

    hub = FakeHub.from_directory(sample_tree.root, repo_id=REPO)
    local = build_catalog(sample_tree.root, cache=False)
    with serve_fake_hub(hub):
        catalog = build_catalog(f"hf://datasets/{REPO}", cache=False)
        with serve_in_thread(create_app(catalog)) as url, httpx.Client(base_url=url) as client:
            yield {"hub": hub, "catalog": catalog, "local": local, "client": client}


def _resolved_files(hub: Any) -> set[str]:
    return {r.file for r in hub.requests_of("resolve") if r.method == "GET" and r.file}


def test_gallery_and_sample_page_over_hf(remote_view: dict[str, Any]) -> None:
    client, catalog, local = remote_view["client"], remote_view["catalog"], remote_view["local"]
    assert sorted(catalog.corpus().index) == sorted(local.corpus().index)
    home = client.get("/")
    assert home.status_code == 200
    sid = str(sorted(catalog.corpus().index)[0])
    assert sid in home.text
    page = client.get(f"/sample/{sid}")
    assert page.status_code == 200
    assert f"/media/{sid}/source_video" in page.text


def test_video_bytes_over_hf_equal_local_and_fetch_only_that_member(
    remote_view: dict[str, Any], tmp_path: Path
) -> None:
    hub, client, catalog = remote_view["hub"], remote_view["client"], remote_view["catalog"]
    local = remote_view["local"]
    t = catalog.corpus()
    shard_ids = sorted(t[t["source_video_shard"].notna()].index)
    assert shard_ids, "the sample tree has shard members"
    sid = str(shard_ids[0])
    with local.open(sid, "source_video") as f:
        expected = f.read()
    hub.reset()
    whole = client.get(f"/media/{sid}/source_video")
    assert whole.status_code == 200
    assert whole.content == expected
    part = client.get(f"/media/{sid}/source_video", headers={"Range": "bytes=10-99"})
    assert part.status_code == 206
    assert part.content == expected[10:100]
    # Only the shard holding this sample's source video was read, by byte ranges
    # (never the whole shard), and no other artifact's shard.
    loc = catalog.locate(sid, "source_video")
    files = _resolved_files(hub)
    assert files == {loc.path}, files
    gets = [r for r in hub.requests_of("resolve") if r.method == "GET"]
    assert gets
    assert all(r.range for r in gets)
