"""Which Spark cslake runs on, and the one place sessions are made.

Order of choice for ``get_spark()``:

1. ``CSLAKE_ENGINE=sail|classic|remote`` forces an engine (``classic`` is
   Apache Spark in local mode with Delta, from the jars ``cslake jars fetch``
   put in place);
2. ``SPARK_REMOTE=sc://host:port`` → that Spark Connect server (production);
3. an active classic session (a notebook, Databricks), or the one spark-submit
   provides when the job runs under ``spark-submit`` (any master: local,
   ``spark://`` standalone, YARN, Kubernetes) → adopt it, never stop it;
4. otherwise an embedded Sail server, started once per process, stopped at exit.

All cslake code sticks to the Spark Connect subset of the DataFrame/SQL API, so
the same job runs on each.

One process can hold a Sail (Connect) session and a classic one at the same
time (tests cross-check transforms that way), but pyspark decides whether
``pyspark.sql.functions`` build Connect or classic columns from a process-wide
environment variable. ``get_spark`` sets it for the engine it returns, and
``using(spark)`` switches it for a block; code that mixes engines must use it.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from typing import Any, Iterator

from pyspark.sql import SparkSession

from cslake import reaper
from cslake.config import ConfigError, load_yaml

log = logging.getLogger(__name__)

ENGINES = ("sail", "classic", "remote")
# pyspark's process-wide switch between Connect and classic function namespaces.
_CONNECT_ENV = "SPARK_CONNECT_MODE_ENABLED"

_lock = threading.RLock()
_sessions: dict[str, SparkSession] = {}  # sessions cslake created, by engine
_adopted: SparkSession | None = None
_sail_server: Any = None
_sail_url: str | None = None
_atexit_registered = False


def spark_settings() -> dict[str, dict[str, str]]:
    """``conf/spark.yaml`` as {section: {key: str(value)}}."""
    raw = load_yaml("spark.yaml") or {}
    out: dict[str, dict[str, str]] = {}
    for section in ("all", "local", "loopback_spark", "classic", "sail"):
        values = raw.get(section) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"conf/spark.yaml: section {section!r} must be a mapping")
        out[section] = {str(k): _conf_str(v) for k, v in values.items()}
    return out


def _conf_str(v: Any) -> str:
    # YAML true/false must reach Spark as "true"/"false", not "True".
    return str(v).lower() if isinstance(v, bool) else str(v)


def _requested_engine() -> str | None:
    forced = os.environ.get("CSLAKE_ENGINE", "").strip().lower()
    if not forced:
        return None
    if forced not in ENGINES:
        raise ConfigError(f"CSLAKE_ENGINE={forced!r}; expected one of {', '.join(ENGINES)}")
    return forced


def _active_classic_session() -> SparkSession | None:
    """A classic session someone else started (spark-submit, notebook), if any.

    Looks without starting a JVM: no active SparkContext means no session.
    """
    try:
        from pyspark.core.context import SparkContext
    except ImportError:  # pyspark-client without the JVM side
        return None
    if SparkContext._active_spark_context is None:
        return None
    with _connect_mode(False):
        active = SparkSession.getActiveSession()
    if active is None or any(active is s for s in _sessions.values()):
        return None
    return active


def _spark_submit_session() -> SparkSession | None:
    """The session spark-submit provides, when this script runs under spark-submit.

    spark-submit starts the driver JVM first and hands the Python driver its
    gateway (``PYSPARK_GATEWAY_PORT``); no session exists until someone asks
    for one, and then it must be the builder's plain ``getOrCreate()``, so
    that spark-submit's master, jars and settings are the ones used.
    """
    if not os.environ.get("PYSPARK_GATEWAY_PORT"):
        return None
    with _connect_mode(False):
        builder = SparkSession.builder
        # Object stores: S3A settings from the AWS_* variables, unless spark-submit set them.
        for k, v in _s3a_unless_given().items():
            builder = builder.config(k, v)
        spark = builder.getOrCreate()
    log.info("cslake engine: the session spark-submit provides (Spark %s, master %s)",
             spark.version, spark.conf.get("spark.master", "?"))
    return spark


@contextlib.contextmanager
def _connect_mode(enabled: bool) -> Iterator[None]:
    before = os.environ.get(_CONNECT_ENV)
    _set_connect_mode(enabled)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_CONNECT_ENV, None)
        else:
            os.environ[_CONNECT_ENV] = before


def _set_connect_mode(enabled: bool) -> None:
    if enabled:
        os.environ[_CONNECT_ENV] = "1"
    else:
        os.environ.pop(_CONNECT_ENV, None)


def _is_connect(spark: SparkSession) -> bool:
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    return isinstance(spark, ConnectSession)


@contextlib.contextmanager
def using(spark: SparkSession) -> Iterator[SparkSession]:
    """Make ``pyspark.sql.functions`` & co. build columns for ``spark``'s engine in this block."""
    with _connect_mode(_is_connect(spark)):
        yield spark


