"""Landing the generated region into bronze: nothing lost, every file kept, idempotent."""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

from cslake.lake import Lake
from cslake.land import land_raw, list_raw


@pytest.fixture(scope="module")
def landed(built_lake, tmp_path_factory):
    """The first landing is the shared dirty lake's (tests/fixtures_lake.py); the second, of
    the same drop zone, lands into a copy of it (the shared lake is read-only)."""
    from tests.fixtures_lake import copy_lake

    first = built_lake.reports["land"]
    lake = copy_lake(built_lake, tmp_path_factory.mktemp("lake_land") / "lake")
    versions = {t: lake.version(t) for t in lake.tables()}
    second = land_raw(lake, built_lake.raw)
    files = lake.read_table("bronze.files").toPandas()
    return lake, first, second, versions, files


def _faults(raw: Path) -> list[dict]:
    return list(csv.DictReader((raw / "_truth" / "faults.csv").open()))


def test_every_raw_file_has_a_ledger_row_and_an_archived_copy(landed, synth_raw):
    lake, first, _, _, files = landed
    listing = list_raw(synth_raw)
    assert sorted(files["path"]) == sorted(listing["relpath"])
    for rel, sha, stored in zip(files["path"], files["sha256"], files["stored_path"]):
        data = (synth_raw / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha
        assert (Path(lake.root) / stored).read_bytes() == data  # kept byte for byte


def test_second_run_commits_nothing(landed):
    lake, first, second, versions, _ = landed
    assert second.files_skipped == second.files_seen == first.files_seen
    assert second.outcomes == {}
    assert {t: lake.version(t) for t in lake.tables()} == versions


def test_file_level_faults_get_their_outcome(landed, synth_raw):
    _, _, _, _, files = landed
    by_path = files.set_index("path")
    expected = {"FILE_NOT_WELLFORMED": "rejected", "FILE_DUPLICATE": "duplicate", "FILE_RESUBMISSION": "superseded"}
    checked = 0
    for f in _faults(synth_raw):
        if f["rule"] in expected:
            row = by_path.loc[f["path"]]
            assert row["outcome"] == expected[f["rule"]], (f, row["reason"])
            checked += 1
    assert checked, "the dirty fixture should contain file-level faults"


def test_rejected_files_say_why(landed):
    _, _, _, _, files = landed
    rejected = files[files.outcome == "rejected"]
    assert rejected["reason"].str.match(r"^FILE_[A-Z_]+: .+").all()


def test_path_mismatch_is_reported_and_content_wins(landed, synth_raw):
    lake, _, _, _, files = landed
    findings = lake.read_table("bronze.findings").toPandas()
    for f in _faults(synth_raw):
        if f["rule"] == "FILE_PATH_MISMATCH":
            hits = findings[(findings.path == f["path"]) & (findings.rule == "FILE_PATH_MISMATCH")]
            assert len(hits), f"no FILE_PATH_MISMATCH finding for {f['path']}"
            assert files.set_index("path").loc[f["path"], "la"] == f["la"]


def test_cin_children_in_equal_bronze_rows_out(landed, synth_raw):
    """Counted independently with lxml from the raw files, per landed CIN file."""
    lake, _, _, _, files = landed
    cin = files[(files.collection == "cin") & files.outcome.isin(["landed", "superseded"])]
    assert len(cin)
    bronze = lake.read_table("bronze.cin_child").groupBy("_file_sha256").count().toPandas()
    got = dict(zip(bronze["_file_sha256"], bronze["count"]))
    for rel, sha in zip(cin["path"], cin["sha256"]):
        tree = etree.parse(str(synth_raw / rel))
        n_children = len(tree.xpath("//*[local-name()='Child']"))
        assert got.get(sha, 0) == n_children, rel


def test_903_csv_rows_in_equal_bronze_rows_out(landed, synth_raw):
    lake, _, _, _, files = landed
    eps = files[(files.collection == "ssda903") & (files.component == "episodes") & files.outcome.isin(["landed", "superseded"])]
    assert len(eps)
    bronze = lake.read_table("bronze.ssda903_episodes").groupBy("_file_sha256").count().toPandas()
    got = dict(zip(bronze["_file_sha256"], bronze["count"]))
    for rel, sha in zip(eps["path"], eps["sha256"]):
        text = (synth_raw / rel).read_bytes().decode("utf-8-sig", errors="replace")
        data_lines = [ln for ln in text.splitlines()[1:] if ln.strip().strip(",")]
        assert got.get(sha, 0) == len(data_lines), rel


# The LA-level gold tables of the shared clean gold lake (tests/fixtures_lake.py GOLD_TABLES) with
# LA rows keyed by geog_code (workforce, ofsted, cla_outcomes and lead_herd are not, or not from CIN).
LA_GOLD = ("riia_indicators", "annual_characteristics", "assessment_factors", "adolescent_cohort")


def _la_rows(lake, table: str) -> dict[str, pd.DataFrame]:
    """{LA: its rows of ``table`` as text, run columns left out, in a fixed order}."""
    from cslake.reports.parity import RUN_COLUMNS

    df = lake.read_table(table).toPandas()
    df = df[df.geog_level == "la"].drop(columns=[c for c in df.columns if c in RUN_COLUMNS]).astype(str)
    df = df.sort_values(list(df.columns)).reset_index(drop=True)
    return {la: df[df.geog_code == la].reset_index(drop=True) for la in ("201", "202", "203")}


def test_a_poisoned_resubmission_and_an_unknown_la_file_stop_nobody(gold_built, tmp_path, monkeypatch):
    """Issue 12's acceptance, on the shared clean region's drop zone and lake (copied: this test
    writes), so no region is built for it: LA 202 resubmits its latest CIN return with one child
    born in 1066 (it used to overflow the engine and stop `build silver` for every LA), re-exported
    with the same header DateTime and SerialNo; and LA 201's folder holds a CIN file whose header
    says LEA 975, which is no LA. Landing, silver and gold run for everyone; the resubmission
    supersedes without deleting; both files are in the right LA's error report."""
    import os

    from cslake import pseudo
    from cslake.gold.build import build_gold
    from cslake.gold.dfe import build_dfe_measures
    from cslake.reports.errors import collect_problems
    from cslake.silver import build_silver
    from tests.fixtures_lake import GOLD_KEY, copy_lake

    raw = tmp_path / "raw"
    shutil.copytree(gold_built.raw, raw)
    lake = copy_lake(gold_built, tmp_path / "lake")
    year = max(int(p.parent.name) for p in raw.glob("202/cin/*/*.xml"))
    cin_file = sorted(raw.glob(f"202/cin/{year}/*.xml"))[0]
    text = cin_file.read_text(encoding="utf-8")
    n_children = len(etree.fromstring(text.encode()).xpath("//*[local-name()='Child']"))
    # The LA edits one date and exports again: same LA, collection and year, same header stamp, a later file.
    born = re.search(r"<PersonBirthDate>(\d{4}-\d{2}-\d{2})</PersonBirthDate>", text)
    assert born, "the generated CIN file has a birth date to poison"
    resub = cin_file.with_name(cin_file.stem + "_resubmitted.xml")
    resub.write_text(text.replace(born.group(0), "<PersonBirthDate>1066-04-13</PersonBirthDate>", 1), encoding="utf-8")
    later = cin_file.stat().st_mtime + 3600
    os.utime(resub, (later, later))
    # A return from LA 201's folder that names LA 975 (not in conf/la_codes.csv)
    src = sorted(raw.glob(f"201/cin/{year}/*.xml"))[0]
    stray = src.with_name(f"CIN_975_{year}.xml")
    stray_bytes = src.read_text(encoding="utf-8").replace("<LEA>201</LEA>", "<LEA>975</LEA>").encode()
    assert stray_bytes != src.read_bytes()
    stray.write_bytes(stray_bytes)

    report = land_raw(lake, raw)
    assert report.outcomes == {"landed": 1, "rejected": 1}  # this run's arrivals (the old file: an earlier run's)
    files = lake.read_table("bronze.files").toPandas().set_index("path")
    old_rel, new_rel, stray_rel = (p.relative_to(raw).as_posix() for p in (cin_file, resub, stray))
    assert files.loc[old_rel, "outcome"] == "superseded"
    assert files.loc[old_rel, "superseded_by"] == files.loc[new_rel, "sha256"]
    # History stays queryable: the old file's rows are still in bronze.
    child = lake.read_table("bronze.cin_child").toPandas()
    assert (child["_file_sha256"] == files.loc[old_rel, "sha256"]).sum() == n_children
    # The unknown-LA file: rejected as LA 201's (its folder), nothing of it in bronze, its bytes kept.
    assert (files.loc[stray_rel, "outcome"], files.loc[stray_rel, "la"]) == ("rejected", "201")
    assert files.loc[stray_rel, "reason"].startswith("FILE_UNKNOWN_LA: sent in LA 201's folder, but the file says it is LA 975")
    sha = hashlib.sha256(stray_bytes).hexdigest()
    assert (Path(lake.root) / "bronze" / "_archive" / sha[:2] / sha).read_bytes() == stray_bytes
    assert not (child["_file_sha256"] == sha).any()

    monkeypatch.setenv(pseudo.KEY_ENV, GOLD_KEY)
    build_silver(lake)
    build_gold(lake, ["dfe_measures", *LA_GOLD], region="london")

    # Silver: every other LA and year as before; 202's year less the one child born in 1066.
    def per_return(lk):
        return lk.read_table("silver.cin_child").groupBy("_la", "_year").count().toPandas() \
            .set_index(["_la", "_year"])["count"].to_dict()

    before, after = per_return(gold_built.lake), per_return(lake)
    assert before[("202", year)] == n_children
    assert after == {**before, ("202", year): n_children - 1}
    q = lake.read_table("quarantine.rows").toPandas()
    assert list(zip(q.la, q.source_path, q.rule_code, q.column, q.value)) == [
        ("202", new_rel, "DATE_IMPLAUSIBLE", "PersonBirthDate", "1066-04-13")]
    # Gold for everyone: 201 and 203 exactly as on the unpoisoned lake, 202 with every year and measure.
    want = build_dfe_measures(gold_built.lake, "london")
    got = lake.read_table("gold_restricted.dfe_measures").toPandas()
    key = ["geog_code", "collection_year", "measure"]
    cols = key + ["as_submitted", "as_corrected"]
    for la in ("201", "203"):
        w = want[want.geog_code == la][cols].sort_values(key).reset_index(drop=True)
        g = got[got.geog_code == la][cols].sort_values(key).reset_index(drop=True)
        assert len(w) and w.astype(str).equals(g.astype(str)), la
    assert set(zip(got[got.geog_code == "202"].collection_year, got[got.geog_code == "202"].measure)) == \
        set(zip(want[want.geog_code == "202"].collection_year, want[want.geog_code == "202"].measure))
    # And every LA-level gold table the region's gold has: 201's and 203's rows (unsuppressed, so
    # independent of their neighbours) exactly as on the unpoisoned lake, 202's rows there.
    for t in LA_GOLD:
        w, g = (_la_rows(lk, f"gold_restricted.{t}") for lk in (gold_built.lake, lake))
        for la in ("201", "203"):
            assert len(w[la]) and w[la].equals(g[la]), (t, la)
        assert len(g["202"]), t

    # Each file is in the right LA's error report, and only there.
    reports = {la: collect_problems(lake, la)[0] for la in ("201", "202", "203")}
    r202 = reports["202"]
    assert len(r202[(r202.file == new_rel) & (r202.rule == "DATE_IMPLAUSIBLE") & (r202.value == "1066-04-13")]) == 1
    serial = r202[(r202.file == new_rel) & (r202.rule == "FILE_SERIAL_REPEATED")]
    assert len(serial) == 1 and old_rel in serial.message.iloc[0] and f"{new_rel} is the live file" in serial.message.iloc[0]
    r201 = reports["201"]
    unknown = r201[r201.file == stray_rel]
    assert list(unknown.rule) == ["FILE_UNKNOWN_LA"] and "LA 975" in unknown.message.iloc[0]
    assert not (reports["202"].file == stray_rel).any() and not (reports["203"].file == stray_rel).any()
    assert not (reports["201"].file == new_rel).any() and not (reports["203"].file == new_rel).any()


def test_parse_in_helper_processes_gives_the_rows_of_parsing_in_the_task(synth_raw, tmp_path):
    """Embedded Sail parses in helper processes; Spark and remote engines parse in the task
    itself. Both must stage exactly the same rows (one file of each format is enough)."""
    import pyarrow as pa

    from cslake import land

    listing = land.list_raw(synth_raw)
    picks = []
    for ext in (".xml", ".csv", ".xlsx"):
        mine = listing[listing.relpath.str.endswith(ext) & ~listing.relpath.str.startswith("_truth")]
        picks.append(mine.sort_values("size").iloc[-1])
    import pandas as pd

    chosen = pd.DataFrame(picks)[["path", "relpath", "mtime"]]
    chosen = chosen.assign(mtime_us=land.seconds_to_micros(chosen.mtime)).drop(columns="mtime")
    batch = pa.RecordBatch.from_pandas(chosen, preserve_index=False)

    def staged(processes):
        out = pa.Table.from_batches(list(land._parse_files(iter([batch]), str(tmp_path / f"a{processes}"), processes)))
        df = out.to_pandas()
        df["rec"] = df["rec"].map(lambda m: None if m is None else tuple(sorted(m)))
        return df.astype(str).sort_values(list(df.columns)).reset_index(drop=True)

    in_task, in_helpers = staged(1), staged(2)
    land.shutdown_parse_pool()
    assert len(in_task) > 100 and set(in_task.kind) >= {"row", "file"}
    assert in_task.equals(in_helpers)
    # Every value of the table rows is what the file's own parser returned.
    from cslake.io import parse_file

    row = chosen.iloc[0]
    _, parsed = parse_file(Path(row.path).read_bytes(), Path(row.path).name, row.relpath)
    n = sum(len(df) for df in parsed.tables.values())
    assert (in_task[(in_task.kind == "row") & (in_task.path == row.relpath)].shape[0]) == n


# --- ledger decisions behind missed faults (issue 3 recall) -------------------------------------

DATA = Path(__file__).parent / "data_parsers"
EPISODES_HEADER = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN"


def _episodes(year: int) -> str:
    """Episodes of a year-`year` return: every date inside that collection year."""
    y0 = year - 1
    rows = [f"{c},{d:02d}/0{m}/{y0},S,C2,N1,U1,PR1,{d + 1:02d}/0{m + 1}/{y0},E11,,,,"
            for c, d, m in ((11, 3, 5), (12, 7, 6), (13, 9, 7), (14, 12, 8))]
    rows += [f"15,02/01/{year},S,C2,N1,U1,PR1,,,,,,"]
    return "\n".join([EPISODES_HEADER, *rows]) + "\n"


def _header(year: int) -> str:
    sex = "M" if year >= 2025 else "1"
    return "\n".join(["CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB"]
                     + [f"{c},{sex},01/01/2010,WBRI,UN1,," for c in range(11, 16)]) + "\n"


def _touch(p: Path, when: float) -> None:
    import os

    os.utime(p, (when, when))


@pytest.fixture(scope="module")
def ledger_cases(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("land_ledger")
    raw = root / "raw"
    t0 = 1_700_000_000.0
    # A CIN return and the copy the LA sent again an hour later: "x (1).xml" sorts first.
    cin = raw / "202" / "cin" / "2024"
    cin.mkdir(parents=True)
    data = (DATA / "cin_2024_valid.xml").read_bytes()
    (cin / "CIN_202_2024.xml").write_bytes(data)
    (cin / "CIN_202_2024 (1).xml").write_bytes(data)
    _touch(cin / "CIN_202_2024.xml", t0)
    _touch(cin / "CIN_202_2024 (1).xml", t0 + 3600)
    # Header-only 903 AD1 tables (no adoptions): byte-identical across LAs; LA 203 sends its twice.
    empty = "CHILD,DOB,DATE_INT,DATE_MATCH,FOSTER_CARE,NB_ADOPTR,SEX_ADOPTR,LS_ADOPTR\n"
    for rel, when in (("202/ssda903/2024/ad1.csv", t0), ("203/ssda903/2024/ad1.csv", t0 + 10),
                      ("203/ssda903/2024/ad1_copy.csv", t0 + 20)):
        (raw / rel).parent.mkdir(parents=True, exist_ok=True)
        (raw / rel).write_text(empty)
        _touch(raw / rel, when)
    # The same header-only table saved with a byte-order mark at two more LAs: two returns of
    # the same bytes, each with its own encoding finding.
    for rel in ("205/ssda903/2024/ad1.csv", "206/ssda903/2024/ad1.csv"):
        (raw / rel).parent.mkdir(parents=True, exist_ok=True)
        (raw / rel).write_bytes(b"\xef\xbb\xbf" + empty.encode())
        _touch(raw / rel, t0)
    # LA 204's 2024 return, and beside it in the same folder its 2025 return ("_final").
    f = raw / "204" / "ssda903" / "2024"
    f.mkdir(parents=True)
    (f / "SSDA903_2023-24_Episodes.csv").write_text(_episodes(2024))
    (f / "SSDA903_2023-24_Header.csv").write_text(_header(2024))
    (f / "Episodes_final.csv").write_text(_episodes(2025))
    (f / "Header_final.csv").write_text(_header(2025))
    # A table that did not change from one year to the next: the same bytes in both sets.
    uasc = "CHILD,SEX,DOB,DUC\n15,1,01/01/2010,\n"
    (f / "SSDA903_2023-24_UASC.csv").write_text(uasc)
    (f / "UASC_final.csv").write_text(uasc)
    for p in f.iterdir():
        _touch(p, t0 + (100 if "final" in p.name else 0))
    # A return sent in a folder named for a code that is no LA (conf/la_codes.csv), its header saying so too.
    stray = raw / "975" / "cin" / "2024" / "CIN_975_2024.xml"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(data.replace(b"<LEA>202</LEA>", b"<LEA>975</LEA>"))
    lake = Lake(root=root / "lake", spark=spark)
    land_raw(lake, raw)
    files = lake.read_table("bronze.files").toPandas().set_index("path")
    findings = (lake.read_table("bronze.findings").toPandas() if lake.exists("bronze.findings")
                else pd.DataFrame(columns=["path", "rule"]))
    return lake, files, findings


def test_the_later_of_two_identical_files_is_the_duplicate_whatever_the_names(ledger_cases):
    _, files, _ = ledger_cases
    assert files.loc["202/cin/2024/CIN_202_2024.xml", "outcome"] == "landed"
    dup = files.loc["202/cin/2024/CIN_202_2024 (1).xml"]
    assert dup.outcome == "duplicate" and dup.duplicate_of == "202/cin/2024/CIN_202_2024.xml"


def test_identical_header_only_files_are_duplicates_only_of_the_same_return(ledger_cases):
    _, files, _ = ledger_cases
    assert files.loc["202/ssda903/2024/ad1.csv", "outcome"] == "landed"
    assert files.loc["203/ssda903/2024/ad1.csv", "outcome"] == "landed"
    copy = files.loc["203/ssda903/2024/ad1_copy.csv"]
    assert copy.outcome == "duplicate" and copy.duplicate_of == "203/ssda903/2024/ad1.csv"


def test_the_same_bytes_at_two_las_keep_each_arrivals_findings(ledger_cases):
    """Findings were keyed on the bytes alone: of two LAs' identical files, one LA's finding was
    kept at random, and two builds of the same region differed."""
    _, files, findings = ledger_cases
    both = ["205/ssda903/2024/ad1.csv", "206/ssda903/2024/ad1.csv"]
    assert list(files.loc[both, "outcome"]) == ["landed", "landed"]
    assert files.loc[both[0], "sha256"] == files.loc[both[1], "sha256"]
    enc = findings[(findings.rule == "FILE_ENCODING") & findings.path.isin(both)]
    assert sorted(zip(enc.path, enc.la)) == [(both[0], "205"), (both[1], "206")]


def test_a_903_set_in_an_earlier_years_folder_takes_the_year_of_its_dates(ledger_cases):
    lake, files, findings = ledger_cases
    folder = "204/ssda903/2024/"
    for name, year in (("SSDA903_2023-24_Episodes.csv", 2024), ("SSDA903_2023-24_Header.csv", 2024),
                       ("Episodes_final.csv", 2025), ("Header_final.csv", 2025)):
        row = files.loc[folder + name]
        assert (row.outcome, int(row.year)) == ("landed", year), name  # neither set supersedes the other
    # The table unchanged from one year to the next is the same bytes in both sets, and
    # each set's return: both land, each with its own year (rows keyed by return too).
    for name, year in (("SSDA903_2023-24_UASC.csv", 2024), ("UASC_final.csv", 2025)):
        row = files.loc[folder + name]
        assert (row.outcome, int(row.year)) == ("landed", year), name
    uasc_rows = lake.read_table("bronze.ssda903_uasc").toPandas()
    same = uasc_rows[uasc_rows._file_sha256 == files.loc[folder + "UASC_final.csv", "sha256"]]
    assert sorted(same._year) == [2024, 2025]
    flagged = set(findings.loc[findings.rule == "FILE_YEAR_MISMATCH", "path"])
    assert flagged == {folder + "Episodes_final.csv", folder + "Header_final.csv", folder + "UASC_final.csv"}
    hdr = lake.read_table("bronze.ssda903_header").toPandas()
    sha = files.loc[folder + "Header_final.csv", "sha256"]
    assert set(hdr.loc[hdr._file_sha256 == sha, "_year"]) == {2025}


def test_a_file_seen_again_lands_once_and_never_supersedes_itself(spark, synth_clean_raw, tmp_path):
    """The same bytes at the same path are the same file, whatever its modification time
    says now: re-landing commits nothing and the file stays landed."""
    import os

    from tests.fixtures_synth import copy_raw_subset

    raw = copy_raw_subset(synth_clean_raw, tmp_path / "raw", ["ssda903"])
    files = sorted(p for p in raw.rglob("*.csv"))
    # Times a hair past half a millisecond (as seen: .3695003), which 3-place rounding of
    # the file system time and of the ledger's microseconds put in different milliseconds.
    for p in files:
        st = p.stat()
        os.utime(p, ns=(st.st_atime_ns, (st.st_mtime_ns // 1_000_000) * 1_000_000 + 500_300))
    lake = Lake(root=tmp_path / "lake", spark=spark)
    land_raw(lake, raw)
    versions = {t: lake.version(t) for t in lake.tables()}
    again = land_raw(lake, raw)
    assert again.files_skipped == len(files) and not again.outcomes
    assert again.files_read == 0
    # Touched (new time, same bytes): read again, recognised, no arrival; only its ledger
    # row takes the new time, so the run after that does not read it at all.
    touched = files[0]
    os.utime(touched, (touched.stat().st_atime + 10, touched.stat().st_mtime + 10))
    third = land_raw(lake, raw)
    assert third.files_read == 1 and third.files_skipped == len(files) and not third.outcomes
    changed = {t for t in lake.tables() if lake.version(t) != versions[t]}
    assert changed == {"bronze.files"}
    ledger = lake.read_table("bronze.files").toPandas()
    rel = touched.relative_to(raw).as_posix()
    assert list(ledger.loc[ledger.path == rel, "outcome"]) == ["landed"]
    assert len(ledger) == len(files)
    recorded = pd.Timestamp(ledger.loc[ledger.path == rel, "source_modified_at"].iloc[0]).tz_localize("UTC").timestamp()
    assert abs(recorded - touched.stat().st_mtime) < 1e-3
    fourth = land_raw(lake, raw)
    assert fourth.files_read == 0 and fourth.files_skipped == len(files) and not fourth.outcomes


def test_a_folder_named_for_no_la_is_refused_under_its_code_and_reported(ledger_cases, tmp_path):
    """`cslake report errors --la 975` failed (unknown LA code) while its file was in the lake."""
    from cslake.config import ConfigError
    from cslake.reports.errors import write_error_report

    lake, files, _ = ledger_cases
    row = files.loc["975/cin/2024/CIN_975_2024.xml"]
    assert (row.outcome, row.la, row.collection, int(row.year)) == ("rejected", "975", "cin", 2024)
    assert row.reason.startswith("FILE_UNKNOWN_LA: sent in folder 975/, which is not a local authority")
    report = write_error_report(lake, "975", tmp_path)
    assert (report.la, report.problems, report.files) == ("975", 1, 1)
    problems = pd.read_csv(report.csv_path)
    assert list(zip(problems.file, problems.rule)) == [("975/cin/2024/CIN_975_2024.xml", "FILE_UNKNOWN_LA")]
    with pytest.raises(ConfigError, match="unknown LA code"):
        write_error_report(lake, "976", tmp_path)  # nothing was sent as 976
