"""Apache Spark + Delta fixtures: the fetched jars, a standalone cluster on loopback, a Spark
Connect server with Delta — each started through the same script a user runs (deploy/), once
per test session, and stopped after it.

Without Maven or Java these cannot exist; the fixtures then skip with that reason, and
`.ci/run` makes sure both are there (it fetches the jars before the tests).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.absent import oracle_absent
from tests.shared_build import locked

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SH = REPO / "deploy" / "local-cluster" / "cluster.sh"
SUBMIT_SH = REPO / "deploy" / "spark-submit" / "submit.sh"
CONNECT_SH = REPO / "deploy" / "spark-connect" / "start-server.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def delta_jars() -> Path:
    """The folder of Delta + hadoop-aws jars (fetched with Maven on first use)."""
    from cslake import jars

    # one fetch at a time: two xdist workers may both find the folder empty
    with locked(jars.jars_dir().parent / "fetch.lock"):
        if not jars.fetched():
            if shutil.which("mvn") is None or shutil.which("java") is None:
                oracle_absent("Apache Spark + Delta needs Java and Maven (.ci/run installs both; the jars are fetched once)")
            jars.fetch()
    return jars.jars_dir()


# Module scope: only the engine parity module uses the cluster and the Connect server; stopped
# after it, their JVMs (about 1.5 GB and some CPU at rest) do not sit beside the rest of the suite.
@pytest.fixture(scope="module")
def standalone_cluster(delta_jars, tmp_path_factory):
    """A master and two one-core workers on 127.0.0.1 (deploy/local-cluster/cluster.sh); yields the master URL."""
    state = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "CSLAKE_CLUSTER_DIR": str(state), "SPARK_MASTER_PORT": str(free_port()),
           "PYTHON": sys.executable}
    up = subprocess.run(["bash", str(CLUSTER_SH), "start"], env=env, capture_output=True, text=True, timeout=300)
    try:
        assert up.returncode == 0, f"cluster did not start:\n{up.stdout}\n{up.stderr}"
        url = subprocess.run(["bash", str(CLUSTER_SH), "url"], env=env, capture_output=True, text=True).stdout.strip()
        yield url
    finally:
        subprocess.run(["bash", str(CLUSTER_SH), "stop"], env=env, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def connect_server(delta_jars, tmp_path_factory):
    """A Spark Connect server with Delta (deploy/spark-connect/start-server.sh); yields its sc:// URL.

    Its Python workers need the key file: tests that hash give it through CSLAKE_HASH_KEY_FILE
    (``connect_key_file``), which the server is started with.
    """
    state = tmp_path_factory.mktemp("connect")
    key = state / "hash.key"
    key.write_text("parity-test-key-0123456789abcdef")
    key.chmod(0o600)
    port = free_port()
    env = {**os.environ, "CSLAKE_CONNECT_DIR": str(state), "SPARK_CONNECT_PORT": str(port),
           "PYTHON": sys.executable, "CSLAKE_HASH_KEY_FILE": str(key)}
    env.pop("SPARK_REMOTE", None)
    up = subprocess.run(["bash", str(CONNECT_SH), "start"], env=env, capture_output=True, text=True, timeout=300)
    try:
        assert up.returncode == 0, f"Spark Connect server did not start:\n{up.stdout}\n{up.stderr}"
        yield f"sc://127.0.0.1:{port}", key
    finally:
        subprocess.run(["bash", str(CONNECT_SH), "stop"], env=env, capture_output=True, timeout=120)
