"""Where a regen run keeps its bookkeeping inside an output folder: ``OUT/.regen/``.

The manifest, run reports, pack staging and record parts all live under :data:`REGEN_DIR`;
this module has no other imports, so every regen module may use it.
"""

from __future__ import annotations

from typing import Final

__all__ = ["REGEN_DIR"]

REGEN_DIR: Final = ".regen"
