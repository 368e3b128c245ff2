"""Time model training and scoring on a generated region (default London, 5 years, scale 1).

    .venv/bin/python bench/bench_models.py [--scale 1] [--years 2021-2025] [--out /tmp/cslake-bench-models]
                                           [--only fire|ew] [--reuse]

Fire risk: generate (context files only matter; LSOA geography does not depend on the
scale, partner adults do), write the context silver tables, train GLM + GBM (default
settings, evaluation included), score the champion (areas + referral list).
Early warning: generate CIN + SSDA903, land, silver, link, then train both tasks
(GBM + logistic, forecast included) and score. Pipeline stages are timed too, but the
numbers that matter here are train_* and score_*.

Results are printed and written as JSON to ``bench/results/models_<scale>.json``
(git-ignored). The MLflow store and lake live under --out, never in the checkout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import time
from pathlib import Path


def _timed(label: str, times: dict, fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    times[label] = round(time.perf_counter() - t0, 2)
    print(f"{label}: {times[label]:.1f} s", flush=True)
    return out


def _years(text: str) -> list[int]:
    a, _, b = text.partition("-")
    return list(range(int(a), int(b or a) + 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--years", default="2021-2025")
    ap.add_argument("--region", default="london")
    ap.add_argument("--las", default=None, help="comma-separated DfE codes to keep (default: the whole region)")
    ap.add_argument("--out", default="/tmp/cslake-bench-models")
    ap.add_argument("--only", choices=["fire", "ew"], default=None)
    ap.add_argument("--reuse", action="store_true", help="reuse a lake already built under --out")
    ap.add_argument("--lake", default=None,
                    help="an existing lake with silver and linkage built (e.g. by bench_pipeline.py): "
                         "train and score on it instead of generating")
    args = ap.parse_args()

    out = Path(args.out)
    if not args.reuse and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{out / 'mlflow.db'}")
    os.environ.setdefault("CSLAKE_HASH_KEY", "bench-models-key-0123456789abcdef")

    from cslake.config import region
    from cslake.engine import get_spark
    from cslake.lake import Lake
    from cslake.synth.generate import generate_region

    reg = region(args.region)
    if args.las:
        keep = set(args.las.split(","))
        reg = dataclasses.replace(reg, las=tuple(la for la in reg.las if la.dfe_code in keep))
    years = _years(args.years)
    times: dict[str, float] = {}
    info: dict[str, object] = {"lake": args.lake, "scale": args.scale, "years": years, "region": args.region, "las": len(reg.las),
                               "cpus": os.cpu_count(), "threads": os.environ.get("CSLAKE_MODEL_THREADS", "1")}
    spark = get_spark()

    if args.only in (None, "fire"):
        from cslake.models import fire_risk
        from cslake.models.sample import write_context_silver

        raw = out / "raw_fire"
        lake = Lake(args.lake or out / "lake_fire", spark=spark)
        if not args.lake and not (args.reuse and lake.exists(fire_risk.AREAS_TABLE)):
            _timed("fire_generate", times, generate_region, reg, years, scale=args.scale, seed=42, out=raw,
                   dirt_rate=0.0, file_dirt_rate=0.0, collections=["csww"], progress=False)
            _timed("fire_context_silver", times, write_context_silver, lake, raw)
        df, _ = fire_risk.load_areas(lake)
        info["fire_rows"] = df.groupby("area_type").size().to_dict()
        training = _timed("train_fire_risk", times, fire_risk.train_fire_risk, lake)
        info["fire_metrics"] = {r.algorithm: {k: round(v, 4) for k, v in r.metrics.items()
                                              if k.endswith(("_d2", "_deviance_ratio", "_gap_per_10k"))}
                                for r in training.runs}
        info["fire_seconds_by_algorithm"] = {r.algorithm: round(r.seconds, 2) for r in training.runs}
        scored = _timed("score_fire_risk", times, fire_risk.score_fire_risk, lake)
        info["fire_scored"] = {"areas": scored["rows"], "bands": scored["bands"],
                               "referrals": (scored.get("referrals") or {}).get("people")}

    if args.only in (None, "ew"):
        from cslake.land import land_raw
        from cslake.linkage import build_linkage
        from cslake.models import early_warning as ew
        from cslake.silver import build_silver

        raw = out / "raw_ew"
        lake = Lake(args.lake or out / "lake_ew", spark=spark)
        if not args.lake and not (args.reuse and lake.exists(ew.JOURNEY_TABLE)):
            _timed("ew_generate", times, generate_region, reg, years, scale=args.scale, seed=42, out=raw,
                   dirt_rate=0.0, file_dirt_rate=0.0, collections=["cin", "ssda903"], progress=False)
            _timed("ew_land", times, land_raw, lake, raw)
            _timed("ew_silver", times, build_silver, lake, collections=["cin", "ssda903"])
            _timed("ew_linkage", times, build_linkage, lake)
        training = _timed("train_early_warning", times, ew.train_early_warning, lake)
        info["ew_metrics"] = {f"{r.task}/{r.algorithm}": {k: round(v, 4) for k, v in r.metrics.items()
                                                          if k in ("test_n", "test_prevalence", "test_average_precision",
                                                                   "test_roc_auc", "test_precision", "test_recall",
                                                                   "fairness_max_abs_recall_gap")}
                              for r in training.runs}
        info["forecast"] = {k: round(v, 4) for k, v in (training.forecast or {}).get("metrics", {}).items()}
        scored = _timed("score_early_warning", times, ew.score_early_warning, lake)
        info["ew_scored"] = scored["tasks"]

    info["seconds"] = times
    info["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    path = results / f"models_{args.scale:g}.json"
    path.write_text(json.dumps(info, indent=2, default=str) + "\n")
    print(json.dumps(info, indent=2, default=str))
    print(f"→ {path}")


if __name__ == "__main__":
    main()
