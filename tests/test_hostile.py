"""Hostile input and operator mistakes (issue 16): each attack is refused or contained.

Every test builds what it attacks inside the test (a hand-made lake, drop zone or file) and
checks what actually happened to the lake and the outputs afterwards, not only the message.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest

from cslake import catalog
from cslake.lake import Lake
from cslake.stages import StageError

# ---------------------------------------------------------------------------
# 1. cslake sql is read-only; publishing re-checks disclosure control
# ---------------------------------------------------------------------------

READ_ONLY_OK = [
    "select 1",
    "SELECT la, count(*) FROM bronze.files GROUP BY la;",
    "with t as (select 1 as a) select a from t",
    "show tables",
    "describe history gold.ofsted",
    "explain select 1",
    "select 'delete from x; drop table y' as s",  # words inside a string are data
    "select 1 -- ; insert into x\n",  # and inside a comment, nothing
    "select `update` from t",  # a back-quoted name
    "/* drop */ select 1 /* nested /* insert */ still comment */",
    "select Comment from bronze.riia_quarterly_indicators",  # a lake column named like a keyword
]

READ_ONLY_REFUSED = [
    "delete from gold.riia_indicators",
    "DELETE FROM gold.riia_indicators WHERE 1=1",
    "insert into gold.ofsted select * from gold.ofsted",
    "INSERT OVERWRITE gold.disproportionality SELECT * FROM gold_restricted.disproportionality",
    "with t as (select * from gold.ofsted) insert into gold.ofsted select * from t",
    "from gold.ofsted insert into gold.ofsted select *",
    "select 1; drop table gold.ofsted",
    "select 1 ; /* x */ delete from gold.ofsted",
    "/* select */ drop table gold.ofsted",
    "merge into gold.ofsted t using gold.ofsted s on 1=1 when matched then delete",
    "update gold.ofsted set overall = 'x'",
    "create table t as select 1",
    "alter table gold.ofsted add columns (x int)",
    "truncate table gold.ofsted",
    "set spark.sql.x = 1",
    "comment on table gold.ofsted is 'x'",
    "select reflect('java.lang.System', 'exit', 0)",
    "select java_method('java.lang.Runtime', 'getRuntime')",
    "select 'unterminated",
    "select 1 /* unterminated",
    "",
    " ; ",
]


@pytest.mark.parametrize("sql", READ_ONLY_OK)
def test_read_only_statements_pass(sql):
    from cslake.query import check_read_only

    assert check_read_only(sql).strip()


@pytest.mark.parametrize("sql", READ_ONLY_REFUSED)
def test_writing_or_ambiguous_statements_are_refused_in_one_line(sql):
    from cslake.query import ReadOnlyError, check_read_only

    with pytest.raises(ReadOnlyError) as exc:
        check_read_only(sql)
    assert isinstance(exc.value, StageError)  # the CLI's user error: one line, an exit code
    assert "\n" not in str(exc.value) and str(exc.value)


@pytest.fixture(scope="module")
def small_gold(spark, tmp_path_factory):
    """A hand-made gold schema (two LAs and the region) written through gold's publish step."""
    from tests.test_packs import build_small_gold

    root = tmp_path_factory.mktemp("hostile_gold")
    lake = Lake(root / "lake", spark=spark)
    restricted = build_small_gold(lake)
    return lake, restricted, root


def _rows(lake, name):
    return lake.read_table(name).count()


def test_sql_cannot_delete_insert_or_overwrite(small_gold, capsys):
    from cslake import pipeline
    from cslake.query import ReadOnlyError

    lake, _, _ = small_gold
    before = {t: _rows(lake, t) for t in (catalog.gold.riia_indicators, catalog.gold.ofsted,
                                          catalog.gold.disproportionality)}
    versions = {t: lake.version(t) for t in before}
    attacks = [f"DELETE FROM {catalog.gold.riia_indicators}",
               f"INSERT INTO {catalog.gold.ofsted} SELECT * FROM {catalog.gold.ofsted}",
               f"INSERT OVERWRITE {catalog.gold.disproportionality} SELECT * FROM "
               f"{catalog.gold_restricted.disproportionality}",
               f"select 1; DELETE FROM {catalog.gold.riia_indicators}"]
    for attack in attacks:
        with pytest.raises(ReadOnlyError):
            pipeline.sql(attack, lake=str(lake.root), limit=5, csv=None)
    assert {t: _rows(lake, t) for t in before} == before
    assert {t: lake.version(t) for t in before} == versions  # not one commit
    pipeline.sql(f"select count(*) as n from {catalog.gold.ofsted}", lake=str(lake.root), limit=5, csv=None)
    assert str(before[catalog.gold.ofsted]) in capsys.readouterr().out


def test_sql_csv_is_refused_inside_the_lake_and_neutralised_outside(small_gold, tmp_path):
    from cslake import pipeline
    from cslake.outputs import OutputPathError

    lake, _, _ = small_gold
    inside = lake.path(catalog.gold.ofsted) + "/_delta_log/00000000000000000000.json"
    before = open(inside).read()
    with pytest.raises(OutputPathError):
        pipeline.sql("select 1 as a", lake=str(lake.root), limit=5, csv=inside)
    assert open(inside).read() == before
    out = tmp_path / "q.csv"
    pipeline.sql("""select "=cmd|'/c calc'!A1" as a, '@SUM(1)' as b, '-3' as c""", lake=str(lake.root), limit=5,
                 csv=str(out))
    back = pd.read_csv(out, dtype=str)
    assert back.iloc[0].tolist() == ["'=cmd|'/c calc'!A1", "'@SUM(1)", "-3"]


def _unsuppressed(restricted: pd.DataFrame, table: str) -> pd.DataFrame:
    """What `INSERT OVERWRITE gold.t SELECT … FROM gold_restricted.t` leaves: raw figures as text."""
    from cslake.publish.disclosure import spec_for

    out = restricted.copy()
    for m in spec_for(table).measures:
        if m.kind != "public":
            out[m.column] = out[m.column].map(lambda v: None if v is None or v != v else f"{float(v):g}")
    return out


