"""The RIIA quarterly return: each LA's own count of the 24 regional indicators, one file
per quarter (four per collection year), as CSV or as an xlsx with a "RIIA" sheet.

The figures are computed from the simulated events for that LA and quarter, then
disturbed the way live-system counts differ from the cleaned annual returns (a few
percent either way, occasionally exact). Indicator 21 (elective home education) exists
only here, as an invented plausible series. SEN indicators 22-24 come from ctx.sen when
simulated, else they are invented too.

What was reported against what is true goes to `_truth/riia_reported/<LA>_<year>.csv`
(one file per LA-year, so parallel workers never share a file); `merge_riia_truth(out)`
concatenates them into `_truth/riia_reported.csv` for the orchestrator.

Rates are per 10,000 children aged 0-17, using the LA's child population from
conf/synth.yaml times the run's scale (the simulated volumes are scaled the same way).
"""

from __future__ import annotations

import csv
import functools
import io
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

from cslake.config import LocalAuthority
from cslake.synth.context import GenContext
from cslake.synth.ssda903 import events_for_la
from cslake.synth.core import fixed_timestamp, normalise_zip, quarters, synth_conf, write_bytes

COLLECTION = "riia_quarterly"
COLUMNS = ["LA", "Period", "QuarterEnd", "IndicatorID", "IndicatorName", "Numerator", "Denominator", "Value",
           "Comment"]
TRUTH_COLUMNS = ["la", "year", "period", "indicator_id", "indicator", "kind", "source", "true_numerator",
                 "reported_numerator", "true_denominator", "reported_denominator", "true_value", "reported_value"]

# (name, kind): kind "rate" = count and rate per 10,000 (Value is the rate); "pct" = number and
# percentage of the denominator (Value is the percentage).
INDICATORS: dict[int, tuple[str, str]] = {
    1: ("Initial contacts", "rate"),
    2: ("Referrals", "rate"),
    3: ("Repeat referrals within 12 months", "pct"),
    4: ("Assessments started", "rate"),
    5: ("Assessments completed", "rate"),
    6: ("Assessments completed within 45 working days", "pct"),
    7: ("Current children in need", "rate"),
    8: ("Section 47 enquiries", "rate"),
    9: ("ICPCs within 15 working days of the S47", "pct"),
    10: ("New CP plans", "rate"),
    11: ("Current CP plans", "rate"),
    12: ("CP plans ceasing", "rate"),
    13: ("Repeat CP plans (ever)", "pct"),
    14: ("Repeat CP plans within 2 years", "pct"),
    15: ("Current children looked after", "rate"),
    16: ("New children looked after", "rate"),
    17: ("Children ceasing to be looked after", "rate"),
    18: ("Current CLA who are UASC", "rate"),
    19: ("Care leavers", "rate"),
    20: ("UASC care leavers", "pct"),
    21: ("Children electively home educated", "rate"),
    22: ("Requests for EHC needs assessment", "rate"),
    23: ("EHC needs assessments", "rate"),
    24: ("EHC plans issued", "rate"),
}
# How far a live-system count strays from the child-level truth.
DISCREPANCY = {"max_share": 0.03, "exact_share": 0.35}
_COMMENTS = ["", "", "", "Provisional", "Figures from live system", "Includes late recording", "Revised"]


@functools.lru_cache(maxsize=None)
def _bank_holidays(first_year: int, last_year: int) -> tuple[np.datetime64, ...]:
    import holidays

    days = holidays.country_holidays("GB", subdiv="ENG", years=range(first_year, last_year + 1))
    return tuple(np.datetime64(d, "D") for d in sorted(days))


def _dt(df: pd.DataFrame, col: str) -> np.ndarray:
    if not len(df):
        return np.array([], dtype="datetime64[D]")
    return pd.to_datetime(df[col], errors="coerce").to_numpy().astype("datetime64[D]")


def _ev(ctx: GenContext, name: str, la: str) -> pd.DataFrame:
    return events_for_la(ctx.events, name, la)


def _in(a: np.ndarray, s: np.datetime64, e: np.datetime64) -> np.ndarray:
    return (a >= s) & (a <= e)


def _open_at(start: np.ndarray, end: np.ndarray, d: np.datetime64) -> np.ndarray:
    return (start <= d) & (np.isnat(end) | (end > d))


def _working_days(start: np.ndarray, end: np.ndarray, hol) -> np.ndarray:
    """Working days after `start` up to and including `end` (weekends, bank holidays off)."""
    ok = ~(np.isnat(start) | np.isnat(end))
    out = np.full(len(start), 10**6)
    if ok.any():
        out[ok] = np.busday_count(start[ok] + 1, end[ok] + 1, holidays=list(hol))
    return out


