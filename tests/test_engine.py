"""Engine choice and lifecycle: embedded Sail, SPARK_REMOTE, classic, adoption."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap

import pytest

from cslake import engine
from cslake.config import ConfigError
from tests.fixtures_spark import assert_same_on_engines


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("SPARK_REMOTE", "CSLAKE_ENGINE", "SPARK_CONNECT_MODE_ENABLED", "RUST_LOG",
                                                          "SAIL_SPARK__SESSION_TIMEOUT_SECS")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, env=full_env
    )


def _assert_clean(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stderr
    for bad in ("Traceback", "panic", "ERROR", "Exception"):
        assert bad not in proc.stderr, proc.stderr


def test_embedded_sail_starts_once_and_exits_cleanly():
    proc = _run(
        """
        import logging, threading
        logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
        from cslake.engine import get_spark, engine_name, sail_url
        s = get_spark()
        assert get_spark() is s and get_spark({"spark.sql.shuffle.partitions": 3}) is s
        print(engine_name(s), s.sql("SELECT 40 + 2 AS x").collect()[0].x,
              s.conf.get("spark.sql.session.timeZone"), s.conf.get("spark.sql.shuffle.partitions"), sail_url())
        """
    )
    _assert_clean(proc)
    name, answer, tz, partitions, url = proc.stdout.split()
    assert (name, answer, tz, partitions) == ("sail", "42", "UTC", "3")
    assert url.startswith("sc://127.0.0.1:")
    started = [line for line in proc.stderr.splitlines() if "embedded Sail Spark Connect server at" in line]
    assert len(started) == 1 and url in started[0]


def test_stop_then_get_starts_a_fresh_working_session():
    proc = _run(
        """
        from cslake.engine import get_spark, stop_spark, sail_url
        a = get_spark(); url_a = sail_url(); stop_spark()
        assert sail_url() is None
        b = get_spark()
        assert b is not a and sail_url() != url_a
        print(b.range(3).count())
        """
    )
    _assert_clean(proc)
    assert proc.stdout.strip() == "3"


def test_embedded_session_outlives_sails_idle_timeout_as_configured():
    """Sail ends a Connect session idle for 15 minutes by default; CI lost the whole suite's
    session to it while one test drove the cluster for 25 minutes. The timeout now comes from
    conf/spark.yaml: a short one there ends an idle session, proving the setting reaches the
    server, and the shipped one outlasts a working day."""
    from cslake.engine import spark_settings

    assert int(spark_settings()["sail"]["session_timeout_secs"]) >= 24 * 3600
    proc = _run(
        """
        import time
        from cslake import engine
        real = engine.spark_settings
        def short():
            s = real(); s["sail"] = {**s["sail"], "session_timeout_secs": 1}; return s
        engine.spark_settings = short
        s = engine.get_spark()
        print(s.range(2).count())
        time.sleep(4)
        try:
            s.range(2).count(); print("alive")
        except Exception as e:
            print("ended" if "not running" in str(e) else repr(e))
        """
    )
    assert proc.stdout.split() == ["2", "ended"], proc.stdout + proc.stderr
    proc = _run(
        """
        import time
        from cslake import engine
        s = engine.get_spark(); s.range(2).count(); time.sleep(4); print(s.range(2).count())
        """
    )
    _assert_clean(proc)
    assert proc.stdout.strip() == "2"


def test_spark_remote_is_honoured():
    # A Sail server started outside cslake stands in for a production Spark Connect server.
    proc = _run(
        """
        import os
        from pysail.spark import SparkConnectServer
        server = SparkConnectServer(ip="127.0.0.1", port=0); server.start()
        os.environ["SPARK_REMOTE"] = "sc://127.0.0.1:%d" % server.listening_address[1]
        from cslake.engine import get_spark, engine_name, sail_url, stop_spark
        s = get_spark()
        print(engine_name(s), sail_url(), s.range(2).count(), s.conf.get("spark.sql.session.timeZone"))
        stop_spark(); server.stop()
        """
    )
    _assert_clean(proc)
    assert proc.stdout.split() == ["remote", "None", "2", "UTC"]


def test_bad_engine_names_refused(monkeypatch):
    monkeypatch.setenv("CSLAKE_ENGINE", "duckdb")
    with pytest.raises(ConfigError, match="CSLAKE_ENGINE='duckdb'"):
        engine.get_spark()
    monkeypatch.delenv("CSLAKE_ENGINE")
    with pytest.raises(ConfigError, match="unknown engine"):
        engine.get_spark(engine="flink")
    monkeypatch.setenv("CSLAKE_ENGINE", "remote")
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    with pytest.raises(ConfigError, match="needs SPARK_REMOTE"):
        engine.get_spark()


def test_spark_fixture_is_the_process_sail_session(spark):
    assert engine.engine_name(spark) == "sail"
    assert engine.get_spark() is spark
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "4"
    assert engine.spark_settings()["classic"]["spark.ui.enabled"] == "false"


def _trivial_transform(df):
    from pyspark.sql import functions as F

    return (
        df.withColumn("age_band", F.when(F.col("age") < 10, "0-9").otherwise("10+"))
        .groupBy("la", "age_band")
        .agg(F.count(F.lit(1)).alias("n"), F.sum("age").alias("total_age"))
    )


@pytest.mark.slow  # starts classic local Spark (a JVM with Delta) for the session
@pytest.mark.classic
def test_classic_engine_and_same_results_on_both(classic_spark, spark):
    assert engine.engine_name(classic_spark) == "classic"
    assert engine.get_spark(engine="classic") is classic_spark
    rows = [("202", 3), ("202", 12), ("203", 7), ("203", 15), ("202", 4)]
    assert_same_on_engines(_trivial_transform, rows, "la string, age int")

    def wrong_on_classic(df):
        # Proves the helper can fail: the two engines get different transforms.
        from pyspark.sql import functions as F

        return df.withColumn("x", F.lit(1 if engine._is_connect(df.sparkSession) else 2))

    with pytest.raises(AssertionError, match="wrong_on_classic differs between Sail"):
        assert_same_on_engines(wrong_on_classic, rows, "la string, age int")

    # An active classic session cslake did not start (spark-submit, notebook) is adopted.
    saved_sessions, saved_adopted = dict(engine._sessions), engine._adopted
    try:
        engine._sessions.pop("classic")
        engine._adopted = None
        assert engine.get_spark() is classic_spark
        assert os.environ.get("SPARK_CONNECT_MODE_ENABLED") is None
    finally:
        engine._sessions.clear()
        engine._sessions.update(saved_sessions)
        engine._adopted = saved_adopted


@pytest.mark.classic
def test_classic_only_test_gets_classic_column_builders(classic_spark):
    from pyspark.sql import functions as F

    out = classic_spark.range(3).select(F.sum("id").alias("s")).collect()
    assert out[0].s == 3


def test_loopback_spark_settings_reach_the_scripts_as_spark_reads_them(monkeypatch):
    """submit.sh and the Connect server script take conf/spark.yaml's loopback_spark section
    through ``python -m cslake.jars loopback-args``: YAML booleans as Spark's "false", not
    Python's "False" (which Spark refuses for a boolean setting), as the classic engine does."""
    from cslake import jars

    shipped = engine.spark_settings()["loopback_spark"]
    args = jars.loopback_args()
    assert args[0::2] == ["--conf"] * len(shipped)
    assert dict(a.split("=", 1) for a in args[1::2]) == shipped
    assert shipped["spark.sql.codegen.wholeStage"] == "false"
    monkeypatch.setattr(jars, "load_yaml", lambda _: {"loopback_spark": {"a.flag": False, "b.n": 4}})
    assert jars.loopback_args() == ["--conf", "a.flag=false", "--conf", "b.n=4"]
    monkeypatch.setattr(jars, "load_yaml", lambda _: {"loopback_spark": [1, 2]})
    with pytest.raises(ConfigError, match="loopback_spark"):
        jars.loopback_args()