def test_publishing_refuses_a_published_table_rewritten_without_suppression(small_gold, tmp_path):
    from cslake.gold.publishing import to_spark
    from cslake.publish.disclosure import DisclosureError, check_frame, spec_for
    from cslake.publish.export import export_gold
    from cslake.publish.packs import publish_packs

    lake, restricted, root = small_gold
    table = "disproportionality"
    name = catalog.gold.disproportionality
    # The build's own output passes the check (else nothing could ever be shipped).
    for t in restricted:
        check_frame(t, lake.read_table(f"gold.{t}").toPandas(), spec_for(t))
    good = lake.read_table(name).toPandas()
    version = lake.version(name)
    try:
        # Whatever wrote it: here the one write path itself, as a hand-run INSERT OVERWRITE would.
        lake.write_table(to_spark(lake.spark, _unsuppressed(restricted[table], table), name), name,
                         mode="overwrite")
        for publisher in (lambda out: export_gold(lake, out), lambda out: publish_packs(lake, out)):
            out = tmp_path / f"out{random.randrange(10**9)}"
            with pytest.raises(DisclosureError) as exc:
                publisher(out)
            assert "gold.disproportionality fails disclosure control" in str(exc.value)
            assert "\n" not in str(exc.value)
            shipped = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
            assert not [p for p in shipped if "disproportionality" in p.name], shipped
    finally:
        lake.write_table(to_spark(lake.spark, good, name), name, mode="overwrite")
    assert lake.version(name) == version + 2


def test_disclosure_check_passes_every_suppressed_random_table_and_fails_each_leak():
    """On random tables with an additive relation, ``suppress`` output always passes; revealing any
    one hidden cell of it (a primary or a secondary suppression) always fails."""
    from cslake.gold.suppression import SUPPRESSED, SuppressionSpec, suppress
    from cslake.publish.disclosure import disclosure_problems

    spec = SuppressionSpec.from_dict({
        "keys": ["geog", "group"],
        "measures": {"count": {"kind": "count"}, "den": {"kind": "denominator"},
                     "pct": {"kind": "percentage", "numerator": "count", "denominator": "den", "decimals": 1}},
        "additive": [{"over": "group", "total": {"group": "all"}, "columns": ["count"]}],
    })
    rng = random.Random(16)
    leaks_found = 0
    for _ in range(30):
        rows = []
        for g in ("a", "b"):
            parts = [rng.choice([0, 1, 3, 6, 9, 20, 40]) for _ in range(3)]
            for name, n in zip(("p", "q", "r"), parts):
                den = n + rng.choice([0, 2, 8, 30])
                rows.append({"geog": g, "group": name, "count": n, "den": den,
                             "pct": 100 * n / den if den else None})
            den = sum(r["den"] for r in rows[-3:])
            rows.append({"geog": g, "group": "all", "count": sum(parts), "den": den,
                         "pct": 100 * sum(parts) / den if den else None})
        restricted = pd.DataFrame(rows)
        published = suppress(restricted, spec)
        assert disclosure_problems(published, spec) == []
        for col in ("count", "den", "pct"):
            for i in published.index[published[col] == SUPPRESSED]:
                leaked = published.copy()
                v = restricted.at[i, col]
                leaked.at[i, col] = f"{v:g}" if col != "pct" else f"{v:.1f}"
                assert disclosure_problems(leaked, spec), (col, i, restricted.to_dict("records"))
                leaks_found += 1
    assert leaks_found > 50


# ---------------------------------------------------------------------------
# 2. No path outside its own folder is deleted or overwritten
# ---------------------------------------------------------------------------

