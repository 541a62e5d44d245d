"""Words of the synthetic tree: prompts, ``subtheme: scene`` keywords, scene descriptions,
EditScore rationales and VLM labels. Prompts use commas, double quotes and one non-ASCII
scene so CSV quoting and UTF-8 handling are exercised."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from sparkle_data.layout import EditType

__all__ = [
    "SCENES",
    "SampleText",
    "make_pq_reasoning",
    "make_sample_text",
    "make_sc_reasoning",
]

SCENES: Final[dict[EditType, tuple[tuple[str, str], ...]]] = {
    "location": (
        ("urban", "rooftop overlooking skyline"),
        ("nature", "misty pine forest"),
        ("landmark", "ancient stone ruins with wind-swept grass"),
        ("rural", "sunflower field at noon"),
        ("coastal", "rocky beach at low tide"),
        ("urban", "Parisian café terrace"),
    ),
    "season": (
        ("spring", "cherry blossom park"),
        ("summer", "sun-bleached beach boardwalk"),
        ("autumn", "maple-lined country road"),
        ("winter", "snow-covered village square"),
    ),
    "time": (
        ("dawn", "foggy harbor at first light"),
        ("dusk", "city street under amber streetlights"),
        ("night", "neon-lit alley after rain"),
        ("noon", "bright desert highway"),
    ),
    "style": (
        ("era", "1920s art deco ballroom"),
        ("mood", "melancholic rainy window"),
        ("cinematic", "sci-fi spaceship corridor"),
        ("painting", "watercolor meadow"),
    ),
    "openve3m": (
        ("scene", "busy train station platform"),
        ("scene", "quiet library with tall shelves"),
        ("scene", "tropical beach with palm trees"),
        ("scene", "mountain lake under clear sky"),
    ),
}

# Every template has a comma (so CSV fields get quoted); the first ones also have quotes.
_QUOTED_TEMPLATES: Final = (
    'Replace the background with a "{scene}" setting, keeping the subject\'s pose and lighting.',
    'Shift the backdrop to "{scene}", with soft, natural light.',
)
_PLAIN_TEMPLATES: Final = (
    "Shift the background to {a_scene}, keeping the subject unchanged.",
    "Put the subject against {a_scene}, with matching shadows and depth.",
    "Change the scene behind the subject to {a_scene}, while preserving the foreground.",
)

_ORIGINAL_SCENES: Final = (
    "A cobblestone street in a historical European city, with shops and warm light.",
    "A dimly lit indoor bar or restaurant with brick walls, framed artwork, and warm overhead "
    "lighting.",
    "A bright office with glass walls, desks, and potted plants.",
    'A park path lined with trees and benches, a sign reading "Keep off the grass".',
    "A plain studio backdrop in light grey.",
    "A suburban sidewalk next to parked cars and low hedges.",
)

_SC_HIGH: Final = (
    "The edited image follows the instruction: the background is now {scene}, and the subject "
    "keeps its identity and pose.",
    "The background change to {scene} is complete and the subject is preserved.",
)
_SC_LOW: Final = (
    "The background only partly resembles {scene}; parts of the original scene remain.",
    'The edit changes the subject\'s appearance, and the new background does not match "{scene}".',
)
_PQ_HIGH: Final = (
    "The image looks natural with consistent lighting and no visible artifacts.",
    "Sharp details, plausible shadows, clean subject edges.",
)
_PQ_LOW: Final = (
    "Visible blending seams around the subject and blurry background textures.",
    "The lighting on the subject does not match the background; edges look cut out.",
)


@dataclass(frozen=True, slots=True)
class SampleText:
    prompt: str
    scene: str
    chosen_keyword: str | None
    """``"subtheme: scene"``; ``None`` for ``openve3m`` (the card: not available)."""
    original_scene: str


def _with_article(scene: str) -> str:
    return ("an " if scene[0] in "aeiou" else "a ") + scene


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def make_sample_text(
    rng: np.random.Generator, edit_type: EditType, *, quoted: bool | None = None
) -> SampleText:
    """Draw a prompt (quoted template when ``quoted``; random when ``None``), keyword, scene."""
    subtheme, scene = SCENES[edit_type][int(rng.integers(len(SCENES[edit_type])))]
    if quoted is None:
        quoted = bool(rng.random() < 0.4)
    template = _pick(rng, _QUOTED_TEMPLATES if quoted else _PLAIN_TEMPLATES)
    keyword = None if edit_type == "openve3m" else f"{subtheme}: {scene}"
    return SampleText(
        prompt=template.format(scene=scene, a_scene=_with_article(scene)),
        scene=scene,
        chosen_keyword=keyword,
        original_scene=_pick(rng, _ORIGINAL_SCENES),
    )


def make_sc_reasoning(rng: np.random.Generator, scene: str, *, good: bool) -> str:
    return _pick(rng, _SC_HIGH if good else _SC_LOW).format(scene=scene)


def make_pq_reasoning(rng: np.random.Generator, *, good: bool) -> str:
    return _pick(rng, _PQ_HIGH if good else _PQ_LOW)
