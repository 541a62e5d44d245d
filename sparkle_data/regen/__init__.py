"""Regenerate pipeline intermediates: stages, planner, local and Ray runners.

See ``docs/regen.md``::

    from sparkle_data.regen import plan_regen, run_local

    plan = plan_regen("./Sparkle", ["source_frame0", "edited_video_canny"])
    print(plan.format())
    report = run_local(plan, workers=4)

Modules: ``config`` (stage configs), ``stage`` / ``stages`` / ``registry`` (the stage
interface and the built-in stages), ``frame0``, ``canny``, ``vote``, ``frames`` (pure
functions), ``media`` / ``validate`` (writers and output checks), ``planner``, ``worker``,
``local`` / ``ray_runner`` (runners), ``records`` (record files: per-sample parts merged into
the JSONL), ``paths``, ``sharding``, ``manifest``, ``report``, ``calibrate``, ``newdata``
(trees for your own videos), ``models`` (the model stages).
"""

from sparkle_data.regen.config import CannyConfig, Frame0Config, StageConfig, VoteConfig
from sparkle_data.regen.local import run_local
from sparkle_data.regen.planner import Plan, WorkItem, plan_regen
from sparkle_data.regen.ray_runner import run_ray
from sparkle_data.regen.registry import get_stage, register_stage, stage_for, stages
from sparkle_data.regen.report import RunReport
from sparkle_data.regen.stage import SampleInputs, Stage

__all__ = [
    "CannyConfig",
    "Frame0Config",
    "Plan",
    "RunReport",
    "SampleInputs",
    "Stage",
    "StageConfig",
    "VoteConfig",
    "WorkItem",
    "get_stage",
    "plan_regen",
    "register_stage",
    "run_local",
    "run_ray",
    "stage_for",
    "stages",
]
