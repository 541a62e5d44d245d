"""Arrays to what a caller asked for (``"torch"`` tensors or ``"numpy"``): the one place where
the sampling layer makes tensors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from sparkle_data.io.shm import shared_empty

if TYPE_CHECKING:
    import torch

__all__ = ["Output", "to_output"]

Output = Literal["torch", "numpy"]


def to_output(
    array: npt.NDArray[Any],
    output: Output,
    *,
    contiguous: bool = False,
    copy: bool = False,
    shared_memory: bool = False,
) -> npt.NDArray[Any] | torch.Tensor:
    """``array`` as a tensor (zero-copy) or a numpy array.

    ``copy=True`` gives it its own C-contiguous buffer (writable even when ``array`` is
    read-only), ``contiguous=True`` only when it is not contiguous already.
    ``shared_memory=True`` (torch only) copies it once into recycled shared memory, which a
    DataLoader worker sends without another copy.
    """
    if output == "torch" and shared_memory:
        import torch

        src = torch.from_numpy(array)
        return shared_empty(tuple(src.shape), dtype=src.dtype).copy_(src)
    if copy:
        array = np.array(array, order="C", copy=True)
    elif contiguous:
        array = np.ascontiguousarray(array)
    if output == "torch":
        import torch

        return torch.from_numpy(array)
    return array
