"""What a synthetic clip shows, as numbers: a textured figure that moves over a backdrop.

The source video is the figure over the *source* backdrop; the edited video is the same figure
(same path, same texture) over a different *edited* backdrop. :mod:`.render` turns a
:class:`SceneSpec` into pixels; this module only draws the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from sparkle_data.layout import MAX_FRAMES

__all__ = [
    "FRAME_COUNTS",
    "IRREGULAR_FRAME_COUNTS",
    "RGB",
    "Backdrop",
    "Figure",
    "SceneSpec",
    "draw_frame_count",
    "make_scene_spec",
]

RGB = tuple[int, int, int]

FRAME_COUNTS: Final[tuple[int, ...]] = (81, 77, 73, 69)
"""The usual clip lengths (``4k + 1``, at most 81)."""
_FRAME_COUNT_WEIGHTS: Final = (0.55, 0.15, 0.15, 0.15)
IRREGULAR_FRAME_COUNTS: Final[tuple[int, ...]] = (70, 71, 75, 79)
"""Lengths that are not ``4k + 1``; real clips have a few."""
_IRREGULAR_SHARE: Final = 0.12


@dataclass(frozen=True, slots=True)
class Backdrop:
    """A sky/ground background with a drifting disc (sun, moon, lamp) and panning stripes."""

    name: str
    sky_top: RGB
    sky_bottom: RGB
    ground: RGB
    ground_stripe: RGB
    disc: RGB
    horizon: float
    """Horizon height as a fraction of the frame height."""
    wave: float
    """Horizon wave amplitude, fraction of the height."""
    wave_len: float
    """Horizon wave length, fraction of the width."""
    pan: float
    """Camera pan per frame, fraction of the width."""
    stripe_period: float
    """Ground stripe period, fraction of the height."""
    disc_x: float
    disc_y: float
    disc_r: float
    disc_dx: float
    """Disc drift per frame, fraction of the width."""


@dataclass(frozen=True, slots=True)
class Figure:
    """A striped-coat figure: body ellipse, head disc, optional hat and bag. Pixel units."""

    coat_name: str
    coat: RGB
    coat_stripe: RGB
    skin: RGB
    hat_name: str | None
    hat: RGB | None
    bag_name: str | None
    bag: RGB | None
    body_rx: float
    body_ry: float
    head_r: float
    stripe_period: float
    x0: float
    x_amp: float
    y0: float
    y_amp: float
    cycles: float
    phase: float


@dataclass(frozen=True, slots=True)
class SceneSpec:
    width: int
    height: int
    n_frames: int
    source: Backdrop
    edited: Backdrop
    figure: Figure

    def __post_init__(self) -> None:
        if not 1 <= self.n_frames <= MAX_FRAMES:
            raise ValueError(f"Invalid n_frames {self.n_frames}: must be in [1, {MAX_FRAMES}].")


_PALETTES: Final[tuple[tuple[str, RGB, RGB, RGB, RGB, RGB], ...]] = (
    ("clear day", (90, 150, 230), (190, 220, 250), (70, 140, 60), (50, 110, 45), (255, 240, 150)),
    ("dusk", (60, 40, 110), (240, 140, 90), (60, 50, 60), (40, 35, 45), (255, 200, 120)),
    ("night", (10, 15, 40), (40, 50, 90), (25, 25, 35), (50, 50, 70), (230, 230, 210)),
    ("snow", (170, 190, 210), (225, 230, 240), (240, 240, 245), (200, 205, 220), (255, 255, 255)),
    ("desert", (120, 180, 235), (240, 220, 170), (210, 170, 100), (180, 140, 75), (255, 250, 200)),
    ("forest", (40, 80, 60), (120, 160, 120), (30, 70, 30), (15, 45, 20), (200, 230, 150)),
    ("studio", (150, 150, 155), (195, 195, 200), (120, 120, 125), (95, 95, 100), (235, 235, 235)),
)

_COLORS: Final[dict[str, RGB]] = {
    "red": (200, 40, 40),
    "blue": (40, 70, 200),
    "yellow": (230, 200, 40),
    "green": (40, 160, 70),
    "purple": (130, 60, 170),
    "orange": (240, 130, 30),
    "white": (235, 235, 235),
    "black": (25, 25, 25),
    "brown": (120, 75, 40),
    "pink": (230, 120, 170),
}
_SKINS: Final[tuple[RGB, ...]] = ((224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172))


def draw_frame_count(rng: np.random.Generator, *, irregular: bool = False) -> int:
    """Mostly 81, 77, 73 or 69 frames; a few (or, with ``irregular``, always) not ``4k + 1``."""
    if irregular or rng.random() < _IRREGULAR_SHARE:
        return IRREGULAR_FRAME_COUNTS[int(rng.integers(len(IRREGULAR_FRAME_COUNTS)))]
    return FRAME_COUNTS[int(rng.choice(len(FRAME_COUNTS), p=_FRAME_COUNT_WEIGHTS))]


def _backdrop(rng: np.random.Generator, palette_index: int) -> Backdrop:
    name, top, bottom, ground, stripe, disc = _PALETTES[palette_index]
    return Backdrop(
        name=name,
        sky_top=top,
        sky_bottom=bottom,
        ground=ground,
        ground_stripe=stripe,
        disc=disc,
        horizon=float(rng.uniform(0.45, 0.7)),
        wave=float(rng.uniform(0.02, 0.08)),
        wave_len=float(rng.uniform(0.4, 1.0)),
        pan=float(rng.uniform(0.002, 0.008)) * float(rng.choice((-1.0, 1.0))),
        stripe_period=float(rng.uniform(0.08, 0.16)),
        disc_x=float(rng.uniform(0.1, 0.9)),
        disc_y=float(rng.uniform(0.1, 0.3)),
        disc_r=float(rng.uniform(0.06, 0.12)),
        disc_dx=float(rng.uniform(-0.003, 0.003)),
    )


def _color(rng: np.random.Generator, exclude: tuple[str, ...] = ()) -> tuple[str, RGB]:
    names = [n for n in _COLORS if n not in exclude]
    name = names[int(rng.integers(len(names)))]
    return name, _COLORS[name]


def _figure(rng: np.random.Generator, width: int, height: int) -> Figure:
    coat_name, coat = _color(rng)
    _, stripe = _color(rng, exclude=(coat_name,))
    hat_name, hat = _color(rng) if rng.random() < 0.6 else (None, None)
    bag_name, bag = _color(rng, exclude=(coat_name,)) if rng.random() < 0.4 else (None, None)
    rx = float(rng.uniform(0.10, 0.14)) * height
    ry = float(rng.uniform(0.20, 0.26)) * height
    hr = float(rng.uniform(0.07, 0.09)) * height
    # Keep the whole figure (bag on the right, hat on top) inside the frame on its path.
    x_lo, x_hi = 0.04 * width + rx, 0.96 * width - 1.2 * rx
    y_lo, y_hi = 0.04 * height + ry + 2.3 * hr, 0.97 * height - ry
    x0 = float(rng.uniform(x_lo + 0.3 * (x_hi - x_lo), x_hi - 0.3 * (x_hi - x_lo)))
    x_amp = min(x0 - x_lo, x_hi - x0) * float(rng.uniform(0.4, 0.95))
    y0 = (y_lo + y_hi) / 2
    y_amp = min((y_hi - y_lo) / 2, 0.03 * height) * float(rng.uniform(0.3, 1.0))
    return Figure(
        coat_name=coat_name,
        coat=coat,
        coat_stripe=stripe,
        skin=_SKINS[int(rng.integers(len(_SKINS)))],
        hat_name=hat_name,
        hat=hat,
        bag_name=bag_name,
        bag=bag,
        body_rx=rx,
        body_ry=ry,
        head_r=hr,
        stripe_period=float(rng.uniform(0.06, 0.1)) * height,
        x0=x0,
        x_amp=x_amp,
        y0=y0,
        y_amp=y_amp,
        cycles=float(rng.uniform(0.5, 1.5)),
        phase=float(rng.uniform(0, 2 * np.pi)),
    )


def make_scene_spec(rng: np.random.Generator, width: int, height: int, n_frames: int) -> SceneSpec:
    """Draw a scene: two different backdrops and one figure."""
    src, edited = rng.choice(len(_PALETTES), size=2, replace=False)
    return SceneSpec(
        width=width,
        height=height,
        n_frames=n_frames,
        source=_backdrop(rng, int(src)),
        edited=_backdrop(rng, int(edited)),
        figure=_figure(rng, width, height),
    )