import grpc  # noqa: E402


class _FakeRpcError(grpc.RpcError):
    """What gRPC raises, reduced to what the retry loop reads."""

    def __init__(self, code, details: str) -> None:
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self):
        return ()


def test_an_undecodable_connect_response_is_asked_again_and_nothing_else_is(spark):
    """CI saw one `INTERNAL: Exception deserializing response!` stop a land run; the session's
    client now retries that failure (and only that) through pyspark's own retry loop."""
    from pyspark.sql.connect.client.retries import Retrying

    policies = spark.client.get_retry_policies()
    assert any(type(p).__name__ == "GarbledResponsePolicy" for p in policies)
    calls = []

    def flaky(fail_with):
        for attempt in Retrying(policies, sleep=lambda s: None):
            with attempt:
                calls.append(1)
                if len(calls) == 1:
                    raise fail_with
                return "answer"

    assert flaky(_FakeRpcError(grpc.StatusCode.INTERNAL, "Exception deserializing response!")) == "answer"
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(_FakeRpcError):  # a real server error is the caller's, at once
        flaky(_FakeRpcError(grpc.StatusCode.INTERNAL, "[TABLE_OR_VIEW_NOT_FOUND] t"))
    assert len(calls) == 1
    # and a real session still answers through the wrapped client
    assert spark.conf.get("spark.sql.execution.pyspark.binaryAsBytes", "true") in ("true", "false")


