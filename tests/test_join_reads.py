"""What the join rules read of a join's rows (cslake.silver.rules.join_reads): a join's arrays carry
only those fields, and ``_record`` only those keys (issue 16: the arrays were most of silver's memory)."""

from __future__ import annotations

from pyspark.sql import functions as F

from cslake.catalog import SilverTable
from cslake.silver.conform import ERROR_TYPE


def test_the_fields_and_record_keys_a_rule_reads_of_a_join():
    from cslake.silver.rules import join_reads

    rules = [
        {"rule": "A", "with": ["kids"], "fails": "exists(kids, e -> e.DECOM < DECOM AND get_json_object(e._record, '$.LS') = 'V3')"},
        {"rule": "B", "with": ["kids", "head"],
         "fails": "aggregate(filter(kids, e -> e.DEC IS NOT NULL), 0, (acc, e) -> acc + datediff(e.DEC, e.DECOM)) > 75 "
                  "AND NOT exists(head, h -> coalesce(get_json_object(h._record, '$.SEX'), '') = 'x.Y')"},
        {"rule": "C", "with": ["head"], "fails": "size(head) = 0 AND get_json_object(_record, '$.UPN') IS NULL"},
    ]
    reads = join_reads(rules)
    # what a rule reads counts for each join it reads (a superset: B's h.SEX for kids too); a string
    # literal's 'x.Y' is no field; the judged row's own _record is not the join's
    assert reads["kids"] == ({"DECOM", "DEC", "_record"}, {"LS", "SEX"})
    assert reads["head"] == ({"DECOM", "DEC", "_record"}, {"SEX"})


def test_a_rule_that_may_read_an_element_whole_keeps_every_field():
    from cslake.silver.rules import join_reads

    for fails in ("exists(kids, e -> to_json(e) = '{}')",
                  "size(array_distinct(kids)) > 1",
                  "exists(kids, e -> e = struct(1))",
                  "kids[0].DECOM IS NULL",
                  "element_at(kids, 1).DECOM IS NULL",
                  "exists(transform(kids, (e, i) -> i), x -> x > 1)"):
        assert join_reads([{"rule": "W", "with": ["kids"], "fails": fails}])["kids"] == (None, None), fails
    # and so does every other rule's join it shares
    both = join_reads([{"rule": "A", "with": ["kids"], "fails": "exists(kids, e -> e.A)"},
                       {"rule": "W", "with": ["kids"], "fails": "size(array_distinct(kids)) > 1"}])
    assert both["kids"] == (None, None)
    # _record read otherwise than by get_json_object(x._record, '$.KEY'): the whole record
    assert join_reads([{"rule": "R", "with": ["kids"], "fails": "exists(kids, e -> e._record LIKE '%V3%')"}])["kids"] == (
        {"_record"}, None)