def engine_name(spark: SparkSession) -> str:
    """``"sail"``, ``"classic"`` or ``"remote"`` (any other Spark Connect server)."""
    if spark is _sessions.get("sail"):
        return "sail"
    return "remote" if _is_connect(spark) else "classic"


def get_spark(conf: dict[str, Any] | None = None, *, engine: str | None = None) -> SparkSession:
    """The process's Spark session; the same object on every call.

    ``conf`` holds extra runtime settings applied to the session (on every
    call, so a later caller can add settings). ``engine`` overrides the
    automatic choice (see module doc); tests use ``engine="classic"``.
    """
    global _adopted
    if engine is not None and engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    with _lock:
        kind = engine or _requested_engine()
        if kind is None:
            if os.environ.get("SPARK_REMOTE"):
                kind = "remote"
            else:
                if _adopted is None:
                    _adopted = _active_classic_session() or _spark_submit_session()
                if _adopted is not None:
                    _adopt_settings(_adopted, conf)
                    _set_connect_mode(False)
                    return _adopted
                kind = "sail"
        spark = _sessions.get(kind)
        if spark is not None and _is_stopped(spark):
            _sessions.pop(kind)
            spark = None
        if spark is None:
            spark = {"sail": _start_sail, "classic": _start_classic, "remote": _connect_remote}[kind]()
            _sessions[kind] = spark
            _register_atexit()
        _set_connect_mode(_is_connect(spark))
        if conf:
            for k, v in conf.items():
                spark.conf.set(str(k), _conf_str(v))
        return spark


def _is_stopped(spark: SparkSession) -> bool:
    if _is_connect(spark):
        return bool(getattr(spark, "is_stopped", False))
    sc = getattr(spark, "_sc", None)
    return sc is None or sc._jsc is None


def garbled_response_policy() -> Any:
    """A Spark Connect retry policy for one failure only: a response gRPC could not decode.

    Seen once in CI (stop 20), on Sail, in a thread of land's parallel bronze writes: a ``Config``
    call failed with ``INTERNAL: Exception deserializing response!`` and stopped the run; the same
    calls never failed in 2,400 repeats here. pyspark retries only unavailable servers by itself.
    Asking again is safe: config and analysis calls change nothing, and an execution is re-attached
    to by its operation id (pyspark's reattachable execution), not run twice."""
    import grpc
    from pyspark.sql.connect.client.retries import RetryPolicy

    class GarbledResponsePolicy(RetryPolicy):
        def __init__(self) -> None:
            super().__init__(max_retries=3, initial_backoff=200, backoff_multiplier=2.0, max_backoff=2000)

        def can_retry(self, exception: BaseException) -> bool:
            if not isinstance(exception, grpc.RpcError) or not hasattr(exception, "code"):
                return False
            if exception.code() != grpc.StatusCode.INTERNAL:
                return False
            if "Exception deserializing response" not in str(exception.details() or ""):
                return False
            log.warning("cslake engine: a Spark Connect response could not be decoded; asking again")
            return True

    return GarbledResponsePolicy()