def _tree(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def a_lake_and_a_drop_zone(tmp_path):
    """A lake-shaped folder and a drop zone with files in them (nothing here may be deleted)."""
    lake = tmp_path / "lake"
    (lake / "silver" / "person" / "_delta_log").mkdir(parents=True)
    (lake / "silver" / "person" / "_delta_log" / "00000000000000000000.json").write_text('{"commitInfo":{}}')
    (lake / "silver" / "person" / "part-0.parquet").write_bytes(b"PAR1 not really")
    raw = tmp_path / "raw"
    (raw / "202" / "cin" / "2024").mkdir(parents=True)
    (raw / "202" / "cin" / "2024" / "cin.xml").write_text("<Message/>")
    return tmp_path, lake, raw


@pytest.mark.parametrize("where", ["lake", "lake/silver", "lake/silver/person", ".", "raw", "raw/202", "elsewhere"])
def test_research_out_refuses_the_lake_inside_it_above_it_and_foreign_folders(a_lake_and_a_drop_zone, where,
                                                                             monkeypatch):
    from cslake import pipeline, pseudo
    from cslake.outputs import OutputPathError

    root, lake, raw = a_lake_and_a_drop_zone
    (root / "elsewhere").mkdir()
    (root / "elsewhere" / "thesis.docx").write_bytes(b"a year of work")
    monkeypatch.setenv(pseudo.KEY_ENV, "hostile-test-key-0123456789abcdef")
    before = _tree(root)
    with pytest.raises(OutputPathError) as exc:
        pipeline.publish("research", lake=str(lake), out=str(root / where), las=None, formats="", k=None)
    assert "\n" not in str(exc.value)
    assert _tree(root) == before  # not one file gone or changed


@pytest.mark.parametrize("what", ["export", "packs"])
def test_export_and_packs_refuse_the_lake_and_foreign_folders(a_lake_and_a_drop_zone, what):
    from cslake import pipeline
    from cslake.outputs import OutputPathError

    root, lake, raw = a_lake_and_a_drop_zone
    before = _tree(root)
    for where in ("lake", "lake/silver", ".", "raw"):
        with pytest.raises(OutputPathError):
            pipeline.publish(what, lake=str(lake), out=str(root / where), las=None, formats="csv", k=None)
    assert _tree(root) == before


def test_an_output_is_replaced_only_when_complete_and_only_if_cslake_made_it(tmp_path):
    from cslake.outputs import MARKER, OutputPathError, replace_output_dir

    out = tmp_path / "research"

    def build(n):
        def write(folder):
            (folder / "person.parquet").write_text(f"extract {n}")
            return n
        return write

    assert replace_output_dir(out, build(1)) == 1
    assert (out / MARKER).is_file() and (out / "person.parquet").read_text() == "extract 1"

    def crash(folder):
        (folder / "person.parquet").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        replace_output_dir(out, crash)
    assert (out / "person.parquet").read_text() == "extract 1"  # the old output stands
    assert sorted(p.name for p in tmp_path.iterdir()) == ["research"]  # no scratch left beside it
    assert replace_output_dir(out, build(2)) == 2
    assert (out / "person.parquet").read_text() == "extract 2"
    (out / MARKER).unlink()  # now a folder cslake did not (knowingly) create
    with pytest.raises(OutputPathError):
        replace_output_dir(out, build(3))
    assert (out / "person.parquet").read_text() == "extract 2"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert replace_output_dir(empty, build(4)) == 4


# ---------------------------------------------------------------------------
# 3. The drop zone is a jail; 8. size limits (one landing of a hostile drop zone)
# ---------------------------------------------------------------------------

DATA = __import__("pathlib").Path(__file__).parent / "data_parsers"
SECRET = "SECRET-7f3a root:x:0:0:root:/root:/bin/bash"  # a file outside the drop zone
FIRST_LINE = "FIRSTLINE-91c2 not a return at all"  # the first line of a foreign file inside it
EPISODES_HEADER = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN"
SMALL_LIMITS = {"max_file_bytes": 200_000, "max_rows_per_file": 1_000,
                "xlsx_max_decompressed_bytes": 512 * 2**20, "xlsx_max_compression_ratio": 200}


def cin_file(children: int, when: str = "2024-05-01T10:00:00", la: str = "202") -> str:
    """A CIN 2024 return of ``children`` made-up children (the hand-made fixture's first child, renumbered)."""
    import re

    text = (DATA / "cin_2024_valid.xml").read_text(encoding="utf-8")
    start, end = text.index("<Child>"), text.index("</Child>") + len("</Child>")
    child = text[start:end]
    body = "\n".join(re.sub(r"<LAchildID>[^<]*</LAchildID>", f"<LAchildID>H{i:05d}</LAchildID>",
                            child.replace("X00000000001A", "")) for i in range(children))
    out = text[:start] + body + text[text.index("</Children>"):]
    return out.replace("<DateTime>2024-05-01T10:00:00</DateTime>", f"<DateTime>{when}</DateTime>").replace(
        "<LEA>202</LEA>", f"<LEA>{la}</LEA>")


def episodes_csv(rows: int, extra_header: str = "") -> str:
    lines = [EPISODES_HEADER + extra_header]
    lines += [f"{100 + i},01/05/2023,S,C2,N1,U1,PR1,,,,,,{',' * extra_header.count(',')}" for i in range(rows)]
    return "\n".join(lines) + "\n"


def zip_bomb_xlsx(expanded_bytes: int) -> bytes:
    """A workbook-shaped zip whose one sheet expands ``expanded_bytes`` of zeros (tiny on disk)."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("xl/worksheets/sheet1.xml", "w") as fh:
            block = b"\0" * (1 << 20)
            for _ in range(expanded_bytes >> 20):
                fh.write(block)
    return buf.getvalue()


@pytest.fixture(scope="module")
def hostile_landing(spark, tmp_path_factory):
    import logging
    import os

    from cslake.land import land_raw

    root = tmp_path_factory.mktemp("hostile_land")
    secret = root / "outside" / "passwd"
    secret.parent.mkdir()
    secret.write_text(SECRET + "\n")
    (root / "outside" / "more.csv").write_text(SECRET + "\n")
    raw = root / "raw"
    d = raw / "202" / "cin" / "2024"
    d.mkdir(parents=True)
    (d / "CIN_202_2024.xml").write_text(cin_file(3))
    os.symlink(secret, d / "CIN_202_2024_link.xml")  # a link to a file outside
    os.symlink(root / "outside", raw / "202" / "linked_folder")  # a link to a folder outside
    os.mkfifo(raw / "202" / "pipe.csv")  # reading it would block for ever
    e = raw / "203" / "ssda903" / "2024"
    e.mkdir(parents=True)
    # A "CSV" whose first line is someone's secret, with markup and a formula in it.
    (e / "episodes_secret.csv").write_text(f"[/red]{FIRST_LINE},=cmd|'/c calc'!A1\n1,2\n")
    (e / "episodes_big.csv").write_text(episodes_csv(5) + "#" * 250_000 + "\n")  # over max_file_bytes
    (e / "episodes_long.csv").write_text(episodes_csv(1_500))  # over max_rows_per_file
    (e / "episodes.csv").write_text(episodes_csv(4, ",=cmd|'/c calc'!A1,@SUM(1)"))  # formula headers
    a = raw / "204" / "annex_a" / "2024"
    a.mkdir(parents=True)
    (a / "annex_a.xlsx").write_bytes(zip_bomb_xlsx(64 << 20))  # 64 MiB of zeros in ~64 KB
    lake = Lake(root / "lake", spark=spark)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("cslake").addHandler(handler)
    try:
        report = land_raw(lake, raw, limits=SMALL_LIMITS)
        again = land_raw(lake, raw, limits=SMALL_LIMITS)
    finally:
        logging.getLogger("cslake").removeHandler(handler)
    files = lake.read_table(catalog.bronze.files).toPandas().set_index("path")
    return lake, raw, root, report, again, files, records


def test_links_pipes_and_oversized_files_are_refused_unread(hostile_landing):
    lake, raw, root, report, again, files, _ = hostile_landing
    expect = {"202/cin/2024/CIN_202_2024_link.xml": "FILE_SYMLINK", "202/linked_folder": "FILE_SYMLINK",
              "202/pipe.csv": "FILE_NOT_REGULAR", "203/ssda903/2024/episodes_big.csv": "FILE_TOO_LARGE",
              "203/ssda903/2024/episodes_long.csv": "FILE_TOO_MANY_ROWS",
              "204/annex_a/2024/annex_a.xlsx": "FILE_ZIP_BOMB",
              "203/ssda903/2024/episodes_secret.csv": "FILE_UNRECOGNISED"}
    for path, rule in expect.items():
        assert files.loc[path, "outcome"] == "rejected", (path, files.loc[path, "reason"])
        assert files.loc[path, "reason"].startswith(rule + ":"), (path, files.loc[path, "reason"])
    # the ledger says where a file's copy is only when there is one (it named the archive of the
    # empty file for every file refused unread)
    for path, stored in files.stored_path.items():
        kept = expect.get(path) in (None, "FILE_TOO_MANY_ROWS", "FILE_UNRECOGNISED")
        assert (stored is not None) == kept, (path, stored)
        assert not kept or (Path(lake.root) / stored).is_file(), (path, stored)
    assert files.loc["202/cin/2024/CIN_202_2024.xml", "outcome"] == "landed"
    assert files.loc["203/ssda903/2024/episodes.csv", "outcome"] == "landed"
    assert "202/linked_folder/more.csv" not in files.index  # the linked folder was never entered
    # Nothing refused unread has an archive copy; nothing outside the drop zone was archived.
    archived = {p.name for p in (root / "lake" / "bronze" / "_archive").rglob("*") if p.is_file()}
    for path in ("202/cin/2024/CIN_202_2024_link.xml", "202/pipe.csv", "203/ssda903/2024/episodes_big.csv",
                 "204/annex_a/2024/annex_a.xlsx"):
        assert files.loc[path, "sha256"] not in archived
    # The second run reads nothing again, refused files included.
    assert again.files_read == 0 and again.files_seen == report.files_seen


def test_no_content_of_a_refused_or_foreign_file_reaches_the_lake_the_report_or_the_logs(hostile_landing, tmp_path):
    from cslake.reports.errors import write_error_report

    lake, raw, root, _, _, files, records = hostile_landing
    outside, first = b"SECRET-7f3a", b"FIRSTLINE-91c2"
    lake_files = [p for p in (root / "lake").rglob("*") if p.is_file()]
    assert not [p for p in lake_files if outside in p.read_bytes()]  # not even archived
    # The foreign file's own bytes are archived (every drop-zone file is kept), and nowhere else.
    assert not [p for p in lake_files if first in p.read_bytes() and "_archive" not in p.parts]
    assert not any(n in r.getMessage() for r in records for n in ("SECRET-7f3a", "FIRSTLINE-91c2"))
    for la in ("202", "203", "204"):
        rep = write_error_report(lake, la, tmp_path / "errors")
        for needle in (outside, first):
            assert needle not in rep.csv_path.read_bytes() and needle not in rep.html_path.read_bytes()
    # The foreign CSV is reported by where and which rule, not by what its first line said.
    reason = files.loc["203/ssda903/2024/episodes_secret.csv", "reason"]
    assert "line 1" in reason and "[/red]" not in reason and "=cmd" not in reason


def test_error_report_csv_neutralises_formulas(hostile_landing, tmp_path):
    import csv

    from cslake.outputs import FORMULA_STARTS
    from cslake.reports.errors import write_error_report

    lake, *_ = hostile_landing
    rep = write_error_report(lake, "203", tmp_path / "errors")
    rows = list(csv.reader(rep.csv_path.open(encoding="utf-8")))
    cells = [c for r in rows for c in r]
    assert "'=cmd|'/c calc'!A1" in cells and "'@SUM(1)" in cells  # the LA still sees what it sent
    dangerous = [c for c in cells if c.startswith(FORMULA_STARTS)
                 and not c.lstrip("+-").replace(".", "", 1).isdigit()]
    assert not dangerous, dangerous


def test_console_output_never_reads_data_as_markup(tmp_path, capsys):
    from cslake import pipeline

    lake = tmp_path / "a[/red]b[/]" / "lake"
    lake.mkdir(parents=True)
    pipeline.status(lake=str(lake), history=None, as_of_version=None, limit=5, spark=False)
    assert "[/red]" in capsys.readouterr().out.replace("\n", "")


def test_after_the_hostile_landing_silver_balances_and_published_gold_passes_disclosure(hostile_landing, monkeypatch):
    """The acceptance check after the attacks: `cslake report silver` (every drop-zone entry in
    bronze.files, links and pipes included; per landed file, bronze = silver + quarantined), then
    linkage and every gold table built on what landed, and each published gold table passing the
    disclosure check publishing applies (cslake.publish.disclosure), cell by cell."""
    from cslake import pseudo
    from cslake.gold.build import build_gold
    from cslake.linkage import build_linkage
    from cslake.publish.disclosure import check_frame, spec_for
    from cslake.reports.silver import silver_report
    from cslake.silver import build_silver

    lake, raw, *_ = hostile_landing  # the last test on this lake: it builds silver, linkage and gold on it
    monkeypatch.setenv(pseudo.KEY_ENV, "hostile-landing-key-0123456789abcdef")
    build_silver(lake)
    rep = silver_report(lake, raw)
    assert rep["files_unbalanced"] == [] and not rep.get("raw_files_without_ledger_row"), rep
    build_linkage(lake)
    gold = build_gold(lake)
    published = [t for t in lake.tables() if t.startswith("gold.")]
    assert {r.table for r in gold.results} == {t.split(".", 1)[1] for t in published} and published, gold.summary()
    checked = 0
    for table in published:
        name = table.split(".", 1)[1]
        check_frame(name, lake.read_table(table).toPandas(), spec_for(name))  # raises on any leak
        checked += spec_for(name) is not None
    assert checked >= 1


# ---------------------------------------------------------------------------
# 8. A resubmission replaces the live file only when it is a real return
# ---------------------------------------------------------------------------

def _live_children(lake) -> dict[str, int]:
    """Bronze CIN children per live (landed) file path."""
    files = lake.read_table(catalog.bronze.files).toPandas()
    live = files[files.outcome == "landed"].set_index("sha256")["path"]
    child = lake.read_table(catalog.bronze.cin_child).toPandas()
    child = child[child["_file_sha256"].isin(live.index)]
    return child.groupby(child["_file_sha256"].map(live)).size().to_dict()


def test_an_empty_or_foreign_or_much_smaller_resubmission_is_held_until_accepted(spark, tmp_path):
    import os

    from cslake.land import land_raw

    raw = tmp_path / "raw"
    d = raw / "207" / "cin" / "2024"
    d.mkdir(parents=True)
    real = d / "CIN_207_2024.xml"
    real.write_text(cin_file(20, la="207"))
    lake = Lake(tmp_path / "lake", spark=spark)
    land_raw(lake, raw)
    assert _live_children(lake) == {"207/cin/2024/CIN_207_2024.xml": 20}

    # Later, three "resubmissions": a valid header over a foreign body, header only, and 3 of 20 children.
    header_only = cin_file(1, when="2024-06-01T10:00:00", la="207")
    foreign = header_only[: header_only.index("<Children>")] + "<Payload><Row>x</Row></Payload></Message>\n"
    (d / "CIN_207_2024_v2.xml").write_text(foreign.replace("2024-06-01T10", "2024-06-02T10"))
    (d / "CIN_207_2024_v3.xml").write_text(
        header_only[: header_only.index("<Child>")] + header_only[header_only.index("</Children>"):])
    (d / "CIN_207_2024_v4.xml").write_text(cin_file(3, when="2024-06-03T10:00:00", la="207"))
    report = land_raw(lake, raw)
    files = lake.read_table(catalog.bronze.files).toPandas().set_index("path")
    assert files.loc["207/cin/2024/CIN_207_2024.xml", "outcome"] == "landed"  # the real return stays live
    for v in ("v2", "v3", "v4"):
        row = files.loc[f"207/cin/2024/CIN_207_2024_{v}.xml"]
        assert row.outcome == "held", (v, row.outcome, row.reason)
        assert row.reason.startswith("FILE_RESUBMISSION_HELD:") and "cslake land --accept" in row.reason
    assert report.outcomes.get("held") == 3
    assert _live_children(lake) == {"207/cin/2024/CIN_207_2024.xml": 20}
    # A finding for the LA: its error report lists every held file with the rule and what to do.
    from cslake.reports.errors import collect_problems

    problems, _ = collect_problems(lake, "207")
    held = problems[problems.rule == "FILE_RESUBMISSION_HELD"]
    assert sorted(held.file) == [f"207/cin/2024/CIN_207_2024_{v}.xml" for v in ("v2", "v3", "v4")]
    assert held.message.str.contains("stays live").all()

    # The operator confirms the small one: it replaces the real one; the others stay held.
    with pytest.raises(StageError):
        land_raw(lake, raw, accept=["207/cin/2024/no_such_file.xml"])
    accepted = land_raw(lake, raw, accept=["207/cin/2024/CIN_207_2024_v4.xml"])
    assert accepted.accepted == ["207/cin/2024/CIN_207_2024_v4.xml"]
    files = lake.read_table(catalog.bronze.files).toPandas().set_index("path")
    assert files.loc["207/cin/2024/CIN_207_2024_v4.xml", "outcome"] == "landed"
    assert files.loc["207/cin/2024/CIN_207_2024.xml", "outcome"] == "superseded"
    assert files.loc["207/cin/2024/CIN_207_2024_v2.xml", "outcome"] == "held"
    assert _live_children(lake) == {"207/cin/2024/CIN_207_2024_v4.xml": 3}
    # A real correction (more rows, later) supersedes without being held.
    (d / "CIN_207_2024_v5.xml").write_text(cin_file(21, when="2024-07-01T10:00:00", la="207"))
    os.utime(d / "CIN_207_2024_v5.xml")
    land_raw(lake, raw)
    assert _live_children(lake) == {"207/cin/2024/CIN_207_2024_v5.xml": 21}


def foreign_body_csv(lines: int) -> str:
    """A valid SSDA903 episodes header over ``lines`` records of 3 fields (another export pasted under it)."""
    return "\n".join([EPISODES_HEADER] + [f"R{i},{i} Acacia Avenue,note {i}" for i in range(lines)]) + "\n"


def _live_episodes(lake) -> dict[str, int]:
    """Bronze SSDA903 episodes per live (landed) file path (two LAs may send the same bytes)."""
    files = lake.read_table(catalog.bronze.files).toPandas()
    live = files[files.outcome == "landed"][["sha256", "la", "path"]]
    eps = lake.read_table(catalog.bronze.ssda903_episodes).toPandas()
    eps = eps.merge(live, left_on=["_file_sha256", "_la"], right_on=["sha256", "la"])
    return eps.groupby("path").size().to_dict()


def _drop_ledger_column(lake, column: str) -> None:
    """bronze.files rewritten as a lake made before ``column`` was declared has it (delta-rs)."""
    from deltalake import DeltaTable, write_deltalake

    path = lake.path(catalog.bronze.files)
    old = DeltaTable(path).to_pyarrow_table()
    write_deltalake(path, old.drop([column]), mode="overwrite", schema_mode="overwrite")
    assert column not in [f.name for f in DeltaTable(path).schema().fields]


@pytest.fixture(scope="module")
def ragged_resubmissions(spark, tmp_path_factory):
    """LA 208's and 209's real 20-row episodes files landed by a cslake whose ledger had no
    ragged_rows column; then, later, 208 sends a valid header over 60 foreign 3-field lines (and its
    CIN return), 209 a correction of 30 rows with 3 ragged lines and 210 its first episodes file,
    a foreign body too. The ledger and live rows are
    snapshots taken right after that second land."""
    import os

    from cslake.land import land_raw

    root = tmp_path_factory.mktemp("ragged")
    raw = root / "raw"
    for la in ("208", "209"):
        (raw / la / "ssda903" / "2024").mkdir(parents=True)
        (raw / la / "ssda903" / "2024" / "episodes.csv").write_text(episodes_csv(20))
    lake = Lake(root / "lake", spark=spark)
    land_raw(lake, raw)
    _drop_ledger_column(lake, "ragged_rows")
    (raw / "208" / "cin" / "2024").mkdir(parents=True)
    (raw / "208" / "cin" / "2024" / "CIN_208_2024.xml").write_text(cin_file(2, la="208"))
    (raw / "210" / "ssda903" / "2024").mkdir(parents=True)
    (raw / "210" / "ssda903" / "2024" / "episodes.csv").write_text(foreign_body_csv(60))
    before = _live_episodes(lake)
    later = raw / "208" / "ssda903" / "2024" / "episodes_v2.csv"
    later.write_text(foreign_body_csv(60))
    correction = raw / "209" / "ssda903" / "2024" / "episodes_v2.csv"
    correction.write_text(episodes_csv(30) + "Notes: provisional\nx,y,z\nchecked by,AB\n")
    for path in (later, correction):
        os.utime(path, (os.stat(path).st_mtime + 60,) * 2)  # sent after the real files
    report = land_raw(lake, raw)
    files = lake.read_table(catalog.bronze.files).toPandas().set_index("path")
    return lake, raw, report, before, files, _live_episodes(lake)


def test_a_valid_header_over_a_foreign_body_is_held_and_the_real_return_stays_live(ragged_resubmissions):
    lake, raw, report, before, files, live = ragged_resubmissions
    assert before == {"208/ssda903/2024/episodes.csv": 20, "209/ssda903/2024/episodes.csv": 20}
    row = files.loc["208/ssda903/2024/episodes_v2.csv"]
    # More rows than the live file (60 > 20): only the ragged share can hold it.
    assert (row.outcome, row.row_count, row.ragged_rows) == ("held", 60, 60), row.reason
    assert row.reason == ("FILE_RESUBMISSION_HELD: it has 60 records of 60 whose field count differs from its "
                          "header (over 50%); 208/ssda903/2024/episodes.csv stays live "
                          "(cslake land --accept 208/ssda903/2024/episodes_v2.csv replaces it)")
    assert files.loc["208/ssda903/2024/episodes.csv", "outcome"] == "landed"
    assert live["208/ssda903/2024/episodes.csv"] == 20 and "208/ssda903/2024/episodes_v2.csv" not in live
    assert report.outcomes.get("held") == 1
    # Only a resubmission is guarded: a return's first file lands whatever its body (nothing to keep live).
    assert files.loc["210/ssda903/2024/episodes.csv", ["outcome", "ragged_rows"]].tolist() == ["landed", 60]
    # The held file's bytes are kept, and the LA's error report lists it with what to do.
    from pathlib import Path

    assert Path(lake.root, files.loc["208/ssda903/2024/episodes_v2.csv", "stored_path"]).read_text() == \
        foreign_body_csv(60)
    from cslake.reports.errors import collect_problems

    problems, _ = collect_problems(lake, "208")
    held = problems[problems.rule == "FILE_RESUBMISSION_HELD"]
    assert list(held.file) == ["208/ssda903/2024/episodes_v2.csv"]
    assert "60 records of 60 whose field count differs" in held.message.iloc[0]


def test_a_correction_with_a_few_ragged_lines_supersedes(ragged_resubmissions):
    _, _, _, _, files, live = ragged_resubmissions
    row = files.loc["209/ssda903/2024/episodes_v2.csv"]
    assert (row.outcome, row.row_count, row.ragged_rows) == ("landed", 33, 3), row.reason
    assert files.loc["209/ssda903/2024/episodes.csv", "outcome"] == "superseded"
    assert live["209/ssda903/2024/episodes_v2.csv"] == 33 and "209/ssda903/2024/episodes.csv" not in live
    # Files landed before the ledger had the column keep it null; XML has no field count to differ.
    assert pd.isna(files.loc["208/ssda903/2024/episodes.csv", "ragged_rows"])
    assert files.loc["208/cin/2024/CIN_208_2024.xml", "outcome"] == "landed"
    assert pd.isna(files.loc["208/cin/2024/CIN_208_2024.xml", "ragged_rows"])


def test_accepting_the_held_foreign_body_lands_it(ragged_resubmissions):
    from cslake.land import land_raw

    lake, raw, _, _, _, _ = ragged_resubmissions
    accepted = land_raw(lake, raw, accept=["208/ssda903/2024/episodes_v2.csv"])
    assert accepted.accepted == ["208/ssda903/2024/episodes_v2.csv"]
    files = lake.read_table(catalog.bronze.files).toPandas().set_index("path")
    assert files.loc["208/ssda903/2024/episodes_v2.csv", "outcome"] == "landed"
    assert files.loc["208/ssda903/2024/episodes.csv", "outcome"] == "superseded"
    live = _live_episodes(lake)
    assert live["208/ssda903/2024/episodes_v2.csv"] == 60 and "208/ssda903/2024/episodes.csv" not in live


def test_suspect_resubmission_holds_a_mostly_ragged_file_only():
    from cslake.land import resubmission_limits, suspect_resubmission

    limits = {"min_row_share": 0.5, "max_ragged_share": 0.5}
    assert suspect_resubmission(60, 20, limits, 60) == ("it has 60 records of 60 whose field count differs "
                                                        "from its header (over 50%)")
    assert suspect_resubmission(60, 20, limits, 31) is not None
    assert suspect_resubmission(60, 20, limits, 30) is None  # half is not most
    assert suspect_resubmission(60, 20, limits, None) is None  # XML, xlsx: no field count
    assert suspect_resubmission(60, 20, {**limits, "max_ragged_share": 0.1}, 7) is not None
    assert suspect_resubmission(0, 20, limits, 0) == "it has no data rows"
    assert suspect_resubmission(9, 20, limits, 0).startswith("it has 9 rows against 20")
    assert resubmission_limits() == {"min_row_share": 0.5, "max_ragged_share": 0.5}


def test_the_csv_reader_counts_records_whose_field_count_is_not_the_headers():
    from cslake.io import Source
    from cslake.io.parse_csv import CsvStream

    text = EPISODES_HEADER + "\n" + episodes_csv(4).split("\n", 1)[1] + "\nx,y,z\n" + "1," * 13 + "\n\nnote\n"
    stream = CsvStream(Source.of_bytes(text.encode()), "ssda903", 2024)
    # 4 good records and 3 ragged ones (14 fields, 3, 1), read 2 at a time: every one kept as a row
    assert sum(len(df) for _, df in stream.chunks(2)) == 7
    assert stream.meta["ragged_records"] == 3  # the blank lines are not records
    clean = CsvStream(Source.of_bytes(episodes_csv(4).encode()), "ssda903", 2024)
    assert [len(df) for _, df in clean.chunks(None)] == [4] and clean.meta["ragged_records"] == 0


# ---------------------------------------------------------------------------
# 6. One writer at a time; parse helpers die with their parent
# ---------------------------------------------------------------------------

def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _write_lock(lake_root, pid: int, host: str | None = None) -> None:
    import socket

    from cslake.lock import LOCK_FILE

    lake_root.mkdir(parents=True, exist_ok=True)
    (lake_root / LOCK_FILE).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(),
                                                   "command": "cslake land", "since": "2026-12-06T10:00:00+00:00"}))


def test_a_second_writer_refuses_in_one_line_and_writes_nothing(spark, tmp_path):
    import subprocess
    import sys

    from cslake.land import land_raw
    from cslake.lock import LOCK_FILE, LakeLockedError

    raw = tmp_path / "raw" / "202" / "cin" / "2024"
    raw.mkdir(parents=True)
    (raw / "CIN_202_2024.xml").write_text(cin_file(2))
    lake = Lake(tmp_path / "lake", spark=spark)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_lock(tmp_path / "lake", holder.pid)
        with pytest.raises(LakeLockedError) as exc:
            land_raw(lake, tmp_path / "raw")
        msg = str(exc.value)
        assert "\n" not in msg and f"pid {holder.pid}" in msg and "cslake land" in msg
        assert not lake.exists(catalog.bronze.files)  # nothing written half-way
        assert (tmp_path / "lake" / LOCK_FILE).exists()  # the holder's lock is untouched
    finally:
        holder.kill()
        holder.wait()
    # Its holder is gone: the lock is stale, taken over, and released after the run.
    report = land_raw(lake, tmp_path / "raw")
    assert report.outcomes == {"landed": 1}
    assert not (tmp_path / "lake" / LOCK_FILE).exists()


def test_stale_and_foreign_host_locks(tmp_path):
    import os

    from cslake.lock import LOCK_FILE, LakeLockedError, acquire, lake_lock, release

    root = tmp_path / "lake"
    _write_lock(root, _dead_pid())
    with lake_lock(root, "cslake build silver"):  # a dead holder on this host: stale
        held = json.loads((root / LOCK_FILE).read_text())
        assert held["pid"] == os.getpid() and held["command"] == "cslake build silver"
        with lake_lock(root, "cslake build gold"):  # the same process again (the demo): re-entrant
            pass
        assert (root / LOCK_FILE).exists()
    assert not (root / LOCK_FILE).exists()
    _write_lock(root, 1, host="another-host")  # another host's lock, fresh: not stale
    with pytest.raises(LakeLockedError):
        acquire(root, "cslake land")
    old = 3 * 24 * 3600
    os.utime(root / LOCK_FILE, (os.path.getmtime(root / LOCK_FILE) - old,) * 2)
    release(acquire(root, "cslake land"))  # a day old: stale
    assert not (root / LOCK_FILE).exists()


def test_two_processes_racing_for_the_lock_one_wins_one_refuses(tmp_path):
    """Two interpreters take the lock at the same moment: exactly one holds it."""
    import subprocess
    import sys
    import time

    code = ("import sys, time\nfrom cslake.lock import lake_lock, LakeLockedError\n"
            "time.sleep(max(0, float(sys.argv[2]) - time.time()))\n"
            "try:\n    with lake_lock(sys.argv[1], 'cslake land'):\n        print('won', flush=True); time.sleep(2)\n"
            "except LakeLockedError as e:\n    print('refused:', e, flush=True); sys.exit(3)\n")
    start = str(time.time() + 2.0)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "lake"), start],
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [(p.communicate(timeout=60)[0].strip(), p.returncode) for p in procs]
    assert sorted(rc for _, rc in outs) == [0, 3], outs
    refused = next(o for o, rc in outs if rc == 3)
    assert refused.startswith("refused: the lake is locked by cslake land (pid ") and "\n" not in refused


def test_with_cslake_lock_wait_a_second_writer_waits_its_turn(tmp_path, monkeypatch):
    import subprocess
    import sys
    import time

    from cslake.lock import LOCK_FILE, WAIT_ENV, lake_lock

    root = tmp_path / "lake"
    code = ("import sys, time\nfrom cslake.lock import lake_lock\n"
            "with lake_lock(sys.argv[1], 'cslake build silver'):\n    print('held', flush=True); time.sleep(3)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(root)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    monkeypatch.setenv(WAIT_ENV, "60")
    t0 = time.monotonic()
    with lake_lock(root, "cslake build gold"):
        waited = time.monotonic() - t0  # the holder kept it 3 s after saying so
    holder.wait()
    assert waited > 2 and not (root / LOCK_FILE).exists()


def test_a_parse_helper_exits_when_its_parent_is_killed(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from cslake.lock import pid_alive

    code = ("import multiprocessing, os, sys, time\n"
            "from concurrent.futures import ProcessPoolExecutor\n"
            "from cslake.land import die_with_parent\n"
            "if __name__ == '__main__':\n"
            "    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('spawn'),\n"
            "                               initializer=die_with_parent, initargs=(os.getpid(), 0.2))\n"
            "    print(pool.submit(os.getpid).result(), flush=True)\n"
            "    time.sleep(60)\n")
    script = tmp_path / "parent.py"
    script.write_text(code)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert pid_alive(child)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline and pid_alive(child):
        time.sleep(0.1)
        try:
            os.waitpid(child, os.WNOHANG)  # not our child: raises; a zombie would not be "alive" to us anyway
        except ChildProcessError:
            pass
    assert not pid_alive(child), "the helper outlived its killed parent"


# ---------------------------------------------------------------------------
# 7. One key per lake
# ---------------------------------------------------------------------------

def test_a_run_with_another_key_refuses_and_the_key_is_never_stored(tmp_path, monkeypatch):
    from cslake import pipeline, pseudo

    key_a, key_b = "first-lake-key-0123456789abcdef", "second-lake-key-0123456789abcdef"
    root = tmp_path / "lake"
    root.mkdir()
    monkeypatch.setenv(pseudo.KEY_ENV, key_a)
    fp = pseudo.check_lake_key(root)
    record = (root / pseudo.LAKE_KEY_FILE).read_text()
    assert fp in record and key_a not in record and key_a.encode().hex() not in record
    assert pseudo.check_lake_key(root) == fp  # the same key again: fine
    monkeypatch.setenv(pseudo.KEY_ENV, key_b)
    with pytest.raises(pseudo.KeyMismatchError) as exc:
        pseudo.check_lake_key(root)
    assert "\n" not in str(exc.value) and key_b not in str(exc.value) and key_a not in str(exc.value)
    assert exc.value.exit_code == 3
    # The silver stage refuses before it builds anything (no engine, no table, the lock released).
    with pytest.raises(pseudo.KeyMismatchError):
        pipeline.silver(lake=str(root), force=False)
    assert sorted(p.name for p in root.iterdir()) == [pseudo.LAKE_KEY_FILE]
    # A reader (the research extract) checks without recording; a fresh lake records nothing then.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    pseudo.check_lake_key(fresh, record=False)
    assert not any(fresh.iterdir())


# ---------------------------------------------------------------------------
# 5. Person-level outputs cannot be committed by accident
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("path,ignored", [
    ("research/person/part-0.parquet", True), ("exports/csv/riia_indicators.csv", True),
    ("reports/errors/errors_202.csv", True), ("lake/silver/person/part-0.parquet", True),
    ("lake-spark/gold/x/part-0.parquet", True), ("raw/202/cin/2024/CIN_202_2024.xml", True),
    ("mlruns/1/abc/artifacts/model.pkl", True), ("notebooks/mlruns/0/meta.yaml", True), ("mlflow.db", True),
    ("lake/_cslake.lock", True), ("lib/cslake/reports/new_report.py", False), ("conf/limits.yaml", False),
])
def test_gitignore_covers_every_output_folder_with_person_level_data(path, ignored):
    import shutil
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (repo / ".gitignore").is_file():
        pytest.fail("git and the repository's .gitignore are needed to check it")
    rc = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=repo).returncode
    assert (rc == 0) == ignored, path


def test_two_concurrent_cslake_land_runs_neither_fails_half_way(spark, tmp_path):
    """Two `cslake land` processes on one lake at once: each lands everything or refuses in one line
    (exit 3) before writing; the lake ends with every file once and every row once."""
    import subprocess
    import sys
    from pathlib import Path

    raw = tmp_path / "raw"
    for la in ("202", "203"):
        d = raw / la / "cin" / "2024"
        d.mkdir(parents=True)
        (d / f"CIN_{la}_2024.xml").write_text(cin_file(5, la=la))
    cslake = str(Path(sys.executable).with_name("cslake"))
    cmd = [cslake, "land", str(raw), "--lake", str(tmp_path / "lake")]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    codes = sorted(rc for rc, _, _ in results)
    assert codes in ([0, 0], [0, 3]), results
    for rc, _, err in results:
        if rc == 3:
            lines = [ln for ln in err.splitlines() if ln.strip()]
            assert len(lines) == 1 and "locked by cslake land" in lines[0], err
    lake = Lake(tmp_path / "lake", spark=spark)
    files = lake.read_table(catalog.bronze.files).toPandas()
    assert sorted(files.path) == ["202/cin/2024/CIN_202_2024.xml", "203/cin/2024/CIN_203_2024.xml"]
    assert set(files.outcome) == {"landed"}
    assert lake.read_table(catalog.bronze.cin_child).count() == 10


# ---------------------------------------------------------------------------
# Silver's tables and their quarantine: one group, or refused until finished
# ---------------------------------------------------------------------------

def test_silver_stopped_between_its_tables_and_their_quarantine_is_refused_until_finished(spark, tmp_path,
                                                                                        monkeypatch, capsys):
    """A full disk after silver wrote its tables but before their quarantine rows and file counts:
    every command that reads silver refuses in one line (exit 4) naming `cslake build silver`;
    running silver again finishes the group, and then the per-file balance holds."""
    import errno

    from cslake import pipeline, pseudo
    from cslake.cli import main
    from cslake.land import land_raw
    from cslake.reports.silver import silver_report
    from cslake.silver import build as B
    from cslake.stages import DATA
    from cslake.unfinished import UnfinishedStageError, record_location

    monkeypatch.setenv(pseudo.KEY_ENV, "hostile-test-key-0123456789abcdef")
    raw, root = tmp_path / "raw", tmp_path / "lake"
    (raw / "202" / "cin" / "2024").mkdir(parents=True)
    (raw / "202" / "cin" / "2024" / "CIN_202_2024.xml").write_text(cin_file(3))
    (raw / "202" / "ssda903" / "2024").mkdir(parents=True)
    bad = "999,01/05/2023,S,ZZ,N1,U1,PR1,,,,,,\n"  # LS ZZ: not a code, so a quarantined or flagged cell
    (raw / "202" / "ssda903" / "2024" / "episodes.csv").write_text(episodes_csv(4) + bad)
    lake = Lake(root, spark=spark)
    land_raw(lake, raw)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(B, "write_side_tables", disk_full)
        with pytest.raises(OSError, match="No space left"):
            pipeline.silver(str(root), force=False)
    assert lake.exists("silver.ssda903_episodes") and not lake.exists(catalog.silver.file_counts)
    record = root / "_cslake_unfinished_silver.json"
    assert record_location(root, "silver").endswith(record.name) and record.exists()

    for attempt in (lambda: pipeline.gold(str(root), tables=None, region=None),
                    lambda: pipeline.linkage(str(root)),
                    lambda: pipeline.report_silver(raw=None, format="text", lake=str(root)),
                    lambda: pipeline.sql("select 1", lake=str(root), limit=5, csv=None)):
        with pytest.raises(UnfinishedStageError) as exc:
            attempt()
        assert "\n" not in str(exc.value) and "`cslake build silver`" in str(exc.value)
    with pytest.raises(SystemExit) as code:
        main(["build", "gold", "--lake", str(root)])
    assert code.value.code == DATA
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cslake build silver" in err[0], err
    assert not any(t.startswith("gold.") for t in lake.tables())  # nothing built on the half-written silver

    pipeline.silver(str(root), force=False)  # finishes the group
    assert not record.exists()
    rep = silver_report(lake, raw)
    assert rep["files_unbalanced"] == [] and not rep.get("raw_files_without_ledger_row"), rep
    counts = lake.read_table(catalog.silver.file_counts).toPandas()
    episodes = counts[counts.source_path.str.endswith("episodes.csv")]
    assert episodes.bronze_rows.sum() == 5  # the five data lines written above
    assert (episodes.silver_rows + episodes.quarantined_rows).sum() == 5
    pipeline.linkage(str(root))  # and the stages after it run again


def test_a_table_group_record_is_left_by_an_error_kept_by_a_nested_run_and_cleared_at_the_end(tmp_path):
    from cslake.unfinished import UnfinishedStageError, check_finished, unfinished, writing_group

    with writing_group(tmp_path, "linkage", "run-1"):
        with writing_group(tmp_path, "linkage", "run-1"):  # the same run, nested: the outer record stays
            pass
        assert unfinished(tmp_path)["linkage"]["run_id"] == "run-1"
        check_finished(tmp_path, finishing="linkage")  # the stage finishing it is let through
        with pytest.raises(UnfinishedStageError, match="cslake build linkage"):
            check_finished(tmp_path)
    assert unfinished(tmp_path) == {}
    with pytest.raises(RuntimeError):
        with writing_group(tmp_path, "silver", "run-2"):
            raise RuntimeError("killed half-way")
    assert unfinished(tmp_path)["silver"]["run_id"] == "run-2"
    with pytest.raises(UnfinishedStageError, match="run run-2"):
        check_finished(tmp_path, finishing="linkage")  # linkage reads silver: refused


def test_the_next_land_removes_what_a_killed_land_left_and_nothing_else(spark, tmp_path, monkeypatch):
    """A land killed mid-file leaves a half-copied archive file and its parse helper's spool; the
    next land (under the lock) removes both, and keeps the spool of a helper that is still alive."""
    import os
    import subprocess
    import sys
    import tempfile

    from cslake.land import SPOOL_PREFIX, land_raw

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    raw = tmp_path / "raw" / "202" / "cin" / "2024"
    raw.mkdir(parents=True)
    (raw / "CIN_202_2024.xml").write_text(cin_file(2))
    lake = Lake(tmp_path / "lake", spark=spark)
    land_raw(lake, tmp_path / "raw")
    archive = next(p for p in (tmp_path / "lake").rglob("_archive") if p.is_dir())
    half = archive / ".incoming.0123abcd.tmp"
    half.write_bytes(b"half a file")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_spool = tmp_path / "tmp" / f"{SPOOL_PREFIX}{int(gone.stdout)}-aa.parquet"
    live_spool = tmp_path / "tmp" / f"{SPOOL_PREFIX}{os.getpid()}-bb.parquet"
    other = tmp_path / "tmp" / "someone-elses.parquet"
    for p in (dead_spool, live_spool, other):
        p.write_bytes(b"PAR1")
    (raw / "CIN_202_2024_resubmitted.xml").write_text(cin_file(3, when="2024-06-01T10:00:00"))
    report = land_raw(lake, tmp_path / "raw")
    assert report.files_read == 1
    assert not half.exists() and not dead_spool.exists()
    assert live_spool.exists() and other.exists()
    assert [p.name for p in archive.iterdir() if p.name.startswith(".")] == []
