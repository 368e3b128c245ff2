"""Evaluation shared by the models: count (Poisson) and binary (risk flag) metrics,
calibration tables, fairness by group, and their plots.

Every figure returned here is a matplotlib Figure (Agg backend); callers log it with
``tracking.log_figure`` or show it in a notebook.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def pyplot():
    """matplotlib.pyplot on a non-interactive backend (Agg) unless a notebook's inline one is on."""
    # matplotlib only when a figure is drawn, and its backend chosen before pyplot loads
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg",) and "inline" not in matplotlib.get_backend().lower():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ---------------------------------------------------------------------------
# Counts with exposure (fire risk)


def poisson_deviance(counts: np.ndarray, expected: np.ndarray) -> float:
    """Mean Poisson deviance per area, on counts (expected = rate x exposure).

    On counts rather than rates because an area with twice the households carries
    twice the evidence; it equals the household-weighted deviance of the rates."""
    y = np.asarray(counts, dtype=float)
    mu = np.clip(np.asarray(expected, dtype=float), 1e-12, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0)
    return float(np.mean(2.0 * (term - (y - mu))))


def poisson_scores(counts, exposure, pred_rate, baseline_rate: float) -> dict[str, float]:
    """Deviance of the model, of the regional-average baseline, their ratio and D².

    ``baseline_rate`` is one rate for every area (the training data's regional average):
    the deviance ratio says what share of the baseline's unexplained deviance the model
    leaves; D² = 1 - ratio is the share it explains."""
    exposure = np.asarray(exposure, dtype=float)
    dev = poisson_deviance(counts, np.asarray(pred_rate, dtype=float) * exposure)
    dev0 = poisson_deviance(counts, np.full(len(exposure), float(baseline_rate)) * exposure)
    ratio = dev / dev0 if dev0 > 0 else float("nan")
    return {"poisson_deviance": dev, "baseline_deviance": dev0, "deviance_ratio": ratio, "d2": 1.0 - ratio}


def calibration_by_decile(counts, exposure, pred_rate, per: float = 1e4, bins: int = 10) -> pd.DataFrame:
    """Observed vs predicted rate (per ``per`` households) by decile of predicted rate."""
    df = pd.DataFrame({"y": np.asarray(counts, dtype=float), "w": np.asarray(exposure, dtype=float),
                       "p": np.asarray(pred_rate, dtype=float)})
    bins = max(1, min(bins, len(df)))
    df["decile"] = pd.qcut(df["p"].rank(method="first"), bins, labels=False) + 1
    df["mu"] = df["p"] * df["w"]
    g = df.groupby("decile")
    out = pd.DataFrame({"areas": g.size(), "households": g["w"].sum(), "observed": g["y"].sum(),
                        "expected": g["mu"].sum()})
    out["predicted_per_10k"] = out["expected"] / out["households"] * per
    out["observed_per_10k"] = out["observed"] / out["households"] * per
    return out.reset_index()


def calibration_gap(table: pd.DataFrame) -> float:
    """Household-weighted mean |observed - predicted| rate over the deciles (per 10k)."""
    gap = (table["observed_per_10k"] - table["predicted_per_10k"]).abs()
    return float(np.average(gap, weights=table["households"]))


