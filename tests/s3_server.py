"""An S3-compatible server on loopback (moto's server mode), for tests and manual runs.

Tests use it through the ``s3_server`` fixture (tests/fixtures_s3.py). By hand,
from the repository root (``deploy/local/s3-server.sh`` wraps exactly this):

    .venv/bin/python -m tests.s3_server start --port 9000 --bucket cslake-raw --bucket cslake-lake
    eval "$(.venv/bin/python -m tests.s3_server env --port 9000)"   # the AWS_* variables
    .venv/bin/python -m tests.s3_server upload raw s3a://cslake-raw/london   # a local folder, with the AWS_* set
    .venv/bin/python -m tests.s3_server stop --port 9000

The server runs in its own process, never a thread of the test process: a
library call that holds the GIL while it waits on S3 (delta-rs does) would
otherwise wait for a server that cannot answer. Its data lives in memory and
goes with it. moto accepts any credentials; the fixed ones below are what
every client here is given.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
ACCESS_KEY = "cslake-test"
SECRET_KEY = "cslake-test-secret"
REGION = "us-east-1"
DEFAULT_BUCKETS = ("cslake-raw", "cslake-lake")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def env_for(endpoint: str) -> dict[str, str]:
    """The variables cslake.storage, Spark (S3A), delta-rs and Sail read."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        # Sail (object_store) refuses plain http unless told; harmless elsewhere.
        "AWS_ALLOW_HTTP": "true",
    }


@dataclass
class S3Server:
    port: int
    process: subprocess.Popen | None = None
    buckets: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return env_for(self.endpoint)

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION)

    def create_buckets(self, *names: str) -> None:
        c = self.client()
        have = {b["Name"] for b in c.list_buckets().get("Buckets", [])}
        for n in names:
            if n not in have:
                c.create_bucket(Bucket=n)
            if n not in self.buckets:
                self.buckets.append(n)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


def _up(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False


def start(port: int | None = None, buckets=DEFAULT_BUCKETS, log: str | os.PathLike | None = None,
          timeout: float = 60.0) -> S3Server:
    """Start moto's S3 server on 127.0.0.1 (a free port unless given) and create ``buckets``."""
    port = port or free_port()
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    finally:
        if log:
            out.close()
    server = S3Server(port=port, process=proc)
    deadline = time.monotonic() + timeout
    while not _up(server.endpoint):
        if proc.poll() is not None:
            raise RuntimeError(f"S3 server (moto) exited with {proc.returncode} before answering on {server.endpoint}")
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"S3 server (moto) did not answer on {server.endpoint} within {timeout:.0f} s")
        time.sleep(0.2)
    server.create_buckets(*buckets)
    return server


def upload(local: Path, uri: str) -> int:
    """Copy every file under ``local`` to ``uri`` (s3a:// or s3://), keeping relative paths."""
    from cslake import storage

    fs = storage.filesystem(uri)
    n = 0
    for p in sorted(local.rglob("*")):
        if p.is_file():
            fs.pipe_file(storage.fs_path(storage.join(uri, p.relative_to(local).as_posix())), p.read_bytes())
            n += 1
    return n


def _pidfile(port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"cslake-s3-server-{port}.pid"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.s3_server", description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["start", "stop", "env", "run", "upload"],
                    help="start in the background, stop it, print its AWS_* exports, run in the foreground, "
                         "or upload LOCAL_DIR to S3_URI (through cslake.storage, with the AWS_* variables in force)")
    ap.add_argument("args", nargs="*", help="upload: LOCAL_DIR S3_URI")
    ap.add_argument("--port", type=int, default=int(os.environ.get("CSLAKE_S3_PORT", "9000")))
    ap.add_argument("--bucket", action="append", help=f"bucket to create (repeatable; default {', '.join(DEFAULT_BUCKETS)})")
    ap.add_argument("--log", default=None, help="server log file (start; default: discarded)")
    args = ap.parse_args(argv)
    buckets = args.bucket or list(DEFAULT_BUCKETS)
    pidfile = _pidfile(args.port)
    endpoint = f"http://{HOST}:{args.port}"
    if args.action == "upload":
        if len(args.args) != 2:
            ap.error("upload takes LOCAL_DIR S3_URI")
        n = upload(Path(args.args[0]), args.args[1])
        print(f"uploaded {n} files to {args.args[1]}", file=sys.stderr)
        return 0
    if args.action == "env":
        for k, v in env_for(endpoint).items():
            print(f"export {k}={v}")
        return 0
    if args.action == "stop":
        if not pidfile.exists():
            print(f"no S3 server recorded for port {args.port}", file=sys.stderr)
            return 0
        pid = int(pidfile.read_text().strip())
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        pidfile.unlink(missing_ok=True)
        print(f"stopped S3 server pid {pid} on {endpoint}", file=sys.stderr)
        return 0
    if _up(endpoint):
        print(f"something already answers on {endpoint}", file=sys.stderr)
        return 1
    server = start(args.port, buckets, log=args.log)
    if args.action == "start":
        pidfile.write_text(str(server.process.pid))
        print(f"S3 server (moto) pid {server.process.pid} on {endpoint}, buckets {', '.join(buckets)}", file=sys.stderr)
        server.process = None  # leave it running
        return 0
    print(f"S3 server (moto) on {endpoint}, buckets {', '.join(buckets)}; Ctrl-C stops it", file=sys.stderr)
    try:
        server.process.wait()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
