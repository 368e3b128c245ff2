"""Fire risk: the area model recovers the generator's known Poisson process, runs are
tracked in MLflow (inputs, commit, signature), the promotion gate holds, scoring writes
gold from the champion, and the restricted referral list ranks people sensibly."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from cslake import pseudo
from cslake.lake import Lake
from cslake.models import evaluation as ev
from cslake.models import fire_prevention, fire_risk, tracking
from cslake.models.sample import write_context_silver

KEY = "models-test-key-0123456789abcdef"
YEARS = [2023, 2024, 2025]
QUICK = {"gbm": {"max_iter": 40, "learning_rate": 0.15}}


# Its own lake, not the session's shared ones (tests/fixtures_lake.py): the area model needs
# every London LSOA (the shared regions have three LAs), and training and scoring write.
@pytest.fixture(scope="module")
def fire(spark, tmp_path_factory):
    """All of London's LSOAs (the geography does not depend on scale) over three years;
    only the context files matter here, so one cheap writer runs and its files are dropped."""
    from cslake.synth.generate import generate_region

    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("models_fire")
    mp.setenv(pseudo.KEY_ENV, KEY)
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    raw = root / "raw"
    generate_region("london", YEARS, scale=0.01, seed=7, out=raw, dirt_rate=0.0, file_dirt_rate=0.0,
                    collections=["csww"], progress=False, workers=2)  # the same files with any workers
    lake = Lake(root / "lake", spark=spark)
    write_context_silver(lake, raw)
    training = fire_risk.train_fire_risk(lake, params=QUICK)
    yield lake, raw, root, training
    mp.undo()


def test_tracking_store_stays_out_of_the_checkout(fire):
    _, _, root, training = fire
    assert tracking.tracking_uri() == f"sqlite:///{root / 'mlflow.db'}"
    assert (root / "mlflow.db").exists()
    run = mlflow.get_run(training.runs[0].run_id)
    assert run.info.artifact_uri.startswith((root / "mlruns").as_uri())


def test_glm_recovers_the_known_process(fire):
    lake, raw, _, training = fire
    dgp = json.loads((raw / "_truth" / "fire_risk_dgp.json").read_text())
    df, _ = fire_risk.load_areas(lake)
    lsoa = df[df["area_type"] == "LSOA"]
    feats = fire_risk.factor_columns(df.columns, df.dtypes)
    assert len(feats) >= 50
    est = fire_risk.fit_rate(fire_risk.make_estimator("glm"), lsoa[feats], lsoa["dwelling_fires"], lsoa["households"])
    coefs = fire_risk.glm_coefficients(est, feats).set_index("factor")["coef_raw"]
    wrong = {k: (coefs[k], v) for k, v in dgp["coefficients"].items() if np.sign(coefs[k]) != np.sign(v)}
    assert not wrong, wrong

    # Beats the regional average clearly, and gets most of what is knowable: the true
    # rates (from the DGP) set the ceiling, since Poisson noise is beyond any model.
    glm = next(r for r in training.runs if r.algorithm == "glm").metrics
    assert glm["lsoa_later_year_deviance_ratio"] < 0.9
    last = lsoa[lsoa["year"] == YEARS[-1]]
    true_rate = np.exp(dgp["intercept"] + sum(v * last[k] for k, v in dgp["coefficients"].items()))
    earlier = lsoa[lsoa["year"] < YEARS[-1]]
    regional = earlier["dwelling_fires"].sum() / earlier["households"].sum()
    oracle = ev.poisson_scores(last["dwelling_fires"], last["households"], true_rate, regional)["d2"]
    assert glm["lsoa_later_year_d2"] > 0.8 * oracle, (glm["lsoa_later_year_d2"], oracle)
    # Wards sum their LSOAs' fires: less noise, more explained.
    assert glm["ward_later_year_d2"] > glm["lsoa_later_year_d2"]
    # Calibrated: deciles within a few fires per 10k households of what happened.
    assert glm["lsoa_later_year_calibration_gap_per_10k"] < 3.0


def test_both_algorithms_logged_with_inputs_commit_and_signature(fire):
    lake, _, _, training = fire
    assert [r.algorithm for r in training.runs] == ["glm", "gbm"]
    for r in training.runs:
        run = mlflow.get_run(r.run_id)
        assert run.data.params["algorithm"] == r.algorithm
        for name in ("lsoa_heldout_areas_d2", "lsoa_later_year_d2", "ward_later_year_deviance_ratio",
                     "lsoa_later_year_calibration_gap_per_10k"):
            assert name in run.data.metrics
        assert r.metrics["lsoa_heldout_areas_d2"] > 0.05
        tag = run.data.tags[f"delta.{fire_risk.AREAS_TABLE}.version"]
        assert tag == str(lake.version(fire_risk.AREAS_TABLE))
        assert len(run.data.tags["mlflow.source.git.commit"]) == 40
        (inp,) = run.inputs.dataset_inputs
        source = json.loads(inp.dataset.source)
        assert source["delta_table_version"] == int(tag) and source["path"] == lake.path(fire_risk.AREAS_TABLE)
        artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(r.run_id)}
        assert "calibration_by_decile.png" in artifacts
        info = mlflow.models.get_model_info(r.model_uri)
        assert "area_type" in info.signature.inputs.input_names()
        assert info.saved_input_example_info is not None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_logged_model_is_served_by_mlflow_models_serve_from_its_own_folder(fire, tmp_path):
    """The model as logged (its pinned requirements, its copy of cslake's code, its synthetic input
    example) served by MLflow's own scoring server, from a folder outside the checkout and with no
    tracking server: predictions over HTTP equal the model's predictions in this process."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    _, _, _, training = fire
    run = training.runs[-1]
    local = Path(mlflow.artifacts.download_artifacts(run.model_uri, dst_path=str(tmp_path / "model")))
    assert (local / "code" / "cslake" / "_data" / "conf" / "regions.yaml").is_file()  # its conf travels with it
    assert (local / "input_example.json").is_file()
    example = json.loads((local / "input_example.json").read_text())
    frame = pd.DataFrame(example["data"], columns=example["columns"])
    expected = mlflow.pyfunc.load_model(str(local)).predict(frame)

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # As in an activated venv: MLflow starts its server as `uvicorn` from PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    server = subprocess.Popen([str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", str(local),
                               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, server.stdout.read().decode(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "mlflow models serve did not answer /ping in 180 s"
            time.sleep(1)
        body = json.dumps({"dataframe_split": {"columns": example["columns"], "data": example["data"]}}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            served = json.loads(r.read())["predictions"]
    finally:
        os.killpg(server.pid, 15)
        server.wait(30)
    # The server answers one record per row, named as the model's output series (rate_per_10k).
    assert len(served) == len(frame) >= 1
    served = pd.DataFrame(served)
    assert list(served.columns) == [expected.name]
    assert np.allclose(served[expected.name].astype(float), np.asarray(expected, dtype=float), rtol=1e-9)


def test_promotion_needs_the_challenger_to_beat_the_champion(fire):
    lake, _, _, training = fire
    client = mlflow.MlflowClient()
    first = training.runs[0].promotion
    assert first["alias"] == "champion" and first["version"] == 1
    champ = client.get_model_version_by_alias(fire_risk.MODEL_NAME, "champion")
    # The GBM either beat the GLM's agreed metric or is the challenger; never both champion.
    gbm = training.runs[1].promotion
    beat = gbm["candidate_value"] >= first["candidate_value"] + 1e-4
    assert (gbm["alias"] == "champion") == beat
    assert int(champ.version) == (2 if beat else 1)

    # A heavily penalised GLM is worse: it must not take over.
    weak = fire_risk.train_fire_risk(lake, algorithms=["glm"], params={"glm": {"alpha": 1.0}})
    (run,) = weak.runs
    assert run.promotion["alias"] == "challenger"
    assert run.promotion["champion_version"] == int(champ.version)
    assert int(client.get_model_version_by_alias(fire_risk.MODEL_NAME, "champion").version) == int(champ.version)
    assert int(client.get_model_version_by_alias(fire_risk.MODEL_NAME, "challenger").version) == run.promotion["version"]


def test_scoring_writes_gold_from_the_champion_with_bands(fire):
    lake, _, _, _ = fire
    client = mlflow.MlflowClient()
    champ = int(client.get_model_version_by_alias(fire_risk.MODEL_NAME, "champion").version)
    out = fire_risk.score_fire_risk(lake)
    gold = lake.read_table(fire_risk.GOLD_TABLE).toPandas()
    assert set(gold["area_type"]) == {"LSOA", "WARD"} and set(gold["year"]) == {YEARS[-1]}
    assert (gold["model_version"] == champ).all() and out["model_version"] == champ
    lsoa = gold[gold["area_type"] == "LSOA"]
    shares = lsoa["band"].value_counts(normalize=True)
    assert set(shares.index) == {b for _, b, _ in fire_risk.BANDS}
    assert shares.min() > 0.02 and shares.max() < 0.6
    for upper, label, order in fire_risk.BANDS:
        rows = gold[gold["band"] == label]
        assert (rows["predicted_rate_per_10k"] <= upper).all() and (rows["band_order"] == order).all()
    # Predicted fires add up to about what happened in the scored year.
    df, _ = fire_risk.load_areas(lake)
    actual = df[(df["area_type"] == "LSOA") & (df["year"] == YEARS[-1])]["dwelling_fires"].sum()
    assert abs(lsoa["predicted_fires"].sum() / actual - 1) < 0.1

    # A person's decision moves the champion; the next scoring follows it.
    other = 1 if champ != 1 else 2
    tracking.promote_version(fire_risk.MODEL_NAME, other)
    fire_risk.score_fire_risk(lake, referrals=False)
    gold = lake.read_table(fire_risk.GOLD_TABLE).toPandas()
    assert (gold["model_version"] == other).all() and len(gold) == out["rows"]
    tracking.promote_version(fire_risk.MODEL_NAME, champ)


def test_band_edges():
    labels, order = fire_risk.band_of([0, 10, 10.01, 15, 15.5, 20, 20.5, 25, 25.01, 80])
    assert list(order) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert labels[0] == "well below average" and labels[-1] == "well above average"


def test_referral_list_links_partners_by_keyed_hash_and_ranks_by_risk(fire):
    lake, raw, _, _ = fire
    fire_risk.score_fire_risk(lake)
    ref = lake.read_table(fire_prevention.REFERRALS_TABLE).toPandas()
    assert fire_prevention.REFERRALS_TABLE.startswith("gold_restricted.")
    truth = pd.read_csv(raw / "_truth" / "partner_fire_outcomes.csv", dtype={"nhs_number": str})
    truth["person_id_hash"] = [pseudo.hash_value("partner_person_id", v, key=KEY.encode()) for v in truth["nhs_number"]]
    # No raw id anywhere; every hash is a real person's; people in both extracts are one row.
    text = ref.astype(str).to_numpy().ravel()
    assert not any(v in set(truth["nhs_number"]) for v in text)
    assert ref["person_id_hash"].is_unique and set(ref["person_id_hash"]) <= set(truth["person_id_hash"])
    both = ref[ref["partners"] == "ASC,FRS"]
    assert len(both) > 0
    m = ref.merge(truth, on="person_id_hash", suffixes=("", "_true"))
    assert len(m) == len(ref)
    # Linked flags agree with the truth wherever a partner recorded them.
    for f in ("lives_alone", "reduced_mobility", "smoker_or_naked_flames"):
        known = m[m[f].notna()]
        assert (known[f].astype(bool) == known[f"{f}_true"].astype(bool)).all(), f
    # The documented profile + area risk ranks like the true probability of a fire.
    rho = m["risk_score"].rank().corr(m["p_fire"].rank())
    assert rho > 0.5, rho
    top = m.nsmallest(len(m) // 5, "rank_region")
    assert top["p_fire"].mean() > 1.8 * m["p_fire"].mean()
    assert list(ref.sort_values("rank_region")["risk_score"]) == sorted(ref["risk_score"], reverse=True)
