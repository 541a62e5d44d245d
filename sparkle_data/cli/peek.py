"""``sparkle-data peek``: load a few samples through SparkleDataset and describe them."""

from __future__ import annotations

import argparse
import time
from typing import Any

from sparkle_data.cli._common import add_root

DESCRIPTION = """\
Stream the first samples of ROOT through sparkle_data.dataset.SparkleDataset (exactly what a
training loader gets) and print each field's shape and dtype, the frames that were decoded,
the prompt and the scores. Use it to check that a root, a filter and sampling options work
before launching a job.
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

    p: argparse.ArgumentParser = sub.add_parser(
        "peek",
        help="load a few samples like a training loader would and describe them",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_root(p)
    p.add_argument("-n", "--num-samples", type=int, default=2, help="samples to load")
    p.add_argument(
        "--fields",
        nargs="+",
        choices=FIELDS,
        default=["source_video", "edited_video", "source_video_mask", "metadata", "scores"],
        metavar="F",
        help=f"fields to load (any of: {', '.join(FIELDS)})",
    )
    p.add_argument(
        "--frames",
        choices=["all", "kiwi", "stride", "uniform", "random_window"],
        default="all",
        help="frame selection policy",
    )
    p.add_argument("--num-frames", type=int, help="frames for kiwi/uniform/random_window")
    p.add_argument("--stride", type=int, default=1, help="step for stride/random_window")
    p.add_argument("--height", type=int, help="output height (with --width: fixed size)")
    p.add_argument("--width", type=int, help="output width")
    p.add_argument("--max-pixels", type=int, help="Kiwi-Edit's max_pixels rule")
    p.add_argument("--shuffle", action="store_true", help="seeded shuffle (see --seed)")
    p.add_argument("--seed", type=int, default=0)
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


def run(args: argparse.Namespace) -> int:
    from sparkle_data.dataset import SparkleDataset
    from sparkle_data.sampling import FrameSampler, Resize

    frames = FrameSampler(
        args.frames, num_frames=args.num_frames, stride=args.stride, seed=args.seed
    )
    resize = None
    if args.height or args.width or args.max_pixels:
        resize = Resize(height=args.height, width=args.width, max_pixels=args.max_pixels)
    ds = SparkleDataset(
        args.root,
        fields=args.fields,
        edit_types=args.edit_types,
        frames=frames,
        resize=resize,
        shuffle=args.shuffle,
        seed=args.seed,
        index_file=args.index_file,
        frame_mismatch="min",
    )
    print(f"{len(ds.ids)} samples selected from {ds.catalog.root}")
    start = time.perf_counter()
    for i, sample in enumerate(ds):
        if i >= args.num_samples:
            break
        print(f"\n{sample['sample_id']} ({time.perf_counter() - start:.2f} s)")
        for key, value in sample.items():
            if key not in ("sample_id",):
                print(f"  {key:<34} {_describe(value)}")
        start = time.perf_counter()
    return 0
