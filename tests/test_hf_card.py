"""loading_script/README.md: the dataset card's configs work with stock datasets 5.x."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from sparkle_data.layout import (
    EDIT_TYPES,
    RECORD_FILES,
    prompts_csv_path,
    prompts_metadata_path,
    record_path,
)
from sparkle_data.testing import SampleTreeSummary

datasets = pytest.importorskip("datasets")
yaml = pytest.importorskip("yaml")

CARD = Path(__file__).resolve().parents[1] / "loading_script" / "README.md"


def front_matter() -> dict[str, Any]:
    text = CARD.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    data: dict[str, Any] = yaml.safe_load(text.split("---\n", 2)[1])
    return data


def expected_files() -> dict[str, str]:
    files = {"all": "prompts/*_train_metadata.jsonl"}
    files.update({et: prompts_metadata_path(et) for et in EDIT_TYPES})
    files.update({r: f"intermediate_data/*/{r}.jsonl" for r in RECORD_FILES})
    for et in EDIT_TYPES:
        files.update({f"{et}_{r}": record_path(et, r) for r in RECORD_FILES})
    return files


@pytest.fixture(scope="module")
def card_root(sample_tree: SampleTreeSummary, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("card") / "Sparkle"
    shutil.copytree(sample_tree.root, root)
    shutil.copyfile(CARD, root / "README.md")
    return root


def test_configs_cover_every_theme_and_record() -> None:
    meta = front_matter()
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert {name: c["data_files"][0]["path"] for name, c in configs.items()} == expected_files()
    assert [c["config_name"] for c in meta["configs"] if c.get("default")] == ["all"]
    assert all(c["data_files"][0]["split"] == "train" for c in configs.values())
    assert meta["license"] == "cc-by-4.0"
    text = CARD.read_text(encoding="utf-8")
    assert "from sparkle_data.hf import load_dataset" in text
    assert "pip install sparkle-data" in text


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def test_theme_config_loads_typed_prompts_and_metadata(card_root: Path, tmp_path: Path) -> None:
    ds = datasets.load_dataset(str(card_root), "location", split="train", cache_dir=str(tmp_path))
    lines = _lines(card_root / prompts_metadata_path("location"))
    assert ds.num_rows == len(lines) > 0
    assert ds.column_names == ["id", "prompt", "metadata"]
    assert ds.to_list() == lines
    with open(card_root / prompts_csv_path("location"), encoding="utf-8", newline="") as f:
        csv_rows = {r["task"]: r["prompt"] for r in csv.DictReader(f)}
    assert {r["id"]: r["prompt"] for r in lines} == csv_rows
    everything = datasets.load_dataset(str(card_root), split="train", cache_dir=str(tmp_path))
    assert everything.num_rows == sum(
        len(_lines(card_root / prompts_metadata_path(et))) for et in EDIT_TYPES
    )
    openve3m = [r for r in everything if r["id"].startswith("Sparkle_openve3m_")]
    assert openve3m
    assert all(r["metadata"]["chosen_keyword"] is None for r in openve3m)


def test_every_record_config_loads_typed_columns(card_root: Path, tmp_path: Path) -> None:
    names = datasets.get_dataset_config_names(str(card_root))
    assert sorted(names) == sorted(expected_files())
    for name, rel in expected_files().items():
        if name in EDIT_TYPES or name == "all" or "*" in rel:
            continue
        ds = datasets.load_dataset(str(card_root), name, split="train", cache_dir=str(tmp_path))
        lines = _lines(card_root / rel)
        assert ds.num_rows == len(lines), name
        assert ds["id"] == [r["id"] for r in lines], name
    scores = datasets.load_dataset(
        str(card_root), "edited_video_score", split="train", cache_dir=str(tmp_path)
    )
    assert isinstance(scores[0]["editscore"][0]["O_score"], float)
    assert scores.num_rows == sum(
        len(_lines(card_root / record_path(et, "edited_video_score"))) for et in EDIT_TYPES
    )
