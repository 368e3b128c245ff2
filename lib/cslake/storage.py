"""File access by location: a local path or an object-store URI, one set of functions.

The drop zone and the lake can live on local disk or on S3 (or any S3-compatible
server). Whatever touches files by name — listing the drop zone, reading and
hashing a raw file, keeping its copy in ``bronze/_archive``, listing the lake's
tables, deleting scratch — goes through this module, never through ``open()``
or ``pathlib`` on a URI (``Path("s3a://b/k")`` is ``s3a:/b/k``).

Schemes: ``s3a://`` is what Hadoop (Apache Spark) speaks, ``s3://`` what
fsspec/s3fs and delta-rs speak; Sail takes both. A location keeps the scheme it
was given (Spark reads and writes it as is) and is mapped for each library here:
``fs_path`` for fsspec, ``delta_uri`` for delta-rs.

Where the object store is and who we are comes from the standard AWS variables,
read when needed (never stored in the lake or a log):

- ``AWS_ENDPOINT_URL`` — an S3-compatible server (MinIO, a test server on
  loopback); unset means AWS itself. ``AWS_ENDPOINT_URL_S3`` wins over it,
  as in the AWS SDKs; ``AWS_ENDPOINT`` (object_store's name) is accepted too.
- ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN`` —
  static credentials; unset means each library's default chain (instance
  profile, web identity, ``~/.aws``).
- ``AWS_REGION`` (else ``AWS_DEFAULT_REGION``; ``us-east-1`` for a custom endpoint).
- ``AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`` — bucket-in-host-name requests at a
  custom endpoint; by default a custom endpoint gets path-style requests
  (``http://host:port/bucket/key``), which every S3-compatible server accepts.

From these the module derives each engine's settings: ``spark_s3a_conf()``
(Hadoop's ``fs.s3a.*`` for classic Spark, spark-submit and a Spark Connect
server), ``delta_storage_options()`` (delta-rs), ``sail_env()`` (the embedded
Sail engine reads the AWS variables itself; an ``http://`` endpoint also needs
``AWS_ALLOW_HTTP=true`` there) and fsspec's S3 file system.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

S3_SCHEMES = ("s3a", "s3", "s3n")
DEFAULT_REGION = "us-east-1"


# ---------------------------------------------------------------------------
# Locations


def normalise(value: str | os.PathLike[str]) -> str:
    """``value`` as a string, with an object-store URI that went through ``pathlib``
    (``Path("s3a://b/k")`` is ``s3a:/b/k``: a command-line option typed as a path) repaired."""
    text = os.fspath(value)
    head, sep, rest = text.partition(":/")
    if sep and head.lower() in S3_SCHEMES and not rest.startswith("/"):
        return f"{head}://{rest}"
    return text


def location(value: str | os.PathLike[str]) -> str:
    """A location as a string: URIs as given (trailing ``/`` dropped), local paths absolute."""
    raw = normalise(value)
    if is_uri(raw):
        return raw.rstrip("/")
    return str(Path(raw).expanduser().resolve())


def scheme(loc: str | os.PathLike[str]) -> str:
    """``"s3a"``, ``"s3"``, ... for a URI; ``""`` for a local path (and ``file://``)."""
    text = normalise(loc)
    head, sep, _ = text.partition("://")
    if not sep or "/" in head or not head:
        return ""
    return "" if head.lower() == "file" else head.lower()


def is_uri(loc: str | os.PathLike[str]) -> bool:
    """True for an object-store URI (anything ``scheme://`` but ``file://``)."""
    return scheme(loc) != ""


def is_s3(loc: str | os.PathLike[str]) -> bool:
    return scheme(loc) in S3_SCHEMES


def _local(loc: str | os.PathLike[str]) -> str:
    text = normalise(loc)
    return text[len("file://"):] if text.startswith("file://") else text


def join(base: str | os.PathLike[str], *parts: str) -> str:
    """``base/part/...`` for a URI or a local path (never through ``pathlib`` for a URI)."""
    text = normalise(base)
    if not is_uri(text):
        return str(Path(_local(text)).joinpath(*parts))
    out = text.rstrip("/")
    for p in parts:
        out += "/" + p.strip("/")
    return out


def with_scheme(uri: str, new: str) -> str:
    """``s3a://b/k`` → ``s3://b/k`` and back; other locations unchanged."""
    if not is_s3(uri):
        return uri
    return f"{new}://{uri.split('://', 1)[1]}"


def fs_path(loc: str | os.PathLike[str]) -> str:
    """The path fsspec's file system for ``loc`` takes: ``bucket/key`` for S3, else the local path."""
    text = normalise(loc)
    if is_s3(text):
        return text.split("://", 1)[1].rstrip("/")
    if is_uri(text):
        raise ValueError(f"unsupported storage scheme in {text!r} (local paths, s3a:// and s3:// are)")
    return _local(text)


def delta_uri(loc: str | os.PathLike[str]) -> str:
    """The table URI delta-rs takes: ``s3://`` for S3, the path itself locally."""
    text = normalise(loc)
    return with_scheme(text, "s3") if is_s3(text) else _local(text)


# ---------------------------------------------------------------------------
# Settings, from the environment


@dataclass(frozen=True)
class S3Settings:
    """Where the object store is and how to sign requests (from the AWS_* variables)."""

    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    region: str | None = None
    virtual_hosted: bool = False

    @property
    def path_style(self) -> bool:
        return bool(self.endpoint) and not self.virtual_hosted

    @property
    def insecure(self) -> bool:
        return bool(self.endpoint) and self.endpoint.lower().startswith("http://")

    def __repr__(self) -> str:  # never print a secret
        return (f"S3Settings(endpoint={self.endpoint!r}, region={self.region!r}, "
                f"access_key={'set' if self.access_key else None}, path_style={self.path_style})")


def _env(*names: str) -> str | None:
    for n in names:
        v = os.environ.get(n, "").strip()
        if v:
            return v
    return None


def s3_settings() -> S3Settings:
    """The object-store settings in force now (read from the environment on every call)."""
    endpoint = _env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
    region = _env("AWS_REGION", "AWS_DEFAULT_REGION") or (DEFAULT_REGION if endpoint else None)
    vhost = (_env("AWS_VIRTUAL_HOSTED_STYLE_REQUEST") or "").lower() in ("1", "true", "yes")
    return S3Settings(endpoint=endpoint.rstrip("/") if endpoint else None,
                      access_key=_env("AWS_ACCESS_KEY_ID"), secret_key=_env("AWS_SECRET_ACCESS_KEY"),
                      session_token=_env("AWS_SESSION_TOKEN"), region=region, virtual_hosted=vhost)


def spark_s3a_conf(settings: S3Settings | None = None, *, prefix: str = "spark.hadoop.") -> dict[str, str]:
    """Hadoop S3A settings for Apache Spark (classic local, standalone, spark-submit, Connect server).

    Keys carry ``spark.hadoop.`` (``prefix=""`` gives Hadoop's own names). Empty when no AWS variable is set, so it
    is always safe to merge. With static keys, S3A uses exactly those
    (Spark redacts ``*secret*``/``*access.key*``/``*token*`` settings in its UI
    and logs); without, S3A's default chain (environment, instance profile).
    """
    s = settings or s3_settings()
    out: dict[str, str] = {}
    if s.endpoint:
        out["fs.s3a.endpoint"] = s.endpoint
        out["fs.s3a.path.style.access"] = "true" if s.path_style else "false"
        out["fs.s3a.connection.ssl.enabled"] = "false" if s.insecure else "true"
    if s.region:
        out["fs.s3a.endpoint.region"] = s.region
    if s.access_key and s.secret_key:
        out["fs.s3a.access.key"] = s.access_key
        out["fs.s3a.secret.key"] = s.secret_key
        if s.session_token:
            out["fs.s3a.session.token"] = s.session_token
            out["fs.s3a.aws.credentials.provider"] = "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
        else:
            out["fs.s3a.aws.credentials.provider"] = "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
    return {prefix + k: v for k, v in out.items()}


def delta_storage_options(loc: str | os.PathLike[str] | None = None,
                          settings: S3Settings | None = None) -> dict[str, str] | None:
    """delta-rs ``storage_options`` for ``loc`` (None for a local path: delta-rs needs none)."""
    if loc is not None and not is_s3(loc):
        return None
    s = settings or s3_settings()
    out: dict[str, str] = {}
    if s.endpoint:
        out["AWS_ENDPOINT_URL"] = s.endpoint
        out["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "true" if s.virtual_hosted else "false"
        if s.insecure:
            out["AWS_ALLOW_HTTP"] = "true"
    if s.region:
        out["AWS_REGION"] = s.region
    if s.access_key and s.secret_key:
        out["AWS_ACCESS_KEY_ID"] = s.access_key
        out["AWS_SECRET_ACCESS_KEY"] = s.secret_key
        if s.session_token:
            out["AWS_SESSION_TOKEN"] = s.session_token
    return out


def sail_env(settings: S3Settings | None = None) -> dict[str, str]:
    """What the embedded Sail engine needs in the environment beyond the AWS variables.

    Sail reads ``AWS_*`` itself (object_store's names) each time it opens a
    bucket; an ``http://`` endpoint additionally needs ``AWS_ALLOW_HTTP=true``,
    and a custom endpoint path-style requests.
    """
    s = settings or s3_settings()
    out: dict[str, str] = {}
    if s.endpoint:
        out["AWS_ENDPOINT_URL"] = s.endpoint  # Sail reads this name too (set when only _S3 or AWS_ENDPOINT was)
        out["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "true" if s.virtual_hosted else "false"
        if s.insecure:
            out["AWS_ALLOW_HTTP"] = "true"
    if s.region:
        out["AWS_REGION"] = s.region
    return out


def prepare_sail_env() -> None:
    """Set ``sail_env()`` in this process's environment (variables already set win)."""
    for k, v in sail_env().items():
        os.environ.setdefault(k, v)


# ---------------------------------------------------------------------------
# File systems

_fs_cache: dict[tuple[int, S3Settings], Any] = {}  # by process: a forked worker makes its own


def filesystem(loc: str | os.PathLike[str], settings: S3Settings | None = None):
    """The fsspec file system for ``loc`` (local, or s3fs with the AWS settings)."""
    if not is_uri(loc):
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem()
    if not is_s3(loc):
        raise ValueError(f"unsupported storage scheme in {normalise(loc)!r} (local paths, s3a:// and s3:// are)")
    s = settings or s3_settings()
    fs = _fs_cache.get((os.getpid(), s))
    if fs is None:
        try:
            import s3fs
        except ImportError as exc:  # pragma: no cover - s3fs is a dependency
            raise ImportError("s3a:// and s3:// locations need s3fs (pip install s3fs)") from exc
        kwargs: dict[str, Any] = {"client_kwargs": {}, "config_kwargs": {}}
        if s.endpoint:
            kwargs["endpoint_url"] = s.endpoint
            kwargs["config_kwargs"]["s3"] = {"addressing_style": "virtual" if s.virtual_hosted else "path"}
        if s.region:
            kwargs["client_kwargs"]["region_name"] = s.region
        if s.access_key and s.secret_key:
            kwargs.update(key=s.access_key, secret=s.secret_key, token=s.session_token)
        # skip_instance_cache: one instance per settings here, not fsspec's global one
        # (a test that points AWS_ENDPOINT_URL elsewhere must get a new client).
        fs = s3fs.S3FileSystem(skip_instance_cache=True, **kwargs)
        _fs_cache[(os.getpid(), s)] = fs
    return fs


def read_bytes(loc: str | os.PathLike[str], settings: S3Settings | None = None) -> bytes:
    if not is_uri(loc):
        return Path(_local(normalise(loc))).read_bytes()
    return filesystem(loc, settings).cat_file(fs_path(loc))


def size(loc: str | os.PathLike[str], settings: S3Settings | None = None) -> int:
    """A file's size in bytes, without reading it (an object store: its HEAD)."""
    if not is_uri(loc):
        return Path(_local(normalise(loc))).stat().st_size
    return int(filesystem(loc, settings).size(fs_path(loc)))


def exists(loc: str | os.PathLike[str], settings: S3Settings | None = None) -> bool:
    if not is_uri(loc):
        return Path(_local(normalise(loc))).exists()
    return filesystem(loc, settings).exists(fs_path(loc))


def isdir(loc: str | os.PathLike[str], settings: S3Settings | None = None) -> bool:
    """A local directory, or an object-store prefix holding at least one object (or a bucket)."""
    if not is_uri(loc):
        return Path(_local(normalise(loc))).is_dir()
    fs = filesystem(loc, settings)
    p = fs_path(loc)
    try:
        return fs.isdir(p)
    except (FileNotFoundError, PermissionError):
        return False


def write_bytes_once(loc: str | os.PathLike[str], data: bytes, settings: S3Settings | None = None) -> bool:
    """Write ``data`` at ``loc`` unless something is already there; True if written.

    Content-addressed files only (``bronze/_archive/<sha256>``): what is there
    already has these bytes. Atomic for readers (:func:`write_bytes`).
    """
    if exists(loc, settings):
        return False
    write_bytes(loc, data, settings)
    return True


def write_bytes(loc: str | os.PathLike[str], data: bytes, settings: S3Settings | None = None) -> None:
    """Write ``data`` at ``loc``, replacing what is there. Atomic for readers: locally a
    temporary file renamed into place, on S3 a single PUT (an object appears whole or not at all)."""
    if not is_uri(loc):
        dest = Path(_local(normalise(loc)))
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, dest)  # atomic: a reader never sees half a file
        return
    filesystem(loc, settings).pipe_file(fs_path(loc), data)


def remove_file(loc: str | os.PathLike[str], settings: S3Settings | None = None) -> None:
    """Delete one file (or object); missing is fine."""
    if not is_uri(loc):
        Path(_local(normalise(loc))).unlink(missing_ok=True)
        return
    fs = filesystem(loc, settings)
    try:
        fs.rm_file(fs_path(loc))
    except FileNotFoundError:
        pass


def remove_tree(loc: str | os.PathLike[str], settings: S3Settings | None = None) -> None:
    """Delete a directory (or prefix) and everything under it; missing is fine."""
    if not is_uri(loc):
        shutil.rmtree(_local(normalise(loc)), ignore_errors=True)
        return
    fs = filesystem(loc, settings)
    p = fs_path(loc)
    try:
        fs.rm(p, recursive=True)
    except FileNotFoundError:
        pass
    fs.invalidate_cache(p)


def list_dirs(loc: str | os.PathLike[str], settings: S3Settings | None = None) -> list[str]:
    """Names of the immediate subdirectories (prefixes) of ``loc``, sorted; [] if absent."""
    if not is_uri(loc):
        base = Path(_local(normalise(loc)))
        return sorted(c.name for c in base.iterdir() if c.is_dir()) if base.is_dir() else []
    fs = filesystem(loc, settings)
    p = fs_path(loc)
    try:
        entries = fs.ls(p, detail=True, refresh=True)
    except FileNotFoundError:
        return []
    return sorted(e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e.get("type") == "directory")


@dataclass(frozen=True)
class FileEntry:
    location: str   # the file's full location (a URI keeps its scheme)
    relpath: str    # below the listed root, '/'-separated
    size: int
    mtime: float    # seconds since the epoch (S3: the object's LastModified)


def walk_files(root: str | os.PathLike[str], skip_dirs: Iterable[str] = (),
               settings: S3Settings | None = None) -> Iterator[FileEntry]:
    """Every file under ``root`` except hidden ones (``.name``) and those under a
    directory named in ``skip_dirs`` or hidden. Object stores: one recursive listing."""
    skip = set(skip_dirs)
    text = normalise(root)
    if not is_uri(text):
        base = Path(_local(text))
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d not in skip and not d.startswith("."))
            for fn in sorted(filenames):
                if fn.startswith("."):
                    continue
                p = Path(dirpath) / fn
                st = p.stat()
                yield FileEntry(str(p.resolve()), p.relative_to(base).as_posix(), st.st_size, st.st_mtime)
        return
    fs = filesystem(text, settings)
    base = fs_path(text)
    found = fs.find(base, detail=True, withdirs=False)
    prefix = text.rstrip("/")
    for key in sorted(found):
        info = found[key]
        rel = key[len(base):].lstrip("/") if key.startswith(base) else key
        if not rel or rel.endswith("/"):
            continue  # the prefix itself, or a "directory marker" object
        *dirs, name = rel.split("/")
        if name.startswith(".") or any(d in skip or d.startswith(".") for d in dirs):
            continue
        yield FileEntry(f"{prefix}/{rel}", rel, int(info.get("size") or 0), _mtime(info))


def _mtime(info: dict) -> float:
    t = info.get("LastModified") or info.get("mtime") or info.get("last_modified")
    if t is None:
        return 0.0
    if hasattr(t, "timestamp"):
        return float(t.timestamp())
    return float(t)


def submit_args(settings: S3Settings | None = None) -> list[str]:
    """``spark-submit`` / ``start-connect-server.sh`` arguments for the S3A settings, one per item."""
    out: list[str] = []
    for k, v in spark_s3a_conf(settings).items():
        out += ["--conf", f"{k}={v}"]
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m cslake.storage submit-args|spark-conf``: the S3A settings for shell scripts
    (one argument per line, for ``mapfile``), from the AWS_* variables in force."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args == ["submit-args"]:
        print("\n".join(submit_args()))
        return 0
    if args == ["spark-conf"]:
        for k, v in spark_s3a_conf().items():
            print(f"{k}={v}")
        return 0
    print("usage: python -m cslake.storage submit-args|spark-conf", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
