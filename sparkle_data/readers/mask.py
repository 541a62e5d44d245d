"""``source_video_mask`` NPZ files: bit-packed boolean masks of shape ``(T, H, W)``.

The card's format: an NPZ with exactly two arrays, ``mask`` (``uint8``, 1-D, the output of
``np.packbits`` over the flattened ``(T, H, W)`` boolean mask, big-endian bit order) and
``shape`` (the three integers ``T, H, W``, ``T <= 81``).
"""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import numpy.typing as npt

from sparkle_data.io.atomic import atomic_write_bytes
from sparkle_data.layout import MAX_FRAMES

__all__ = ["encode_mask_npz", "write_mask"]

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _npy_bytes(array: npt.NDArray[np.generic]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def encode_mask_npz(mask: npt.NDArray[np.bool_], *, compress: bool = True) -> bytes:
    """Encode a boolean ``(T, H, W)`` mask as the card's packed-bit NPZ, byte-deterministically.

    The result is what ``np.savez_compressed(f, mask=np.packbits(m), shape=m.shape)`` stores,
    with fixed zip timestamps so the same mask always gives the same bytes.
    """
    m = np.asarray(mask)
    if m.ndim != 3 or 0 in m.shape:
        raise ValueError(f"Invalid mask shape {m.shape}: must be (T, H, W) with positive sizes.")
    if m.shape[0] > MAX_FRAMES:
        raise ValueError(f"Invalid mask shape {m.shape}: T must be <= {MAX_FRAMES}.")
    if m.dtype != np.bool_:
        raise ValueError(f"Invalid mask dtype {m.dtype}: must be bool.")
    packed = np.packbits(m.reshape(-1))
    shape = np.asarray(m.shape, dtype=np.int64)
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as zf:
        for name, arr in (("mask", packed), ("shape", shape)):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            zf.writestr(info, _npy_bytes(arr))
    return out.getvalue()


def write_mask(
    path: str | os.PathLike[str], mask: npt.NDArray[np.bool_], *, compress: bool = True
) -> None:
    """Write ``mask`` to ``path`` atomically in the card's packed-bit NPZ format."""
    atomic_write_bytes(path, encode_mask_npz(mask, compress=compress))
