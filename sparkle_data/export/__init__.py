"""Exports of a selected subset: Kiwi-Edit trees, paired WebDataset shards, the Sparkle layout,
and Hub-ready folders. See ``docs/export.md``::

    from sparkle_data.catalog import build_catalog
    from sparkle_data.export import export_kiwi, export_wds

    catalog = build_catalog("/data/Sparkle")
    ids = list(catalog.corpus().index)                 # or SubsetSpec(...).select(catalog)
    report = export_kiwi(catalog, ids, "/data/kiwi", trim_4k1=True)
    print(report)                                      # samples, dropped pairs by reason

========================  ===========================================================
:func:`export_kiwi`       ``{edit_type}/{source_video,edited_video}/{id}.mp4`` and
                          ``metadata.csv`` for Kiwi-Edit; mismatched pairs dropped and
                          counted (or trimmed to ``4k + 1`` frames)
:func:`export_wds`        ``shard-%06d.tar`` WebDataset shards, one sample per pair,
                          ``shards.json`` and a member index
:func:`export_sparkle`    the card's own layout, filtered (every sparkle-data tool reads it)
:func:`export_hub`        one of the last two plus a dataset card ``README.md``
:func:`push_to_hub`       upload a complete export folder to a Hub dataset repo
========================  ===========================================================

Every export streams bytes from the catalog's source (loose files, or shard members by
offset: never ``extractall``), writes each output file atomically, is **resumable** (a rerun
after a crash or kill skips the files already written once their size and sha256 are
verified, and redoes the rest) and ends by writing ``export.json``, the manifest that lists
every file with its size and sha256. Outputs are byte-identical whatever runs the work:
``engine="local"`` (a thread pool of ``workers``) or ``engine="ray"`` (Ray tasks). With a
subset spec (``spec=``), ``subset.yaml`` is saved beside the data.

Every member is checked before it is copied (the bounded check of ``verify --deep``, plus
the cross-artifact rules for ``wds``, ``sparkle`` and ``hub``; one hook for every format):
``on_error="error"`` (default) fails the export with the member's error, naming file, member
and sample; ``on_error="skip"`` drops the sample from every output file and counts it in
:attr:`ExportReport.dropped`. Either way nothing already written is lost: a rerun resumes.

Errors: :class:`ExportError` (a :class:`~sparkle_data.errors.SparkleError` and
``ValueError``) for plans that cannot run (duplicate ids, ids without prompts, an output
folder holding another export); data errors of the readers pass through.
"""

from sparkle_data.export._errors import ExportError
from sparkle_data.export._plan import ENGINES, Engine, Verify
from sparkle_data.export._resume import MANIFEST_NAME, ExportReport, read_manifest
from sparkle_data.export.hub import dataset_card, export_hub, push_to_hub
from sparkle_data.export.kiwi import export_kiwi
from sparkle_data.export.sparkle import export_sparkle
from sparkle_data.export.wds import WDS_FIELDS, export_wds, validate_wds_member

__all__ = [
    "ENGINES",
    "MANIFEST_NAME",
    "WDS_FIELDS",
    "Engine",
    "ExportError",
    "ExportReport",
    "Verify",
    "dataset_card",
    "export_hub",
    "export_kiwi",
    "export_sparkle",
    "export_wds",
    "push_to_hub",
    "read_manifest",
    "validate_wds_member",
]
