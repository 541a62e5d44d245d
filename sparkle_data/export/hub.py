"""Hub-ready folders (an export plus a dataset card) and pushing them to the Hugging Face Hub.

:func:`export_hub` writes paired WebDataset shards (``format="wds"``, see
:mod:`sparkle_data.export.wds`) or the Sparkle layout (``format="sparkle"``, see
:mod:`sparkle_data.export.sparkle`) and, with them, a dataset card ``README.md``:

* YAML front matter the Hub reads: ``license``, ``pretty_name``, ``tags``,
  ``size_categories`` and ``configs`` (``data_files`` globs, so the dataset viewer and
  ``datasets.load_dataset(repo)`` find the data: the shards for WebDataset, one config per
  edit type on the prompts CSVs for the Sparkle layout);
* how to load it, the subset spec (as YAML), and its provenance (source root, Hub repo and
  revision, filter, seed, counts per edit type, sha256 of the ids, sparkle-data version);
* the source dataset's license and citation.

:func:`push_to_hub` uploads such a folder (or any complete export) with ``HfApi``: it
refuses a folder whose ``export.json`` is missing (an unfinished export) or whose files
differ from it, creates the dataset repo (and branch) when needed and uploads everything but
the export's state folder in one commit. Uploads skip files the repo already holds.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from sparkle_data._version import __version__
from sparkle_data.export._common import check_ids, edit_type_counts
from sparkle_data.export._errors import ExportError
from sparkle_data.export._plan import ExportOptions, Verify
from sparkle_data.export._resume import (
    MANIFEST_NAME,
    STATE_DIR,
    ExportReport,
    read_manifest,
    verify_files,
)
from sparkle_data.export._writer import FileDigest
from sparkle_data.io.atomic import TEMP_MARK

if TYPE_CHECKING:
    from sparkle_data.catalog import Catalog
    from sparkle_data.filters import SubsetSpec

__all__ = ["CARD_NAME", "HubFormat", "dataset_card", "export_hub", "push_to_hub"]

CARD_NAME: Final = "README.md"
HubFormat = Literal["wds", "sparkle"]
SOURCE_REPO: Final = "stdKonjac/Sparkle"
_CITATION: Final = """\
@misc{zeng2026sparkle,
  title         = {Sparkle: Realizing Lively Instruction-Guided Video Background Replacement \
via Decoupled Guidance},
  author        = {Zeng, Ziyun and Lin, Yiqi and Liang, Guoqiang and Shou, Mike Zheng},
  year          = {2026},
  eprint        = {2605.06535},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CV},
  url           = {https://arxiv.org/abs/2605.06535}
}"""


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return label
    return "100K<n<1M" if n < 1_000_000 else "n>1M"


def _configs(format: HubFormat, counts: Mapping[str, int]) -> list[dict[str, Any]]:
    if format == "wds":
        return [
            {"config_name": "default", "data_files": [{"split": "train", "path": "shard-*.tar"}]}
        ]
    configs: list[dict[str, Any]] = []
    for k, et in enumerate(counts):
        config: dict[str, Any] = {
            "config_name": et,
            "data_files": [{"split": "train", "path": f"prompts/{et}_train.csv"}],
        }
        if k == 0:
            config["default"] = True
        configs.append(config)
    return configs


def _yaml() -> Any:
    return importlib.import_module("yaml")  # PyYAML comes with huggingface_hub


def dataset_card(
    format: HubFormat,
    ids: Sequence[str],
    *,
    spec: SubsetSpec | None = None,
    source: str | None = None,
    pretty_name: str | None = None,
    license: str = "cc-by-4.0",
    fields: Sequence[str] = (),
) -> str:
    """The ``README.md`` of a Hub folder (see the module doc). No timestamp: equal inputs
    give equal text."""
    ordered = check_ids(ids)
    counts = edit_type_counts(ordered)
    name = pretty_name or (
        f"Sparkle subset: {spec.name}" if spec and spec.name else "Sparkle subset"
    )
    tags = ["video", "video-editing", "background-replacement", "sparkle"]
    if format == "wds":
        tags.append("webdataset")
    front = {
        "license": license,
        "pretty_name": name,
        "tags": tags,
        "size_categories": [_size_category(len(ordered))],
        "configs": _configs(format, counts),
    }
    yaml = _yaml()
    head = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, default_flow_style=False)
    src = spec.source if spec is not None else None
    root = (src.root if src is not None else None) or source
    rows = [
        ("source root", root),
        ("source repo", src.repo if src is not None else None),
        ("source revision", src.revision if src is not None else None),
        ("population", spec.population if spec is not None else None),
        ("filter", spec.filter.describe() if spec is not None and spec.filter else None),
        ("seed", spec.seed if spec is not None else None),
        ("limit per edit type", spec.limit_per_theme if spec is not None else None),
        ("samples", len(ordered)),
        ("per edit type", ", ".join(f"{k} {v}" for k, v in counts.items())),
        ("ids sha256", _ids_sha256(ordered)),
        ("spec fingerprint", spec.fingerprint if spec is not None else None),
        ("written by", f"sparkle-data {__version__}"),
    ]
    table = "\n".join(
        f"| {k} | {'`' + str(v) + '`' if k.endswith(('sha256', 'fingerprint', 'root')) else v} |"
        for k, v in rows
        if v not in (None, "")
    )
    parts = [
        f"---\n{head}---\n",
        f"# {name}\n",
        f"A subset of [Sparkle](https://huggingface.co/datasets/{SOURCE_REPO}) "
        f"({len(ordered)} source/edited video pairs), exported by "
        "[sparkle-data](https://github.com/showlab/Sparkle).\n",
        _usage(format, fields),
        "## Provenance\n",
        "| | |\n| --- | --- |\n" + table + "\n",
    ]
    if spec is not None:
        identity = spec.identity()  # no creation time: a rerun gives the same card
        text = yaml.safe_dump(identity, sort_keys=False, allow_unicode=True)
        parts.append(
            "## Subset spec\n\nSaved as `subset.yaml` beside the data. Rebuild the same ids "
            "from the source with `SubsetSpec.load(path).select(build_catalog(root))`.\n\n"
            f"```yaml\n{text}```\n"
        )
    parts.append(
        "## License\n\nSparkle is released under CC BY 4.0. Source videos of the `openve3m` "
        "theme derive from OpenVE-3M and keep their original licenses.\n"
    )
    parts.append(f"## Citation\n\n```bibtex\n{_CITATION}\n```\n")
    return "\n".join(parts)


def _ids_sha256(ids: Sequence[str]) -> str:
    from sparkle_data.filters import ids_sha256

    return ids_sha256(list(ids))


def _usage(format: HubFormat, fields: Sequence[str]) -> str:
    if format == "wds":
        listed = ", ".join(f"`{f}`" for f in fields) or "`json`, `src.mp4`, `tgt.mp4`"
        return (
            "## Format\n\nWebDataset shards `shard-XXXXXX.tar`: one sample per pair, members "
            f"`{{id}}.{{field}}` with fields {listed}. `shards.json` lists the shards with "
            "their sizes and sha256; `index.sparkle-index` is a member index for random "
            "access.\n\n```python\nimport webdataset as wds\n\n"
            'ds = wds.WebDataset(urls, shardshuffle=False)   # samples: {"src.mp4": bytes, ...}\n\n'
            "from datasets import load_dataset\n\n"
            'ds = load_dataset("webdataset", data_files={"train": urls}, split="train")\n```\n'
        )
    return (
        "## Format\n\nThe layout of the Sparkle card itself (prompts CSVs, metadata JSONL, "
        "tar shards, pipeline intermediates and records), restricted to the subset; "
        "`indexes/sparkle.sparkle-index` indexes every shard.\n\n```python\n"
        "from sparkle_data.catalog import build_catalog\n\n"
        "catalog = build_catalog(local_dir)   # or hf://datasets/<repo>\n```\n"
    )


def export_hub(
    catalog: Catalog,
    ids: Sequence[str],
    out: str | os.PathLike[str],
    *,
    format: HubFormat = "wds",
    pretty_name: str | None = None,
    license: str = "cc-by-4.0",
    **options: Any,
) -> ExportReport:
    """Export ``ids`` as WebDataset shards or the Sparkle layout, with a dataset card.

    ``options`` are the common export options (``spec``, ``engine``, ``workers``, ``verify``,
    ``overwrite``, ``progress``: see :func:`~sparkle_data.export.export_kiwi`) and those of
    :func:`~sparkle_data.export.export_wds` (``include_mask``, ``max_shard_bytes``, ...) or
    :func:`~sparkle_data.export.export_sparkle` (``artifacts``, ``shard_bytes``,
    ``previews``). The folder is ready for :func:`push_to_hub`.
    """
    from sparkle_data.export.sparkle import export_sparkle
    from sparkle_data.export.wds import JSON_FIELD, WDS_FIELDS, export_wds, wds_artifacts

    if format not in ("wds", "sparkle"):
        raise ValueError(f"Invalid format {format!r}: must be 'wds' or 'sparkle'.")
    common = ExportOptions.take(options)
    spec = common.spec
    fields: list[str] = []
    if format == "wds":
        keys = ("artifacts", "include_mask", "include_background", "include_canny")
        chosen = wds_artifacts(**{k: v for k, v in options.items() if k in keys})
        fields = [JSON_FIELD, *(WDS_FIELDS[a] for a in chosen)]

    def card(kept: Sequence[str]) -> str:
        return dataset_card(
            format,
            kept,
            spec=spec,
            source=catalog.root,
            pretty_name=pretty_name,
            license=license,
            fields=fields,
        )

    common = common.with_kept_files({CARD_NAME: card})  # counts and ids of the samples kept
    if format == "wds":
        return export_wds(catalog, ids, out, **common.keywords(), **options)
    return export_sparkle(catalog, ids, out, **common.keywords(), **options)


def push_to_hub(
    folder: str | os.PathLike[str],
    repo_id: str,
    *,
    token: str | None = None,
    revision: str | None = None,
    private: bool | None = None,
    commit_message: str | None = None,
    verify: Verify = "size",
    large: bool = False,
) -> str:
    """Upload a complete export folder to the dataset repo ``repo_id``; returns the commit
    sha (see the module doc).

    ``revision`` is a branch (created from the default branch when missing). ``verify``
    checks every file against ``export.json`` first (``"sha256"`` reads them all).
    ``large=True`` uses ``HfApi.upload_large_folder`` (resumable, many commits) where the
    installed ``huggingface_hub`` has it.
    """
    from huggingface_hub import HfApi

    root = Path(folder)
    manifest = read_manifest(root)
    if manifest is None:
        raise ExportError.invalid(
            "export folder",
            str(root),
            rule=f"has no {MANIFEST_NAME}: it is not a complete sparkle-data export",
            hint="Finish the export first (rerunning it resumes where it stopped).",
        )
    files = {k: FileDigest.from_json(v) for k, v in manifest["files"].items()}
    bad = verify_files(root, files, verify=verify)
    if bad:
        raise ExportError.invalid(
            "export folder",
            str(root),
            rule=f"{len(bad)} file(s) differ from {MANIFEST_NAME}, e.g. "
            + ", ".join(sorted(bad)[:5]),
            hint="Rerun the export to repair them.",
        )
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision is not None:
        api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
    ignore = [f"{STATE_DIR}/**", f"*{TEMP_MARK}*"]
    message = commit_message or f"Upload {manifest.get('kind')} export ({len(files)} files)"
    upload_large = getattr(api, "upload_large_folder", None)
    where: dict[str, Any] = {
        "repo_id": repo_id,
        "folder_path": root,
        "repo_type": "dataset",
        "revision": revision,
        "ignore_patterns": ignore,
    }
    if large and upload_large is not None:
        upload_large(**where, private=private)
        return str(api.repo_info(repo_id, repo_type="dataset", revision=revision).sha)
    info: Any = api.upload_folder(**where, commit_message=message)
    return str(info.oid)
