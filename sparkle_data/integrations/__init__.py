"""Drop-in datasets for training code outside this project.

* :mod:`sparkle_data.integrations.kiwi_edit`: :class:`~sparkle_data.integrations.kiwi_edit.
  KiwiEditDataset`, the rows Kiwi-Edit's (DiffSynth-Studio's) ``UnifiedDataset`` returns, read
  straight from Sparkle shards. See ``docs/kiwi-edit.md``.

Submodules are imported on use (``import sparkle_data.integrations.kiwi_edit``): this package
imports nothing heavy.
"""

__all__: list[str] = []