def true_indicators(ctx: GenContext, la: str, year: int) -> dict[str, dict[int, tuple]]:
    """The child-level truth per quarter: {period: {indicator: (numerator, denominator|None, source)}}."""
    hol = _bank_holidays(year - 3, year + 1)
    c = _ev(ctx, "contacts", la)
    ep = _ev(ctx, "cin_episodes", la)
    ass = _ev(ctx, "assessments", la)
    s47 = _ev(ctx, "s47", la)
    cp = _ev(ctx, "cp_plans", la)
    care = _ev(ctx, "care_episodes", la)
    uasc = _ev(ctx, "uasc", la)
    oc3 = _ev(ctx, "oc3", la)

    contact_d = _dt(c, "contact_date")
    ref_d, clo_d = _dt(ep, "referral_date"), _dt(ep, "closure_date")
    nfa = ep["referral_nfa"].fillna(False).astype(bool).to_numpy() if len(ep) else np.array([], bool)
    ref_pid = ep["person_id"].to_numpy() if len(ep) else np.array([])
    # repeat referral: an earlier referral of the same child to this LA in the 12 months before
    repeat = np.zeros(len(ep), dtype=bool)
    if len(ep):
        order = np.lexsort((ref_d, ref_pid))
        sp, sd = ref_pid[order], ref_d[order]
        prev_same = np.r_[False, sp[1:] == sp[:-1]]
        gap = np.r_[np.timedelta64(10**6, "D"), sd[1:] - sd[:-1]]
        repeat[order] = prev_same & (gap <= np.timedelta64(365, "D"))
    a_start, a_auth = _dt(ass, "start_date"), _dt(ass, "authorisation_date")
    a_in45 = _working_days(a_start, a_auth, hol) <= 45
    s_start, s_icpc = _dt(s47, "start_date"), _dt(s47, "icpc_date")
    s_in15 = _working_days(s_start, s_icpc, hol) <= 15
    cp_start, cp_end = _dt(cp, "start_date"), _dt(cp, "end_date")
    cp_prev = pd.to_numeric(cp["number_previous"], errors="coerce").fillna(0).to_numpy() if len(cp) else np.array([])
    cp_pid = cp["person_id"].to_numpy() if len(cp) else np.array([])
    # repeat within 2 years: the child's previous plan (in start order) ended < 2 years before
    cp_repeat2 = np.zeros(len(cp), dtype=bool)
    if len(cp):
        order = np.lexsort((cp_start, cp_pid))
        sp, ss, se = cp_pid[order], cp_start[order], cp_end[order]
        prev_end = np.r_[np.datetime64("NaT", "D"), se[:-1]]
        same = np.r_[False, sp[1:] == sp[:-1]]
        ok = same & ~np.isnat(prev_end) & (prev_end <= ss)
        gap_ok = np.zeros(len(ss), dtype=bool)
        gap_ok[ok] = (ss[ok] - prev_end[ok]) < np.timedelta64(730, "D")
        cp_repeat2[order] = gap_ok
    e_start, e_end = _dt(care, "decom"), _dt(care, "dec")
    ls = care["ls"].astype(str).to_numpy() if len(care) else np.array([])
    not_short = ~np.isin(ls, ["V3", "V4"])
    rne = care["rne"].astype(str).to_numpy() if len(care) else np.array([])
    rec = care["rec"].astype(str).to_numpy() if len(care) else np.array([])
    care_pid = care["person_id"].to_numpy() if len(care) else np.array([])
    uasc_pid = uasc["person_id"].to_numpy() if len(uasc) else np.array([])
    uasc_duc = _dt(uasc, "duc")
    oc3_year = oc3[oc3["year"].astype(int) == year] if len(oc3) else oc3
    leavers = set(oc3_year["person_id"].astype(int)) if len(oc3_year) else set()
    uasc_ever = set(ctx.events.uasc["person_id"].astype(int)) if ctx.events is not None and len(ctx.events.uasc) else set()

    out: dict[str, dict[int, tuple]] = {}
    for label, q0, q1 in quarters(year):
        s, e = np.datetime64(q0, "D"), np.datetime64(q1, "D")
        r: dict[int, tuple] = {}
        r[1] = (int(_in(contact_d, s, e).sum()), None, "events")
        refs = _in(ref_d, s, e)
        r[2] = (int(refs.sum()), None, "events")
        r[3] = (int((refs & repeat).sum()), int(refs.sum()), "events")
        r[4] = (int(_in(a_start, s, e).sum()), None, "events")
        done = _in(a_auth, s, e)
        r[5] = (int(done.sum()), None, "events")
        r[6] = (int((done & a_in45).sum()), int(done.sum()), "events")
        r[7] = (int((_open_at(ref_d, clo_d, e) & ~nfa).sum()), None, "events")
        s47_in = _in(s_start, s, e)
        r[8] = (int(s47_in.sum()), None, "events")
        r[9] = (int((s47_in & s_in15 & ~np.isnat(s_icpc)).sum()), int(s47_in.sum()), "events")
        new_cp = _in(cp_start, s, e)
        r[10] = (int(new_cp.sum()), None, "events")
        r[11] = (int(_open_at(cp_start, cp_end, e).sum()), None, "events")
        r[12] = (int(_in(cp_end, s, e).sum()), None, "events")
        r[13] = (int((new_cp & (cp_prev >= 1)).sum()), int(new_cp.sum()), "events")
        r[14] = (int((new_cp & cp_repeat2).sum()), int(new_cp.sum()), "events")
        current = _open_at(e_start, e_end, e) & not_short
        current_pids = set(care_pid[current].astype(int))
        r[15] = (len(current_pids), None, "events")
        r[16] = (int((_in(e_start, s, e) & (rne == "S")).sum()), None, "events")
        r[17] = (int((_in(e_end, s, e) & (rec != "X1")).sum()), None, "events")
        uasc_now = {int(p) for p, d in zip(uasc_pid, uasc_duc) if np.isnat(d) or d > e}
        r[18] = (len(current_pids & uasc_now), None, "events")
        r[19] = (len(leavers), None, "events")
        r[20] = (len(leavers & uasc_ever), len(leavers), "events")
        out[label] = r
    _sen_indicators(ctx, la, year, out)
    return out


