"""The loopback fake Hub, driven by the real ``huggingface_hub`` client and by our own layers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sparkle_data.testing import SampleTreeSummary
from sparkle_data.testing.hub import FakeHub, HubFaults, serve_fake_hub

pytestmark = [
    pytest.mark.network,
    # huggingface_hub's LFS upload passes a file object as `data=`; httpx2 deprecates that
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

REPO = "stdKonjac/Sparkle"
SHARD = "location_source_video_part00.tar"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324


def local_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def sparkle_hub(sample_tree: SampleTreeSummary) -> Iterator[FakeHub]:
    """The session's synthetic tree published as ``datasets/stdKonjac/Sparkle`` (one commit)."""
    with serve_fake_hub(FakeHub.from_directory(sample_tree.root, REPO)) as hub:
        yield hub


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    """An empty served hub."""
    with serve_fake_hub() as hub:
        yield hub


# ---------------------------------------------------------------------- reading, HfFileSystem


def test_ls_lists_the_tree_with_lfs_sha256(
    sparkle_hub: FakeHub, sample_tree: SampleTreeSummary
) -> None:
    from huggingface_hub import HfFileSystem

    root = sample_tree.root
    listing = HfFileSystem().ls(f"datasets/{REPO}", detail=True)
    by_name = {str(e["name"]).rsplit("/", 1)[-1]: e for e in listing}
    assert set(by_name) == {p.name for p in root.iterdir()}
    shard = by_name[SHARD]
    data = (root / SHARD).read_bytes()
    assert shard["type"] == "file"
    assert shard["size"] == len(data)
    assert shard["lfs"]["sha256"] == sha256(data)
    assert shard["lfs"]["size"] == len(data)
    readme = by_name["README.md"]
    assert readme["lfs"] is None
    assert readme["blob_id"] == git_blob_id((root / "README.md").read_bytes())
    assert readme["xet_hash"] is None  # never advertised: the client must not try Xet
    assert by_name["prompts"]["type"] == "directory"
    assert sparkle_hub.count("resolve") == 0


def test_open_reads_whole_file_and_ranges(
    sparkle_hub: FakeHub, sample_tree: SampleTreeSummary
) -> None:
    from huggingface_hub import HfFileSystem

    data = (sample_tree.root / SHARD).read_bytes()
    fs = HfFileSystem()
    assert fs.open(f"datasets/{REPO}@main/{SHARD}").read() == data
    sparkle_hub.reset()
    with fs.open(f"datasets/{REPO}@main/{SHARD}", block_size=512) as f:
        f.seek(5000)
        assert f.read(100) == data[5000:5100]
        f.seek(-10, os.SEEK_END)
        assert f.read() == data[-10:]
    ranged = [r for r in sparkle_hub.requests_of("resolve") if r.range]
    assert ranged
    assert str(ranged[0].range).startswith("bytes=5000-")  # fsspec reads ahead
    assert {r.status for r in ranged} == {206}
    assert ranged[0].revision == "main"
    assert ranged[0].file == SHARD


def test_hf_hub_download_matches_lfs_oid(
    sparkle_hub: FakeHub, sample_tree: SampleTreeSummary, tmp_path: Path
) -> None:
    from huggingface_hub import HfApi, hf_hub_download

    sha = sparkle_hub.resolve(REPO)
    (info,) = HfApi().get_paths_info(REPO, [SHARD], repo_type="dataset", revision=sha)
    path = hf_hub_download(REPO, SHARD, repo_type="dataset", revision=sha, cache_dir=tmp_path)
    assert info.lfs is not None
    assert sha256(Path(path).read_bytes()) == info.lfs.sha256
    assert Path(path).read_bytes() == (sample_tree.root / SHARD).read_bytes()
    assert f"snapshots/{sha}/" in Path(path).as_posix()
    head = sparkle_hub.requests_of("resolve")[0]
    assert head.method == "HEAD"
    assert "x-hf-download-counter" in head.headers


def test_list_repo_tree_and_paths_info(
    sparkle_hub: FakeHub, sample_tree: SampleTreeSummary
) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile, RepoFolder

    api = HfApi()
    tree = list(api.list_repo_tree(REPO, repo_type="dataset", recursive=True))
    files = {e.path for e in tree if isinstance(e, RepoFile)}
    assert files == local_files(sample_tree.root)
    assert {e.path for e in tree if isinstance(e, RepoFolder)} >= {"prompts", "intermediate_data"}
    infos = api.get_paths_info(
        REPO, [SHARD, "prompts", "no/such/file"], repo_type="dataset", expand=True
    )
    assert [type(i) for i in infos] == [RepoFile, RepoFolder]
    assert infos[0].last_commit is not None
    assert infos[0].last_commit.oid == sparkle_hub.resolve(REPO)


