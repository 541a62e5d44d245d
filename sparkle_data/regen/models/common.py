"""What every model stage shares: config fields, and the checks that fail early and clearly.

* :class:`ModelConfig`: model id or local folder, revision, dtype, device, offload, steps,
  seed (subclassed per stage; every field is recorded in the run manifest).
* :func:`require`: import an optional library or raise :class:`MissingExtraError` naming the
  extra to install.
* :func:`load_pretrained`: ``cls.from_pretrained`` with absent, gated or unreachable weights
  turned into :class:`WeightsUnavailableError` (what was asked, and how to fix it).
* :func:`check_gpu_memory`: refuse a CUDA device with too little memory for the chosen
  offload setting (:class:`GpuMemoryError`) before anything is loaded.
* :func:`free_memory`: release cached GPU memory between stages sharing a worker.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from sparkle_data.errors import GpuMemoryError, MissingExtraError, WeightsUnavailableError
from sparkle_data.regen.config import StageConfig, check_int_setting, invalid_setting
from sparkle_data.regen.stage import BatchFn, SampleInputs, StageFn

__all__ = [
    "DTYPES",
    "OFFLOADS",
    "REGEN_MODELS_EXTRA",
    "Dtype",
    "GpuMemoryError",
    "MissingExtraError",
    "ModelConfig",
    "Offload",
    "WeightsUnavailableError",
    "cached_model",
    "check_gpu_memory",
    "free_memory",
    "load_checked",
    "load_key",
    "load_pretrained",
    "pil_image",
    "place_pipeline",
    "require",
    "require_class",
    "resident_gib",
    "single",
    "torch_dtype",
]

Dtype = Literal["bfloat16", "float16", "float32"]
Offload = Literal["none", "model", "sequential"]
DTYPES: Final[tuple[Dtype, ...]] = get_args(Dtype)
OFFLOADS: Final[tuple[Offload, ...]] = get_args(Offload)
REGEN_MODELS_EXTRA: Final = 'pip install "sparkle-data[regen-models]"'


@dataclass(frozen=True, slots=True)
class ModelConfig(StageConfig):
    """Fields every model stage has.

    ``model``: a Hub id (``org/name``) or a local folder holding the same files
    (``save_pretrained`` output); ``revision``: a Hub branch, tag or commit (``None``: the
    default branch). ``dtype``: weights and compute dtype. ``device``: ``"cuda"``,
    ``"cuda:N"`` or ``"cpu"`` (the local runner pins one GPU per worker, so ``"cuda"`` is
    that worker's GPU). ``offload``: ``"none"`` (everything on the GPU), ``"model"``
    (diffusers ``enable_model_cpu_offload``: one component on the GPU at a time) or
    ``"sequential"`` (``enable_sequential_cpu_offload``: layer by layer, slowest, least
    memory). ``steps``: denoising steps. ``seed``: the generator seed of every sample
    (``seed + 0``; the same seed gives the same output on the same machine and versions).
    """

    model: str = ""
    revision: str | None = None
    dtype: Dtype = "bfloat16"
    device: str = "cuda"
    offload: Offload = "none"
    steps: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise invalid_setting(self, "model", "must be a Hub id or a local folder")
        if self.revision is not None and (not isinstance(self.revision, str) or not self.revision):
            raise invalid_setting(self, "revision", "must be None or a non-empty string")
        if self.dtype not in DTYPES:
            raise invalid_setting(self, "dtype", f"must be one of {DTYPES}")
        if not isinstance(self.device, str) or not (
            self.device in ("cpu", "cuda")
            or (self.device.startswith("cuda:") and self.device[5:].isdigit())
        ):
            raise invalid_setting(self, "device", "must be 'cpu', 'cuda' or 'cuda:N'")
        if self.offload not in OFFLOADS:
            raise invalid_setting(self, "offload", f"must be one of {OFFLOADS}")
        if self.offload != "none" and self.device == "cpu":
            raise invalid_setting(self, "offload", "needs a CUDA device (device='cpu' given)")
        check_int_setting(self, "steps", 1, 1000)
        check_int_setting(self, "seed", 0, 2**63 - 1)


def require(module: str, *, stage: str, extra: str = REGEN_MODELS_EXTRA) -> Any:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(
            f"Stage {stage} needs {module.split('.')[0]!r}, which is not installed ({e}). "
            f"Install the model extra: {extra}."
        ) from None


def require_class(module: str, name: str, *, stage: str) -> Any:
    """``module.name`` or :class:`MissingExtraError` (an installed version too old for it)."""
    mod = require(module, stage=stage)
    cls = getattr(mod, name, None)
    if cls is None:
        version = getattr(mod, "__version__", "?")
        raise MissingExtraError(
            f"Stage {stage} needs {module}.{name}, absent from the installed {module} "
            f"{version}. Upgrade it: {REGEN_MODELS_EXTRA} --upgrade."
        )
    return cls


def pil_image(frame: Any, *, stage: str) -> Any:
    """A ``PIL.Image`` of an ``(H, W, 3)`` uint8 frame (the input model processors take)."""
    image_mod = require("PIL.Image", stage=stage)
    return image_mod.fromarray(frame)


def torch_dtype(name: str) -> Any:
    torch = require("torch", stage="(model)")
    return getattr(torch, name)


def load_pretrained(cls: Any, config: ModelConfig, *, stage: str, **kwargs: Any) -> Any:
    """``cls.from_pretrained(config.model, revision=..., torch_dtype=..., **kwargs)``, with
    absent, gated or unreachable weights raised as :class:`WeightsUnavailableError`."""
    try:
        return cls.from_pretrained(
            config.model,
            revision=config.revision,
            dtype=torch_dtype(config.dtype),
            **kwargs,
        )
    except (OSError, ValueError) as e:
        text = str(e)
        gated = any(w in text.lower() for w in ("gated", "401", "403", "access"))
        hint = (
            "The repository is gated: accept its licence on the Hub, then `hf auth login` "
            "(or set HF_TOKEN)."
            if gated
            else "Download the weights (`hf download REPO --local-dir DIR`) and pass the "
            f"folder as --config {stage}.model=DIR, or check the id and revision."
        )
        raise WeightsUnavailableError(
            f"Invalid {stage}.model {config.model!r} (revision {config.revision!r}): "
            f"{cls.__name__}.from_pretrained failed: {text.splitlines()[0] if text else e!r}. "
            f"{hint}"
        ) from e


def load_checked(
    module: str, name: str, config: ModelConfig, *, stage: str, gib: tuple[float, float],
    **kwargs: Any,
) -> Any:
    """``module.name.from_pretrained`` after the GPU check: ``gib`` is (total, largest
    component) of the bf16 weights (:func:`resident_gib` for the chosen offload)."""
    check_gpu_memory(config, resident_gib(*gib, config.offload), stage=stage)
    cls = require_class(module, name, stage=stage)
    return load_pretrained(cls, config, stage=stage, **kwargs)


def resident_gib(total_gib: float, largest_gib: float, offload: str) -> float:
    """GPU memory a pipeline needs resident: everything (``none``), its largest component
    plus activations (``model``), or activations and one layer (``sequential``)."""
    if offload == "none":
        return total_gib
    if offload == "model":
        return largest_gib * 1.15
    return 3.0


def check_gpu_memory(config: ModelConfig, need_gib: float, *, stage: str) -> None:
    """Refuse a CUDA device without ``need_gib`` GiB of total memory (see :func:`resident_gib`)."""
    if config.device == "cpu":
        return
    torch = require("torch", stage=stage)
    if not torch.cuda.is_available():
        raise GpuMemoryError(
            f"Invalid {stage}.device {config.device!r}: CUDA is not available in this "
            f"process (torch {torch.__version__}). Use a CUDA build of torch on a GPU machine, "
            f"or --config {stage}.device=cpu for a (very slow) CPU run."
        )
    index = int(config.device[5:]) if ":" in config.device else torch.cuda.current_device()
    total = torch.cuda.get_device_properties(index).total_memory / 2**30
    if total < need_gib:
        better = {"none": "model", "model": "sequential"}.get(config.offload)
        hint = (
            f"Use --config {stage}.offload={better} (less GPU memory, slower)"
            if better
            else "Use a larger GPU"
        )
        raise GpuMemoryError(
            f"Invalid {stage}.offload {config.offload!r} on {config.device} "
            f"({torch.cuda.get_device_name(index)}, {total:.1f} GiB): needs about "
            f"{need_gib:.1f} GiB. {hint}."
        )


def place_pipeline(pipe: Any, config: ModelConfig) -> Any:
    """Move a diffusers pipeline to its device, or enable the chosen CPU offload."""
    if config.offload == "model":
        pipe.enable_model_cpu_offload(device=config.device)
    elif config.offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=config.device)
    else:
        pipe.to(config.device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


_LOADED: dict[tuple[str, ...], Any] = {}


def cached_model(key: tuple[str, ...], load: Callable[[], Any]) -> Any:
    """The model for ``key``, loaded by ``load()`` on first use. One model is kept per
    process: loading another one drops the previous and frees its GPU memory first (stages
    of one family, e.g. the two FLUX.2-klein stages, share one load when their model fields
    agree)."""
    model = _LOADED.get(key)
    if model is None:
        if _LOADED:
            _LOADED.clear()
            free_memory()
        model = load()
        _LOADED[key] = model
    return model


def load_key(family: str, config: ModelConfig, *extra: object) -> tuple[str, ...]:
    """What identifies a loaded model: family, weights, placement and ``extra`` fields."""
    fields = (config.model, config.revision, config.dtype, config.device, config.offload)
    return (family, *(repr(v) for v in (*fields, *extra)))


def free_memory() -> None:
    """Collect garbage and release cached CUDA memory (between stages of one worker)."""
    gc.collect()
    try:
        torch = importlib.import_module("torch")
    except ImportError:  # pragma: no cover - only called after a model ran
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def single(batch: BatchFn) -> StageFn:
    """The one-sample ``run`` of a stage's ``run_batch`` (its failure raised)."""

    def run(inputs: SampleInputs, config: Any, model: Any) -> Mapping[str, bytes]:
        (out,) = batch([inputs], config, model)
        if isinstance(out, BaseException):
            raise out
        return out

    run.__doc__ = batch.__doc__
    return run
