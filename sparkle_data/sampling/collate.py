"""Batch dict-of-fields samples whose clips may differ in length.

Two ways to batch clips of different ``T`` (Kiwi-Edit's rule gives 81, 77, 73 or 69 frames):

* **pad**: :func:`collate_pad` pads every temporal field along ``T`` with zeros to the longest
  clip of the batch and adds ``lengths`` (``int64 (B,)``) and ``frame_mask`` (``bool (B, T)``,
  True on real frames). The model must honour the mask.
* **bucket**: :class:`BucketBatchSampler` (or :func:`group_by_length`) builds batches of samples
  with equal shape keys (such as ``SamplePlan.shape``), so :func:`collate_stack` stacks them
  with no padding at all, and raises if a batch is not uniform after all.

Both are plain ``collate_fn`` callables for :class:`torch.utils.data.DataLoader`. A sample is a
mapping of fields: tensors and numpy arrays are batched (numpy arrays become tensors), every
other value (ids, prompts, metadata dicts, scores, :class:`BoxesArray`, ``None``) is collected
into a list. Temporal fields are, by default, the array fields with 3 or more dimensions
(videos ``(T, C, H, W)``, masks ``(T, H, W)``; not the frame-0 images ``(3, H, W)``,
``source_frame0`` and the like), which set each sample's ``T``, plus any other
array field whose first dimension is that ``T`` in every sample and varies across the batch
(per-frame values such as ``frame_indices``); pass ``time_keys=`` to choose them explicitly.
Inside a worker process the batch tensors are allocated in shared memory, as PyTorch's own
``default_collate`` does, so handing them to the main process copies nothing more.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from sparkle_data.layout import ARTIFACTS
from sparkle_data.sampling._checks import check_int
from sparkle_data.sampling.frames import rng_key

if TYPE_CHECKING:
    import torch

__all__ = [
    "BucketBatchSampler",
    "collate_pad",
    "collate_stack",
    "group_by_length",
]


def collate_pad(
    batch: Sequence[Mapping[str, Any]],
    *,
    time_keys: Sequence[str] | None = None,
    pad_value: float = 0,
    lengths_key: str = "lengths",
    mask_key: str = "frame_mask",
) -> dict[str, Any]:
    """Collate samples, padding temporal fields along ``T`` to the longest in the batch.

    Returns the batched fields plus ``lengths_key`` (``int64 (B,)``) and ``mask_key``
    (``bool (B, T_max)``) when there is at least one temporal field. Raises ``ValueError`` when
    samples have different keys, a field mixes arrays and other values, temporal fields of one
    sample disagree in ``T``, or arrays differ in anything but ``T`` (bucket by size instead).
    """
    return _collate(batch, True, time_keys, pad_value, lengths_key, mask_key)


def collate_stack(
    batch: Sequence[Mapping[str, Any]],
    *,
    time_keys: Sequence[str] | None = None,
    lengths_key: str = "lengths",
    mask_key: str = "frame_mask",
) -> dict[str, Any]:
    """Collate samples of equal shapes (a bucketed batch): no padding, same output keys.

    Raises ``ValueError`` naming the shapes when a temporal field differs in ``T`` (use
    :func:`collate_pad` or :class:`BucketBatchSampler`).
    """
    return _collate(batch, False, time_keys, 0, lengths_key, mask_key)


def _is_array(value: object) -> bool:
    import torch

    return isinstance(value, (torch.Tensor, np.ndarray))


def _as_tensor(value: Any) -> torch.Tensor:
    import torch

    if isinstance(value, torch.Tensor):
        return value
    array = np.asarray(value)
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array)


def _empty(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """An uninitialised tensor, in (recycled) shared memory inside a DataLoader worker."""
    import torch

    if like.device.type == "cpu" and torch.utils.data.get_worker_info() is not None:
        # Like torch's default_collate, the batch lands in shared memory directly; ours comes
        # from the worker's pool of recycled buffers (sparkle_data.io.shm).
        from sparkle_data.io.shm import shared_empty

        return shared_empty(shape, dtype=like.dtype)
    return torch.empty(shape, dtype=like.dtype, device=like.device)


def _collate(
    batch: Sequence[Mapping[str, Any]],
    pad: bool,
    time_keys: Sequence[str] | None,
    pad_value: float,
    lengths_key: str,
    mask_key: str,
) -> dict[str, Any]:
    import torch

    if len(batch) == 0:
        raise ValueError("Invalid batch: it is empty.")
    keys = list(batch[0])
    for i, sample in enumerate(batch):
        if not isinstance(sample, Mapping):
            raise TypeError(
                f"Invalid sample {i} of type {type(sample).__name__}: must be a mapping of fields."
            )
        if set(sample) != set(keys):
            raise ValueError(
                f"Invalid batch: sample {i} has fields {sorted(sample)}, sample 0 has "
                f"{sorted(keys)}."
            )
    for reserved in (lengths_key, mask_key):
        if reserved in keys:
            raise ValueError(
                f"Invalid batch: a sample already has a field {reserved!r}, which the collate "
                "adds; pass another lengths_key/mask_key."
            )
    arrays: dict[str, list[torch.Tensor]] = {}
    out: dict[str, Any] = {}
    for key in keys:
        values = [sample[key] for sample in batch]
        flags = [_is_array(v) for v in values]
        if all(flags):
            arrays[key] = [_as_tensor(v) for v in values]
        elif any(flags):
            kinds = sorted({type(v).__name__ for v in values})
            raise ValueError(f"Invalid field {key!r}: mixes arrays and other values ({kinds}).")
        else:
            out[key] = values
    temporal = _time_keys(arrays, time_keys)
    lengths = _lengths(arrays, temporal, len(batch))
    if time_keys is None and lengths is not None:
        temporal |= _followers(arrays, temporal, lengths.tolist())
    for key, tensors in arrays.items():
        out[key] = _batch_field(key, tensors, key in temporal, pad, pad_value)
    if lengths is not None:
        t_max = int(lengths.max())
        out[lengths_key] = lengths
        out[mask_key] = torch.arange(t_max)[None, :] < lengths[:, None]
    return {key: out[key] for key in (*keys, lengths_key, mask_key) if key in out}


_IMAGE_FIELDS: Final = frozenset(n for n, a in ARTIFACTS.items() if a.extension == "png")
"""Sparkle's frame-0 images, ``(3, H, W)``: three dimensions, but no time axis."""


