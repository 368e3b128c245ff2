"""The JVM side of Delta on Apache Spark: which jars, fetched once, found by every launcher.

Apache Spark has no Delta inside; Sail does. Spark gets Delta (and, for
``s3a://``, hadoop-aws with its AWS SDK) as jars. ``cslake jars fetch`` resolves
the Maven coordinates in ``conf/spark.yaml`` (``delta.maven``) with Maven into
one local folder, once; tests, CI, ``deploy/`` scripts and the Docker image all
use that folder, and nothing is downloaded while a job runs (``--packages``
would resolve through Ivy on every start).

The folder is ``$CSLAKE_JARS``, else ``~/.cache/cslake/jars`` (``$XDG_CACHE_HOME``
respected). Jars that pyspark already ships (Scala, Parquet, Jackson, Hadoop's
client, ...) are left out, so the classpath holds one copy of each library:
Spark's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from cslake.config import ConfigError, load_yaml

STAMP = ".cslake-jars"  # the coordinates a folder was fetched for, one per line


class JarsMissingError(ConfigError):
    """Delta's jars are not in the jars folder: run ``cslake jars fetch``."""


def delta_settings() -> tuple[list[str], dict[str, str]]:
    """(Maven coordinates, Spark settings) for Delta on Apache Spark, from conf/spark.yaml."""
    raw = (load_yaml("spark.yaml") or {}).get("delta") or {}
    coords = [str(c) for c in raw.get("maven") or []]
    conf = {str(k): str(v) for k, v in (raw.get("conf") or {}).items()}
    if not coords or not conf:
        raise ConfigError("conf/spark.yaml: section 'delta' needs 'maven' coordinates and 'conf' settings")
    for c in coords:
        if c.count(":") != 2:
            raise ConfigError(f"conf/spark.yaml: delta.maven entry {c!r} is not group:artifact:version")
    return coords, conf


def jars_dir() -> Path:
    env = os.environ.get("CSLAKE_JARS")
    if env:
        return Path(env).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "cslake" / "jars"


def spark_jars_dir() -> Path:
    """The jars pyspark ships (the classpath every local and standalone Spark here uses)."""
    import pyspark

    home = os.environ.get("SPARK_HOME")
    candidates = ([Path(home) / "jars"] if home else []) + [Path(pyspark.__file__).parent / "jars"]
    for c in candidates:
        if c.is_dir():
            return c
    raise ConfigError("cannot find Spark's jars (set SPARK_HOME, or install pyspark with its JVM side)")


def _artifact_of(jar: Path) -> str:
    """``spark-core_2.13-4.2.0.jar`` → ``spark-core_2.13``: the name without its version."""
    stem = jar.stem
    parts = stem.split("-")
    for i, p in enumerate(parts):
        if i and p[:1].isdigit():
            return "-".join(parts[:i])
    return stem


def _pom(coords: list[str]) -> str:
    deps = []
    for c in coords:
        g, a, v = (escape(x) for x in c.split(":"))
        deps.append(f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>")
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n  <modelVersion>4.0.0</modelVersion>\n'
        "  <groupId>cslake</groupId><artifactId>cslake-spark-jars</artifactId><version>1</version>\n"
        "  <packaging>pom</packaging>\n  <dependencies>\n" + "\n".join(deps) + "\n  </dependencies>\n</project>\n"
    )


def fetched(dest: Path | None = None) -> bool:
    """True when ``dest`` holds the jars for exactly the configured coordinates."""
    dest = dest or jars_dir()
    coords, _ = delta_settings()
    stamp = dest / STAMP
    return stamp.is_file() and stamp.read_text().split() == coords and any(dest.glob("*.jar"))