def _sen_indicators(ctx: GenContext, la: str, year: int, out: dict) -> None:
    sen = ctx.sen
    if sen is None:
        return
    req, ass, plans = (events_for_la(sen, n, la) for n in ("requests", "assessments", "plans"))
    rd, ad, pdt = _dt(req, "received_date"), _dt(ass, "outcome_date"), _dt(plans, "start_date")
    outcome = ass["outcome"].astype(str).to_numpy() if len(ass) else np.array([])
    for label, q0, q1 in quarters(year):
        s, e = np.datetime64(q0, "D"), np.datetime64(q1, "D")
        out[label][22] = (int(_in(rd, s, e).sum()), None, "sen")
        out[label][23] = (int((_in(ad, s, e) & np.isin(outcome, ["Y", "N"])).sum()), None, "sen")
        out[label][24] = (int(_in(pdt, s, e).sum()), None, "sen")


def _children(ctx: GenContext, la: str) -> float:
    return synth_conf()["las"][la]["children"] * float(getattr(ctx.pop, "scale", 1.0))


def _invented(ctx: GenContext, la: str, year: int, out: dict) -> None:
    """Indicator 21 (and 22-24 without a SEN simulation): a plausible LA series."""
    kids = _children(ctx, la)
    base = ctx.rng(COLLECTION, "ehe-level", la)
    level = 40 + 40 * base.random()  # per 10,000 children: EHE grows year on year, peaks in autumn
    for qi, (label, q0, q1) in enumerate(quarters(year)):
        rng = ctx.rng(COLLECTION, "invented", la, year, qi)
        growth = 1 + 0.08 * (year - 2021) + (0.06 if qi == 2 else 0.0)
        out[label][21] = (int(round(kids * level * growth / 10_000 * (1 + 0.05 * rng.standard_normal()))), None,
                          "invented")
        if 22 not in out[label]:
            req = int(round(kids * 13 / 10_000 * (1 + 0.15 * rng.standard_normal())))
            out[label][22] = (max(0, req), None, "invented")
            out[label][23] = (max(0, int(round(req * 0.85))), None, "invented")
            out[label][24] = (max(0, int(round(req * 0.6))), None, "invented")


def _disturb(rng: np.random.Generator, n: int) -> int:
    if n == 0 or rng.random() < DISCREPANCY["exact_share"]:
        return n
    delta = int(round(n * DISCREPANCY["max_share"] * rng.uniform(-1, 1)))
    if delta == 0 and (n > 20 or rng.random() < 0.2):
        # even small counts are off by one now and then (a late-recorded case)
        delta = int(rng.choice([-1, 1]))
    return max(0, n + delta)


