"""Model stages of ``sparkle_data.regen``: thin adapters around diffusers / transformers.

One module per model family, each importing its library only inside the functions that load
or run a model (so planning, ``--help`` and the CPU stages never import torch):

* :mod:`.common`: the shared config fields (model id or local path, revision, dtype,
  device, offload, steps, seed), the extra / weights / GPU-memory checks and their errors;
* :mod:`.flux`: FLUX.2-klein (``diffusers.Flux2KleinPipeline``): ``edited_frame0`` and
  ``edited_frame0_foreground_removed``;
* :mod:`.wan`: Wan2.2-I2V-A14B (``diffusers.WanImageToVideoPipeline``, two experts,
  the LightX2V 4-step schedule): ``edited_background_video``;
* :mod:`.grounding`: parsing Qwen3-VL grounding answers (fenced or bare JSON) into the
  card's ``bbox_2d`` / ``label`` objects;
* :mod:`.qwen`: Qwen3-VL (``transformers.Qwen3VLForConditionalGeneration``): the record
  stages ``foreground_grounding_r1`` and ``foreground_grounding_r2``;
* :mod:`.editscore`: the ``editscore`` package: the three score record files;
* :mod:`.stages`: the :class:`~sparkle_data.regen.stage.Stage` objects the registry uses.

See ``docs/regen.md`` ("Model stages").
"""

__all__: list[str] = []