def test_tree_pagination_follows_link_headers(sample_tree: SampleTreeSummary) -> None:
    from huggingface_hub import HfApi, HfFileSystem

    hub = FakeHub.from_directory(sample_tree.root, REPO, tree_page_size=7, tree_page_size_expand=3)
    with serve_fake_hub(hub):
        tree = list(HfApi().list_repo_tree(REPO, repo_type="dataset", recursive=True))
        assert sum(1 for e in tree if hasattr(e, "blob_id")) == len(local_files(sample_tree.root))
        assert hub.count("tree") > 10
        assert any("cursor=7" in r.query for r in hub.requests_of("tree"))
        found = HfFileSystem().find(f"datasets/{REPO}")  # parallel, split listing
        assert {f.split(f"{REPO}/", 1)[1] for f in found} == local_files(sample_tree.root)
        expanded = list(HfApi().list_repo_tree(REPO, "prompts", repo_type="dataset", expand=True))
        assert len(expanded) == 10
        assert all(e.last_commit is not None for e in expanded)


# ---------------------------------------------------------------------- revisions and errors


def test_revisions_branches_and_tags(hub: FakeHub, tmp_path: Path) -> None:
    from huggingface_hub import HfApi, HfFileSystem, hf_hub_download

    first = hub.commit("me/data", {"a.txt": b"one", "shard.tar": b"x" * 3000}, message="v1")
    hub.tag("me/data", "v1.0")
    second = hub.commit("me/data", {"a.txt": b"two"}, message="v2", delete=["shard.tar"])
    hub.create_branch("me/data", "dev", revision=first)
    assert first != second
    assert len(first) == 40
    assert hub.resolve("me/data", first[:8]) == first

    fs = HfFileSystem()
    assert fs.cat(f"datasets/me/data@{first}/a.txt") == b"one"
    assert fs.cat("datasets/me/data@main/a.txt") == b"two"
    assert fs.cat("datasets/me/data@v1.0/a.txt") == b"one"
    assert fs.cat("datasets/me/data@dev/shard.tar") == b"x" * 3000
    assert not fs.exists("datasets/me/data@main/shard.tar")
    old = hf_hub_download(
        "me/data", "a.txt", repo_type="dataset", revision=first, cache_dir=tmp_path
    )
    assert Path(old).read_bytes() == b"one"

    api = HfApi()
    refs = api.list_repo_refs("me/data", repo_type="dataset")
    assert {b.name: b.target_commit for b in refs.branches} == {"main": second, "dev": first}
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1.0", first)]
    assert api.dataset_info("me/data", revision="v1.0").sha == first
    titles = [c.title for c in api.list_repo_commits("me/data", repo_type="dataset")]
    assert titles == ["v2", "v1", "initial commit"]


