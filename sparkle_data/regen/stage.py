"""The stage interface: what a stage reads, writes, needs and does.

A :class:`Stage` declares its input artifacts and records, its output artifacts, a default
configuration (a frozen :class:`~.config.StageConfig`), the device it runs on, and ``run``:
a pure function of a :class:`SampleInputs`, the config and (for model stages) the model
``load_model`` built once per worker (one per process in the local runner, one per actor in
the Ray runner). ``run`` returns the bytes of each output in the card's format; the runners
validate and write them. A stage whose ``run`` is ``None`` is declared for planning (its
model arrives in a later release) and is reported, never run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sparkle_data.layout import ArtifactName
from sparkle_data.regen.config import StageConfig

__all__ = ["Device", "SampleInputs", "Stage", "StageFn"]

Device = Literal["cpu", "gpu"]


@dataclass(frozen=True)
class SampleInputs:
    """Everything a stage may read for one sample: artifact bytes and record values."""

    sample_id: str
    edit_type: str
    artifacts: Mapping[str, bytes]
    """Bytes of each declared input artifact (and of outputs of earlier stages)."""
    records: Mapping[str, Any] = field(default_factory=dict)
    """Parsed record lines and ``prompt`` (the CSV instruction), by name, when known."""

    def __repr__(self) -> str:
        sizes = {k: len(v) for k, v in self.artifacts.items()}
        records = sorted(self.records)
        return f"SampleInputs({self.sample_id!r}, artifacts={sizes}, records={records})"

    def need(self, artifact: str) -> bytes:
        try:
            return self.artifacts[artifact]
        except KeyError:
            raise KeyError(
                f"Invalid stage input {artifact!r} for sample {self.sample_id}: not provided "
                f"(have {sorted(self.artifacts)})."
            ) from None


StageFn = Callable[[SampleInputs, Any, Any], Mapping[str, bytes]]
"""``run(inputs, config, model) -> {artifact: bytes}``; ``model`` is ``None`` for CPU stages."""


@dataclass(frozen=True)
class Stage:
    """A named unit of the pipeline (see the module docstring)."""

    name: str
    outputs: tuple[ArtifactName, ...]
    inputs: tuple[ArtifactName, ...]
    config: StageConfig
    device: Device = "cpu"
    records: tuple[str, ...] = ()
    run: StageFn | None = None
    load_model: Callable[[Any], Any] | None = None
    models: tuple[str, ...] = ()
    """Model ids (``org/name``) the stage loads; recorded in the manifest."""
    gpu_memory_gib: float = 0.0
    """Peak GPU memory per worker, estimated (bf16 weights, batch 1)."""
    seconds_per_sample: float = 0.0
    estimate_note: str = "estimate"
    """Where ``seconds_per_sample`` comes from (``measured ...`` or ``estimate``)."""
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"Invalid stage name {self.name!r}: must be an identifier.")
        if not self.outputs:
            raise ValueError(f"Invalid stage {self.name!r}: declares no outputs.")
        if set(self.outputs) & set(self.inputs):
            raise ValueError(f"Invalid stage {self.name!r}: an output is also an input.")
        if self.device not in ("cpu", "gpu"):
            raise ValueError(f"Invalid stage device {self.device!r}: must be 'cpu' or 'gpu'.")
        if not isinstance(self.config, StageConfig):
            raise ValueError(f"Invalid stage {self.name!r}: config must be a StageConfig.")

    @property
    def available(self) -> bool:
        """Whether this version can run the stage (model stages come in a later release)."""
        return self.run is not None