def _time_keys(
    arrays: Mapping[str, list[torch.Tensor]], time_keys: Sequence[str] | None
) -> set[str]:
    if time_keys is None:
        return {
            k for k, ts in arrays.items() if k not in _IMAGE_FIELDS and all(t.ndim >= 3 for t in ts)
        }
    if isinstance(time_keys, str):
        raise TypeError(f"Invalid time_keys {time_keys!r}: must be a sequence of field names.")
    chosen = set(time_keys)
    for key in chosen:
        if key not in arrays:
            raise ValueError(f"Invalid time key {key!r}: not an array field of the samples.")
        if any(t.ndim < 1 for t in arrays[key]):
            raise ValueError(f"Invalid time key {key!r}: its arrays have no T dimension.")
    return chosen


def _followers(
    arrays: Mapping[str, list[torch.Tensor]], temporal: set[str], lengths: list[int]
) -> set[str]:
    """Other array fields whose first dimension is each sample's ``T`` and varies with it
    (per-frame values such as ``frame_indices``): padded like the clips."""
    out = set()
    for key, ts in arrays.items():
        if key in temporal or any(t.ndim < 1 for t in ts):
            continue
        if [t.shape[0] for t in ts] == lengths and len({tuple(t.shape) for t in ts}) > 1:
            out.add(key)
    return out


def _lengths(
    arrays: Mapping[str, list[torch.Tensor]], temporal: set[str], size: int
) -> torch.Tensor | None:
    import torch

    if not temporal:
        return None
    ordered = [k for k in arrays if k in temporal]
    lengths = [arrays[ordered[0]][i].shape[0] for i in range(size)]
    for key in ordered[1:]:
        for i in range(size):
            t = arrays[key][i].shape[0]
            if t != lengths[i]:
                raise ValueError(
                    f"Invalid sample {i}: temporal fields disagree in T "
                    f"({ordered[0]!r}: {lengths[i]}, {key!r}: {t}); pass time_keys= to name "
                    "the per-frame fields (the others are stacked or listed)."
                )
    return torch.tensor(lengths, dtype=torch.int64)