def fetch(dest: Path | None = None, *, force: bool = False, quiet: bool = True) -> Path:
    """Resolve the configured coordinates with Maven into ``dest``; a no-op when already there."""
    dest = dest or jars_dir()
    coords, _ = delta_settings()
    if fetched(dest) and not force:
        return dest
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ConfigError("`mvn` (Apache Maven) is needed once to fetch Delta's jars; install it (apt-get install maven)")
    provided = sorted({_artifact_of(j) for j in spark_jars_dir().glob("*.jar")})
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cslake-jars-") as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(_pom(coords))
        out = Path(work) / "jars"
        cmd = [
            mvn, "-B", *(["-q"] if quiet else []), "-f", str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={out}",
            "-DincludeScope=runtime",
            # Spark's own copies win: a second Scala or Jackson on the classpath breaks the JVM.
            "-DexcludeArtifactIds=" + ",".join(provided),
        ]
        done = subprocess.run(cmd, capture_output=quiet, text=True)
        if done.returncode != 0:
            tail = (done.stdout or "")[-2000:] + (done.stderr or "")[-2000:]
            raise ConfigError(f"Maven could not resolve {', '.join(coords)} (exit {done.returncode}):\n{tail}")
        # Replace the folder in one rename, so a reader never sees half a classpath.
        staged = dest.with_name(dest.name + ".new")
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(out, staged)
        (staged / STAMP).write_text("\n".join(coords) + "\n")
        old = dest.with_name(dest.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if dest.exists():
            dest.rename(old)
        staged.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    return dest


def jar_paths(dest: Path | None = None) -> list[Path]:
    """The fetched jars, or a one-line error saying how to fetch them."""
    dest = dest or jars_dir()
    if not fetched(dest):
        raise JarsMissingError(f"Delta's jars are not in {dest}: run `cslake jars fetch` once (needs Maven)")
    return sorted(dest.glob("*.jar"))


def classpath(dest: Path | None = None) -> str:
    """The fetched jars as a comma-separated ``spark.jars`` / ``--jars`` value."""
    return ",".join(str(p) for p in jar_paths(dest))


def class_path(dest: Path | None = None) -> str:
    """The fetched jars as a ``:``-separated JVM class path (``spark.*.extraClassPath``)."""
    return os.pathsep.join(str(p) for p in jar_paths(dest))


def spark_conf(dest: Path | None = None) -> dict[str, str]:
    """Settings that give an Apache Spark session Delta (and s3a): the jars on the driver's
    class path (read in place, never copied) + extensions."""
    _, conf = delta_settings()
    return {"spark.driver.extraClassPath": class_path(dest), **conf}


def submit_args(dest: Path | None = None, *, ship: bool = False) -> list[str]:
    """``spark-submit`` arguments that give a job Delta (and s3a).

    By default the jars go on the driver's and executors' class paths in place: right wherever
    every node sees this folder at the same path (local mode, a standalone cluster on this
    machine, the Kubernetes image, which holds them at /opt/cslake/jars). ``--jars`` instead
    ships them with each application: measured here, that copied the 704 MB (686 MB of it the
    AWS SDK bundle) into every executor's and the driver's work folder for every job, 2 GB
    per job on the two-worker cluster. Use ``ship=True`` only for nodes without the folder.
    """
    _, conf = delta_settings()
    if ship:
        args = ["--jars", classpath(dest)]
    else:
        cp = class_path(dest)
        args = ["--driver-class-path", cp, "--conf", f"spark.executor.extraClassPath={cp}"]
    for k, v in conf.items():
        args += ["--conf", f"{k}={v}"]
    return args


def loopback_args() -> list[str]:
    """``--conf k=v`` for Apache Spark started on this machine for small data (the loopback
    cluster's jobs, the local Spark Connect server): ``conf/spark.yaml`` ``loopback_spark``."""
    raw = (load_yaml("spark.yaml") or {}).get("loopback_spark") or {}
    if not isinstance(raw, dict):
        raise ConfigError("conf/spark.yaml: section 'loopback_spark' must be a mapping")
    args: list[str] = []
    for k, v in raw.items():
        # YAML false must reach Spark as "false" (as cslake.engine passes it), not "False".
        args += ["--conf", f"{k}={str(v).lower() if isinstance(v, bool) else v}"]
    return args


def main(argv: list[str] | None = None) -> int:
    """``python -m cslake.jars fetch|path|classpath|submit-args [--ship]|loopback-args`` for shell
    scripts (deploy/, .ci/run)."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    what = argv[0] if argv else "fetch"
    try:
        if what == "fetch":
            print(fetch(force="--force" in argv, quiet="--verbose" not in argv))
        elif what == "path":
            print(jars_dir())
        elif what == "classpath":
            print(classpath())
        elif what == "submit-args":
            print("\n".join(submit_args(ship="--ship" in argv)))
        elif what == "loopback-args":
            print("\n".join(loopback_args()))
        else:
            print(f"usage: python -m cslake.jars fetch|path|classpath|submit-args|loopback-args (not {what!r})",
                  file=sys.stderr)
            return 2
    except ConfigError as exc:
        print(f"cslake jars: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