def test_missing_repo_revision_and_entry_raise_the_client_errors(
    hub: FakeHub, tmp_path: Path
) -> None:
    from huggingface_hub import HfApi, HfFileSystem, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    hub.commit("me/data", {"a.txt": b"one"})
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("me/data", "nope.txt", repo_type="dataset", cache_dir=tmp_path)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("me/data", "a.txt", repo_type="dataset", revision="v9", cache_dir=tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        HfApi().dataset_info("me/nothing")
    with pytest.raises(EntryNotFoundError):
        list(HfApi().list_repo_tree("me/data", "no/dir", repo_type="dataset"))
    with pytest.raises(FileNotFoundError):
        HfFileSystem().cat("datasets/me/data/nope.txt")
    miss = [r for r in hub.requests if r.status == 404 and r.kind == "resolve"]
    assert miss
    assert miss[0].file == "nope.txt"


def test_private_repo_and_tokens(hub: FakeHub) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    hub.add_repo("me/secret", private=True)
    hub.commit("me/secret", {"a.txt": b"s"})
    assert [e.path for e in HfApi().list_repo_tree("me/secret", repo_type="dataset")] == ["a.txt"]
    with pytest.raises(RepositoryNotFoundError):
        list(HfApi(token=False).list_repo_tree("me/secret", repo_type="dataset"))
    with pytest.raises(HfHubHTTPError) as err:
        HfApi(token="hf_wrong").create_repo("me/other", repo_type="dataset")  # noqa: S106
    assert err.value.response.status_code == 401
    assert hub.requests[-1].headers["authorization"] == "Bearer hf_wrong"
    assert HfApi().whoami()["name"] == hub.user


# ---------------------------------------------------------------------- uploads


def test_upload_folder_then_read_back(hub: FakeHub, tmp_path: Path) -> None:
    from huggingface_hub import HfApi, HfFileSystem

    src = tmp_path / "src"
    (src / "prompts").mkdir(parents=True)
    shard = os.urandom(20_000)
    (src / SHARD).write_bytes(shard)
    (src / "prompts" / "location_train.csv").write_text("sample_id,prompt\n")
    api = HfApi()
    url = api.create_repo("me/pushed", repo_type="dataset")
    assert url.repo_id == "me/pushed"
    info = api.upload_folder(folder_path=src, repo_id="me/pushed", repo_type="dataset")
    assert info.oid == hub.resolve("me/pushed")
    assert hub.count("lfs-batch") == 1
    assert hub.count("lfs-upload") == 1  # only the LFS file goes to the object store
    assert hub.file_info("me/pushed", SHARD)["lfs"] is True
    assert hub.file_info("me/pushed", "prompts/location_train.csv")["lfs"] is False
    fs = HfFileSystem()
    assert fs.cat(f"datasets/me/pushed/{SHARD}") == shard
    assert fs.info(f"datasets/me/pushed/{SHARD}")["size"] == len(shard)

    again = api.upload_folder(folder_path=src, repo_id="me/pushed", repo_type="dataset")
    assert again.oid == info.oid  # nothing changed: the client skips the commit
    api.delete_file(SHARD, repo_id="me/pushed", repo_type="dataset")
    api.upload_file(
        path_or_fileobj=b"x", path_in_repo="pr.txt", repo_id="me/pushed", repo_type="dataset",
        create_pr=True,
    )  # fmt: skip
    assert hub.list_files("me/pushed") == ["prompts/location_train.csv"]
    assert hub.read("me/pushed", "pr.txt", revision="refs/pr/1") == b"x"


def test_multipart_upload_and_cdn_redirect(tmp_path: Path) -> None:
    from huggingface_hub import HfApi, HfFileSystem, hf_hub_download

    data = os.urandom(10_000)
    with serve_fake_hub(multipart_chunk_size=4096, redirect_lfs=True) as hub:
        hub.add_repo("me/big")
        HfApi().upload_file(
            path_or_fileobj=data, path_in_repo="big.tar", repo_id="me/big", repo_type="dataset"
        )
        assert hub.count("lfs-part") == 3
        assert hub.count("lfs-complete") == 1
        path = hf_hub_download("me/big", "big.tar", repo_type="dataset", cache_dir=tmp_path)
        assert Path(path).read_bytes() == data
        head = hub.requests_of("resolve")[0]
        assert (head.method, head.status) == ("HEAD", 302)
        cdn = hub.requests_of("cdn")
        assert cdn
        assert cdn[0].file == sha256(data)
        assert "authorization" not in cdn[0].headers  # the token never leaves the Hub host
        with HfFileSystem().open("datasets/me/big/big.tar", block_size=100) as f:
            f.seek(9000)
            assert f.read(10) == data[9000:9010]
        assert str(hub.requests_of("cdn")[-1].range).startswith("bytes=9000-")


# ---------------------------------------------------------------------- faults


def test_download_resumes_after_dropped_connection(
    sparkle_hub: FakeHub,
    sample_tree: SampleTreeSummary,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from huggingface_hub import constants, hf_hub_download

    # the client resumes from what it wrote, in DOWNLOAD_CHUNK_SIZE (10 MB) pieces: shrink them
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 500)
    sparkle_hub.reset(HubFaults(drop_after=1000, drop_first=1, paths="*.tar"))
    path = hf_hub_download(REPO, SHARD, repo_type="dataset", cache_dir=tmp_path)
    assert Path(path).read_bytes() == (sample_tree.root / SHARD).read_bytes()
    gets = [r for r in sparkle_hub.requests_of("resolve") if r.method == "GET"]
    assert [(r.range, r.status) for r in gets] == [(None, 200), ("bytes=1000-", 206)]


def test_failed_head_is_retried_then_served_from_cache(
    sparkle_hub: FakeHub, tmp_path: Path
) -> None:
    from huggingface_hub import hf_hub_download

    sparkle_hub.reset(HubFaults(fail_first=1, fail_status=503))
    first = hf_hub_download(REPO, "README.md", repo_type="dataset", cache_dir=tmp_path)
    statuses = [(r.method, r.status) for r in sparkle_hub.requests_of("resolve")]
    assert statuses == [("HEAD", 503), ("HEAD", 200), ("GET", 200)]  # retried at once
    sparkle_hub.reset(HubFaults(fail_first=1, fail_status=503))
    again = hf_hub_download(REPO, "README.md", repo_type="dataset", cache_dir=tmp_path)
    assert again == first  # Hub down: the cached copy is used
    assert [r.status for r in sparkle_hub.requests] == [503]


# ---------------------------------------------------------------------- this project's layers


def test_project_fs_info_and_catalog_over_hf(
    sparkle_hub: FakeHub, sample_tree: SampleTreeSummary
) -> None:
    from sparkle_data.catalog import build_catalog
    from sparkle_data.io import fs as sfs
    from sparkle_data.layout import ARTIFACTS

    data = (sample_tree.root / SHARD).read_bytes()
    info = sfs.info(f"hf://datasets/{REPO}/{SHARD}")
    assert (info.size, info.sha256) == (len(data), sha256(data))
    assert info.etag == sparkle_hub.file_info(REPO, SHARD)["blob_id"]

    remote = build_catalog(f"hf://datasets/{REPO}", edit_types=["location"], cache=False)
    local = build_catalog(sample_tree.root, edit_types=["location"], cache=False)
    assert list(remote.table.index) == list(local.table.index)
    assert remote.missing() == local.missing() == []
    kinds = set()
    for sample_id in remote.corpus().index:
        for artifact in ARTIFACTS:
            loc = remote.locate(sample_id, artifact)
            if loc.kind in kinds:
                continue
            kinds.add(loc.kind)
            assert remote.read_bytes(sample_id, artifact) == local.read_bytes(sample_id, artifact)
    assert kinds == {"file", "shard"}


def test_project_range_read_detects_an_ignored_range(sparkle_hub: FakeHub) -> None:
    from sparkle_data.errors import RemoteError
    from sparkle_data.io.remote import read_range

    sparkle_hub.reset(HubFaults(ignore_range=True))
    with pytest.raises(RemoteError, match="ignored the Range header"):
        read_range(f"hf://datasets/{REPO}/{SHARD}", 10, 100)
    assert sparkle_hub.requests_of("resolve")[-1].status == 200


# ---------------------------------------------------------------------- client configuration


def test_patch_endpoint_patches_and_restores(hub: FakeHub) -> None:
    import huggingface_hub
    from huggingface_hub import constants, hf_api

    assert hub.endpoint == constants.ENDPOINT
    assert constants.HF_HUB_DISABLE_XET is True
    assert hf_api.api.endpoint == hub.endpoint
    assert os.environ["HF_ENDPOINT"] == hub.endpoint
    hub.commit("me/data", {"a.txt": b"one"})
    assert [e.path for e in huggingface_hub.list_repo_tree("me/data", repo_type="dataset")] == [
        "a.txt"
    ]
    before = constants.ENDPOINT
    with serve_fake_hub() as inner:
        assert constants.ENDPOINT == inner.endpoint != before
    assert before == constants.ENDPOINT


def test_client_env_configures_a_subprocess(hub: FakeHub) -> None:
    sha = hub.commit("me/data", {"a.txt": b"one"})
    code = (
        "from huggingface_hub import HfApi, hf_hub_url;"
        "print(HfApi().dataset_info('me/data').sha);"
        "print(hf_hub_url('me/data', 'a.txt', repo_type='dataset'))"
    )
    env = {**os.environ, **hub.client_env()}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [sha, f"{hub.endpoint}/datasets/me/data/resolve/main/a.txt"]


def test_programmatic_api_is_deterministic(tmp_path: Path) -> None:
    files = {"a.txt": b"one", "d/e.npz": b"z" * 10, "d/f.csv": b"x" * 2000}
    one, two = FakeHub(), FakeHub(lfs_threshold=1024)
    assert one.commit("me/data", files) == one.commit("me/copy", files)
    assert one.file_info("me/data", "d/e.npz")["lfs"] is True  # by pattern
    assert one.file_info("me/data", "d/f.csv")["lfs"] is False
    two.commit("me/data", files)
    assert two.file_info("me/data", "d/f.csv")["lfs"] is True  # by size
    assert one.file_info("me/data", "a.txt")["blob_id"] == git_blob_id(b"one")
    (tmp_path / "x.bin").write_bytes(b"\0" * 5)
    sha = one.commit("me/data", {"x.bin": tmp_path / "x.bin"}, delete=["d"])
    assert one.list_files("me/data", sha) == ["a.txt", "x.bin"]
    with pytest.raises(TypeError):
        one.commit("me/data", {"y.txt": "text"})  # type: ignore[dict-item]
    with pytest.raises(KeyError):
        one.commit("me/data", delete=["nope"])
    with pytest.raises(ValueError, match="namespace/name"):
        one.add_repo("single")
    with pytest.raises(RuntimeError, match="not being served"):
        _ = one.endpoint


@pytest.mark.network
def test_validate_yaml_endpoint() -> None:
    from huggingface_hub import HfApi

    from sparkle_data.testing.hub import serve_fake_hub

    with serve_fake_hub():
        api = HfApi()
        api._validate_yaml("---\nconfigs:\n- config_name: x\n---\n# card\n", repo_type="dataset")
        with pytest.raises(ValueError, match="invalid YAML"):
            api._validate_yaml("---\nconfigs: [unclosed\n---\n", repo_type="dataset")
