"""Silver on a small hand-made raw zone whose every fault is known: conform, quarantine,
pseudonymise, care history, idempotency. (The generated region is in test_silver_synth.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cslake import pseudo
from cslake.lake import Lake
from cslake.land import land_raw
from cslake.upn import make_upn

KEY = "silver-test-key-0123456789abcdef"
DATA = Path(__file__).parent / "data_parsers"
GOOD_UPN = make_upn("202", 12, 4321)
BAD_UPN = ("A" if GOOD_UPN[0] != "A" else "B") + GOOD_UPN[1:]

EPISODE_HEADER = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN"
EPISODES_2024 = [
    # line 2: open, followed by the next episode -> closed at its start (SSDA903_EPI_OPEN, X1)
    "1001,01/05/2023,S,C2,N1,U1,PR1,,,,SW1A 1AA,E1 6AN,SC000001",
    # line 3: ends after the next one starts -> cut (SSDA903_EPI_OVERLAP)
    "1001,01/08/2023,P,C2,N1,K2,PR4,20/01/2024,X1,CARPL,SW1A 1AA,E1 6AN,SC000002",
    # line 4: open at 31 March, appears again (closed) in 2025's file
    "1001,15/01/2024,P,C2,N1,U1,PR1,,,CARPL,SW1A 1AA,N1 9GU,SC000003",
    # line 5: ends before it starts (SSDA903_356)
    "1002,01/06/2023,S,C2,N2,U1,PR1,01/05/2023,E11,,SE1 7PB,,SC000004",
    # line 6: three cell faults: RNE blank, LS invalid, DECOM in the wrong format
    "1003,2023-05-01,,ZZ,N1,U1,PR1,,,,,,SC000005",
    # line 7: open, child absent from 2025's file -> stays open, flagged SSDA903_EPI_ABSENT (never closed)
    "1004.0,01/09/2023,s,c2,n1,u1,pr1,,,,EC1A 1BB,,XXXXXXX",
    # line 8: the same natural key as line 7 in one file (DUPLICATE_KEY)
    "1004,01/09/2023,S,C2,N1,U1,PR1,,,,EC1A 1BB,,XXXXXXX",
]
EPISODES_2025 = [
    "1001,15/01/2024,P,C2,N1,U1,PR1,10/06/2024,E11,CARPL,SW1A 1AA,N1 9GU,SC000003",
    "1005,01/05/2024,S,V2,N4,A3,PR1,,,,W1A 0AX,,1234567",
]
HEADER_2024 = [
    "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB",
    f"1001,1,14/07/2010,WBRI,{GOOD_UPN},,",
    f"1002,2,03/03/2012,bafr,{BAD_UPN},0,",
    "1003,2,30/02/2011,WBRI,UN2,0,",   # impossible date
    "1004,3,01/01/2009,WBRI,UN1,,",    # SEX not a code
    "1006,2,29/02/2012,WBRI,UN1,,",    # born the same day as the child in SEN2's test file
]
RAW_IDS = {"1001", "1002", "1003", "1004", "1004.0", "1005", "1006", GOOD_UPN, BAD_UPN}
RAW_POSTCODES = {"SW1A 1AA", "E1 6AN", "N1 9GU", "SE1 7PB", "EC1A 1BB", "W1A 0AX"}


def make_raw(root: Path) -> Path:
    raw = root / "raw"
    for year, lines in ((2024, EPISODES_2024), (2025, EPISODES_2025)):
        d = raw / "202" / "ssda903" / str(year)
        d.mkdir(parents=True)
        (d / "episodes.csv").write_text("\n".join([EPISODE_HEADER, *lines]) + "\n")
    (raw / "202" / "ssda903" / "2024" / "header.csv").write_text("\n".join(HEADER_2024) + "\n")
    for name, folder in (("cin_2024_valid.xml", "cin/2024"), ("cin_2025_valid.xml", "cin/2025"),
                         ("csww_2025_valid.xml", "csww/2025"), ("sen2_2025_valid.xml", "sen2/2025")):
        (raw / "202" / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA / name, raw / "202" / folder / name)
    return raw


# Hand-made returns with each fault placed by hand (not the generated region of the session's
# shared lakes, tests/fixtures_lake.py): the assertions below name their rows and values.
@pytest.fixture(scope="module")
def built(spark, tmp_path_factory):
    from cslake.silver import build_silver

    mp = pytest.MonkeyPatch()
    mp.setenv(pseudo.KEY_ENV, KEY)
    root = tmp_path_factory.mktemp("silver_small")
    raw = make_raw(root)
    lake = Lake(root / "lake", spark=spark)
    land_raw(lake, raw)
    first = build_silver(lake)
    versions = {t: lake.version(t) for t in lake.tables()}
    second = build_silver(lake)
    yield lake, raw, first, second, versions
    mp.undo()


def _pdf(lake, name):
    return lake.read_table(name).toPandas()


def _q(lake, table="silver.ssda903_episodes"):
    q = _pdf(lake, "quarantine.rows")
    return q[q.table == table]


def test_quarantine_names_rule_column_row_and_keeps_the_record(built):
    lake, *_ = built
    q = _q(lake)
    got = {(int(r), rule, col) for r, rule, col in zip(q.row_number, q.rule_code, q.column)}
    assert got == {(5, "SSDA903_356", "DEC"), (6, "MANDATORY_MISSING", "RNE"), (6, "CODE_INVALID", "LS"),
                   (6, "TYPE_DATE", "DECOM"), (8, "DUPLICATE_KEY", "CHILD,DECOM")}
    bad = q[q.rule_code == "CODE_INVALID"].iloc[0]
    assert bad.value == "ZZ" and '"LS":"ZZ"' in bad.record_json
    assert bad.source_path == "202/ssda903/2024/episodes.csv" and bad.la == "202" and bad.year == 2024
    assert "LS" in bad.message and "code" in bad.message.lower()
    h = _q(lake, "silver.ssda903_header")
    assert {(int(r), rule) for r, rule in zip(h.row_number, h.rule_code)} == {(4, "TYPE_DATE"), (5, "CODE_INVALID")}


def test_rows_in_equal_rows_out_plus_quarantined_per_file(built):
    lake, *_ = built
    from pyspark.sql import functions as F

    counts = _pdf(lake, "silver.file_counts")
    assert len(counts) > 5
    for r in counts.itertuples():
        bronze = lake.read_table(r.table.replace("silver.", "bronze.")).filter(
            F.col("_file_sha256") == r.source_file_sha256).count()
        silver = lake.read_table(r.table).filter(F.col("_file_sha256") == r.source_file_sha256).count()
        quarantined = (lake.read_table("quarantine.rows")
                       .filter((F.col("table") == r.table) & (F.col("source_file_sha256") == r.source_file_sha256))
                       .select("row_number").distinct().count())
        assert bronze == silver + quarantined == r.bronze_rows, r
        assert (silver, quarantined) == (r.silver_rows, r.quarantined_rows)


def test_values_typed_and_codes_normalised(built):
    import datetime as dt

    lake, *_ = built
    eps = _pdf(lake, "silver.ssda903_episodes")
    row7 = eps[(eps._row == 7) & (eps._year == 2024)].iloc[0]
    assert (row7.RNE, row7.LS, row7.CIN, row7.PLACE, row7.PLACE_PROVIDER) == ("S", "C2", "N1", "U1", "PR1")
    assert row7.DECOM == dt.date(2023, 9, 1)
    assert set(row7["_flags"].split(",")) >= {"CODE_CASE", "ID_FLOAT"}
    # 12345.0 and 12345 are the same child.
    assert row7.CHILD_hash == pseudo.hash_value("la_child_id", "1004", la="202", key=KEY.encode())
    hdr = _pdf(lake, "silver.ssda903_header")
    r = hdr.set_index("_row").loc[3]
    assert r.ETHNIC == "BAFR" and r.DOB == dt.date(2012, 3, 1)  # DOB to the month
    assert r.UPN_hash is None and "UPN_INVALID" in r["_flags"]
    assert hdr.set_index("_row").loc[2].UPN_hash == pseudo.hash_value("upn", GOOD_UPN, key=KEY.encode())
    flags = _pdf(lake, "quarantine.row_flags")
    assert ((flags.rule_code == "UPN_INVALID") & (flags.row_number == 3)
            & (flags.table == "silver.ssda903_header")).sum() == 1


def test_postcodes_degraded(built):
    lake, *_ = built
    eps = _pdf(lake, "silver.ssda903_episodes")
    r = eps[(eps._row == 2) & (eps._year == 2024)].iloc[0]
    assert (r.HOME_POST_sector, r.HOME_POST_district, r.PL_POST_sector) == ("SW1A 1", "SW1A", "E1 6")
    assert "HOME_POST" not in eps.columns and "PL_POST" not in eps.columns


def test_latest_submission_of_each_key_wins(built):
    lake, *_ = built
    eps = _pdf(lake, "silver.ssda903_episodes")
    import datetime as dt

    same = eps[eps.DECOM == dt.date(2024, 1, 15)]
    assert sorted(zip(same._year, same._latest)) == [(2024, False), (2025, True)]


def test_care_history_repairs(built):
    import datetime as dt

    lake, *_ = built
    ch = _pdf(lake, "silver.care_history").sort_values(["CHILD_hash", "DECOM"])
    c1 = ch[ch.CHILD_hash == pseudo.hash_value("la_child_id", "1001", la="202", key=KEY.encode())]
    assert list(c1.DECOM) == [dt.date(2023, 5, 1), dt.date(2023, 8, 1), dt.date(2024, 1, 15)]
    assert list(c1.repair_rule) == ["SSDA903_EPI_OPEN", "SSDA903_EPI_OVERLAP", None]
    assert list(c1.DEC) == [dt.date(2023, 8, 1), dt.date(2024, 1, 15), dt.date(2024, 6, 10)]
    assert list(c1.REC) == ["X1", "X1", "E11"]
    assert list(c1._year) == [2024, 2024, 2025]  # the later submission of the third episode
    c4 = ch[ch.CHILD_hash == pseudo.hash_value("la_child_id", "1004", la="202", key=KEY.encode())].iloc[0]
    # absent from the LA's 2025 return: not closed, no invented REC, held as the 2024 return sent it
    assert (c4.DEC, c4.REC, c4.repair_rule, c4._year) == (None, None, None, 2024)
    c5 = ch[ch.CHILD_hash == pseudo.hash_value("la_child_id", "1005", la="202", key=KEY.encode())].iloc[0]
    assert c5.DEC is None and c5.repair_rule is None  # open in the LA's latest year: still in care
    flags = _pdf(lake, "quarantine.row_flags")
    rep = flags[flags.table == "silver.care_history"]
    assert sorted(zip(rep.row_number, rep.rule_code, rep.outcome)) == [
        (2, "SSDA903_EPI_OPEN", "repair"), (3, "SSDA903_EPI_OVERLAP", "repair"), (7, "SSDA903_EPI_ABSENT", "flag")]


def test_cin_and_other_collections_reach_silver(built):
    lake, _, first, *_ = built
    for t in ("silver.cin_child", "silver.cin_episode", "silver.csww_worker", "silver.sen2_person"):
        assert t in first.tables and lake.read_table(t).count() > 0, t
    sen = lake.read_table("silver.sen2_person")
    assert not {"Surname", "Forename", "PostCode", "UPN", "UniqueLearnerNumber"} & set(sen.columns)
    assert {"UPN_hash", "PostCode_sector"} <= set(sen.columns)
    assert "SWENo_hash" in lake.read_table("silver.csww_worker").columns


def test_dates_of_birth_kept_to_the_month_and_as_a_keyed_hash_of_the_exact_date(built):
    import datetime as dt

    from cslake.catalog import table_spec

    lake, *_ = built
    k = KEY.encode()
    hdr = _pdf(lake, "silver.ssda903_header").set_index("_row")
    # Raw 14/07/2010 and 03/03/2012 (lines 2 and 3 of the file), 29/02/2012 (line 6).
    assert hdr.loc[2].DOB == dt.date(2010, 7, 1) and hdr.loc[2].DOB_hash == pseudo.date_hash_value("2010-07-14", key=k)
    assert hdr.loc[3].DOB == dt.date(2012, 3, 1) and hdr.loc[3].DOB_hash == pseudo.date_hash_value("2012-03-03", key=k)
    assert "MC_DOB_hash" in hdr.columns and hdr.MC_DOB_hash.isna().all()  # no mother's child's DOB in the file
    # The same date in another collection (SEN2's file: 2012-02-29) gives the same hash.
    sen = _pdf(lake, "silver.sen2_person").iloc[0]
    assert sen.PersonBirthDate == dt.date(2012, 2, 1)
    assert sen.PersonBirthDate_hash == hdr.loc[6].DOB_hash == pseudo.date_hash_value(dt.date(2012, 2, 29), key=k)
    # ... and in SEN2's child tables, which repeat the person's date of birth.
    req = _pdf(lake, "silver.sen2_request")
    assert len(req) and set(req.PersonBirthDate_hash) == {sen.PersonBirthDate_hash}
    cin = _pdf(lake, "silver.cin_child")
    assert set(cin.PersonBirthDate_hash.dropna()) == {pseudo.date_hash_value("2015-06-01", key=k)}
    assert set(cin.ExpectedPersonBirthDate_hash.dropna()) == {pseudo.date_hash_value("2024-04-15", key=k)}
    assert set(cin.ExpectedPersonBirthDate.dropna()) == {dt.date(2024, 4, 1)}
    # Dates of death stay month-only: no hash of them.
    assert "PersonDeathDate" in cin.columns and "PersonDeathDate_hash" not in cin.columns
    desc = table_spec("silver.ssda903_header").column("DOB_hash").description
    assert "exact date" in desc and "HMAC" in desc


def _raw_dates_of_birth(raw) -> set[str]:
    """Every date of birth in the raw zone, as written there."""
    from lxml import etree

    dobs = {line.split(",")[2] for line in HEADER_2024[1:]}
    for xml in raw.rglob("*.xml"):
        for el in etree.parse(str(xml)).iter():
            if etree.QName(el).localname in {"PersonBirthDate", "ExpectedPersonBirthDate"} and el.text and el.text.strip():
                dobs.add(el.text.strip())
    return dobs


def test_no_exact_date_of_birth_in_silver_except_hashed(built):
    """The exact date of birth appears nowhere in silver, in any column or type, unless it
    is itself the first of its month (then it is the month value)."""
    import datetime as dt

    from pyspark.sql import functions as F

    lake, raw, *_ = built
    dates = set()
    for text in _raw_dates_of_birth(raw):
        for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
            try:
                dates.add(dt.datetime.strptime(text, fmt).date())
            except ValueError:
                pass
    dates.discard(None)
    exact = {d for d in dates if d.day != 1}
    assert len(exact) >= 4, exact
    forbidden = {d.isoformat() for d in exact} | {d.strftime("%d/%m/%Y") for d in exact}
    hashes = {pseudo.date_hash_value(d, key=KEY.encode()) for d in exact}
    seen_hashes: set[str] = set()
    for name in lake.tables():
        if not name.startswith("silver."):
            continue
        df = lake.read_table(name)
        rows = df.select(*[F.col(f"`{c}`").cast("string").alias(c) for c in df.columns]).collect()
        for row in rows:
            for c, v in zip(df.columns, row):
                if v is None:
                    continue
                assert v.strip()[:10] not in forbidden and v.strip() not in forbidden, (name, c, v)
                if c.endswith("_hash"):
                    seen_hashes.add(v)
    # Every exact date of birth (all on kept rows) is there, hashed.
    assert hashes <= seen_hashes


def test_existing_silver_table_gains_the_dob_hash_on_rebuild(spark, tmp_path, monkeypatch, built):
    """A lake built before dates of birth were hashed: the next build (BUILD_VERSION moved)
    rebuilds its tables and the existing Delta tables gain <dob>_hash."""
    from cslake import catalog
    from cslake.silver import build as B

    _, raw, *_ = built
    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    lake = Lake(tmp_path / "lake", spark=spark)
    land_raw(lake, raw)
    current = catalog.identifier_treatment
    month_only = lambda spec: "month" if current(spec) == "month_hash" else current(spec)  # noqa: E731
    with monkeypatch.context() as m:  # the build as it was: month only, version 1
        m.setattr(B, "BUILD_VERSION", "1")
        m.setattr(catalog, "identifier_treatment", month_only)
        catalog.load(reload=True)
        B.build_silver(lake, collections=["ssda903"])
    catalog.load(reload=True)
    assert "DOB_hash" not in lake.read_table("silver.ssda903_header").columns
    before = lake.version("silver.ssda903_header")
    report = B.build_silver(lake, collections=["ssda903"])
    assert "silver.ssda903_header" in report.tables and lake.version("silver.ssda903_header") > before
    hdr = lake.read_table("silver.ssda903_header").toPandas().set_index("_row")
    assert hdr.loc[2].DOB_hash == pseudo.date_hash_value("2010-07-14", key=KEY.encode())
    assert set(hdr.DOB.dropna().map(lambda d: d.day)) == {1}
    # The catalog's view of the table has the column too.
    assert "DOB_hash" in spark.sql("select * from silver.ssda903_header").columns


def _silver_strings(lake) -> set[str]:
    from pyspark.sql import types as T

    values: set[str] = set()
    for name in lake.tables():
        if not name.startswith("silver."):
            continue
        df = lake.read_table(name)
        cols = [f.name for f in df.schema.fields if isinstance(f.dataType, T.StringType)]
        for row in df.select(*cols).collect():
            values.update(v.strip() for v in row if v)
    return values


def test_no_raw_identifier_in_any_silver_column(built):
    lake, raw, *_ = built
    from lxml import etree

    ids = set(RAW_IDS)
    for xml in raw.rglob("*.xml"):
        tree = etree.parse(str(xml))
        for el in tree.iter():
            tag = etree.QName(el).localname
            if tag in {"LAchildID", "UPN", "FormerUPN", "SWENo", "UniqueLearnerNumber", "Surname", "Forename",
                       "PostCode"} and el.text and el.text.strip():
                ids.add(el.text.strip())
    ids |= {f"202:{i}" for i in ids}
    values = _silver_strings(lake)
    assert not (ids | RAW_POSTCODES) & values


def test_key_never_written_to_the_lake(built):
    lake, *_ = built
    needle = KEY.encode()
    for p in Path(lake.root).rglob("*"):
        if p.is_file():
            assert needle not in p.read_bytes(), p


def test_second_build_commits_nothing(built):
    lake, _, first, second, versions = built
    assert first.tables and not second.tables
    assert {t: lake.version(t) for t in lake.tables()} == versions


def test_forced_rebuild_gives_the_same_content(built):
    from cslake.silver import build_silver

    lake, *_ = built
    before = {t: lake.read_table(t).toPandas() for t in ("silver.ssda903_episodes", "silver.care_history",
                                                         "silver.cin_child")}
    build_silver(lake, force=True)
    for t, old in before.items():
        new = lake.read_table(t).toPandas()
        key = ["_file_sha256", "_row"]
        a = old.sort_values(key).reset_index(drop=True)
        b = new.sort_values(key).reset_index(drop=True)
        assert a.equals(b), t


def test_missing_key_fails_before_any_write(spark, tmp_path, monkeypatch):
    from cslake.silver import build_silver

    monkeypatch.delenv(pseudo.KEY_ENV, raising=False)
    monkeypatch.delenv(pseudo.KEY_FILE_ENV, raising=False)
    lake = Lake(tmp_path / "lake", spark=spark)
    with pytest.raises(pseudo.MissingHashKey, match="CSLAKE_HASH_KEY"):
        build_silver(lake)
    assert not lake.tables()


def test_other_key_other_hashes(spark, tmp_path, monkeypatch, built):
    from cslake.silver import build_silver

    lake0, raw, *_ = built
    monkeypatch.setenv(pseudo.KEY_ENV, "a-different-key-0123456789abcdef")
    lake = Lake(tmp_path / "lake", spark=spark)
    land_raw(lake, raw)
    build_silver(lake, collections=["ssda903"])
    a = set(lake0.read_table("silver.ssda903_header").toPandas().CHILD_hash)
    b = set(lake.read_table("silver.ssda903_header").toPandas().CHILD_hash)
    assert len(a) == len(b) == 3 and not a & b
    # Dates of birth too: the same dates, other hashes.
    a = set(lake0.read_table("silver.ssda903_header").toPandas().DOB_hash)
    b = set(lake.read_table("silver.ssda903_header").toPandas().DOB_hash)
    assert len(a) == len(b) == 3 and not a & b
    assert b == {pseudo.date_hash_value(d, key=b"a-different-key-0123456789abcdef")
                 for d in ("2010-07-14", "2012-03-03", "2012-02-29")}


def test_lower_case_swe_no_is_flagged_code_case_and_hashed_as_its_upper_case(spark, monkeypatch):
    """SWENo is hashed upper-cased: a lower-case one is tolerated, and reported as CODE_CASE."""
    from pyspark.sql import functions as F

    from cslake.schemas import collection_schema
    from cslake.silver.conform import column_checks

    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    spec = collection_schema("csww", 2024).tables["csww_worker"].columns["SWENo"]
    typed, errors, flags = column_checks(spec, None)
    df = spark.createDataFrame([("SW8000701298",), ("sw8000701298",), ("Sw8000701298",)], "SWENo string")
    out = df.select(F.filter(F.array(*flags), lambda x: x.isNotNull()).alias("flags"),
                    F.filter(F.array(*errors), lambda x: x.isNotNull()).alias("errors"),
                    pseudo.hash_column(typed, "swe_no").alias("h")).collect()
    assert [[f.rule for f in r.flags] for r in out] == [[], ["CODE_CASE"], ["CODE_CASE"]]
    assert all(r.errors == [] for r in out)
    assert len({r.h for r in out}) == 1  # one worker, whatever the case


def test_the_same_bytes_landed_as_two_years_returns_keep_both(spark, tmp_path, monkeypatch):
    """An SSDA903 table unchanged from one year's return to the next is the same bytes
    twice, landed as two returns: each year keeps its rows through bronze and silver, no
    row is counted against the other year (duplicate keys, quarantine), nothing is lost."""
    from pyspark.sql import functions as F

    from cslake.silver import build_silver

    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    raw = tmp_path / "raw"
    text = "\n".join(HEADER_2024) + "\n"
    (raw / "202" / "ssda903" / "2024").mkdir(parents=True)
    (raw / "202" / "ssda903" / "2024" / "header.csv").write_text(text)
    lake = Lake(tmp_path / "lake", spark=spark)
    land_raw(lake, raw)
    build_silver(lake)
    # Next year's return arrives in a later run, byte for byte the same table.
    (raw / "202" / "ssda903" / "2025").mkdir(parents=True)
    (raw / "202" / "ssda903" / "2025" / "header.csv").write_text(text)
    land_raw(lake, raw)
    build_silver(lake)

    n = len(HEADER_2024) - 1
    ledger = lake.read_table("bronze.files").toPandas()
    assert sorted(zip(ledger.path, ledger.outcome, ledger.year)) == [
        ("202/ssda903/2024/header.csv", "landed", 2024), ("202/ssda903/2025/header.csv", "landed", 2025)]
    bronze = lake.read_table("bronze.ssda903_header").toPandas()
    assert sorted(bronze.groupby("_year").size().items()) == [(2024, n), (2025, n)]
    silver = lake.read_table("silver.ssda903_header").toPandas()
    q = (lake.read_table("quarantine.rows").filter(F.col("table") == "silver.ssda903_header")
         .select("year", "row_number", "rule_code").toPandas())
    for year in (2024, 2025):
        kept = int((silver._year == year).sum())
        refused = q[q.year == year].drop_duplicates(["row_number"])
        assert kept + len(refused) == n, (year, kept, len(refused))
        assert kept >= 2
    assert "DUPLICATE_KEY" not in set(q.rule_code)
    # Each year's rows carry their own file's path.
    counts = lake.read_table("silver.file_counts").toPandas()
    assert sorted(zip(counts.year, counts.source_path)) == [(2024, "202/ssda903/2024/header.csv"),
                                                           (2025, "202/ssda903/2025/header.csv")]


def test_one_poisoned_file_stops_nothing_else(spark, tmp_path, monkeypatch):
    """A CIN file with a year-1066 date (Sail's timestamps overflow before 1677: it used to stop
    `build silver` for every LA) and a 903 file the engine fails on, among good files: the 1066
    row is quarantined by DATE_IMPLAUSIBLE before any cast, the failing file is quarantined whole
    (FILE_CONFORM_FAILED, the engine's error in the message), everything else reaches silver,
    per file bronze = silver + quarantined, and the quarantine of the other rows is all there."""
    from pyspark.sql import functions as F

    from cslake.silver import build as silver_build
    from cslake.silver import build_silver

    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    raw = make_raw(tmp_path)
    cin = raw / "202" / "cin" / "2024" / "cin_2024_valid.xml"
    cin.write_text(cin.read_text().replace("<ExpectedPersonBirthDate>2024-04-15<", "<ExpectedPersonBirthDate>1066-04-13<"))
    lake = Lake(tmp_path / "lake", spark=spark)
    land_raw(lake, raw)
    files = _pdf(lake, "bronze.files")
    poisoned = files[files.path == "202/ssda903/2025/episodes.csv"].sha256.iloc[0]
    real_rules = silver_build.apply_rules

    def poison(typed, t, conf, columns=None):  # the engine fails at run time on this one file's rows only
        out = real_rules(typed, t, conf, columns)
        return out.withColumn("_poison", F.when(F.col("_file_sha256") == poisoned,
                                                 F.raise_error(F.lit("poisoned file"))).cast("string"))

    monkeypatch.setattr(silver_build, "apply_rules", poison)
    build_silver(lake)

    q = _pdf(lake, "quarantine.rows")
    child = q[q.table == "silver.cin_child"]
    assert list(zip(child.rule_code, child.column, child.value)) == [("DATE_IMPLAUSIBLE", "ExpectedPersonBirthDate",
                                                                      "1066-04-13")]
    assert len(_pdf(lake, "silver.cin_child")) >= 3  # the other children of both CIN years
    whole = q[q.rule_code == "FILE_CONFORM_FAILED"]
    assert set(whole.source_path) == {"202/ssda903/2025/episodes.csv"} and sorted(whole.row_number) == [2, 3]
    assert whole.message.str.contains("poisoned file").all() and whole.record_json.str.contains("1005").any()
    eps = _pdf(lake, "silver.ssda903_episodes")
    assert set(eps._year) == {2024} and len(eps) == 4  # 2024's rows, less the 3 quarantined (lines 5, 6, 8)
    # the 2024 file's own quarantine is intact beside the poisoned file's
    e24 = q[(q.table == "silver.ssda903_episodes") & (q.source_path == "202/ssda903/2024/episodes.csv")]
    assert sorted(set(e24.row_number)) == [5, 6, 8]
    counts = _pdf(lake, "silver.file_counts")
    assert (counts.bronze_rows == counts.silver_rows + counts.quarantined_rows).all()
    c25 = counts[counts.source_path == "202/ssda903/2025/episodes.csv"].iloc[0]
    assert (c25.bronze_rows, c25.silver_rows, c25.quarantined_rows) == (2, 0, 2)
    for t in ("silver.csww_worker", "silver.sen2_person", "silver.ssda903_header", "silver.care_history"):
        assert lake.read_table(t).count() > 0, t