def test_the_cut_arrays_give_the_findings_of_the_whole_rows(spark, monkeypatch):
    """The same findings with each join's structs cut to what its rules read as with every column
    and the whole _record (join_reads forced to 'everything'); the cut structs hold only those."""
    from cslake.silver import rules as R

    t = SilverTable("demo", "episode", "bronze.demo_episode", "silver.demo_episode")
    conf = {"rules": [
        {"rule": "DFE_903_367", "table": "demo_episode", "column": "LS", "with": ["kids"],
         "fails": "aggregate(filter(kids, e -> upper(get_json_object(e._record, '$.LS')) = 'V3'), CAST(0 AS BIGINT), "
                  "(acc, e) -> acc + datediff(e.DEC, e.DECOM)) > 75"},
        {"rule": "DFE_903_377", "table": "demo_episode", "column": "PLACE", "with": ["kids", "last"],
         "fails": "size(filter(kids, e -> get_json_object(e._record, '$.PLACE') = 'T3' AND e._row <> _row)) > 0 "
                  "OR exists(last, l -> l.DECOM = DECOM)"}],
        "joins": {"demo_episode": {"kids": {"table": "demo_episode", "match": {"CHILD": "CHILD"}},
                                   "last": {"table": "demo_episode", "match": {"CHILD": "CHILD"}, "year": "previous"}}}}
    lineage = f"_la string, _year int, _period string, _row bigint, _errors {ERROR_TYPE}, _flags {ERROR_TYPE}"
    import datetime as dt

    D = dt.date
    rows = [("201", 2024, None, 2, [], [], "A", D(2023, 5, 1), D(2023, 7, 1), "V3", '{"LS":"V3","PLACE":"T3","X":"1"}'),
            ("201", 2024, None, 3, [], [], "A", D(2023, 8, 1), D(2023, 9, 1), "V3", '{"LS":"v3","PLACE":"T3"}'),
            ("201", 2024, None, 4, [], [], "B", D(2023, 5, 1), D(2023, 6, 1), "C2", '{"LS":"C2","PLACE":"U1"}'),
            ("201", 2023, None, 2, [], [], "B", D(2023, 5, 1), None, "C2", '{"LS":"C2"}'),
            ("202", 2024, None, 2, [], [], "A", D(2023, 5, 1), D(2023, 5, 2), "V3", '{"LS":"V3","PLACE":"T3"}')]
    ep = spark.createDataFrame(rows, f"{lineage}, CHILD string, DECOM date, DEC date, LS string, _record string")
    staged = {"demo_episode": ep}.get

    def findings():
        return sorted((r["_la"], r["_year"], r["_row"], tuple(sorted(f["rule"] for f in r["_flags"])))
                      for r in R.join_flagged(ep, t, conf, staged).collect())

    cut = findings()
    joined = R.with_joins(ep, t, conf, staged)
    kids = joined.schema["kids"].dataType.elementType
    assert kids.fieldNames() == ["DECOM", "DEC", "_row", "_record"]
    # _record parsed once per element into the keys read (X, read by no rule, left out), where the
    # rules read it with get_json_object
    records = [r[0].asDict() for r in joined.select(F.explode("kids._record")).collect()]
    assert records and all(set(r) == {"LS", "PLACE"} for r in records)
    assert {(r["LS"], r["PLACE"]) for r in records} == {("V3", "T3"), ("v3", "T3"), ("C2", "U1"), ("C2", None)}
    monkeypatch.setattr(R, "join_reads", lambda rules: {})
    assert R.with_joins(ep, t, conf, staged).schema["kids"].dataType.elementType.fieldNames() == [
        "CHILD", "DECOM", "DEC", "LS", "_row", "_record"]
    assert findings() == cut
    assert cut == [("201", 2024, 2, ("DFE_903_367", "DFE_903_377")), ("201", 2024, 3, ("DFE_903_367", "DFE_903_377")),
                   ("201", 2024, 4, ("DFE_903_377",))]


def test_a_row_rules_record_reads_parsed_once_give_what_get_json_object_gives(spark):
    """Row rules reading the row's own ``_record`` with get_json_object read one parsed struct
    instead (``with_parsed_record``): the same truth on every row, also for a key absent, null,
    empty or escaped, and the struct holds only the keys read. Keys told apart only by case stay
    with get_json_object (the engines resolve a struct's fields without regard to case)."""
    from cslake.silver import rules as R

    rules = [{"rule": "A", "fails": "get_json_object(_record, '$.LS') = 'V3'"},
             {"rule": "B", "fails": "coalesce(get_json_object(_record, '$.PLACE'), '') = '' AND get_json_object(_record,'$.LS') IS NOT NULL"},
             {"rule": "C", "fails": "get_json_object(_record, '$.NOTE') RLIKE '\"'"}]
    records = ['{"LS":"V3","PLACE":"T3"}', '{"LS":"v3"}', '{"LS":null,"PLACE":""}', '{}',
               '{"LS":"C2","PLACE":"","NOTE":"a \\"quoted\\" note"}', '{"ls":"x","LS":"V3"}']
    df = spark.createDataFrame([(i, r) for i, r in enumerate(records)], "_row int, _record string")

    def truth(frame, rs):
        return sorted(tuple(r) for r in frame.select("_row", *[R.fails_col(x).alias(x["rule"]) for x in rs]).collect())

    parsed, rewritten = R.with_parsed_record(df, rules)
    assert all("get_json_object" not in r["fails"] for r in rewritten)
    assert parsed.schema[R.PARSED_RECORD].dataType.fieldNames() == ["LS", "NOTE", "PLACE"]
    assert truth(parsed, rewritten) == truth(df, rules)
    assert truth(df, rules) == [(0, True, False, False), (1, False, True, False), (2, False, False, False),
                                (3, False, False, False), (4, False, True, True), (5, True, True, False)]

    both = [*rules, {"rule": "D", "fails": "get_json_object(_record, '$.ls') = 'x'"}]
    parsed, rewritten = R.with_parsed_record(df, both)
    assert [r["fails"].count("get_json_object") for r in rewritten] == [1, 1, 0, 1]
    assert parsed.schema[R.PARSED_RECORD].dataType.fieldNames() == ["NOTE", "PLACE"]
    assert truth(parsed, rewritten) == truth(df, both)


