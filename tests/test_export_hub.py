"""Hub-ready folders: the card's YAML parses and drives ``load_dataset``; pushes to a fake Hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sparkle_data.catalog import Catalog, build_catalog
from sparkle_data.catalog.verify import verify_catalog
from sparkle_data.export import ExportError, ExportReport, export_hub, push_to_hub
from sparkle_data.filters import PAPER, SubsetSpec, field
from sparkle_data.testing import SampleTreeSummary


@pytest.fixture(scope="module")
def catalog(sample_tree: SampleTreeSummary) -> Catalog:
    return build_catalog(sample_tree.root, cache=False)


@pytest.fixture(scope="module")
def spec(catalog: Catalog) -> SubsetSpec:
    f = PAPER & field("edit_type").isin(["location", "openve3m"])
    return SubsetSpec.create(catalog, f, name="two-themes", created=None)


@pytest.fixture(scope="module")
def wds_folder(
    catalog: Catalog, spec: SubsetSpec, tmp_path_factory: pytest.TempPathFactory
) -> ExportReport:
    out = tmp_path_factory.mktemp("hub") / "wds"
    return export_hub(catalog, spec.select(catalog), out, spec=spec, progress=False)


def front_matter(path: Path) -> dict[str, object]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    head = text.split("---\n", 2)[1]
    data = yaml.safe_load(head)
    assert isinstance(data, dict)
    return data


def test_card_yaml_parses_and_names_the_data(
    wds_folder: ExportReport, spec: SubsetSpec, catalog: Catalog
) -> None:
    card = front_matter(wds_folder.out / "README.md")
    assert card["license"] == "cc-by-4.0"
    assert card["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "shard-*.tar"}]}
    ]
    assert "webdataset" in card["tags"]  # type: ignore[operator]
    from huggingface_hub import DatasetCard

    parsed = DatasetCard((wds_folder.out / "README.md").read_text()).data.to_dict()
    assert parsed["pretty_name"] == "Sparkle subset: two-themes"
    text = (wds_folder.out / "README.md").read_text()
    assert spec.ids_sha256 is not None
    assert spec.ids_sha256 in text
    assert "location 6, openve3m 6" in text
    saved = SubsetSpec.load(wds_folder.out / "subset.yaml")
    assert saved == spec
    assert saved.select(catalog) == spec.select(catalog)


def test_load_dataset_follows_the_card_configs(wds_folder: ExportReport, tmp_path: Path) -> None:
    import datasets

    ds = datasets.load_dataset(str(wds_folder.out), split="train", cache_dir=str(tmp_path))
    assert ds.num_rows == 12
    assert {"json", "src.mp4", "tgt.mp4"} <= set(ds.column_names)


def test_sparkle_layout_card(catalog: Catalog, spec: SubsetSpec, tmp_path: Path) -> None:
    report = export_hub(
        catalog, spec.select(catalog), tmp_path / "hub", format="sparkle", spec=spec, progress=False
    )
    card = front_matter(report.out / "README.md")
    configs = card["configs"]
    assert isinstance(configs, list)
    assert [c["config_name"] for c in configs] == ["location", "openve3m"]
    assert configs[0]["default"] is True
    assert configs[1]["data_files"] == [{"split": "train", "path": "prompts/openve3m_train.csv"}]
    assert verify_catalog(build_catalog(report.out, cache=False)).ok


@pytest.fixture
def fake_hub() -> Iterator[object]:
    pytest.importorskip("sparkle_data.testing.hub")
    from sparkle_data.testing.hub import serve_fake_hub

    with serve_fake_hub() as hub:
        yield hub


@pytest.mark.network
@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
def test_push_to_fake_hub(wds_folder: ExportReport, fake_hub: object, tmp_path: Path) -> None:
    from huggingface_hub import HfFileSystem

    from sparkle_data.testing.hub import FakeHub

    assert isinstance(fake_hub, FakeHub)
    sha = push_to_hub(wds_folder.out, "me/sparkle-subset")
    assert sha == fake_hub.resolve("me/sparkle-subset")
    local = sorted(p.name for p in wds_folder.out.iterdir())
    assert fake_hub.list_files("me/sparkle-subset") == local
    shard = wds_folder.out / "shard-000000.tar"
    fs = HfFileSystem()
    assert fs.cat(f"datasets/me/sparkle-subset/{shard.name}") == shard.read_bytes()
    assert fake_hub.file_info("me/sparkle-subset", shard.name)["lfs"] is True
    branch = push_to_hub(wds_folder.out, "me/sparkle-subset", revision="v1")
    assert branch == fake_hub.resolve("me/sparkle-subset", "v1")

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "shard-000000.tar").write_bytes(shard.read_bytes())
    with pytest.raises(ExportError, match=r"no export\.json"):
        push_to_hub(broken, "me/other")
