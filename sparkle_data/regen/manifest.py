"""The run manifest: how the regenerated artifacts under an output folder were made.

``{out}/.regen/manifest.json`` (written atomically) records, per stage run into the folder, its
configuration, device, model ids (and revisions, for model stages), and the library versions.
It holds no timestamps, so a resumed run rewrites the same bytes. A run whose stage
configuration differs from the one recorded is refused: the folder would otherwise mix
artifacts made two ways.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from sparkle_data.io.atomic import TEMP_MARK, atomic_write_text
from sparkle_data.regen.config import StageConfig, config_to_dict
from sparkle_data.regen.paths import REGEN_DIR
from sparkle_data.regen.registry import get_stage

__all__ = [
    "MANIFEST_FORMAT",
    "REGEN_DIR",
    "build_manifest",
    "config_models",
    "library_versions",
    "manifest_path",
    "write_manifest",
]

MANIFEST_FORMAT: Final = "sparkle-data/regen-manifest"
_LIBRARIES: Final = (
    "sparkle-data",
    "numpy",
    "av",
    "pillow",
    "opencv-python-headless",
    "ray",
    "torch",
    "transformers",
    "diffusers",
    "accelerate",
    "peft",
    "editscore",
)


def manifest_path(out: str | Path) -> Path:
    return Path(out) / REGEN_DIR / "manifest.json"


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries that shape the outputs (``None`` when not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    try:
        import av

        out["ffmpeg-libavcodec"] = ".".join(str(v) for v in av.library_versions["libavcodec"])
    except (ImportError, KeyError):  # pragma: no cover - av is a core dependency
        out["ffmpeg-libavcodec"] = None
    return out


def config_models(config: StageConfig) -> dict[str, str | None]:
    """``{model id or folder: revision}`` named by a config's ``model``/``revision`` fields
    (also ``X_model``/``X_revision`` pairs), so overridden models are recorded as run."""
    fields = config_to_dict(config)
    found: dict[str, str | None] = {}
    for key, value in fields.items():
        if key == "model" or key.endswith("_model"):
            rev = fields.get(key[: -len("model")] + "revision")
            if isinstance(value, str):
                found[value] = rev if isinstance(rev, str) else None
    return found


def _stage_entry(name: str, config: StageConfig, revisions: Mapping[str, str]) -> dict[str, Any]:
    stage = get_stage(name)
    models: dict[str, str | None] = {m: revisions.get(m) for m in stage.models}
    for model, rev in config_models(config).items():
        models[model] = revisions.get(model, rev) if rev is None else rev
    return {
        "config_type": type(config).__name__,
        "config": config_to_dict(config),
        "device": stage.device,
        "outputs": list(stage.outputs),
        "inputs": list(stage.inputs),
        "models": dict(sorted(models.items())),
    }


def build_manifest(
    stage_names: Iterable[str],
    configs: Mapping[str, StageConfig],
    *,
    revisions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    revs = revisions or {}
    names = sorted(set(stage_names))
    return {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "stages": {
            n: _stage_entry(n, configs.get(n) or get_stage(n).config, revs) for n in names
        },
        "libraries": library_versions(),
    }


def write_manifest(out: str | Path, manifest: Mapping[str, Any]) -> Path:
    """Merge ``manifest`` into ``out``'s manifest (atomically); refuse a changed config."""
    path = manifest_path(out)
    if path.parent.is_dir():
        # A killed run's half-written report or manifest; not recursive (other ranks write
        # into the staging folder) and not the pack manifest (only packers, under a lock).
        for stale in path.parent.glob(f".*{TEMP_MARK}*"):
            if stale.is_file() and not stale.name.startswith(".pack.json"):
                stale.unlink(missing_ok=True)
    merged: dict[str, Any] = dict(manifest)
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        merged = {**old, **manifest}  # keys another writer added survive
        stages = dict(old.get("stages", {}))
        for name, entry in manifest["stages"].items():
            prev = stages.get(name)
            if prev is not None and prev.get("config") != entry["config"]:
                raise ValueError(
                    f"Invalid {name} config {entry['config']!r} for {out}: its outputs there "
                    f"were made with {prev.get('config')!r} (see {path}). Use another --out, "
                    "or remove those outputs and the manifest entry."
                )
            stages[name] = entry
        merged["stages"] = dict(sorted(stages.items()))
    atomic_write_text(path, json.dumps(merged, indent=1, sort_keys=True) + "\n")
    return path