def test_derived_columns_are_read_by_row_rules_and_as_join_fields(spark):
    """conf ``derived``: columns computed once per row, in order (the second reads the first), that
    a row rule reads by name and a join rule as a field of the other table's rows; they do not
    stay in the rows the rules return."""
    from cslake.silver import rules as R

    t = SilverTable("demo", "episode", "bronze.demo_episode", "silver.demo_episode")
    conf = {"derived": {"demo_episode": {"ls_up": "upper(LS)", "is_v": "ls_up IN ('V3', 'V4')"}},
            # two flag rules of conf/rules.yaml, standing in for any
            "rules": [{"rule": "DFE_903_367", "table": "demo_episode", "column": "LS", "fails": "is_v AND DEC IS NULL"},
                      {"rule": "DFE_903_377", "table": "demo_episode", "column": "LS", "with": ["kids"],
                       "fails": "exists(kids, e -> e.is_v AND e._row <> _row)"}],
            "joins": {"demo_episode": {"kids": {"table": "demo_episode", "match": {"CHILD": "CHILD"}}}}}
    assert R.check_rules(conf) == []
    lineage = f"_la string, _year int, _period string, _row bigint, _errors {ERROR_TYPE}, _flags {ERROR_TYPE}"
    rows = [("201", 2024, None, 1, [], [], "A", "v3", None), ("201", 2024, None, 2, [], [], "A", "C2", None),
            ("201", 2024, None, 3, [], [], "B", "C2", None), ("201", 2024, None, 4, [], [], "B", "V4", "2024-01-01")]
    ep = spark.createDataFrame(rows, f"{lineage}, CHILD string, LS string, DEC string")
    row_flagged = R.apply_rules(ep, t, conf)
    assert row_flagged.columns == ep.columns
    assert sorted((r["_row"], [f["rule"] for f in r["_flags"]]) for r in row_flagged.collect()) == [
        (1, ["DFE_903_367"]), (2, []), (3, []), (4, [])]
    joined = R.join_flagged(ep, t, conf, {"demo_episode": ep}.get)
    assert joined.columns == ep.columns
    # row 2 shares child A with row 1 (V3); row 3 child B with row 4 (V4); rows 1 and 4 have no other V row
    assert sorted(r["_row"] for r in joined.collect()) == [2, 3]


def test_a_derived_column_needs_a_name_and_an_expression():
    from cslake.silver.rules import check_rules

    for bad in ({"t": {"_hidden": "1"}}, {"t": {"x": ""}}, {"t": ["x"]}):
        assert any(p.startswith("derived t") for p in check_rules({"derived": bad, "rules": []}, {})), bad


def test_dfe_date_perm_reads_partial_dates_as_dfe_does(spark):
    """conf/silver.yaml's derived dfe_date_perm (DfE 632): DATE_PERM as written, DD/MM/YYYY, where a
    day ZZ is the month's last day, a month ZZ a year on less a day, a year ZZZZ 2000 with no shift
    (lac_validator's partial dates); expected dates worked out by hand."""
    import datetime as dt
    import json

    from cslake.config import load_yaml
    from cslake.silver.rules import table_derived, with_derived

    D = dt.date
    cases = {"15/06/2020": D(2020, 6, 15), "1/6/2020": D(2020, 6, 1), "ZZ/06/2020": D(2020, 6, 30),
             "ZZ/02/2024": D(2024, 2, 29), "zz/02/2023": D(2023, 2, 28), "15/ZZ/2020": D(2021, 1, 14),
             "ZZ/ZZ/2020": D(2020, 12, 31), "15/06/ZZZZ": D(2000, 6, 15), "ZZ/ZZ/ZZZZ": D(2000, 1, 1),
             "ZZ/12/ZZZZ": D(2000, 12, 1), "31/02/2020": None, "2020-06-15": None, "": None, "15/06/20": None,
             "ZZ/13/2020": None, " 15/06/2020": None, None: None}
    df = spark.createDataFrame([(json.dumps({"DATE_PERM": v} if v is not None else {}),) for v in cases],
                               "_record string")
    got = {json.loads(r[0]).get("DATE_PERM"): r[1]
           for r in with_derived(df, table_derived("ssda903_prev_perm", load_yaml("silver.yaml"))).select("_record", "dfe_date_perm").collect()}
    assert got == cases


