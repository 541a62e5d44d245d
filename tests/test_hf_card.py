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
    PROMPTS_CSV_COLUMNS,
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
    files = {"all": "prompts/*_train.csv"}
    files.update({et: prompts_csv_path(et) for et in EDIT_TYPES})
    for et in EDIT_TYPES:
        files[f"{et}_metadata"] = prompts_metadata_path(et)
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


def test_theme_config_loads_the_prompts_csv(card_root: Path, tmp_path: Path) -> None:
    ds = datasets.load_dataset(str(card_root), "location", split="train", cache_dir=str(tmp_path))
    with open(card_root / prompts_csv_path("location"), encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert ds.num_rows == len(rows) > 0
    assert ds.column_names == list(PROMPTS_CSV_COLUMNS)
    assert ds.to_list() == rows
    everything = datasets.load_dataset(str(card_root), split="train", cache_dir=str(tmp_path))
    assert everything.column_names == list(PROMPTS_CSV_COLUMNS)
    assert sorted(everything["task"]) == sorted(
        r["task"]
        for et in EDIT_TYPES
        for r in csv.DictReader((card_root / prompts_csv_path(et)).open(encoding="utf-8"))
    )


def test_every_jsonl_config_loads_one_record_per_line(card_root: Path, tmp_path: Path) -> None:
    names = datasets.get_dataset_config_names(str(card_root))
    assert sorted(names) == sorted(expected_files())
    for name, rel in expected_files().items():
        if not rel.endswith(".jsonl"):
            continue
        ds = datasets.load_dataset(str(card_root), name, split="train", cache_dir=str(tmp_path))
        lines = (card_root / rel).read_text(encoding="utf-8").splitlines()
        assert ds.column_names == ["record"], name
        assert [json.loads(r) for r in ds["record"]] == [json.loads(x) for x in lines], name
