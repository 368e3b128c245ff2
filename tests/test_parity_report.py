"""The engine-parity comparator (cslake.reports.parity) on hand-made lakes: it must see one
changed cell and a missing or duplicated row, and nothing else than run columns may hide."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from cslake.lake import Lake
from cslake.reports.parity import compare_lakes

TABLE = "quarantine.rows"


def _rows(run_id: str, when: dt.datetime, values=("x", "y", "z")) -> pd.DataFrame:
    return pd.DataFrame({
        "table": "silver.cin_child", "rule_code": "CODE_INVALID", "message": "not a code", "column": "Sex",
        "value": list(values), "source_file_sha256": "ab" * 32, "source_path": "202/cin/2024/a.xml",
        "row_number": range(1, len(values) + 1), "record_json": "{}", "la": "202", "collection": "cin",
        "year": 2024, "run_id": run_id, "quarantined_at": when,
    })


def test_equal_lakes_differ_only_in_run_columns(tmp_path, spark):
    a, b = Lake(tmp_path / "a", spark=spark), Lake(tmp_path / "b", spark=spark)
    a.write_pandas(_rows("run-1", dt.datetime(2026, 1, 1)), TABLE)
    b.write_pandas(_rows("run-2", dt.datetime(2026, 6, 1)), TABLE)
    report = compare_lakes(a.root, b.root)
    assert [t.table for t in report.tables] == [TABLE] and not report.differing


def test_one_changed_cell_and_a_duplicated_row_are_found(tmp_path, spark):
    a, b, c = (Lake(tmp_path / n, spark=spark) for n in "abc")
    a.write_pandas(_rows("r", dt.datetime(2026, 1, 1)), TABLE)
    b.write_pandas(_rows("r", dt.datetime(2026, 1, 1), values=("x", "Y", "z")), TABLE)
    dup = _rows("r", dt.datetime(2026, 1, 1))
    c.write_pandas(pd.concat([dup, dup.iloc[[0]]]), TABLE)
    changed = compare_lakes(a.root, b.root).differing
    assert len(changed) == 1 and changed[0].only_a == 1 and changed[0].only_b == 1
    assert changed[0].columns == ["value"] and changed[0].example == {"A": {"value": "y"}, "B": {"value": "Y"}}
    duplicated = compare_lakes(a.root, c.root).differing
    assert len(duplicated) == 1 and (duplicated[0].rows_a, duplicated[0].rows_b) == (3, 4)
    assert (duplicated[0].only_a, duplicated[0].only_b) == (0, 1)


def test_a_table_on_one_side_only_differs(tmp_path, spark):
    a, b = Lake(tmp_path / "a", spark=spark), Lake(tmp_path / "b", spark=spark)
    a.write_pandas(_rows("r", dt.datetime(2026, 1, 1)), TABLE)
    (tmp_path / "b").mkdir()
    report = compare_lakes(a.root, b.root)
    assert [(t.table, t.rows_a, t.rows_b) for t in report.differing] == [(TABLE, 3, None)]
