"""``sparkle-data peek``: load a few samples through SparkleDataset and describe them."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any, Final

from sparkle_data.cli._common import (
    UsageError,
    add_allow_empty,
    add_root,
    choice,
    command_parser,
    int_at_least,
    open_catalog,
    positive_int,
    require_selection,
)
from sparkle_data.errors import SparkleError

FRAME_POLICIES: Final = ("all", "kiwi", "stride", "uniform", "random_window")
"""sparkle_data.sampling.FRAME_POLICIES, restated so that building the parser stays light."""

if TYPE_CHECKING:
    from sparkle_data.catalog import Catalog
    from sparkle_data.sampling import FrameSampler

DESCRIPTION = """\
Stream the first samples of ROOT through sparkle_data.dataset.SparkleDataset (exactly what a
training loader gets) and print each field's shape and dtype, the frames that were taken
from each clip and why (policy, clip length, 4k+1 rule), the prompt and the scores. Use it to
check that a root and sampling options work before launching a job.

--frames: all (every frame), kiwi (the first N frames, N the largest 4k+1 <= min(--num-frames,
clip length): Kiwi-Edit's rule), stride (every --stride-th, at most --num-frames),
uniform (--num-frames spread over the clip), random_window (--num-frames consecutive frames
every --stride-th, at a seeded random start).
"""

EPILOG = """\
examples:
  sparkle-data peek ./Sparkle -n 2
  sparkle-data peek ./Sparkle --fields source_video edited_video source_video_mask boxes \\
      --frames kiwi --num-frames 33 --height 480 --width 832
  sparkle-data peek hf://datasets/stdKonjac/Sparkle --edit-types time -n 1
"""


def register(sub: Any) -> None:
    from sparkle_data.dataset.fields import FIELDS

    p = command_parser(
        sub,
        "peek",
        help="load a few samples like a training loader would and describe them",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_root(p)
    p.add_argument("-n", "--num-samples", type=positive_int, default=2, help="samples to load")
    p.add_argument(
        "--fields",
        nargs="+",
        type=choice("field", FIELDS),
        default=["source_video", "edited_video", "source_video_mask", "metadata", "scores"],
        metavar="F",
        help=f"fields to load (any of: {', '.join(FIELDS)})",
    )
    p.add_argument(
        "--frames",
        type=choice("frame policy", FRAME_POLICIES),
        default="all",
        help="frame selection policy",
    )
    p.add_argument(
        "--num-frames",
        type=positive_int,
        help="frames for kiwi/uniform/random_window (required by them), at most N for stride",
    )
    p.add_argument("--stride", type=positive_int, default=1, help="step for stride/random_window")
    p.add_argument("--height", type=positive_int, help="output height (with --width: fixed size)")
    p.add_argument("--width", type=positive_int, help="output width")
    p.add_argument("--max-pixels", type=positive_int, help="Kiwi-Edit's max_pixels rule")
    p.add_argument("--shuffle", action="store_true", help="seeded shuffle (see --seed)")
    p.add_argument(
        "--seed",
        type=int_at_least(0),
        default=0,
        help="seed of --shuffle and --frames random_window (default 0)",
    )
    add_allow_empty(p)
    p.set_defaults(func=run)


def _describe(value: Any) -> str:
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{str(value.dtype).replace('torch.', '')}{list(value.shape)}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list) and len(value) > 3:
        return f"[{len(value)} items]"
    return repr(value)


def _sampler(args: argparse.Namespace) -> FrameSampler:
    from sparkle_data.sampling import FrameSampler

    if args.frames in ("kiwi", "uniform", "random_window") and args.num_frames is None:
        raise UsageError(f"--frames {args.frames} needs --num-frames N")
    if args.frames == "all" and args.num_frames is not None:
        raise UsageError(
            "--num-frames needs a --frames policy (--frames all takes every frame): "
            "use --frames kiwi (the first N, 4k+1) or --frames uniform"
        )
    if args.stride != 1 and args.frames not in ("stride", "random_window"):
        raise UsageError(f"--stride applies to --frames stride or random_window, not {args.frames}")
    return FrameSampler(args.frames, num_frames=args.num_frames, stride=args.stride, seed=args.seed)


def _why(sampler: FrameSampler, taken: Any, available: int | None) -> str:
    """One line: which frames were taken from a clip of ``available`` frames, and why."""
    idx = [int(i) for i in taken]
    n = len(idx)
    shown = (
        f"{idx[0]}..{idx[-1]}"
        if n > 1 and idx == list(range(idx[0], idx[-1] + 1))
        else (", ".join(map(str, idx)) if n <= 8 else f"{idx[0]}, {idx[1]}, ..., {idx[-1]}")
    )
    clip = f"of {available}" if available is not None else "taken"
    text = f"{n} frames {clip} [{shown}]: "
    asked = sampler.num_frames
    if sampler.policy == "all":
        return text + "--frames all takes every frame"
    if sampler.policy == "kiwi":
        limit = min(asked or n, available) if available is not None else asked
        why = f"kiwi takes the first N, N = largest 4k+1 <= {limit}"
        if available is not None and asked is not None and asked > available:
            why += f" (the clip has {available} < --num-frames {asked})"
        elif asked is not None and n < asked:
            why += f" (--num-frames {asked} is not 4k+1)"
        return text + why
    if sampler.policy == "stride":
        return text + f"every {sampler.stride}th frame" + (f", at most {asked}" if asked else "")
    if sampler.policy == "uniform":
        short = f" (the clip is shorter than {asked})" if asked and n < asked else ""
        return text + f"{asked} evenly spaced{short}"
    return text + f"{asked} consecutive (stride {sampler.stride}) at a seeded random start"


def _clip_length(catalog: Catalog, sample_id: str) -> int | None:
    from sparkle_data.readers.video import probe_video

    try:
        with catalog.open(sample_id, "source_video") as f:
            return probe_video(f, sample_id=sample_id).num_frames
    except (SparkleError, OSError, ValueError):  # best effort: the sample itself was loaded
        return None


def run(args: argparse.Namespace) -> int:
    from sparkle_data.dataset import SparkleDataset
    from sparkle_data.sampling import Resize

    frames = _sampler(args)
    resize = None
    if args.height or args.width or args.max_pixels:
        resize = Resize(height=args.height, width=args.width, max_pixels=args.max_pixels)
    catalog = open_catalog(args, progress=False)
    ds = SparkleDataset(
        catalog,
        fields=args.fields,
        edit_types=args.edit_types,
        frames=frames,
        resize=resize,
        shuffle=args.shuffle,
        seed=args.seed,
        frame_mismatch="min",
    )
    print(f"{len(ds.ids)} samples selected from {ds.catalog.root}")
    require_selection(len(ds.ids), "ROOT and --edit-types", args)
    start = time.perf_counter()
    for i, sample in enumerate(ds):
        if i >= args.num_samples:
            break
        print(f"\n{sample['sample_id']} ({time.perf_counter() - start:.2f} s)")
        taken = sample.get("frame_indices")
        if taken is not None:
            available = _clip_length(catalog, sample["sample_id"])
            print(f"  {'frames':<34} {_why(frames, taken, available)}")
        for key, value in sample.items():
            if key not in ("sample_id",):
                print(f"  {key:<34} {_describe(value)}")
        start = time.perf_counter()
    return 0
