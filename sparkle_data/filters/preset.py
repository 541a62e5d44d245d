"""Named score presets: the paper's three thresholds, and stricter / looser variants.

=========  ==================  ======================  =====================
preset     ``frame0_overall``  ``fg_removed_overall``  ``video_mean_o_score``
=========  ==================  ======================  =====================
``paper``  >= 8.0              >= 8.5                  >= 8.0
``strict`` >= 8.5              >= 9.0                  >= 8.5
``loose``  >= 7.5              >= 8.0                  >= 7.5
=========  ==================  ======================  =====================

``paper`` is the card's rule set (Stage 2 ``edited_frame0_score.overall``, Stage 3
``edited_frame0_foreground_removed_score.overall``, Stage 5 mean of the four ``O_score``).
``strict`` / ``loose`` move each threshold by half a point. Every threshold can be changed:
``PAPER.with_thresholds(video_mean_o_score=8.3)`` (aliases such as ``video_mean_o`` work).

A looser preset cannot bring back samples the pipeline never finished: an id rejected at a
stage has no later scores (and no videos), so those later rules are unknown for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from sparkle_data.catalog.summary import PAPER_THRESHOLDS
from sparkle_data.filters._errors import FilterError
from sparkle_data.filters.expr import And, Compare, Filter, format_number
from sparkle_data.filters.field import resolve_field

if TYPE_CHECKING:
    from sparkle_data.filters.expr import EvalContext, Truth

__all__ = [
    "LOOSE",
    "PAPER",
    "PRESETS",
    "PRESET_FIELDS",
    "STAGE_OF_FIELD",
    "STRICT",
    "ScorePreset",
    "get_preset",
]

PRESET_FIELDS: Final[tuple[str, str, str]] = (
    "frame0_overall",
    "fg_removed_overall",
    "video_mean_o_score",
)
"""The three scores a preset thresholds, in pipeline order."""

STAGE_OF_FIELD: Final[dict[str, str]] = {
    "frame0_overall": "edited_frame0_score",
    "fg_removed_overall": "edited_frame0_foreground_removed_score",
    "video_mean_o_score": "edited_video_score",
}
"""The record file (pipeline stage) each preset score comes from."""


def _threshold(name: str, value: Any) -> float:
    probe = Compare(name, ">=", value)  # validates: a finite number
    return probe.value


@dataclass(frozen=True, slots=True)
class ScorePreset(Filter):
    """``frame0_overall >= a and fg_removed_overall >= b and video_mean_o_score >= c``."""

    name: str
    frame0_overall: float
    fg_removed_overall: float
    video_mean_o_score: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise FilterError.invalid("preset name", self.name, rule="must be an identifier")
        for f in PRESET_FIELDS:
            object.__setattr__(self, f, _threshold(f, getattr(self, f)))

    @property
    def thresholds(self) -> dict[str, float]:
        """``{field: threshold}`` in pipeline order."""
        return {f: float(getattr(self, f)) for f in PRESET_FIELDS}

    def with_thresholds(
        self, thresholds: Mapping[str, float] | None = None, **kwargs: float
    ) -> ScorePreset:
        """A copy with some thresholds changed (same name); unknown fields raise."""
        changes: dict[str, float] = {}
        for key, value in {**(thresholds or {}), **kwargs}.items():
            f = resolve_field(key)
            if f not in PRESET_FIELDS:
                raise FilterError.invalid(
                    "preset threshold",
                    key,
                    rule="not a preset score",
                    hint=f"Use one of {', '.join(PRESET_FIELDS)}; combine other rules with &.",
                )
            changes[f] = _threshold(f, value)
        return replace(self, **changes)  # type: ignore[arg-type]

    def as_filter(self) -> And:
        """The three rules as a plain :class:`And` (pipeline order)."""
        return And(tuple(Compare(f, ">=", v) for f, v in self.thresholds.items()))

    def stages(self) -> tuple[tuple[str, Filter], ...]:
        """``(record name, rule)`` per pipeline stage, in order (for the funnel)."""
        return tuple((STAGE_OF_FIELD[f], Compare(f, ">=", v)) for f, v in self.thresholds.items())

    @property
    def is_default(self) -> bool:
        """Whether this is a built-in preset with its documented numbers."""
        return PRESETS.get(self.name) == self

    def _truth(self, ctx: EvalContext) -> Truth:
        return ctx.truth(self.as_filter())

    def describe(self) -> str:
        args = ", ".join(f"{f}={format_number(v)}" for f, v in self.thresholds.items())
        return f"{self.name}({args})"

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.name, "thresholds": self.thresholds}

    def rules(self) -> Iterator[Filter]:
        yield from self.as_filter().rules()


PAPER: Final = ScorePreset(
    "paper",
    PAPER_THRESHOLDS["frame0_overall"],
    PAPER_THRESHOLDS["fg_removed_overall"],
    PAPER_THRESHOLDS["video_mean_o_score"],
)
"""The paper's filtering: 8.0 / 8.5 / 8.0."""

STRICT: Final = ScorePreset("strict", 8.5, 9.0, 8.5)
"""Half a point above the paper on every stage: 8.5 / 9.0 / 8.5."""

LOOSE: Final = ScorePreset("loose", 7.5, 8.0, 7.5)
"""Half a point below the paper on every stage: 7.5 / 8.0 / 7.5."""

PRESETS: Final[dict[str, ScorePreset]] = {p.name: p for p in (PAPER, STRICT, LOOSE)}
"""Built-in presets by name."""


def get_preset(name: str, **thresholds: float) -> ScorePreset:
    """A built-in preset by name, with optional threshold overrides."""
    try:
        preset = PRESETS[name]
    except (KeyError, TypeError):
        raise FilterError.invalid(
            "preset", name, rule="not a known preset", hint=f"Use one of {', '.join(PRESETS)}."
        ) from None
    return preset.with_thresholds(thresholds) if thresholds else preset
