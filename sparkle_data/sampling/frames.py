"""Which frames to decode: a small frozen :class:`FrameSampler` and :func:`select_frames`.

Policies (``FrameSampler.policy``), dispatched through one table:

=================  ==========================================================================
``"all"``          every frame ``0..T-1``.
``"kiwi"``         Kiwi-Edit's ``LoadVideo``: the *first* ``N`` frames, ``N`` the largest
                   ``4k + 1`` not above ``min(num_frames, T)`` (81 -> 81, 80 -> 77, 70 -> 69).
``"stride"``       every ``stride``-th frame from frame 0, optionally the first ``num_frames``.
``"uniform"``      ``num_frames`` frames spread evenly over the clip, first and last included.
``"random_window"`` ``num_frames`` consecutive frames (every ``stride``-th) starting at a random
                   frame drawn from ``(seed, epoch, sample_id)``: no global RNG.
=================  ==========================================================================

Kiwi-Edit's rule, as its ``diffsynth/trainers/unified_dataset.py`` (``LoadVideo.get_num_frames``)
writes it: ``n = num_frames``; if the clip has fewer frames ``T``, ``n = T`` decremented until
``n % 4 == 1``; then frames ``0..n-1`` are read. One difference, on purpose: Kiwi-Edit keeps a
requested ``num_frames`` that is not ``4k + 1`` as is when the clip is long enough (34 stays 34),
which a Wan VAE cannot take; here the request is rounded down too (34 -> 33). For the values
Kiwi-Edit trains with (81, 49) the two agree.

``time_division=(d, r)`` makes any policy return a frame count ``n`` with ``n % d == r``
(``"kiwi"`` uses ``(4, 1)`` unless told otherwise). When the clip cannot give what the policy
asks for, ``on_short="shrink"`` takes fewer frames (never padding or repeating one) and
``on_short="error"`` raises :class:`ShortClipError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, get_args

import numpy as np
import numpy.typing as npt

from sparkle_data.sampling._checks import check_choice, check_int, check_optional_int
from sparkle_data.sampling._errors import ShortClipError

__all__ = [
    "FRAME_POLICIES",
    "KIWI_TIME_DIVISION",
    "ON_SHORT_CHOICES",
    "FramePolicy",
    "FrameSampler",
    "OnShort",
    "kiwi_num_frames",
    "rng_key",
    "select_frames",
]

FramePolicy = Literal["all", "kiwi", "stride", "uniform", "random_window"]
FRAME_POLICIES: Final[tuple[FramePolicy, ...]] = get_args(FramePolicy)
OnShort = Literal["error", "shrink"]
ON_SHORT_CHOICES: Final[tuple[OnShort, ...]] = get_args(OnShort)
KIWI_TIME_DIVISION: Final = (4, 1)
"""Kiwi-Edit's ``time_division_factor`` and ``time_division_remainder``: ``4k + 1`` frames."""

_NEEDS_NUM_FRAMES: Final = frozenset({"kiwi", "uniform", "random_window"})
_USES_STRIDE: Final = frozenset({"stride", "random_window"})
_RNG_PERSON: Final = b"sparkle-frames"

Indices = npt.NDArray[np.int64]


def _snap(n: int, division: tuple[int, int]) -> int:
    """The largest ``m <= n`` with ``m % d == r`` and ``m >= 1``; 0 when there is none."""
    d, r = division
    m = n - ((n - r) % d)
    return m if m >= 1 else 0


def kiwi_num_frames(num_available: int, num_frames: int = 81) -> int:
    """Kiwi-Edit's frame count: the largest ``4k + 1`` not above ``min(num_frames, T)``.

    >>> [kiwi_num_frames(t) for t in (81, 80, 77, 70, 69)]
    [81, 77, 77, 69, 69]
    >>> kiwi_num_frames(81, 34)
    33
    """
    available = check_int("num_available", num_available, 1)
    wanted = check_int("num_frames", num_frames, 1)
    return _snap(min(available, wanted), KIWI_TIME_DIVISION)


