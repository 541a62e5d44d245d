"""The synthetic Sparkle tree factory; the public names are re-exported by
:mod:`sparkle_data.testing`."""
