"""Safe, atomic and remote I/O: the layer between naming rules and artifact readers."""

from sparkle_data.io.atomic import atomic_write, atomic_write_bytes, atomic_write_text

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text"]
