"""The stage registry: stages by name and by the artifact they make."""

from __future__ import annotations

from sparkle_data.regen.models.stages import MODEL_STAGES
from sparkle_data.regen.stage import Stage
from sparkle_data.regen.stages import BUILTIN_STAGES

__all__ = ["get_stage", "register_stage", "stage_for", "stages"]

_STAGES: dict[str, Stage] = {}
_BY_OUTPUT: dict[str, str] = {}


def register_stage(stage: Stage, *, replace: bool = False) -> None:
    """Add ``stage`` (``replace=True`` swaps a stage of the same name, e.g. a model stage
    plugged in by a later release or a test)."""
    if stage.name in _STAGES and not replace:
        raise ValueError(f"Invalid stage {stage.name!r}: already registered.")
    for out in stage.outputs:
        owner = _BY_OUTPUT.get(out)
        if owner is not None and owner != stage.name:
            raise ValueError(
                f"Invalid stage {stage.name!r}: {out} is already made by stage {owner!r}."
            )
    _STAGES[stage.name] = stage
    for out in stage.outputs:
        _BY_OUTPUT[out] = stage.name


def get_stage(name: str) -> Stage:
    try:
        return _STAGES[name]
    except KeyError:
        raise ValueError(
            f"Invalid stage {name!r}: not registered. Expected one of: {', '.join(_STAGES)}."
        ) from None


def stage_for(artifact: str) -> Stage | None:
    """The stage that makes ``artifact`` (``None`` for the corpus videos)."""
    name = _BY_OUTPUT.get(artifact)
    return None if name is None else _STAGES[name]


def stages() -> tuple[Stage, ...]:
    return tuple(_STAGES.values())


for _s in BUILTIN_STAGES:
    register_stage(_s)
for _s in MODEL_STAGES:
    register_stage(_s)
