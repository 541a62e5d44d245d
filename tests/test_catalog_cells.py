"""One rule for handing a catalog table's cells to users and to JSON."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sparkle_data.catalog.cells import cell_text, cell_value


@pytest.mark.parametrize(
    "cell",
    [None, float("nan"), np.float64("nan"), np.float32("nan"), pd.NA, pd.NaT, np.datetime64("NaT")],
)
def test_missing_cells_are_none(cell: object) -> None:
    assert cell_value(cell) is None
    assert cell_text(cell) is None


def test_numpy_scalars_become_python_scalars() -> None:
    for cell, want, kind in [
        (np.int64(7), 7, int),
        (np.float32(0.5), 0.5, float),
        (np.bool_(True), True, bool),
        (np.str_("snow"), "snow", str),
    ]:
        got = cell_value(cell)
        assert got == want
        assert type(got) is kind


def test_other_values_pass_through() -> None:
    arr = np.zeros(3)
    assert cell_value(arr) is arr  # an array in a cell is not "missing"
    assert cell_value([1, 2]) == [1, 2]
    assert cell_value(math.inf) == math.inf  # finite-ness is the caller's rule
    assert cell_value("") == ""
    assert cell_text(np.int64(3)) == "3"
    assert cell_text(2.5) == "2.5"


def test_table_rows_read_through_it() -> None:
    t = pd.DataFrame(
        {
            "s": pd.array(["a", None], dtype="string"),
            "x": [1.0, np.nan],
            "n": pd.array([1, None], dtype="Int64"),
        }
    )
    rows = [{k: cell_value(v) for k, v in row.items()} for row in t.to_dict("records")]
    assert rows == [{"s": "a", "x": 1.0, "n": 1}, {"s": None, "x": None, "n": None}]