def _retry_garbled_responses(spark: SparkSession) -> None:
    """Add :func:`garbled_response_policy` to a Connect session's retry policies."""
    spark.client.set_retry_policies([*spark.client.get_retry_policies(), garbled_response_policy()])


def _apply(spark: SparkSession, settings: dict[str, str]) -> None:
    for k, v in settings.items():
        spark.conf.set(k, v)


def _adopt_settings(spark: SparkSession, conf: dict[str, Any] | None) -> None:
    _apply(spark, spark_settings()["all"])
    if conf:
        _apply(spark, {str(k): _conf_str(v) for k, v in conf.items()})


# --- object stores (cslake.storage): S3 settings from the AWS_* variables, per engine ---

def _s3a_unless_given() -> dict[str, str]:
    """``storage.spark_s3a_conf()`` less the keys spark-submit's own settings already hold."""
    from cslake.storage import spark_s3a_conf

    wanted = spark_s3a_conf()
    if not wanted:
        return {}
    try:
        from pyspark import SparkConf
        from pyspark.core.context import SparkContext

        SparkContext._ensure_initialized()  # the gateway spark-submit started: its settings load
        given = SparkConf()
        return {k: v for k, v in wanted.items() if not given.contains(k)}
    except Exception as exc:  # never fail a job over this: the AWS variables still apply
        log.warning("could not read spark-submit's settings (%s); applying S3A settings from AWS_*", exc)
        return wanted


# ---------------------------------------------------------------------------------------


def _start_sail() -> SparkSession:
    global _sail_server, _sail_url
    settings = spark_settings()
    sail = settings["sail"]
    # Sail reads RUST_LOG when its native module initialises logging.
    os.environ.setdefault("RUST_LOG", sail.get("rust_log", "warn"))
    # Read when the server starts; see conf/spark.yaml (Sail ends idle sessions after 15 min).
    if not os.environ.get("SAIL_SPARK__SESSION_TIMEOUT_SECS"):
        os.environ["SAIL_SPARK__SESSION_TIMEOUT_SECS"] = str(int(sail.get("session_timeout_secs", 604800)))
    # Sail's own settings (its memory pool, spill files): read from the environment when the server
    # starts; one set in the environment wins, so a bench can try others without editing conf/.
    for k, v in sail.items():
        if k.startswith("SAIL_"):
            os.environ.setdefault(k, v)
    # Sail reads the AWS_* variables itself; an http:// endpoint also needs AWS_ALLOW_HTTP.
    from cslake.storage import prepare_sail_env

    prepare_sail_env()
    from pysail.spark import SparkConnectServer

    t0 = time.perf_counter()
    ip = sail.get("ip", "127.0.0.1")
    server = SparkConnectServer(ip=ip, port=0)
    server.start(background=True)
    addr = server.listening_address
    if addr is None:
        raise RuntimeError("embedded Sail server did not start (no listening address)")
    url = f"sc://{addr[0]}:{addr[1]}"
    try:
        # create(), not getOrCreate(): getOrCreate would hand back any Connect
        # session already active in the process, whatever server it talks to.
        spark = SparkSession.builder.remote(url).create()
        _retry_garbled_responses(spark)
        _apply(spark, {**settings["all"], **settings["local"]})
    except Exception:
        server.stop()
        raise
    _sail_server, _sail_url = server, url
    log.info("cslake engine: embedded Sail Spark Connect server at %s (started in %.2f s)", url, time.perf_counter() - t0)
    return spark