def write_riia_template(ctx: GenContext, la: LocalAuthority, year: int) -> list[Path]:
    """Write the four quarterly RIIA returns of one LA-year; returns their paths."""
    code = la.dfe_code
    truth = true_indicators(ctx, code, year)
    _invented(ctx, code, year, truth)
    kids = _children(ctx, code)
    style = ctx.rng(COLLECTION, "style", code)
    as_xlsx = bool(style.random() < 0.5)
    name_style = int(style.integers(0, 3))
    folder = ctx.la_dir(la, COLLECTION, year)
    truth_rows: list[list] = []
    paths: list[Path] = []
    for qi, (label, q0, q1) in enumerate(quarters(year)):
        rng = ctx.rng(COLLECTION, "reported", code, year, qi)
        rows = []
        for ind, (name, kind) in INDICATORS.items():
            num, den, source = truth[label][ind]
            if source == "invented":
                rep_num, rep_den = num, den  # the LA's own figure is the only truth there is
            else:
                rep_num = _disturb(rng, num)
                rep_den = _disturb(rng, den) if den is not None else None
                if rep_den is not None and rep_num > rep_den:
                    rep_num = rep_den
            if kind == "rate":
                value, true_value = _rate(rep_num, kids), _rate(num, kids)
                rep_den_out, true_den = round(kids), round(kids)
            else:
                value, true_value = _pct(rep_num, rep_den), _pct(num, den)
                rep_den_out, true_den = rep_den, den
            comment = _COMMENTS[int(rng.integers(0, len(_COMMENTS)))]
            rows.append([code, label, q1.isoformat(), ind, name, rep_num, rep_den_out, value, comment])
            truth_rows.append([code, year, label, ind, name, kind, source, num, rep_num, true_den, rep_den_out,
                               true_value, value])
        fname = _file_name(la, label, qi, name_style, as_xlsx)
        path = folder / fname
        if as_xlsx:
            write_bytes(path, _xlsx(rows, year))
        else:
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\r\n")
            w.writerow(COLUMNS)
            w.writerows([[_cell(v) for v in r] for r in rows])
            write_bytes(path, buf.getvalue().encode("utf-8"))
        paths.append(path)
    _write_truth(ctx, code, year, truth_rows)
    return paths


def _rate(n: int | None, kids: float) -> float | None:
    return None if n is None or kids <= 0 else round(n / kids * 10_000, 1)


def _pct(n: int | None, d: int | None) -> float | None:
    return None if n is None or not d else round(100 * n / d, 1)


def _cell(v: Any) -> str:
    return "" if v is None else str(v)


def _file_name(la: LocalAuthority, label: str, qi: int, style: int, xlsx: bool) -> str:
    fy, q = label.split(" ")
    ext = "xlsx" if xlsx else "csv"
    slug = la.name.replace(" ", "_")
    return [f"RIIA_{la.dfe_code}_{fy}_{q}.{ext}", f"{slug} RIIA quarterly return {q} {fy}.{ext}",
            f"riia_{fy.replace('-', '')}_{q.lower()}.{ext}"][style]


def _xlsx(rows: list[list], year: int) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "RIIA"
    ws.append(COLUMNS)
    for r in rows:
        ws.append([date.fromisoformat(v) if k == 2 else v for k, v in enumerate(r)])
    for cell in ws["C"][1:]:
        cell.number_format = "dd/mm/yyyy"
    wb.properties.created = wb.properties.modified = fixed_timestamp(year)
    buf = io.BytesIO()
    ExcelWriter(wb, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED)).save()
    return normalise_zip(buf.getvalue())


def _write_truth(ctx: GenContext, la: str, year: int, rows: list[list]) -> Path:
    path = ctx.out / "_truth" / "riia_reported" / f"{la}_{year}.csv"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(TRUTH_COLUMNS)
    w.writerows([[_cell(v) for v in r] for r in rows])
    write_bytes(path, buf.getvalue().encode("utf-8"))
    return path


def merge_riia_truth(out: Path) -> Path:
    """Concatenate the per-LA-year truth files into `_truth/riia_reported.csv` (run once,
    after all writers). Returns the merged file's path."""
    parts = sorted((out / "_truth" / "riia_reported").glob("*.csv"))
    target = out / "_truth" / "riia_reported.csv"
    with target.open("w", newline="", encoding="utf-8") as fh:
        fh.write(",".join(TRUTH_COLUMNS) + "\n")
        for p in parts:
            fh.write(p.read_text(encoding="utf-8").split("\n", 1)[1])
    return target
