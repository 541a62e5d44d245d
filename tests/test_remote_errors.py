"""Remote errors name sample, field, member and URL; survive pickling and the DataLoader; the
retry policy reaches every front end; the shared fault mechanism of the loopback servers."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from sparkle_data.catalog import Catalog, build_catalog
from sparkle_data.cli import main
from sparkle_data.errors import RemoteError
from sparkle_data.io.remote import RetryPolicy, read_range
from sparkle_data.testing.faults import FaultInjector, Faults
from sparkle_data.testing.http import serve_directory
from sparkle_data.testing.hub import FakeHub, HubFaults, serve_fake_hub

pytestmark = [
    pytest.mark.network,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]
FAST = RetryPolicy(retries=1, backoff=0.0, timeout=2.0)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "sparkle-cache"))


def _shard_sample(catalog: Catalog) -> str:
    return next(
        str(s)
        for s in catalog.corpus().index
        if catalog.locate(str(s), "source_video").kind == "shard"
    )


def test_remote_error_names_sample_field_member_and_url(sample_tree_copy: Path) -> None:
    for loose in sample_tree_copy.glob("*/source_video"):
        for f in loose.iterdir():
            f.unlink()  # every source video from its shard
    with serve_directory(sample_tree_copy) as server:
        catalog = build_catalog(
            server.url(), edit_types=["location"], artifacts=("source_video",), retry=FAST
        )
        assert catalog.policy == FAST
        sid = _shard_sample(catalog)
        server.faults = Faults(fail_first=-1)
        with pytest.raises(RemoteError) as info:
            catalog.read_bytes(sid, "source_video")
        err = info.value
        assert err.sample_id == sid
        assert err.field == "source_video"
        assert err.member == f"location/source_video/{sid}.mp4"
        assert err.url is not None
        assert err.url.startswith(server.base_url)
        assert err.attempts == 2  # retries=1
        text = str(err)
        assert sid in text
        assert "source_video" in text
        assert err.url in text
        assert "_HTTP" not in text
        assert "._" not in text
        with pytest.raises(RemoteError) as opened:
            catalog.open(sid, "source_video").read()
        assert opened.value.sample_id is not None or opened.value.url is not None
        back = copy.deepcopy(err)  # through __reduce__, as pickling does
        assert (back.sample_id, back.field, back.member, back.url, back.offset, back.attempts) == (
            err.sample_id,
            err.field,
            err.member,
            err.url,
            err.offset,
            err.attempts,
        )


def test_remote_error_attributes_survive_the_dataloader(sample_tree_copy: Path) -> None:
    torch = pytest.importorskip("torch")
    from sparkle_data.dataset import SparkleDataset

    for loose in sample_tree_copy.glob("*/source_video"):
        for f in loose.iterdir():
            f.unlink()
    with serve_directory(sample_tree_copy) as server:
        ds = SparkleDataset(
            server.url(), fields=["source_video"], edit_types=["location"], retry=FAST
        )
        assert ds.catalog.policy == FAST
        assert {s.artifact for s in ds.catalog.inventory.shards.values()} == {"source_video"}
        server.faults = Faults(fail_first=-1)
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=1)
        with pytest.raises(RemoteError) as info:
            next(iter(loader))
    err = info.value
    assert err.sample_id is not None
    assert err.sample_id.startswith("Sparkle_location_")
    assert err.field == "source_video"
    assert err.url is not None
    assert err.url.startswith("http://127.0.0.1")
    assert err.attempts == 2
    assert err.offset is not None


def test_a_stalled_server_costs_the_timeout_not_30_s(tmp_path: Path) -> None:
    data = bytes(range(256)) * 64
    (tmp_path / "blob.bin").write_bytes(data)
    with serve_directory(tmp_path, faults=Faults(stall=3.0, stall_first=1)) as server:
        policy = RetryPolicy(retries=2, backoff=0.0, timeout=0.3)
        got = read_range(
            server.url("blob.bin"), 10, 100, retries=policy.retries, timeout=policy.timeout
        )
        assert got == data[10:110]
        assert server.count("GET") == 2  # the stalled one timed out, then a good one


def test_one_fault_mechanism_for_both_servers(sample_tree_copy: Path) -> None:
    assert issubclass(HubFaults, Faults)
    injector = FaultInjector(Faults(fail_first=2, kinds=("resolve",)))
    assert injector.before("tree", "x") is None
    assert [injector.before("resolve", "x") for _ in range(3)] == [503, 503, None]
    shard = sorted(sample_tree_copy.glob("*.tar"))[0]
    hub = FakeHub.from_directory(sample_tree_copy, "stdKonjac/Sparkle", redirect_lfs=True)
    with serve_fake_hub(hub):
        url = f"hf://datasets/stdKonjac/Sparkle/{shard.name}"
        hub.faults = HubFaults(flip_first=1, flip_at=3, kinds=("cdn",), latency=0.01)
        got = read_range(url, 0, 600)
        assert got != shard.read_bytes()[:600]  # the bit flipped on the way from the CDN
        assert got[3] ^ shard.read_bytes()[3] == 1
        assert read_range(url, 0, 600) == shard.read_bytes()[:600]  # only the first
        hub.reset(HubFaults(drop_after=100, drop_first=1))
        assert read_range(url, 0, 600) == shard.read_bytes()[:600]  # cut body resumed


def test_cli_accepts_the_retry_policy(
    sample_tree_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_directory(sample_tree_copy) as server:
        assert main(["info", server.url(), "--retries", "1", "--timeout", "5"]) == 0
    capsys.readouterr()
    assert main(["info", str(sample_tree_copy), "--timeout", "0"]) == 2
    assert "timeout" in capsys.readouterr().err.lower()


def test_remote_error_recovers_what_a_rebuilt_message_carries() -> None:
    text = RemoteError.describe(
        "http://h/x.tar", 512, 3, "TimeoutError: timed out", sample_id="S", field="f", member="m"
    )
    rebuilt = RemoteError(f"Caught RemoteError in DataLoader worker process 0.\n...\n{text}")
    assert (rebuilt.url, rebuilt.offset, rebuilt.attempts) == ("http://h/x.tar", 512, 3)
    assert (rebuilt.sample_id, rebuilt.field, rebuilt.member) == ("S", "f", "m")
    budget = RemoteError(f"{text} (skip budget exhausted)", sample_id="S", path="p")
    assert budget.url == "http://h/x.tar"
    assert budget.path == "p"
    plain = RemoteError("boom", url="http://x", offset=5, attempts=3)
    assert (plain.url, plain.offset, plain.attempts, plain.field) == ("http://x", 5, 3, None)
