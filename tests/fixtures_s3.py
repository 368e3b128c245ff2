"""Object-store fixtures: a real S3-compatible server on loopback (moto's server mode).

- ``s3_server``: started once per test session on 127.0.0.1 (a free port), in its
  own process (see tests/s3_server.py), with the buckets ``cslake-raw`` and
  ``cslake-lake``; while it runs, the standard AWS variables (``AWS_ENDPOINT_URL``,
  keys, region, ``AWS_ALLOW_HTTP``) point this process at it, which is all that
  cslake.storage, delta-rs and the embedded Sail engine need. A classic session
  started earlier in the test session gets the S3A settings with
  ``apply_s3a(spark)`` below. Stopped, and the variables restored, at the end.
- ``s3_bucket``: a fresh, empty bucket for one test (``s3a://<name>``).
"""

from __future__ import annotations

import os
import uuid

import pytest

from cslake import storage
from tests import s3_server as s3


def apply_s3a(spark) -> None:
    """Put the S3A settings into a running classic session's Hadoop configuration.

    For a session that started before the server's variables were set (another test's);
    S3A reads them when it first opens a bucket's file system. Through the JVM, so tests
    only: jobs get these settings at session start (cslake.engine, submit.sh).
    """
    conf = spark._jsc.hadoopConfiguration()
    for k, v in storage.spark_s3a_conf(prefix="").items():
        conf.set(k, v)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    log = tmp_path_factory.mktemp("s3") / "moto.log"
    server = s3.start(buckets=s3.DEFAULT_BUCKETS, log=log)
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    try:
        yield server
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()


@pytest.fixture
def s3_bucket(s3_server) -> str:
    name = f"cslake-{uuid.uuid4().hex[:12]}"
    s3_server.create_buckets(name)
    return f"s3a://{name}"