def test_a_return_level_rule_is_judged_once_per_return_over_its_returns_rows(spark):
    """``level: return`` (conf/rules.yaml): one finding per return (LA, year, period) whose rows break
    the rule, with no row and the return's file; a join with an empty match brings that return's rows
    only. Neither the row rules nor the join rules evaluate it."""
    from cslake.silver import rules as R

    t = SilverTable("demo", "child", "bronze.demo_child", "silver.demo_child")
    # a shipped return-level rule id (flag, level return), its condition made up here
    conf = {"rules": [{"rule": "DFE_CIN_2887Q", "table": "demo_child", "column": "SEX", "with": ["everyone"],
                       "fails": "size(filter(everyone, c -> c.SEX = 'U')) >= 2 AND _year = 2024"}],
            "joins": {"demo_child": {"everyone": {"table": "demo_child", "match": {}}}}}
    assert R.check_rules(conf) == []
    lineage = (f"_la string, _year int, _period string, _row bigint, _file_sha256 string, _path string, "
               f"_errors {ERROR_TYPE}, _flags {ERROR_TYPE}")
    rows = [  # (LA, year, period): U children
        ("201", 2024, None, 1, "a", "201/a.xml", [], [], "U"), ("201", 2024, None, 2, "a", "201/a.xml", [], [], "U"),
        ("201", 2024, None, 3, "a", "201/a.xml", [], [], "M"),  # two: flagged
        ("202", 2024, None, 1, "b", "202/b.xml", [], [], "U"),  # one: not
        ("202", 2024, "Q1", 1, "c", "202/c.xml", [], [], "U"),  # 202's other period: one more, not
        ("203", 2025, None, 1, "d", "203/d.xml", [], [], "U"), ("203", 2025, None, 2, "d", "203/d.xml", [], [], "U"),  # 2025
        ("204", 2024, None, 1, "e", "204/e.xml", [], [], "U"), ("204", 2024, None, 2, "e", "204/e2.xml", [], [], "U"),
    ]
    kids = spark.createDataFrame(rows, f"{lineage}, SEX string")
    assert R.row_rules(t, conf) == [] and R.join_rules(t, conf) == [] and len(R.return_rules(t, conf)) == 1
    assert R.apply_rules(kids, t, conf).filter(F.size("_flags") > 0).count() == 0
    assert R.join_flagged(kids, t, conf, {"demo_child": kids}.get) is None
    found = R.return_flagged(kids, t, conf, {"demo_child": kids}.get).collect()
    # 204's rows came in two files: the first named
    assert sorted((r["_la"], r["_year"], r["_period"], r["_row"], r["_file_sha256"], r["_path"],
                   [(f["rule"], f["column"], f["value"]) for f in r["_flags"]], r["_errors"], r["_nulled"]) for r in found) == [
        ("201", 2024, None, None, "a", "201/a.xml", [("DFE_CIN_2887Q", "SEX", None)], [], []),
        ("204", 2024, None, None, "e", "204/e.xml", [("DFE_CIN_2887Q", "SEX", None)], [], [])]
    assert R.joined_tables(t, conf) == {"demo_child"}


def test_a_return_level_rule_flags_and_reads_the_return_through_joins_matching_no_row():
    from cslake.silver.rules import check_rules

    joins = {"demo_child": {"everyone": {"table": "demo_child", "match": {}},
                            "siblings": {"table": "demo_child", "match": {"FAMILY": "FAMILY"}}}}

    def problems(rule: dict, entry: dict) -> list[str]:
        return check_rules({"rules": [{"rule": "R", "table": "demo_child", "fails": "true", **rule}], "joins": joins},
                           {"R": {"message": "m", **entry}})

    ok = {"level": "return", "outcome": "flag"}
    assert problems({"with": ["everyone"]}, ok) == []
    assert any("only flags" in p for p in problems({"with": ["everyone"]}, {**ok, "outcome": "quarantine"}))
    assert any("matches rows" in p for p in problems({"with": ["everyone", "siblings"]}, ok))
    assert any("through joins" in p for p in problems({}, ok))
    assert any("level 'file'" in p for p in problems({"with": ["everyone"]}, {**ok, "level": "file"}))