def rng_key(seed: int, epoch: int, sample_id: str | int) -> int:
    """A 128-bit key hashed from ``(seed, epoch, sample_id)``: stable across processes and runs.

    Python's ``hash()`` is salted per process, so it is not used. ``"7"`` and ``7`` give
    different keys.
    """
    check_int("seed", seed, 0)
    check_int("epoch", epoch, 0)
    if isinstance(sample_id, bool) or not isinstance(sample_id, (str, int, np.integer)):
        raise TypeError(f"Invalid sample_id {sample_id!r}: must be a str or an int.")
    kind = "s" if isinstance(sample_id, str) else "i"
    text = f"{int(seed)}\x1f{int(epoch)}\x1f{kind}:{sample_id}"
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16, person=_RNG_PERSON).digest()
    return int.from_bytes(digest, "little")


@dataclass(frozen=True, slots=True)
class FrameSampler:
    """How to choose the frames of a clip; see the module docstring for the policies.

    ``num_frames`` is required by ``"kiwi"``, ``"uniform"`` and ``"random_window"``, optional
    for ``"stride"`` (at most that many) and refused by ``"all"``. ``stride`` applies to
    ``"stride"`` and ``"random_window"`` only. ``seed`` feeds ``"random_window"``.
    """

    policy: FramePolicy = "all"
    num_frames: int | None = None
    stride: int = 1
    on_short: OnShort = "shrink"
    time_division: tuple[int, int] | None = None
    """``(d, r)``: return ``n`` frames with ``n % d == r``; ``None``: ``(4, 1)`` for ``"kiwi"``,
    no constraint otherwise."""
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("policy", self.policy, FRAME_POLICIES)
        check_choice("on_short", self.on_short, ON_SHORT_CHOICES)
        object.__setattr__(self, "num_frames", check_optional_int("num_frames", self.num_frames, 1))
        object.__setattr__(self, "stride", check_int("stride", self.stride, 1))
        object.__setattr__(self, "seed", check_int("seed", self.seed, 0))
        if self.policy in _NEEDS_NUM_FRAMES and self.num_frames is None:
            raise ValueError(f"Invalid num_frames None: policy {self.policy!r} needs num_frames.")
        if self.policy == "all" and self.num_frames is not None:
            raise ValueError(
                f"Invalid num_frames {self.num_frames!r}: policy 'all' takes every frame; use "
                "'kiwi' (the first N) or 'stride' with num_frames to take fewer."
            )
        if self.stride != 1 and self.policy not in _USES_STRIDE:
            raise ValueError(
                f"Invalid stride {self.stride!r}: policy {self.policy!r} does not use a stride "
                "(only 'stride' and 'random_window' do)."
            )
        if self.time_division is not None:
            td = self.time_division
            if not isinstance(td, tuple) or len(td) != 2:
                raise TypeError(f"Invalid time_division {td!r}: must be a (d, r) tuple.")
            d = check_int("time_division factor", td[0], 1)
            r = check_int("time_division remainder", td[1], 0)
            if r >= d:
                raise ValueError(f"Invalid time_division {td!r}: need 0 <= r < d.")
            object.__setattr__(self, "time_division", (d, r))
        if self.num_frames is not None and _snap(self.num_frames, self.division) == 0:
            raise ValueError(
                f"Invalid num_frames {self.num_frames!r}: no count <= it satisfies "
                f"n % {self.division[0]} == {self.division[1]}."
            )

    @property
    def division(self) -> tuple[int, int]:
        """The resolved ``time_division``: ``(4, 1)`` for ``"kiwi"``, ``(1, 0)`` (none) else."""
        if self.time_division is not None:
            return self.time_division
        return KIWI_TIME_DIVISION if self.policy == "kiwi" else (1, 0)

    @property
    def is_random(self) -> bool:
        return self.policy == "random_window"

    def count(self, num_available: int, *, sample_id: str | int | None = None) -> int:
        """How many frames :meth:`select` returns for a clip of ``num_available`` frames.

        Needs no RNG (a random window moves, its length does not): use it to bucket samples
        by length before decoding anything. Raises :class:`ShortClipError` like :meth:`select`.
        """
        available = check_int("num_available", num_available, 1)
        return self._count(available, sample_id)

    def _capacity(self, available: int) -> int:
        """Frames the policy can reach: every ``stride``-th frame for strided policies."""
        if self.policy in _USES_STRIDE:
            return (available - 1) // self.stride + 1
        return available

    def _count(self, available: int, sample_id: str | int | None) -> int:
        capacity = self._capacity(available)
        wanted = _snap(self.num_frames if self.num_frames is not None else capacity, self.division)
        if wanted and capacity >= wanted:
            return wanted
        got = _snap(capacity, self.division)
        if self.on_short == "error" or got == 0:
            d, r = self.division
            need = (
                f"needs {wanted} frames"
                if self.stride == 1
                else f"needs {wanted} frames at stride {self.stride} (a span of "
                f"{(wanted - 1) * self.stride + 1})"
            )
            rule = (
                f"policy {self.policy!r} {need}"
                if got
                else f"no frame count n <= {capacity} with n % {d} == {r} exists"
            )
            hint = "Pass on_short='shrink' to take fewer frames." if got else None
            raise ShortClipError.invalid(
                "frame count",
                available,
                rule=rule,
                hint=hint,
                sample_id=None if sample_id is None else str(sample_id),
            )
        return got

    def select(
        self, num_available: int, *, epoch: int = 0, sample_id: str | int | None = None
    ) -> Indices:
        """Sorted, unique, valid frame indices (``int64``) for a clip of ``num_available``.

        ``"random_window"`` needs ``sample_id`` (with ``epoch`` and :attr:`seed` it decides the
        window; a fixed default would give every sample the same window).
        """
        available = check_int("num_available", num_available, 1)
        check_int("epoch", epoch, 0)
        count = self._count(available, sample_id)
        return _POLICIES[self.policy](self, available, count, epoch, sample_id)


