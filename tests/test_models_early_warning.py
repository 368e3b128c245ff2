"""Early warning on a small linked region: labels, no leakage (features never see later
records), time-ordered split, metrics/calibration/fairness/model card logged, scoring from
the champion, and the LA forecast judged against the naive one."""

from __future__ import annotations

from datetime import timedelta

import mlflow
import numpy as np
import pandas as pd
import pytest

from cslake import pseudo
from cslake.models import early_warning as ew
from cslake.models import forecast
from tests.fixtures_lake import MODELS_KEY, MODELS_YEARS, copy_lake

KEY = MODELS_KEY
YEARS = MODELS_YEARS


# The session's early-warning region (tests/fixtures_lake.py, models_built: 2022-2025, YEARS
# above, at five times the small regions' scale, 0.1, so the models have enough children and
# history to learn from; CIN and the SSDA903 episodes and header, what the models read),
# landed, built to silver and linked once; training and scoring write, so they run on a copy.
@pytest.fixture(scope="module")
def linked(models_built, mlflow_store, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("models_ew")
    mp.setenv(pseudo.KEY_ENV, KEY)
    mp.setenv("MLFLOW_TRACKING_URI", mlflow_store(root / "mlflow.db"))
    lake = copy_lake(models_built, root / "lake")
    training = ew.train_early_warning(lake, params={"gbm": {"max_iter": 60}})
    yield lake, training
    mp.undo()


@pytest.fixture(scope="module")
def journeys(linked):
    return ew.load_journeys(linked[0])


def _future_copy(j: ew.Journeys, units: pd.DataFrame, offset_days: int) -> ew.Journeys:
    """The journeys plus, for every unit, one record of every kind dated ``offset_days``
    after its prediction date, in its own episode and in a new one."""
    extra = []
    for u in units.itertuples():
        d = u.prediction_date + timedelta(days=offset_days)
        for ref in (u.referral_date, d):
            for event, code in (("referral", "2A"), ("assessment_start", None), ("s47_start", None), ("icpc", None),
                                ("cin_plan_start", None), ("cpp_start", "N1"), ("cpp_end", None), ("closure", "RC1")):
                extra.append({"person_id": u.person_id, "la": u.la, "event": event, "event_date": d, "code": code,
                              "referral_date": ref, "year": j.events["year"].max()})
    care = pd.DataFrame({"person_id": units["person_id"], "la": units["la"],
                         "DECOM": units["prediction_date"] + timedelta(days=offset_days), "DEC": pd.NaT})
    return ew.make_journeys(pd.concat([j.events, pd.DataFrame(extra)], ignore_index=True),
                            pd.concat([j.care, care], ignore_index=True), j.persons, data_end=j.data_end)


@pytest.mark.parametrize("task", ew.TASKS)
def test_features_never_use_later_records(journeys, task):
    j = journeys
    # One unit per child, so records fabricated just after one unit's date cannot
    # legitimately be history for another unit of the same child.
    units = ew.units_for(task, j).drop_duplicates("person_id")
    units = units.sort_values("prediction_date").iloc[:: max(1, len(units) // 150)].reset_index(drop=True)
    base = ew.features_at(units, j)
    assert len(base) == len(units) > 50
    # Records one day later change nothing ...
    later = ew.features_at(units, _future_copy(j, units, 1))
    pd.testing.assert_frame_equal(base, later)
    # ... and cutting the data at a date leaves the features of earlier units as they were.
    cut = units["prediction_date"].quantile(0.5)
    early = units[units["prediction_date"] <= cut].reset_index(drop=True)
    trunc = ew.make_journeys(j.events[j.events["event_date"] <= cut], j.care[j.care["DECOM"] <= cut], j.persons,
                             data_end=j.data_end)
    pd.testing.assert_frame_equal(ew.features_at(early, j), ew.features_at(early, trunc))
    # The check can fail: the same records dated on the prediction day itself are visible.
    same_day = ew.features_at(units, _future_copy(j, units, 0))
    assert (same_day["prior_referrals"] > base["prior_referrals"]).all()
    assert (same_day["prior_care_episodes"] > base["prior_care_episodes"]).all()


def test_labels_and_what_is_knowable(journeys):
    j = journeys
    units = ew.rereferral_units(j)
    e = j.events
    refs = e[e["event"] == "referral"].groupby("person_id")["event_date"].apply(list)
    for u in units.sample(min(200, len(units)), random_state=1).itertuples():
        again = any(u.prediction_date < d <= u.prediction_date + timedelta(days=365) for d in refs.get(u.person_id, []))
        assert u.label == int(again)
        assert u.observed == (u.prediction_date + timedelta(days=365) <= pd.Timestamp(j.data_end))
    esc = ew.escalation_units(j)
    assert set(esc["prediction_date"].dt.strftime("%m-%d")) <= {"03-31", "09-30"}
    assert esc["prediction_date"].min() >= pd.Timestamp(ew.data_start(j))
    # Nobody is asked about escalating while already on a plan: no CP plan open at t.
    cpp = e[e["event"] == "cpp_start"].groupby("person_id")["event_date"].apply(list)
    ends = e[e["event"] == "cpp_end"].groupby("person_id")["event_date"].apply(list)
    for u in esc.sample(min(200, len(esc)), random_state=2).itertuples():
        starts = [d for d in cpp.get(u.person_id, []) if d <= u.prediction_date]
        if starts:
            assert any(max(starts) <= d <= u.prediction_date for d in ends.get(u.person_id, []))


def test_time_ordered_split(journeys):
    for task in ew.TASKS:
        units = ew.units_for(task, journeys)
        train, test, year = ew.time_split(units)
        assert units.loc[train, "prediction_date"].max() < units.loc[test, "prediction_date"].min()
        assert not (train & test).any() and units.loc[train | test, "observed"].all()
        assert year == YEARS[-2]  # the last year's 12 months have not run yet


def test_runs_log_metrics_calibration_fairness_and_a_model_card(linked):
    lake, training = linked
    assert {(r.task, r.algorithm) for r in training.runs} == {(t, a) for t in ew.TASKS for a in ("gbm", "logit")}
    client = mlflow.MlflowClient()
    for r in training.runs:
        run = mlflow.get_run(r.run_id)
        m = run.data.metrics
        for k in ("test_average_precision", "test_precision", "test_recall", "threshold", "test_brier",
                  "fairness_max_abs_recall_gap"):
            assert k in m, k
        for t in (ew.JOURNEY_TABLE, ew.CARE_TABLE, ew.PERSON_TABLE):
            assert run.data.tags[f"delta.{t}.version"] == str(lake.version(t))
        arts = {a.path for a in client.list_artifacts(r.run_id)}
        assert {"fairness.csv", "calibration.csv", "calibration_curve.png", "pr_curve.png", "fairness_gaps.png",
                "model_card.md"} <= arts
        assert set(r.fairness["attribute"]) == set(ew.FAIRNESS_ATTRIBUTES)
        assert {"F", "M"} <= set(r.fairness.loc[r.fairness["attribute"] == "sex", "group"])
        card = mlflow.artifacts.load_text(f"runs:/{r.run_id}/model_card.md")
        assert "A practitioner decides" in card and f"{m['test_average_precision']:.3f}" in card
        # Calibration bins cover the test set.
        assert r.calibration["n"].sum() == int(m["test_n"])
    # Re-referral is learnable from history: better than the base rate.
    rr = [r for r in training.runs if r.task == "rereferral"]
    assert max(r.metrics["test_average_precision"] - r.metrics["test_prevalence"] for r in rr) > 0.03


def test_scoring_uses_each_champion_and_only_open_questions(linked, journeys):
    lake, training = linked
    out = ew.score_early_warning(lake)
    gold = lake.read_table(ew.SCORES_TABLE).toPandas()
    client = mlflow.MlflowClient()
    for task in ew.TASKS:
        champ = client.get_model_version_by_alias(ew.MODEL_NAMES[task], "champion")
        rows = gold[gold["task"] == task]
        assert len(rows) == out["tasks"][task]["rows"] > 0
        assert (rows["model_version"] == int(champ.version)).all()
        assert (rows["flagged"] == (rows["probability"] >= rows["threshold"])).all()
        horizon = pd.to_datetime(rows["prediction_date"]) + timedelta(days=365)
        assert (horizon > pd.Timestamp(journeys.data_end)).all()
    # Re-scoring one task keeps the other's rows.
    ew.score_early_warning(lake, tasks=["escalation"])
    again = lake.read_table(ew.SCORES_TABLE).toPandas()
    assert len(again) == len(gold)


def test_forecast_against_naive(linked, journeys):
    lake, training = linked
    res = training.forecast
    q = forecast.quarterly_counts(journeys)
    # The naive backtest is exactly "last quarter's count".
    bt = res["backtests"]["referrals"]
    prev = q.set_index(["la", "quarter_start"])["referrals"]
    for r in bt.itertuples():
        assert r.naive == prev[(r.la, r.target_quarter - pd.offsets.QuarterBegin(1, startingMonth=1))]
        assert r.y == prev[(r.la, r.target_quarter)]
    m = res["metrics"]
    assert np.isclose(m["referrals_skill"], 1 - m["referrals_backtest_mae"] / m["referrals_backtest_mae_naive"])
    gold = lake.read_table(forecast.FORECAST_TABLE).toPandas()
    assert len(gold) == q["la"].nunique() * len(forecast.TARGETS)
    assert set(pd.to_datetime(gold["quarter_start"])) == {pd.Timestamp("2025-04-01")}
    assert mlflow.get_run(res["run_id"]).data.metrics["referrals_backtest_mae_naive"] > 0


def test_published_forecast_hides_small_counts_and_their_forecast(linked, tmp_path):
    from cslake.lake import Lake

    lake, _ = linked
    restricted = lake.read_table(forecast.FORECAST_TABLE).toPandas()
    published = lake.read_table(forecast.PUBLISHED_TABLE).toPandas()
    key = ["la", "target", "quarter_start"]
    assert sorted(map(tuple, published[key].astype(str).values)) == sorted(map(tuple, restricted[key].astype(str).values))
    # Hand-made counts either side of the DfE threshold (counts 0-5 never shown).
    hand = restricted.head(4).copy().reset_index(drop=True)
    hand["naive_forecast"] = [0.0, 3.0, 6.0, 62.0]
    hand["forecast"] = [1.2, 4.4, 6.6, 66.2]
    pub = forecast.publish_forecast(Lake(tmp_path / "lake", spark=lake.spark), hand)
    assert list(pub.naive_forecast) == ["x", "x", "6", "62"]
    assert list(pub.forecast) == ["x", "x", "7", "66"]   # hidden with its count, else a whole number
    assert [float(v) for v in pub.skill] == pytest.approx(list(hand.skill))
    assert not {c for c in pub.columns if pub[c].astype(str).isin(["1", "2", "3", "4", "5"]).any()} - {"skill"}


def test_fairness_gives_no_verdict_on_a_handful_of_outcomes():
    """A group of 81 children with 3 outcomes, none caught, has recall 0: that is noise, not a
    gap. A large group whose recall really is far below the rest is flagged."""
    from cslake.models import evaluation as ev

    rng = np.random.default_rng(7)
    # big group "a": 1,000 children, 300 outcomes, the model catches 240 of them;
    # group "b": 400 children, 100 outcomes, caught 20; group "c": 81 children, 3 outcomes, caught 0.
    def group(n, pos, caught, name):
        y = np.r_[np.ones(pos), np.zeros(n - pos)].astype(int)
        p = np.r_[np.full(caught, 0.9), np.full(pos - caught, 0.1), rng.uniform(0, 0.4, n - pos)]
        return y, p, [name] * n
    parts = [group(1000, 300, 240, "a"), group(400, 100, 20, "b"), group(81, 3, 0, "c")]
    y = np.concatenate([x[0] for x in parts])
    p = np.concatenate([x[1] for x in parts])
    groups = pd.DataFrame({"g": sum((x[2] for x in parts), [])})
    fair = ev.fairness_table(y, p, groups, threshold=0.5).set_index("group")

    overall_recall = (240 + 20) / 403
    assert fair.loc["b", "recall"] == pytest.approx(20 / 100)
    assert fair.loc["b", "recall_gap"] == pytest.approx(0.2 - overall_recall)
    assert bool(fair.loc["b", "flag"]) and fair.loc["b", "note"] == ""
    assert fair.loc["c", "outcomes"] == 3 and fair.loc["c", "recall"] == 0
    assert not bool(fair.loc["c", "flag"]) and "not assessed" in fair.loc["c", "note"]
    assert fair.loc["a", "note"] == "" and fair.loc["a", "outcomes"] == 300


def test_rank_within_la_breaks_ties_by_id_not_row_order():
    import pandas as pd

    from cslake.models.early_warning import rank_within_la

    rows = pd.DataFrame({
        "person_id": ["c", "a", "b", "d"], "la": ["202", "202", "202", "201"],
        "referral_date": pd.to_datetime(["2024-01-01"] * 4), "prediction_date": pd.to_datetime(["2025-03-31"] * 4),
        "probability": [0.5, 0.5, 0.9, 0.5],
    })
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2]):
        ranked = rank_within_la(rows.iloc[order])
        got = dict(zip(ranked.person_id, ranked.rank_in_la))
        assert got == {"b": 1, "a": 2, "c": 3, "d": 1}, order
