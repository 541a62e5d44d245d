"""sparkle-data: readers, loaders, filters and exporters for the Sparkle dataset."""

from sparkle_data._version import __version__

__all__ = ["__version__"]