def plot_rate_calibration(tables: dict[str, pd.DataFrame], title: str):
    """One panel per (label -> decile table): predicted vs observed rate per 10,000 households."""
    plt = pyplot()
    n = max(1, len(tables))
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4.2 * rows), squeeze=False)
    for ax, (label, t) in zip(axes.ravel(), tables.items()):
        hi = float(max(t["predicted_per_10k"].max(), t["observed_per_10k"].max(), 1.0)) * 1.05
        ax.plot([0, hi], [0, hi], color="grey", lw=1, ls="--", label="perfect")
        ax.plot(t["predicted_per_10k"], t["observed_per_10k"], "o-", label="decile of predicted rate")
        ax.set_xlabel("predicted fires per 10,000 households")
        ax.set_ylabel("observed fires per 10,000 households")
        ax.set_title(label, fontsize=10)
        ax.legend(fontsize=8)
    for ax in axes.ravel()[len(tables):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# Binary outcomes (early warning)


def binary_scores(y, p, threshold: float) -> dict[str, float]:
    """What a practitioner's caseload sees at ``threshold``: precision, recall, the share
    flagged, plus threshold-free average precision, AUC and Brier score."""
    # scikit-learn only when scoring: it costs every import of the models a second
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    flag = p >= threshold
    tp = int((flag & (y == 1)).sum())
    out = {
        "n": float(len(y)),
        "prevalence": float(y.mean()) if len(y) else float("nan"),
        "flagged_share": float(flag.mean()) if len(y) else float("nan"),
        "precision": tp / flag.sum() if flag.sum() else float("nan"),
        "recall": tp / (y == 1).sum() if (y == 1).sum() else float("nan"),
        "brier": float(brier_score_loss(y, p)) if len(y) else float("nan"),
    }
    both = len(set(y.tolist())) == 2
    out["average_precision"] = float(average_precision_score(y, p)) if both else float("nan")
    out["roc_auc"] = float(roc_auc_score(y, p)) if both else float("nan")
    return out


def threshold_for_flag_rate(p, share: float) -> float:
    """The score above which the top ``share`` of cases is flagged (a capacity-led threshold)."""
    p = np.asarray(p, dtype=float)
    if not len(p):
        return 0.5
    return float(np.quantile(p, 1.0 - share))


def calibration_curve_table(y, p, bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed rate by quantile bin of predicted probability."""
    df = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(p, dtype=float)})
    bins = max(1, min(bins, df["p"].nunique(), len(df)))
    df["bin"] = pd.qcut(df["p"].rank(method="first"), bins, labels=False) + 1
    g = df.groupby("bin")
    return pd.DataFrame({"n": g.size(), "mean_predicted": g["p"].mean(), "observed_rate": g["y"].mean()}).reset_index()


def fairness_table(y, p, groups: pd.DataFrame, threshold: float, min_n: int = 20,
                   min_events: int = 10) -> pd.DataFrame:
    """The headline figures for every value of every grouping column, with the gap to the
    overall figure. Groups smaller than ``min_n``, or with fewer than ``min_events``
    outcomes (recall is over the outcomes: three children make it 0, 1/3, 2/3 or 1), are
    reported with a note, not a verdict: a gap on a handful of children is noise.
    ``flag`` marks gaps worth a human look."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    overall = binary_scores(y, p, threshold)
    rows = []
    for col in groups.columns:
        values = groups[col].fillna("unknown").astype(str).to_numpy()
        for v in sorted(set(values)):
            m = values == v
            s = binary_scores(y[m], p[m], threshold)
            events = int(y[m].sum())
            row = {"attribute": col, "group": v, "n": int(m.sum()), "outcomes": events, "prevalence": s["prevalence"],
                   "mean_predicted": float(p[m].mean()) if m.any() else float("nan"),
                   "flagged_share": s["flagged_share"], "precision": s["precision"], "recall": s["recall"],
                   "average_precision": s["average_precision"]}
            for k in ("flagged_share", "precision", "recall"):
                row[f"{k}_gap"] = row[k] - overall[k]
            # Calibration-in-the-large per group: does the model over- or under-state this group's risk?
            row["calibration_gap"] = row["mean_predicted"] - row["prevalence"]
            small = row["n"] < min_n or events < min_events
            row["note"] = ("small group: not assessed" if row["n"] < min_n
                           else f"{events} outcomes (< {min_events}): not assessed" if small else "")
            row["flag"] = (not small) and any(abs(row.get(k, 0) or 0) > 0.10 for k in ("recall_gap", "precision_gap",
                                                                                         "calibration_gap"))
            rows.append(row)
    return pd.DataFrame(rows)


def plot_pr_curve(y, p, threshold: float, title: str):
    # scikit-learn only when plotting (see binary_scores)
    from sklearn.metrics import precision_recall_curve

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.2))
    y = np.asarray(y, dtype=int)
    if len(set(y.tolist())) == 2:
        prec, rec, thr = precision_recall_curve(y, p)
        ax.plot(rec, prec, label="model")
        s = binary_scores(y, p, threshold)
        ax.plot([s["recall"]], [s["precision"]], "o", color="crimson", label=f"operating point (p ≥ {threshold:.2f})")
        ax.axhline(y.mean(), color="grey", ls="--", lw=1, label="prevalence (no skill)")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_probability_calibration(table: pd.DataFrame, title: str):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.2))
    hi = float(max(table["mean_predicted"].max(), table["observed_rate"].max(), 0.05)) * 1.05
    ax.plot([0, hi], [0, hi], color="grey", ls="--", lw=1, label="perfect")
    ax.plot(table["mean_predicted"], table["observed_rate"], "o-", label="bin of predicted risk")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_fairness(table: pd.DataFrame, title: str, metrics: Sequence[str] = ("recall", "precision", "flagged_share")):
    """Per-group bars for each metric; flagged groups (gap > 10 points) in red."""
    plt = pyplot()
    attrs = list(dict.fromkeys(table["attribute"]))
    fig, axes = plt.subplots(len(attrs) or 1, len(metrics), figsize=(4 * len(metrics), 2.6 * max(1, len(attrs))),
                             squeeze=False)
    for i, attr in enumerate(attrs):
        t = table[table["attribute"] == attr]
        for j, m in enumerate(metrics):
            ax = axes[i, j]
            colours = ["crimson" if f else ("lightgrey" if n else "steelblue")
                       for f, n in zip(t["flag"], t["note"].astype(bool))]
            ax.barh(t["group"].astype(str), t[m].fillna(0), color=colours)
            ax.set_title(f"{attr}: {m}", fontsize=9)
            ax.set_xlim(0, 1)
            ax.tick_params(labelsize=7)
    fig.suptitle(title + " (red: gap > 10 points vs overall; grey: group too small)", fontsize=10)
    fig.tight_layout()
    return fig
