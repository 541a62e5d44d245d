"""Argument checks shared by the sampling modules (plain ``ValueError``/``TypeError``)."""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeVar

import numpy as np

__all__ = ["check_choice", "check_int", "check_optional_int"]

_S = TypeVar("_S", bound=str)


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an ``int`` (numpy integers accepted, ``bool`` refused), ``>= minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"Invalid {name} {value!r}: must be an int.")
    if value < minimum:
        raise ValueError(f"Invalid {name} {value!r}: must be an int >= {minimum}.")
    return int(value)


def check_optional_int(name: str, value: object, minimum: int) -> int | None:
    return None if value is None else check_int(name, value, minimum)


def check_choice(name: str, value: _S, choices: Collection[_S]) -> _S:
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise ValueError(f"Invalid {name} {value!r}: must be one of {shown}.")
    return value