@pytest.mark.classic
def test_every_silver_rule_parses_on_apache_spark(classic_spark):
    """Sail's SQL parser accepts more than Apache Spark's: DfE 8868 written as ``a = NOT b`` ran on
    Sail and stopped `build silver` on classic Spark and the cluster (PARSE_SYNTAX_ERROR). Each rule
    of conf/silver.yaml (and each derived column), its terms expanded as the engine does, through
    Spark's own parser."""
    from cslake.config import load_yaml
    from cslake.silver.rules import expand_terms

    conf = load_yaml("silver.yaml")
    parser = classic_spark._jsparkSession.sessionState().sqlParser()
    refused = {}
    derived = {f"derived {t}.{c}": e for t, cols in conf["derived"].items() for c, e in cols.items()}
    for name, expr in [*((r["rule"], r["fails"]) for r in conf["rules"]), *derived.items()]:
        try:
            parser.parseExpression(expand_terms(expr, conf))
        except Exception as exc:  # py4j carries Spark's ParseException
            refused[name] = str(exc).splitlines()[0][:200]
    assert len(conf["rules"]) > 300 and derived and not refused, refused


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow  # starts classic local Spark (a JVM) in a driver it then kills
@pytest.mark.classic
@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_the_classic_jvm_ends_with_its_driver_however_the_driver_dies(delta_jars, signal_name):
    """Issue 16: a classic-engine driver killed left its Spark JVM running, one core busy for 40
    minutes. pyspark's JVM stops when its stdin closes, but a process forked from the driver (a
    parse pool, a notebook's helper) holds that pipe open after the driver is gone: here a forked
    child that sleeps on. The JVM goes with its driver now (the engine's reaper)."""
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_REMOTE", "CSLAKE_ENGINE", "SPARK_CONNECT_MODE_ENABLED")}
    env["CSLAKE_ENGINE"] = "classic"
    code = textwrap.dedent("""
        import os, sys, time
        from cslake.engine import get_spark
        s = get_spark()
        s.range(3).count()
        child = os.fork()
        if child == 0:  # inherits every descriptor, the JVM's stdin pipe among them
            time.sleep(120)
            os._exit(0)
        print(s.sparkContext._gateway.proc.pid, child, flush=True)
        time.sleep(600)
        """)
    driver = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, env=env)
    jvm = child = None
    try:
        jvm, child = map(int, driver.stdout.readline().split())
        assert _alive(jvm) and _alive(child)
        driver.send_signal(getattr(signal, signal_name))
        driver.wait(timeout=30)
        end = time.monotonic() + 40
        while _alive(jvm) and time.monotonic() < end:
            time.sleep(0.5)
        assert not _alive(jvm), f"the JVM {jvm} outlived its driver ({signal_name})"
    finally:
        driver.kill()
        for pid in (jvm, child):
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def test_the_reaper_escalates_to_sigkill_for_a_process_that_ignores_sigterm():
    """The JVM issue 16 saw ignored SIGTERM: the reaper kills what is still there after the grace."""
    import time

    from cslake.reaper import reap, running

    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                 "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert stubborn.stdout.readline().strip() == "ready"
        driver.kill()
        driver.wait()
        t0 = time.monotonic()
        reap(driver.pid, stubborn.pid, grace_s=1.0, every_s=0.2)
        stubborn.wait(timeout=5)
        assert stubborn.returncode == -9 and not running(stubborn.pid)
        assert time.monotonic() - t0 >= 1.0  # SIGTERM first, SIGKILL only after the grace
    finally:
        stubborn.kill()
        driver.kill()