def _start_classic() -> SparkSession:
    from cslake.jars import spark_conf as delta_conf
    from cslake.storage import spark_s3a_conf

    settings = spark_settings()
    classic = dict(settings["classic"])
    master = classic.pop("spark.master", "local[2]")
    builder = SparkSession.builder.master(master).appName("cslake")
    local = {**settings["local"], **settings["loopback_spark"]} if master.startswith("local") else {}
    # Python workers run this interpreter (its venv holds cslake, pandas, lxml), not
    # whatever `python3` is first on the PATH; an explicit PYSPARK_PYTHON wins.
    # pyspark's SparkContext reads the variable, not the spark.pyspark.python setting.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for k, v in {**delta_conf(), **spark_s3a_conf(), **classic, **settings["all"], **local}.items():
        builder = builder.config(k, v)
    t0 = time.perf_counter()
    # The classic builder turns into a Connect client when either variable is
    # set (e.g. a Sail session exists in this process); hide them while building.
    saved_remote = os.environ.pop("SPARK_REMOTE", None)
    try:
        with _connect_mode(False):
            spark = _launch_classic(builder)
    finally:
        if saved_remote is not None:
            os.environ["SPARK_REMOTE"] = saved_remote
    log.info("cslake engine: classic Spark %s, master %s (started in %.2f s)", spark.version, master, time.perf_counter() - t0)
    _reap_with_driver(spark)
    return spark


def _reap_with_driver(spark: SparkSession, grace_s: float = 10.0) -> subprocess.Popen | None:
    """A watchdog process that ends the classic engine's JVM once this driver is gone. Why: the
    JVM pyspark launches outlives a driver killed with SIGTERM or SIGKILL (no clean-up runs in
    the driver); one such JVM used a core for 40 minutes and ignored SIGTERM itself (issue 16).
    Only for a JVM this process launched (not under spark-submit, whose JVM is the parent)."""
    proc = getattr(getattr(spark.sparkContext, "_gateway", None), "proc", None)
    if proc is None or proc.poll() is not None:
        return None
    # cslake importable in the watchdog however this process found it (jobs put lib/ on sys.path)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(reaper.__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
    return subprocess.Popen([sys.executable, "-m", "cslake.reaper", str(os.getpid()), str(proc.pid), str(grace_s)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True, env=env)


def _launch_classic(builder: Any, attempts: int = 3) -> SparkSession:
    # Observed here, rarely: the JVM exits before handing py4j its port when
    # it is launched from a process that already holds a gRPC (Connect)
    # channel. It has always come up on the next try.
    from pyspark.errors import PySparkRuntimeError

    for attempt in range(1, attempts + 1):
        try:
            return builder.getOrCreate()
        except PySparkRuntimeError as exc:
            if "JAVA_GATEWAY_EXITED" not in str(exc) or attempt == attempts:
                raise
            log.warning("classic Spark JVM exited during start (attempt %d/%d); retrying", attempt, attempts)
    raise AssertionError("unreachable")


def _connect_remote() -> SparkSession:
    url = os.environ.get("SPARK_REMOTE")
    if not url:
        raise ConfigError("CSLAKE_ENGINE=remote needs SPARK_REMOTE=sc://host:port")
    spark = SparkSession.builder.remote(url).getOrCreate()
    _retry_garbled_responses(spark)
    _apply(spark, spark_settings()["all"])
    log.info("cslake engine: Spark Connect server at %s (Spark %s)", url.split(";", 1)[0], spark.version)
    return spark


def sail_url() -> str | None:
    """Address of the embedded Sail server, if running (for other clients/tools)."""
    return _sail_url


def stop_spark(engine: str | None = None) -> None:
    """Stop sessions cslake started (all, or one engine) and the embedded Sail server.

    An adopted session belongs to whoever started it and is only forgotten.
    """
    global _adopted, _sail_server, _sail_url
    with _lock:
        kinds = [engine] if engine else list(_sessions)
        for kind in kinds:
            spark = _sessions.pop(kind, None)
            if spark is not None:
                try:
                    spark.stop()
                except Exception as exc:  # a dead server must not block shutdown
                    log.warning("stopping %s session: %s", kind, exc)
        if engine in (None, "sail") and _sail_server is not None:
            try:
                _sail_server.stop()
            finally:
                _sail_server, _sail_url = None, None
        if engine is None:
            _adopted = None


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(stop_spark)
        _atexit_registered = True