def _batch_field(
    key: str, tensors: list[torch.Tensor], temporal: bool, pad: bool, pad_value: float
) -> torch.Tensor:
    first = tensors[0]
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1:
        raise ValueError(f"Invalid field {key!r}: dtypes differ across the batch {dtypes}.")
    shapes = [tuple(t.shape) for t in tensors]
    rest = {s[1:] if temporal else s for s in shapes}
    if len(rest) > 1:
        what = "frame shapes (after T)" if temporal else "shapes"
        hint = (
            "bucket samples by (H, W) or use a fixed Resize"
            if temporal
            else "add it to time_keys if it is per frame"
        )
        raise ValueError(f"Invalid field {key!r}: {what} differ across the batch {shapes}; {hint}.")
    t_max = max(s[0] for s in shapes) if temporal else 0
    if temporal and not pad and any(s[0] != t_max for s in shapes):
        raise ValueError(
            f"Invalid field {key!r}: clip lengths differ across the batch "
            f"{[s[0] for s in shapes]}; use collate_pad or batch with BucketBatchSampler."
        )
    shape = (len(tensors), t_max, *shapes[0][1:]) if temporal else (len(tensors), *shapes[0])
    out = _empty(shape, first)
    for i, t in enumerate(tensors):
        if temporal:
            out[i, : t.shape[0]].copy_(t)
            if t.shape[0] < t_max:
                out[i, t.shape[0] :].fill_(pad_value)
        else:
            out[i].copy_(t)
    return out


# --------------------------------------------------------------------------- bucketing


def group_by_length(
    keys: Sequence[Hashable],
    batch_size: int,
    *,
    drop_last: bool = False,
    shuffle: bool = False,
    seed: int = 0,
    epoch: int = 0,
) -> list[list[int]]:
    """Batches of dataset indices whose ``keys`` are equal (``keys[i]``: sample ``i``'s shape).

    Without ``shuffle``: buckets in order of first appearance, indices in order. With it: the
    indices inside each bucket and the order of the batches are shuffled from
    ``(seed, epoch)`` (no global RNG). ``drop_last`` drops each bucket's incomplete batch.
    """
    size = check_int("batch_size", batch_size, 1)
    buckets: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        buckets.setdefault(key, []).append(i)
    rng = np.random.default_rng(rng_key(seed, epoch, "group_by_length")) if shuffle else None
    batches: list[list[int]] = []
    for members in buckets.values():
        order = [members[j] for j in rng.permutation(len(members))] if rng else members
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            if len(chunk) == size or not drop_last:
                batches.append(chunk)
    if rng is not None:
        batches = [batches[j] for j in rng.permutation(len(batches))]
    return batches


class BucketBatchSampler:
    """A ``batch_sampler`` for :class:`~torch.utils.data.DataLoader`: batches of equal keys.

    ``keys[i]`` is sample ``i``'s shape key, known before decoding (for example
    ``plan_sample(probes, ...).shape``, or ``(sampler.count(T), H, W)`` from an index). Call
    :meth:`set_epoch` each epoch to reshuffle. Use with ``collate_fn=collate_stack``.
    """

    def __init__(
        self,
        keys: Sequence[Hashable],
        batch_size: int,
        *,
        drop_last: bool = False,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        self.keys = list(keys)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.drop_last = bool(drop_last)
        self.shuffle = bool(shuffle)
        self.seed = check_int("seed", seed, 0)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = check_int("epoch", epoch, 0)

    def _batches(self) -> list[list[int]]:
        return group_by_length(
            self.keys,
            self.batch_size,
            drop_last=self.drop_last,
            shuffle=self.shuffle,
            seed=self.seed,
            epoch=self.epoch,
        )

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        counts: dict[Hashable, int] = {}
        for key in self.keys:
            counts[key] = counts.get(key, 0) + 1
        if self.drop_last:
            return sum(n // self.batch_size for n in counts.values())
        return sum(-(-n // self.batch_size) for n in counts.values())

    def __repr__(self) -> str:
        return (
            f"BucketBatchSampler(samples={len(self.keys)}, buckets={len(set(self.keys))}, "
            f"batch_size={self.batch_size}, drop_last={self.drop_last}, "
            f"shuffle={self.shuffle}, seed={self.seed}, epoch={self.epoch})"
        )