_PolicyFn = Callable[[FrameSampler, int, int, int, "str | int | None"], Indices]


def _first(s: FrameSampler, available: int, count: int, epoch: int, sid: object) -> Indices:
    return np.arange(count, dtype=np.int64)


def _stride(s: FrameSampler, available: int, count: int, epoch: int, sid: object) -> Indices:
    return np.arange(count, dtype=np.int64) * s.stride


def _uniform(s: FrameSampler, available: int, count: int, epoch: int, sid: object) -> Indices:
    """``floor(i * (T - 1) / (n - 1) + 1/2)`` in exact integers: first and last included."""
    if count == 1:
        return np.zeros(1, dtype=np.int64)
    i = np.arange(count, dtype=np.int64)
    return (2 * i * (available - 1) + (count - 1)) // (2 * (count - 1))


def _random_window(
    s: FrameSampler, available: int, count: int, epoch: int, sid: str | int | None
) -> Indices:
    if sid is None:
        raise ValueError(
            "Invalid sample_id None: policy 'random_window' needs a sample_id (str or int) so "
            "that each sample gets its own window; pass the sample's id or dataset index."
        )
    span = (count - 1) * s.stride + 1
    room = available - span
    start = 0
    if room > 0:
        start = int(np.random.default_rng(rng_key(s.seed, epoch, sid)).integers(0, room + 1))
    return start + np.arange(count, dtype=np.int64) * s.stride


_POLICIES: Final[dict[FramePolicy, _PolicyFn]] = {
    "all": _first,
    "kiwi": _first,
    "stride": _stride,
    "uniform": _uniform,
    "random_window": _random_window,
}


def select_frames(
    num_available: int,
    sampler: FrameSampler | None = None,
    *,
    epoch: int = 0,
    sample_id: str | int | None = None,
) -> Indices:
    """The frames ``sampler`` (default: every frame) takes from a clip of ``num_available``.

    >>> select_frames(80, FrameSampler("kiwi", num_frames=81)).size
    77
    >>> select_frames(81, FrameSampler("uniform", num_frames=5)).tolist()
    [0, 20, 40, 60, 80]
    """
    return (sampler or FrameSampler()).select(num_available, epoch=epoch, sample_id=sample_id)
