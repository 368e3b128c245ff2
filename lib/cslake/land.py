"""Land raw files into bronze: every file kept byte for byte, every arrival recorded.

    report = land_raw(Lake(), Path("raw"))

1. List the drop zone; files already recorded (same path, size and mtime) are skipped,
   so re-running commits nothing new.
2. Parse on the engine, one task per group of files (``mapInArrow`` over a DataFrame of
   paths): each task hashes the bytes, keeps a copy in ``bronze/_archive/<sha256>``,
   recognises the return from its content (``cslake.io``) and emits every record as a
   map of raw strings, plus one summary row per file and one row per finding. The output
   is staged once (Parquet) so parsing happens once.
3. Decide each file's outcome on the driver (small: one row per file): landed,
   duplicate (the same bytes already arrived), superseded (a later submission for the
   same LA, collection, component, year and period exists), or rejected (with the rule).
4. Write each collection table as ``bronze.<collection>_<table>``: every source value as
   a string, plus lineage columns. Merges on (file, row) make a crashed run safe to repeat.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import multiprocessing
import os
import re
import stat
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from cslake import catalog, storage
from cslake.catalog import table_spec
from cslake.config import load_yaml
from cslake.engine import engine_name, spark_settings
from cslake.io import FileFault, Source, open_parse
from cslake.io.detect import claims_from_path
from cslake.io.workbook import zip_bomb
from cslake.lake import Lake, new_run_id
from cslake.lock import lake_lock, pid_alive
from cslake.schemas import base_year, collection_schema
from cslake.stages import StageError

log = logging.getLogger(__name__)

ARCHIVE_DIR = "_archive"
MTIME_TOLERANCE_S = 0.001
SKIP_DIRS = {"_truth", ".git", "__pycache__"}

# What a parse task emits: one row per record (kind=row), finding, or file summary.
STAGE_FIELDS = [
    ("kind", "string"), ("sha256", "string"), ("path", "string"), ("size_bytes", "bigint"),
    ("mtime_us", "bigint"), ("format", "string"), ("la", "string"), ("collection", "string"),
    ("component", "string"), ("year", "int"), ("period", "string"), ("content_ts", "string"),
    ("tbl", "string"), ("row", "bigint"), ("parent_row", "bigint"), ("rec", "map<string,string>"),
    ("extra", "string"), ("rule", "string"), ("severity", "string"), ("col", "string"),
    ("value", "string"), ("message", "string"), ("n_rows", "bigint"), ("year_evidence", "string"),
    ("n_ragged", "bigint"),  # a CSV's records whose field count is not its header's (null: not a CSV)
]
STAGE_SCHEMA = ", ".join(f"{n} {t}" for n, t in STAGE_FIELDS)
STAGE_COLUMNS = [n for n, _ in STAGE_FIELDS]
# The staged output is partitioned by table, so that writing each bronze table reads only its own rows.
STAGE_PARTITIONS = ["kind", "collection", "tbl"]


@dataclass
class LandReport:
    run_id: str
    files_seen: int = 0
    files_skipped: int = 0
    files_read: int = 0  # parsed this run (not skipped by the listing), arrivals or not
    outcomes: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    findings: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)  # held resubmissions the operator accepted

    def summary(self) -> str:
        out = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())) or "nothing new"
        if self.accepted:
            out += f"; accepted {len(self.accepted)} held file(s)"
        return (f"run {self.run_id}: {self.files_seen} files seen, {self.files_skipped} already landed; "
                f"{out}; {sum(self.rows.values())} rows into {len(self.rows)} bronze tables; "
                f"{self.findings} findings")


# ---------------------------------------------------------------------------
# The task side: runs inside mapInArrow, one call per partition of file paths
# ---------------------------------------------------------------------------

_ARROW_TYPES = {"string": "string", "bigint": "int64", "int": "int32", "double": "float64"}


def _arrow_schema():
    def typ(t: str):
        if t.startswith("map<"):
            return pa.map_(pa.string(), pa.string())
        return pa.type_for_alias(_ARROW_TYPES[t])

    return pa.schema([(n, typ(t)) for n, t in STAGE_FIELDS])


def _parse_files(batches, archive_root: str, processes: int = 1, s3: "storage.S3Settings | None" = None,
                 limits: dict | None = None):
    """mapInArrow body: paths in, staged rows out (Arrow built directly: no pandas
    round trip, which mishandles map columns with nulls).

    With ``processes`` > 1 the files go to a pool of helper processes (see
    ``parse_processes``); every file of the partition is submitted at once so the
    pool stays busy while this thread only hands Arrow batches back to the engine.
    ``s3``: the driver's object-store settings, for paths and an archive on S3 (a
    task's environment need not have them: a worker started before they were set).
    ``limits``: the driver's conf/limits.yaml ``land`` section (see :func:`refusal_before_reading`).
    """
    if processes <= 1:
        for batch in batches:
            cols = batch.to_pydict()
            for path, relpath, mtime_us in zip(cols["path"], cols["relpath"], cols["mtime_us"]):
                yield from unspool(*_file_batches(path, relpath, mtime_us, archive_root, s3, limits))
        return
    pool = _parse_pool(processes)
    for batch in batches:
        cols = batch.to_pydict()
        futures = [pool.submit(_file_batches, p, r, m, archive_root, s3, limits)
                   for p, r, m in zip(cols["path"], cols["relpath"], cols["mtime_us"])]
        for fut in futures:
            yield from unspool(*fut.result())


def unspool(spool: str | None, summary: pa.RecordBatch):
    """A file's staged rows, read back from its spool file a chunk at a time (the file is then
    deleted), then its findings and summary."""
    if spool is not None:
        try:
            for batch in pq.ParquetFile(spool).iter_batches(batch_size=CHUNK_ROWS):
                yield batch
        finally:
            os.remove(spool)
    yield summary


_POOL = None
_POOL_LOCK = threading.Lock()


def _parse_pool(processes: int):
    """One pool per process, shared by every partition the engine runs concurrently."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            # spawn, not fork: the engine's Rust threads hold locks a forked child would inherit.
            # Each helper watches its parent and exits when it is gone (kill -9 of land included).
            _POOL = ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=die_with_parent, initargs=(os.getpid(),))
            atexit.register(_POOL.shutdown, wait=False, cancel_futures=True)
        return _POOL


def shutdown_parse_pool() -> None:
    """Stop the helper processes (they otherwise live until the interpreter exits)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.shutdown(wait=True)
            _POOL = None


def parse_processes(spark) -> int:
    """How many helper processes the parse tasks use: conf/spark.yaml
    ``sail.python_udf_processes`` on embedded Sail, else 1."""
    if engine_name(spark) != "sail":
        return 1
    n = spark_settings()["sail"].get("python_udf_processes", "auto")
    return max(1, os.cpu_count() or 1) if str(n) == "auto" else max(1, int(n))


#: Records a parse task holds at a time (issue 16: memory bounded by streaming, not by the file):
#: a file is parsed this many records at a time, each chunk staged to the file's spool (Parquet,
#: on local disk) and read back by the task a chunk at a time.
CHUNK_ROWS = 20_000


def _file_batches(path: str, relpath: str, mtime_us: int, archive_root: str,
                  s3: "storage.S3Settings | None" = None, limits: dict | None = None) -> tuple[str | None, pa.RecordBatch]:
    """One file → (its spool: a Parquet file of its rows in the staging schema, or None when no
    rows are staged; one batch of its findings and summary). Runs in a parse helper process:
    only the spool's name and the small batch go back to the task."""
    schema = _arrow_schema()
    rows, spool = _parse_one(path, relpath, mtime_us, archive_root, s3, limits)
    arrays = []
    for name, _ in STAGE_FIELDS:
        values = [r.get(name) for r in rows]
        if name == "rec":
            values = [None if v is None else list(v.items()) for v in values]
        arrays.append(pa.array(values, type=schema.field(name).type))
    return spool, pa.RecordBatch.from_arrays(arrays, schema=schema)


#: A parse helper's spool file in the temporary folder: this prefix, the helper's pid, a random part.
SPOOL_PREFIX = "cslake-spool-"


class Spool:
    """The staged rows of one file, written to a local Parquet file a chunk at a time; dropped
    (deleted) when the file turns out not to land them (a fault half-way, too many rows)."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.writer = None
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if self.writer is None:
            self.path = os.path.join(tempfile.gettempdir(), f"{SPOOL_PREFIX}{os.getpid()}-{uuid.uuid4().hex}.parquet")
            self.writer = pq.ParquetWriter(self.path, batch.schema)
        self.writer.write_batch(batch)
        self.rows += batch.num_rows

    def close(self) -> str | None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        return self.path

    def drop(self) -> None:
        self.close()
        if self.path is not None and os.path.exists(self.path):
            os.remove(self.path)
        self.path = None


def spool_chunks(stream, common, spool: Spool) -> None:
    """Every chunk of a parse stream into ``spool`` as staging batches; ``common()`` gives the
    values every row of the file carries (asked once the first chunk is read: an XML header
    comes before the records)."""
    schema = _arrow_schema()
    fixed = None
    for tbl, df in stream.chunks(CHUNK_ROWS):
        if not len(df):
            continue
        fixed = fixed if fixed is not None else common()
        spool.write(_table_batch(schema, fixed, tbl, df))


def _strings(values) -> pa.Array:
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _table_batch(schema, common: dict, tbl: str, df: pd.DataFrame):
    """The rows of one parsed table as one batch: constants repeated, values as a
    map column built from flat key/value arrays (no per-row Python objects)."""
    n = len(df)
    value_cols = [c for c in df.columns if not c.startswith("_")]
    fixed = {**common, "kind": "row", "tbl": tbl}
    arrays = []
    for name, _ in STAGE_FIELDS:
        typ = schema.field(name).type
        if name == "row":
            arrays.append(pa.array(df["_row"].astype("int64").to_numpy(), type=typ))
        elif name == "parent_row":
            arrays.append(pa.array(df["_parent_row"], type=typ, from_pandas=True) if "_parent_row" in df.columns
                          else pa.nulls(n, typ))
        elif name == "extra":
            arrays.append(_strings(df["_extra"].tolist()) if "_extra" in df.columns else pa.nulls(n, typ))
        elif name == "rec":
            k = len(value_cols)
            offsets = pa.array(np.arange(0, (n + 1) * k, k, dtype=np.int32) if k else np.zeros(n + 1, np.int32))
            keys = pa.array(value_cols * n, type=pa.string())
            items = _strings(df[value_cols].to_numpy(dtype=object).ravel().tolist())
            arrays.append(pa.MapArray.from_arrays(offsets, keys, items, type=typ))
        elif fixed.get(name) is not None:
            arrays.append(pa.array([fixed[name]] * n, type=typ))
        else:
            arrays.append(pa.nulls(n, typ))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _parse_one(path: str, relpath: str, mtime_us: int, archive_root: str,
               s3: "storage.S3Settings | None" = None, limits: dict | None = None) -> tuple[list[dict], str | None]:
    """(finding and file-summary rows, the spool of its rows or None): see :func:`_file_batches`.

    A file the drop zone's rules refuse (a link, a pipe, a path leading outside, too large) is
    recorded without a byte of it read; messages name the file, line, column and rule, never
    the content (an echoed first line would carry whatever the file holds into the lake).
    The file is read in chunks (hashed and archived in one pass, then parsed from its archive
    copy, so what is parsed is what was hashed), never held whole but for an xlsx workbook's bytes
    (its sheets are read one at a time and their records a chunk at a time)."""
    limits = limits if limits is not None else land_limits()
    refused = refusal_before_reading(path, relpath, limits, s3)
    if refused is not None:
        return [refused_summary(path, relpath, mtime_us, *refused)], None
    src, sha, size, too_big = take_file(path, archive_root, s3, limits)
    base = {"sha256": sha, "path": relpath, "size_bytes": size, "mtime_us": mtime_us}
    summary = {**base, "kind": "file"}
    if too_big is not None:  # grown past the limit since it was measured, or a zip bomb
        summary.update(rule=too_big[0], message=too_big[1])
        return [{**summary, **_path_claims(path, relpath), "severity": "error"}], None
    spool = Spool()
    meta: dict = {}
    try:
        det, stream = open_parse(src, os.path.basename(path), relpath)
        meta.update(format=det.format, la=det.la_code, collection=det.collection,
                    component=_component(stream, os.path.basename(path)),
                    year=det.year, period=det.period or "annual")
        spool_chunks(stream, lambda: {**base, **meta, "content_ts": _content_ts(stream.meta)}, spool)
    except FileFault as fault:
        spool.drop()
        loc = ", ".join(f"{k} {v}" for k, v in fault.location.items() if k != "file" and str(v) not in fault.message)
        summary.update(rule=fault.rule, message=fault.message + (f" ({loc})" if loc else ""))
        return [{**summary, **_path_claims(path, relpath), "severity": "error"}], None
    except Exception as exc:  # a parser bug must not lose the file: reject it, say why (not what it read)
        spool.drop()
        summary.update(rule="FILE_UNRECOGNISED", message=f"parser failed: {type(exc).__name__}")
        return [{**summary, **_path_claims(path, relpath), "severity": "error"}], None
    if det.unknown_la is not None:
        spool.drop()
        summary.update(unknown_la_rejection(det))
        return [{**summary, "severity": "error"}], None
    n = spool.rows
    if n > int(limits["max_rows_per_file"]):
        spool.drop()
        summary.update(rule="FILE_TOO_MANY_ROWS", message=f"{n:,} records, more than the limit of "
                                                          f"{int(limits['max_rows_per_file']):,} (conf/limits.yaml)")
        return [{**summary, **_path_claims(path, relpath), "severity": "error"}], None
    meta["content_ts"] = _content_ts(stream.meta)
    rows: list[dict] = []
    for f in stream.findings:
        rows.append({**base, **meta, **({"la": f.la} if f.la else {}), "kind": "finding", "rule": f.rule,
                     "severity": f.severity,
                     "tbl": f.table, "row": f.row, "col": _short(f.column),
                     "value": None if f.value is None else _short(str(f.value)), "message": _short(f.message, 500)})
    evidence = stream.meta.get("year_evidence")
    rows.append({**base, **meta, "kind": "file", "n_rows": n, "n_ragged": stream.meta.get("ragged_records"),
                 "year_evidence": json.dumps(evidence, sort_keys=True) if evidence else None})
    return rows, spool.close()


def take_file(path: str, archive_root: str, s3: "storage.S3Settings | None",
              limits: dict) -> tuple[Source, str, int, tuple[str, str] | None]:
    """(the file's bytes to parse, sha256, size, refusal or None), its archive copy kept unless refused.

    A local file that is not a zip archive is hashed and copied into the archive in one pass of
    chunks, and parsed from that copy; a workbook (zip: its directory is checked for a zip bomb)
    and anything on an object store are read whole (no more than ``max_file_bytes``: an object's
    size is checked before, by ``refusal_before_reading``)."""
    local = not storage.is_uri(path) and not storage.is_uri(archive_root)
    if local:
        with open(path, "rb") as fh:
            local = fh.read(2) != b"PK"
    if not local:
        data = storage.read_bytes(path, s3)  # a local path or an s3a:// URI, read once
        sha = hashlib.sha256(data).hexdigest()
        refused = refusal_of_content(data, limits)
        if refused is None:
            _archive(data, sha, archive_root, s3)
        return Source.of_bytes(data), sha, len(data), refused
    sha, size, kept = archive_by_chunks(path, archive_root, int(limits["max_file_bytes"]))
    if kept is None:
        return Source.of_bytes(b""), sha, size, ("FILE_TOO_LARGE", f"{size:,} bytes, more than the limit of "
                                                                   f"{int(limits['max_file_bytes']):,}")
    return Source.of_path(kept), sha, size, None


def remove_leftovers(archive_root: str) -> list[str]:
    """What a land killed half-way left behind, removed (under the lake lock, so no live land of
    this lake owns it): half-copied archive files (``.incoming.*.tmp``) and, in the temporary
    folder, spools of parse helpers that are gone (their pid is in the name). Returns the paths."""
    found = []
    if not storage.is_uri(archive_root) and os.path.isdir(archive_root):
        found += [os.path.join(archive_root, n) for n in os.listdir(archive_root)
                  if n.startswith(".incoming.") and n.endswith(".tmp")]
    tmp = tempfile.gettempdir()
    for n in os.listdir(tmp):
        pid = n[len(SPOOL_PREFIX):].split("-", 1)[0]
        if n.startswith(SPOOL_PREFIX) and n.endswith(".parquet") and pid.isdigit() and not pid_alive(int(pid)):
            found.append(os.path.join(tmp, n))
    for path in found:
        try:
            os.remove(path)
        except OSError:
            pass
    if found:
        log.info("land: removed %d file(s) a killed land left behind", len(found))
    return found


def archive_by_chunks(path: str, archive_root: str, max_bytes: int) -> tuple[str, int, str | None]:
    """(sha256, size, the archive copy's path) of a local file copied chunk by chunk into
    ``archive_root/<sha[:2]>/<sha>`` (a temporary file renamed into place: atomic; an existing
    copy has these bytes already and is kept); no copy (None) for a file over ``max_bytes``."""
    os.makedirs(archive_root, exist_ok=True)
    tmp = os.path.join(archive_root, f".incoming.{uuid.uuid4().hex}.tmp")
    digest, size = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out:
            for block in Source.of_path(path).chunks():
                digest.update(block)
                size += len(block)
                if size <= max_bytes:
                    out.write(block)
        sha = digest.hexdigest()
        if size > max_bytes:
            return sha, size, None
        dest = archive_location(archive_root, sha)
        if not os.path.exists(dest):
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            os.replace(tmp, dest)
        return sha, size, dest
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def unknown_la_rejection(det) -> dict:
    """The staged file row's rule, message and identity for a file whose LA code is not in
    conf/la_codes.csv (FILE_UNKNOWN_LA): refused, its bytes kept in the archive, and recorded
    against the LA whose folder it came in (whose error report shows it), else the code itself."""
    code, sender = det.unknown_la, det.sender_la
    if sender is not None and sender != code:
        where = f"sent in LA {sender}'s folder, but the file says it is LA {code}"
        owner = sender
    else:
        where = f"sent in folder {code}/" if sender == code else f"the file says it is LA {code}"
        owner = code
    return {"rule": "FILE_UNKNOWN_LA", "la": owner, "collection": det.collection, "year": det.year,
            "period": det.period or "annual", "format": det.format,
            "message": (f"{where}, which is not a local authority in conf/la_codes.csv: not landed (the file is "
                        f"kept in the archive); correct the LA code (XML header Source/LEA, or the folder) "
                        f"and send it again")}


# --- the drop zone as a jail, and the size limits (conf/limits.yaml)

#: A finding's column name or value longer than this is cut (a 200 MB one-line "header" is one cell).
MAX_ECHO = 200
#: What a file refused before it was read is recorded with: the hash of no bytes.
UNREAD_SHA256 = hashlib.sha256(b"").hexdigest()


def _short(text, limit: int = MAX_ECHO):
    if text is None or len(str(text)) <= limit:
        return text
    return str(text)[:limit] + f"… ({len(str(text)):,} characters)"


def land_limits() -> dict:
    """conf/limits.yaml ``land``: max_file_bytes, max_rows_per_file, the xlsx zip-bomb limits."""
    return dict(load_yaml("limits.yaml")["land"])


def refusal_before_reading(path: str, relpath: str, limits: dict,
                           s3: "storage.S3Settings | None" = None) -> tuple[str, str, int] | None:
    """(rule, message, size) for a drop-zone entry that must not be read, from ``lstat`` alone: a
    symbolic link (never followed), anything but a regular file (a pipe would block the read), a
    path resolving outside the drop zone, or a file over ``max_file_bytes``. None: read it.

    An object store has no links or pipes: its object's size, from a HEAD request, is checked
    before the object is read (it is read whole, so a 5 GB object would have been held whole
    before the limit refused it)."""
    if storage.is_uri(path):
        try:
            return _too_large(storage.size(path, s3), limits)
        except OSError as exc:
            return "FILE_NOT_REGULAR", f"cannot be examined ({type(exc).__name__})", 0
    try:
        st = os.lstat(path)
    except OSError as exc:
        return "FILE_NOT_REGULAR", f"cannot be examined ({type(exc).__name__})", 0
    if stat.S_ISLNK(st.st_mode):  # sizes as the listing's lstat saw them, so the next run skips it
        return "FILE_SYMLINK", "a symbolic link: not followed, not read", st.st_size
    if not stat.S_ISREG(st.st_mode):
        return "FILE_NOT_REGULAR", "not a regular file (a pipe, socket or device): not read", st.st_size
    root = path[: len(path) - len(relpath)] if relpath and path.endswith(relpath) else None
    if root is None or not _under(os.path.realpath(path), os.path.realpath(root)):
        return "FILE_OUTSIDE_DROP_ZONE", "the path resolves outside the drop zone: not read", st.st_size
    return _too_large(st.st_size, limits)


def _too_large(size: int, limits: dict) -> tuple[str, str, int] | None:
    if size > int(limits["max_file_bytes"]):
        return ("FILE_TOO_LARGE", f"{size:,} bytes, more than the limit of {int(limits['max_file_bytes']):,} "
                                  f"(conf/limits.yaml): not read", size)
    return None


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def refusal_of_content(data: bytes, limits: dict) -> tuple[str, str] | None:
    """(rule, message) for bytes over the size limit or a zip archive that would expand past the
    xlsx limits (measured from the archive's directory, nothing decompressed); else None."""
    if len(data) > int(limits["max_file_bytes"]):
        return "FILE_TOO_LARGE", f"{len(data):,} bytes, more than the limit of {int(limits['max_file_bytes']):,}"
    bomb = zip_bomb(data, int(limits["xlsx_max_decompressed_bytes"]), float(limits["xlsx_max_compression_ratio"]))
    return None if bomb is None else ("FILE_ZIP_BOMB", bomb)


def refused_summary(path: str, relpath: str, mtime_us: int, rule: str, message: str, size: int) -> dict:
    """The staged file row of a file refused unread (its ledger row says why; no archive copy)."""
    return {"kind": "file", "sha256": UNREAD_SHA256, "path": relpath, "size_bytes": size, "mtime_us": mtime_us,
            "rule": rule, "message": message, "severity": "error", **_path_claims(path, relpath)}


def die_with_parent(parent_pid: int, every_s: float = 1.0) -> None:
    """In a helper process: a daemon thread that ends the process once ``parent_pid`` is gone
    (its parent was killed, even with SIGKILL, which runs no clean-up in the parent)."""
    def watch() -> None:
        while True:
            time.sleep(every_s)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _component(parsed, filename: str) -> str | None:
    """Which part of a collection a file is, so that only a later file of the same part
    supersedes it: the file name for collections that say `return_identity: file`
    (context data), the table for one-table files of many-table returns (SSDA903)."""
    schema = collection_schema(parsed.collection, max(parsed.year or 0, base_year(parsed.collection)))
    if schema is not None and schema.meta.get("return_identity") == "file":
        stem = filename.rsplit(".", 1)[0].lower()
        return re.sub(r"[_\-]*\d{4,8}[_\-]*", "_", stem).strip("_") or stem
    if len(parsed.tables) == 1 and schema is not None and len(schema.tables) > 1:
        return next(iter(parsed.tables))
    return None


def _path_claims(path: str, relpath: str) -> dict:
    """For a file whose content could not be read, what its folder says (so the rejection
    reaches the right LA's error report)."""
    c = claims_from_path(os.path.basename(path), relpath)
    return {"la": c.la_code, "collection": c.collection, "year": c.year, "period": c.period or "annual"}


def _content_ts(meta: dict) -> str | None:
    """What orders two submissions of the same return: the header's DateTime and SerialNo."""
    parts = [str(meta.get(k)) for k in ("DateTime", "SerialNo") if meta.get(k)]
    if not parts:
        hdr = meta.get("header") if isinstance(meta.get("header"), dict) else {}
        parts = [str(hdr.get(k)) for k in ("Source/DateTime", "Source/SerialNo") if hdr.get(k)]
    return "|".join(parts) or None


def archive_location(archive_root: str, sha: str) -> str:
    """Where the archive keeps a file's bytes: ``<archive_root>/<sha[:2]>/<sha>``."""
    return storage.join(archive_root, sha[:2], sha)


def _archive(data: bytes, sha: str, archive_root: str, s3: "storage.S3Settings | None" = None) -> None:
    # Atomic either way: a temporary file renamed into place, or one S3 PUT.
    storage.write_bytes_once(archive_location(archive_root, sha), data, s3)


# ---------------------------------------------------------------------------
# The driver side
# ---------------------------------------------------------------------------

def list_raw(raw_dir: Path | str) -> pd.DataFrame:
    """Every file of the drop zone (a local folder or an ``s3a://`` prefix): its full
    location, path below the drop zone, size and modification time. A local drop zone is
    listed without following anything: a link (to a file or a folder) or a pipe is listed as
    itself, with its own ``lstat``, and the parse task refuses it unread."""
    if storage.is_uri(raw_dir):
        rows = [{"path": e.location, "relpath": e.relpath, "size": e.size, "mtime": e.mtime}
                for e in storage.walk_files(raw_dir, SKIP_DIRS)]
    else:
        rows = list(_walk_jail(Path(raw_dir).resolve()))
    return pd.DataFrame(rows, columns=["path", "relpath", "size", "mtime"])


def _walk_jail(base: Path):
    """Entries under ``base`` (hidden ones and SKIP_DIRS aside), links not followed: a linked
    folder is one entry (refused as a link), never entered."""
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        keep = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        links = [d for d in keep if os.path.islink(os.path.join(dirpath, d))]
        dirnames[:] = [d for d in keep if d not in links]
        for name in sorted(links + [f for f in filenames if not f.startswith(".")]):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            yield {"path": p, "relpath": Path(p).relative_to(base).as_posix(), "size": st.st_size, "mtime": st.st_mtime}


def unlanded(listing: pd.DataFrame, known: pd.DataFrame) -> pd.DataFrame:
    """The files of a drop-zone listing the ledger does not have. A file is known when its path
    and size match a ledger row and its modification time equals the recorded one within a
    millisecond: the ledger keeps microseconds, the file system nanoseconds, and rounding both
    to 3 places disagreed for times like .3695003 (re-reading the file)."""
    if known.empty or listing.empty:
        return listing
    seen: dict[tuple[str, int], list[float]] = {}
    for r, sz, m in zip(known["path"], known["size_bytes"], known["mtime_key"]):
        if m is not None and not pd.isna(m):
            seen.setdefault((r, int(sz)), []).append(float(m))
    keep = [not any(abs(m - k) < MTIME_TOLERANCE_S for k in seen.get((r, int(sz)), ()))
            for r, sz, m in zip(listing.relpath, listing["size"], listing.mtime)]
    return listing[keep]


def parse_tasks(listing: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """(path, relpath, mtime_us, bucket) per file and the number of parse tasks: biggest files
    first, dealt round-robin, so no task gets all the large XML files. The modification time
    travels through the engine as whole microseconds: as a double, Sail returned
    1796542118.745952 for 1796542118.7459521, and the ledger's time differed from Apache
    Spark's by a microsecond (the engine parity test)."""
    n_parts = max(1, min(len(listing), 4 * (os.cpu_count() or 2)))
    listing = listing.sort_values(["size", "relpath"], ascending=[False, True]).reset_index(drop=True)
    listing["bucket"] = listing.index % n_parts
    listing["mtime_us"] = seconds_to_micros(listing["mtime"])
    return listing[["path", "relpath", "mtime_us", "bucket"]], n_parts


def seconds_to_micros(seconds: pd.Series) -> pd.Series:
    """Seconds since the epoch (a float) to whole microseconds, cut as the file system's
    nanoseconds are cut to the ledger's microseconds (.768250732 s -> 768250 µs)."""
    return np.floor(seconds.astype("float64") * 1_000_000).astype("int64")


def seconds_to_timestamps(seconds) -> pd.DatetimeIndex:
    """Seconds since the epoch to timestamps, whole microseconds (see ``seconds_to_micros``)."""
    micros = seconds_to_micros(pd.Series(seconds, dtype="float64")).to_numpy()
    return pd.DatetimeIndex(pd.to_datetime(micros, unit="us"))


def stage_parsed(spark, listing: pd.DataFrame, archive_root: str, s3: storage.S3Settings | None,
                 staging: str, limits: dict | None = None) -> None:
    """Parse the files on the engine (``mapInArrow``, one task per bucket) and stage the output
    once as Parquet (:func:`read_stage` reads it), so parsing happens once.

    Parquet, not Delta: the embedded engine's Delta writer holds what it writes in memory
    (Sail 0.7: 2.8 GB for 3.2 M staged rows, against 0.45 GB as Parquet), and the staging is
    scratch that nothing reads after this run, so it needs no transaction log."""
    tasks, n_parts = parse_tasks(listing)
    processes = parse_processes(spark)
    limits = limits if limits is not None else land_limits()
    parsed = spark.createDataFrame(tasks).repartition(n_parts, "bucket").mapInArrow(
        lambda it: _parse_files(it, archive_root, processes, s3, limits), STAGE_SCHEMA)
    t0 = time.perf_counter()
    parsed.write.mode("overwrite").partitionBy(*STAGE_PARTITIONS).parquet(staging)
    log.info("land: %d files parsed and staged in %.1f s (%d parse task(s), %d helper process(es))",
             len(listing), time.perf_counter() - t0, n_parts, processes, extra={"progress": (1, 2, "land steps")})


def land_raw(lake: Lake, raw_dir: Path | str = "raw", run_id: str | None = None, limits: dict | None = None,
             accept: list[str] | None = None) -> LandReport:
    """Land every new file of ``raw_dir`` (see the module doc), holding the lake's lock.

    ``limits``: conf/limits.yaml's ``land`` section by default. ``accept``: drop-zone paths (as
    recorded in bronze.files) of held resubmissions the operator confirms: each replaces the
    live file of its return (``cslake land --accept PATH``)."""
    with lake_lock(lake.root, "cslake land"):
        return _land_locked(lake, raw_dir, run_id, limits, accept or [])


def _land_locked(lake: Lake, raw_dir: Path | str, run_id: str | None, limits: dict | None,
                 accept: list[str]) -> LandReport:
    # A URI stays a string (Path("s3a://b/k") would be "s3a:/b/k"); a local path stays a Path.
    raw_dir = storage.normalise(raw_dir) if storage.is_uri(raw_dir) else Path(raw_dir)
    if not storage.isdir(raw_dir):
        raise FileNotFoundError(f"raw drop zone {raw_dir} does not exist")
    spark = lake.spark
    run_id = run_id or new_run_id()
    report = LandReport(run_id=run_id)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    if accept:
        report.accepted = accept_held(lake, accept)

    archive_root = storage.join(lake.path(catalog.bronze.files).rsplit("/", 1)[0], ARCHIVE_DIR)
    remove_leftovers(archive_root)
    listing = list_raw(raw_dir)
    report.files_seen = len(listing)
    known = known_files(lake)
    todo = unlanded(listing, known)
    report.files_skipped = len(listing) - len(todo)
    if todo.empty:
        log.info("land: nothing new in %s", raw_dir)
        return report
    log.info("land: parsing %d files from %s", len(todo), raw_dir, extra={"progress": (0, 2, "land steps")})
    report.files_read = len(todo)

    s3 = storage.s3_settings() if storage.is_s3(archive_root) or storage.is_s3(raw_dir) else None
    staging = lake.staging_dir("bronze", run_id)
    stage_parsed(spark, todo, archive_root, s3, staging, limits)
    try:
        t0 = time.perf_counter()
        stage = read_stage(spark, staging)
        land_from_stage(lake, stage, known, report, run_id, now, set(accept))
        log.info("land: ledger and bronze tables written in %.1f s", time.perf_counter() - t0,
                 extra={"progress": (2, 2, "land steps")})
    finally:
        storage.remove_tree(staging)
    return report


def file_set_key(path: str, words: set[str]) -> tuple[str, tuple[str, ...]]:
    """Which set a CSV file is part of: its folder and the words of its name that do not name a table."""
    folder, _, name = path.rpartition("/")
    tokens = [t for t in re.findall(r"[a-z0-9]+", name.rsplit(".", 1)[0].lower()) if t not in words]
    return folder, tuple(tokens)


def year_of_dates(evidence: list[str], year: int) -> tuple[int, int, int] | None:
    """(the year a set's dates say it is, dates after the claimed year, dates within it) from its
    files' ``year_evidence`` JSON, or None unless at least 2 dates, and more than fall within the
    claimed year, fall after it."""
    dates: Counter = Counter()
    for text in evidence:
        dates.update({int(y): int(n) for y, n in json.loads(text).items()})
    later = {y: n for y, n in dates.items() if y > year}
    n_later, n_within = sum(later.values()), dates.get(year, 0)
    if n_later < 2 or n_later <= n_within:
        return None
    return max(later, key=lambda y: (later[y], y)), n_later, n_within


def year_mismatch_finding(row, la: str, collection: str, year: int, found: tuple[int, int, int],
                          n_files: int, folder: str) -> dict:
    """The FILE_YEAR_MISMATCH finding of one file of a set read as the year its dates say."""
    data_year, n_later, n_within = found
    return {"sha256": row["sha256"], "path": row["path"], "la": la, "collection": collection, "year": data_year,
            "rule": "FILE_YEAR_MISMATCH", "severity": "warning", "tbl": row.get("component"), "row": None,
            "col": None, "value": str(year),
            "message": (f"filed as {year}, but {n_later} of the set's dates fall after 31 March {year} "
                        f"(against {n_within} within {year}; {n_files} file(s) in {folder}/ named like "
                        f"this one): read as the {data_year} return")}


def reconcile_set_years(files: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int], list[dict]]:
    """The year of each set of CSV files whose content carries none (SSDA903), checked
    against the dates in the data (conf: the collection's ``year_evidence``).

    A set is the files of one LA and collection in one folder whose names, without the
    words that name a table (``file_name_words``), are the same: ``Header_final.csv`` and
    ``Episodes_final.csv`` are one set, ``SSDA903_2023-24_Header.csv`` another. When most of
    the set's event dates at or after its claimed year fall after that year's 31 March, the
    set is a later year's return filed under the wrong year: every file of it gets the year
    its dates say (content wins, as with a path mismatch) and a FILE_YEAR_MISMATCH finding.

    Returns (files with ``year`` corrected, {path: corrected year}, finding rows)."""
    fixes: dict[str, int] = {}
    out_findings: list[dict] = []
    if files.empty or "year_evidence" not in files.columns:
        return files, fixes, out_findings
    files = files.copy()
    ok = files["rule"].isna() & files["collection"].notna() & files["year"].notna() & files["la"].notna()
    for coll, grp in files[ok].groupby("collection"):
        meta = collection_schema(coll, base_year(coll)).meta
        if not meta.get("year_evidence"):
            continue
        words = {str(w).lower() for w in meta.get("file_name_words") or []}
        keys = grp["path"].map(lambda path: file_set_key(path, words))
        for (la, year, key), members in grp.groupby([grp["la"], grp["year"].astype(int), keys]):
            found = year_of_dates(list(members["year_evidence"].dropna()), year)
            if found is None:
                continue
            for i, row in members.iterrows():
                fixes[row["path"]] = found[0]
                files.at[i, "year"] = found[0]
                out_findings.append(year_mismatch_finding(row, la, coll, year, found, len(members), key[0]))
    return files, fixes, out_findings


def known_files(lake: Lake) -> pd.DataFrame:
    cols = ["sha256", "path", "size_bytes", "mtime_key", "outcome", "la", "collection", "component",
            "year", "period", "received_at", "content_ts"]
    if not lake.exists(catalog.bronze.files):
        return pd.DataFrame(columns=cols)
    pdf = lake.read_table(catalog.bronze.files).toPandas()
    pdf["mtime_key"] = pdf["source_modified_at"].map(
        lambda t: pd.Timestamp(t).replace(tzinfo=timezone.utc).timestamp() if pd.notna(t) else None)
    # A ledger written before a column was declared (content_ts, ragged_rows) lacks it until the
    # next write adds it: null here, so every ledger row this run writes back has every column
    # (a count typed as one, which pandas would otherwise infer from the new rows alone).
    for col in table_spec(catalog.bronze.files).columns:
        if col.name not in pdf.columns:
            pdf[col.name] = pd.Series(pd.NA, index=pdf.index, dtype="Int64" if col.type == "bigint" else object)
    return pdf


# --- landing the staged output (the ledger is driver-side pandas: one row per file, small by nature)

def read_stage(spark, staging: str) -> DataFrame:
    """The staged output (see :func:`stage_parsed`), its columns in the staging schema's order."""
    return spark.read.schema(STAGE_SCHEMA).parquet(staging).select(*STAGE_COLUMNS)


def null_partitions(df: DataFrame) -> DataFrame:
    """Staged rows with their null partition values null again: Sail reads a null partition
    value of Parquet back as "" (a file's summary and a file-level finding have no table).
    Rows of records always have both (``staged(stage, "row", ...)`` needs no repair)."""
    return df.select(*[F.when(F.col(c) == "", F.lit(None).cast("string")).otherwise(F.col(c)).alias(c)
                       if c in STAGE_PARTITIONS else F.col(c) for c in df.columns])


def stage_files(stage: DataFrame) -> pd.DataFrame:
    """The staged file summaries, one row per file read, by path."""
    files = null_partitions(stage.filter("kind = 'file'").drop("rec")).toPandas()
    files["mtime"] = files.pop("mtime_us").astype("float64") / 1_000_000
    return files.sort_values("path").reset_index(drop=True)


def split_seen_again(files: pd.DataFrame, known: pd.DataFrame) -> tuple[pd.DataFrame, list[str], dict]:
    """(the arrivals, paths of the files seen again, {(sha256, path): new mtime} of those).

    The same bytes at the same path as a file already in the ledger (touched, copied back,
    or its time stored differently) is that file again, not an arrival: it must neither
    land twice nor supersede itself."""
    known_keys = set(zip(known["sha256"], known["path"])) if not known.empty else set()
    again = [(h, p) in known_keys for h, p in zip(files.sha256, files.path)]
    seen_again = sorted(files.loc[again, "path"])
    new_mtime = {(h, p): m for h, p, m, a in zip(files.sha256, files.path, files.mtime, again) if a}
    if seen_again:
        files = files.loc[[not a for a in again]].reset_index(drop=True)
    return files, seen_again, new_mtime


def with_new_mtimes(ledger: pd.DataFrame, known: pd.DataFrame, new_mtime: dict) -> pd.DataFrame:
    """The ledger with each file seen again at its new modification time, so the next listing
    skips it instead of reading and hashing it again on every run: in this run's row when its
    outcome changes too (one row, both updates), else in a copy of its earlier row."""
    if not new_mtime:
        return ledger
    ledger = ledger.copy()
    in_ledger = [(h, p) in new_mtime for h, p in zip(ledger.sha256, ledger.path)]
    if any(in_ledger):
        ledger.loc[in_ledger, "source_modified_at"] = seconds_to_timestamps(
            [new_mtime[(h, p)] for h, p in zip(ledger.sha256[in_ledger], ledger.path[in_ledger])])
    done = set(zip(ledger.sha256, ledger.path))
    touched = known[[(h, p) in new_mtime and (h, p) not in done for h, p in zip(known.sha256, known.path)]].copy()
    if len(touched):
        touched["source_modified_at"] = seconds_to_timestamps(
            [new_mtime[(h, p)] for h, p in zip(touched.sha256, touched.path)])
        touched = touched[[c for c in ledger.columns if c != "is_new"]].assign(is_new=False)
        ledger = pd.concat([ledger, touched], ignore_index=True) if len(ledger) else touched
    return ledger


def landing_paths(ledger: pd.DataFrame, seen_again: list[str]) -> tuple[list[str], list[str]]:
    """(paths of this run's arrivals that land, paths whose staged rows and findings are left out).

    Rows come from the new arrivals that land (a duplicate's rows are already there);
    paths are unique within one run, shas are not (the same bytes at two paths).
    Rejected files emit no rows, so excluding this run's duplicates (few) is enough."""
    lands = ledger.outcome.isin(["landed", "superseded", HELD])  # a held file's rows wait in bronze
    landed_paths = sorted(ledger.loc[lands & ledger.is_new, "path"])
    skip_paths = sorted(set(ledger.loc[ledger.is_new & ~lands, "path"]) | set(seen_again))
    return landed_paths, skip_paths


def staged(stage: DataFrame, kind: str, skip_paths: list[str]) -> DataFrame:
    """The staged rows of one kind (``row``, ``finding``) but those of the files left out."""
    keep = ~F.col("path").isin(skip_paths) if skip_paths else F.lit(True)
    return stage.filter(F.col("kind") == kind).filter(keep)


def collection_year_column(year_fixes: dict[str, int]) -> Column:
    """A file's collection year, as corrected from the data of its set (else as parsed)."""
    if not year_fixes:
        return F.col("year")
    m = F.create_map(*[x for p, y in sorted(year_fixes.items()) for x in (F.lit(p), F.lit(y))])
    return F.coalesce(m[F.col("path")], F.col("year")).cast("int")


def bronze_rows(rows: DataFrame, collection: str, table: str, value_cols: list[str], run_id: str,
                year_fixes: dict[str, int]) -> DataFrame:
    """One bronze table from the staged rows: the lineage columns, then each value column
    taken from the record map (null when the file had no such column)."""
    sel = rows.filter((F.col("collection") == collection) & (F.col("tbl") == table))
    return sel.select(
        F.col("sha256").alias("_file_sha256"), F.col("la").alias("_la"), F.col("collection").alias("_collection"),
        collection_year_column(year_fixes).alias("_year"), F.col("period").alias("_period"),
        F.col("row").alias("_row"), F.col("parent_row").alias("_parent_row"), F.col("extra").alias("_extra"),
        F.lit(run_id).alias("_run_id"), *[F.col("rec")[c].alias(c) for c in value_cols])


def write_bronze_tables(lake: Lake, rows: DataFrame, run_id: str, year_fixes: dict[str, int]) -> dict[str, int]:
    """Write every (collection, table) of the staged rows to its bronze table; rows written per table."""
    pairs = rows.select("collection", "tbl").distinct().toPandas()
    targets = sorted(pairs.itertuples(index=False, name=None))
    for coll, tbl in targets:  # declare specs first: registration is not thread-safe work
        table_spec(catalog.bronze_name(coll, tbl))

    def write_one(coll: str, tbl: str) -> None:
        spec = table_spec(catalog.bronze_name(coll, tbl))
        value_cols = [c.name for c in spec.columns if not c.name.startswith("_")]
        out = bronze_rows(rows, coll, tbl, value_cols, run_id, year_fixes)
        # A new table is simply appended to; an existing one is merged on (file, row), so
        # a run that died after writing some tables can be repeated without doubling rows.
        lake.write_table(out, spec.name, mode="merge" if lake.exists(spec.name) else "append")
        log.info("land: %s written", spec.name,
                 extra={"progress": (targets.index((coll, tbl)) + 1, len(targets), "bronze tables")})

    # Each table's write mostly waits on the engine: a few at once overlap that waiting.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda ct: write_one(*ct), targets))
    if not targets:
        return {}
    grouped = rows.groupBy("collection", "tbl").count().toPandas()
    return {catalog.bronze_name(c, t): int(n) for c, t, n in grouped.itertuples(index=False, name=None)}


YEAR_FINDING_SCHEMA = ("sha256 string, path string, la string, collection string, year int, rule string, "
                       "severity string, tbl string, row bigint, col string, value string, message string")
YEAR_FINDING_COLUMNS = [f.split()[0] for f in YEAR_FINDING_SCHEMA.split(", ")]


def year_mismatch_rows(year_findings: list[dict], ledger: pd.DataFrame) -> pd.DataFrame:
    """The FILE_YEAR_MISMATCH findings of this run's arrivals, typed as the findings table's;
    also a duplicate's: that file too was filed under the wrong year (its own path)."""
    new_paths = set(ledger.loc[ledger.is_new & ledger.outcome.isin(["landed", "superseded", "duplicate"]), "path"])
    extra = pd.DataFrame([f for f in year_findings if f["path"] in new_paths], columns=YEAR_FINDING_COLUMNS)
    if len(extra):
        extra["year"] = extra["year"].astype("int32")
        extra["row"] = pd.array([None] * len(extra), dtype="Int64")
    return extra


def held_rows(ledger: pd.DataFrame) -> pd.DataFrame:
    """A FILE_RESUBMISSION_HELD finding per file held this run, so the LA's error report lists it."""
    new = ledger[ledger.is_new & ledger.outcome.eq(HELD)]
    out = pd.DataFrame({"sha256": new.sha256, "path": new.path, "la": new.la, "collection": new.collection,
                        "year": new.year, "rule": "FILE_RESUBMISSION_HELD", "severity": "warning",
                        "tbl": new.component, "row": None, "col": None, "value": None,
                        "message": new.reason.str.replace(r"^FILE_RESUBMISSION_HELD:\s*", "", regex=True)},
                       columns=YEAR_FINDING_COLUMNS)
    if len(out):
        # A context file (postcode lookup, population) has no collection year: null, not a crash.
        out["year"] = pd.array(out["year"].tolist(), dtype="Int32")
        out["row"] = pd.array([None] * len(out), dtype="Int64")
    return out.reset_index(drop=True)


def serial_repeated_rows(ledger: pd.DataFrame, known: pd.DataFrame) -> pd.DataFrame:
    """A FILE_SERIAL_REPEATED finding for each file of this run whose header DateTime and SerialNo
    (``content_ts``) are those of a different file (other bytes) of the same return, landed in
    this run or before: the header cannot say which is the later submission, so the file times
    decide (the message names the file that is live)."""
    live = ["landed", "superseded", HELD]
    now = ledger[ledger.outcome.isin(live)].assign(_new=ledger.is_new.astype(bool))
    done = set(zip(now.sha256, now.path))
    before = known[known.outcome.isin(live)] if not known.empty else known
    before = before[[(h, p) not in done for h, p in zip(before.sha256, before.path)]] if len(before) else before
    frames = [f for f in (now, before.assign(_new=False)) if len(f)]
    if not frames:
        return pd.DataFrame(columns=YEAR_FINDING_COLUMNS)
    every = pd.concat(frames, ignore_index=True)
    live_of = {return_identity(r, RETURN_IDENTITY): r.path for _, r in every[every.outcome.eq("landed")].iterrows()}
    every = every[every.content_ts.notna() & every.content_ts.astype(str).ne("")]
    out = []
    for _, grp in every.groupby([every[k].astype(str) for k in RETURN_IDENTITY + ["content_ts"]], sort=False):
        if grp.sha256.nunique() < 2:
            continue
        live_path = live_of.get(return_identity(grp.iloc[0], RETURN_IDENTITY), "none")
        for _, row in grp[grp._new].iterrows():
            others = sorted(set(grp.path[grp.sha256.ne(row.sha256)]))
            parts = str(row.content_ts).split("|", 1)
            stamp = f"DateTime {parts[0]} and SerialNo {parts[1]} are" if len(parts) == 2 else f"DateTime {parts[0]} is"
            msg = (f"header {stamp} the same as in {', '.join(others)}, a different file for the "
                   f"same return: which was submitted later cannot be told from the header; ordered by file "
                   f"time, {live_path} is the live file")
            out.append({"sha256": row.sha256, "path": row.path, "la": row.la, "collection": row.collection,
                        "year": row.year, "rule": "FILE_SERIAL_REPEATED", "severity": "warning",
                        "tbl": row.component, "row": None, "col": "DateTime|SerialNo",
                        "value": str(row.content_ts), "message": msg})
    res = pd.DataFrame(out, columns=YEAR_FINDING_COLUMNS)
    if len(res):
        res["year"] = pd.array([None if pd.isna(y) else int(y) for y in res["year"]], dtype="Int32")
        res["row"] = pd.array([None] * len(res), dtype="Int64")
    return res


def land_findings(lake: Lake, stage: DataFrame, skip_paths: list[str], year_fixes: dict[str, int],
                  year_findings: list[dict], ledger: pd.DataFrame, known: pd.DataFrame | None = None) -> DataFrame:
    """The run's findings: the staged ones, at the corrected year, the year mismatches, held
    files and repeated header serials. A duplicate arrival (the same bytes again, recorded in
    bronze.files) adds none: its findings are its first arrival's."""
    findings = null_partitions(staged(stage, "finding", skip_paths)).withColumn(
        "year", collection_year_column(year_fixes))
    extra = year_mismatch_rows(year_findings, ledger) if year_findings else None
    held = held_rows(ledger)
    repeated = serial_repeated_rows(ledger, known if known is not None else pd.DataFrame(columns=ledger.columns))
    for more in (held, repeated):
        if len(more):
            extra = more if extra is None or not len(extra) else pd.concat([extra, more], ignore_index=True)
    if extra is None or not len(extra):
        return findings
    sdf = lake.spark.createDataFrame(extra, schema=YEAR_FINDING_SCHEMA)
    return findings.select(*extra.columns).unionByName(sdf)


def record_outcomes(report: LandReport, ledger: pd.DataFrame) -> None:
    new = ledger[ledger.is_new]
    report.outcomes = new["outcome"].value_counts().to_dict()
    report.rejected = list(zip(new.loc[new.outcome == "rejected", "path"], new.loc[new.outcome == "rejected", "reason"]))
    for path, reason in report.rejected:
        log.warning("rejected %s: %s", path, reason)
    for path, reason in zip(new.loc[new.outcome == HELD, "path"], new.loc[new.outcome == HELD, "reason"]):
        log.warning("held %s: %s", path, reason)


def land_from_stage(lake: Lake, stage: DataFrame, known: pd.DataFrame, report: LandReport, run_id: str,
                    now: datetime, accepted: set[str] | None = None) -> None:
    """Decide the outcome of every file staged, write its rows and findings, then the ledger."""
    files, seen_again, new_mtime = split_seen_again(stage_files(stage), known)
    if seen_again:
        log.info("land: %d file(s) already landed with the same bytes, skipped: %s", len(seen_again),
                 ", ".join(seen_again[:5]))
        report.files_skipped += len(seen_again)
    files, year_fixes, year_findings = reconcile_set_years(files)
    ledger = with_new_mtimes(decide_outcomes(files, known, run_id, now, accepted), known, new_mtime)
    landed_paths, skip_paths = landing_paths(ledger, seen_again)
    rows = staged(stage, "row", skip_paths)
    report.rows = write_bronze_tables(lake, rows, run_id, year_fixes) if landed_paths else {}
    findings = land_findings(lake, stage, skip_paths, year_fixes, year_findings, ledger, known)
    report.findings = _write_findings(lake, findings, run_id, now)
    # The ledger goes last: a run that dies before this line is simply re-run.
    if len(ledger):  # empty when every file read was one already landed
        lake.write_pandas(ledger.drop(columns=["is_new"]), catalog.bronze.files, mode="merge")
    record_outcomes(report, ledger)


# --- outcomes: landed, duplicate, superseded or rejected

# Which return a file is: the same bytes for another return are not a resend, and only a
# later file of the same return supersedes one.
RETURN_IDENTITY = ["la", "collection", "component", "year", "period"]


def arrival_rows(files: pd.DataFrame, run_id: str, now: datetime) -> pd.DataFrame:
    """One ledger row per file read this run: landed, or rejected with the rule that refused it.
    A file refused before parsing is still kept: the archive has every file's bytes."""
    new = pd.DataFrame({
        "sha256": files.sha256, "path": files.path, "filename": files.path.map(lambda p: p.rsplit("/", 1)[-1]),
        "stored_path": [archive_location(f"bronze/{ARCHIVE_DIR}", h) for h in files.sha256],
        "size_bytes": files.size_bytes.astype("int64"), "format": files.format, "la": files.la,
        "collection": files.collection, "component": files.component,
        "year": files.year.astype("Int64"), "period": files.period,
        "source_modified_at": seconds_to_timestamps(files.mtime).values,
        "received_at": now, "ingested_at": now, "outcome": "landed", "reason": None,
        "duplicate_of": None, "superseded_by": None,
        "row_count": files.n_rows.astype("Int64"),
        "ragged_rows": files.get("n_ragged", pd.Series(pd.NA, index=files.index)).astype("Int64"),
        "run_id": run_id, "content_ts": files.content_ts,
    })
    new["is_new"] = True
    rejected = files.rule.notna()
    new.loc[rejected, "outcome"] = "rejected"
    new.loc[rejected, "reason"] = files.loc[rejected, "rule"] + ": " + files.loc[rejected, "message"].fillna("")
    new.loc[rejected, ["row_count", "ragged_rows"]] = pd.NA
    new.loc[files.rule.isin(NOT_KEPT_RULES).to_numpy(), "stored_path"] = None
    return new


# The refusals whose file has no archive copy: refused unread (refusal_before_reading), or
# measured and refused before it was archived (take_file: too large, a zip bomb).
NOT_KEPT_RULES = ("FILE_SYMLINK", "FILE_NOT_REGULAR", "FILE_OUTSIDE_DROP_ZONE", "FILE_TOO_LARGE", "FILE_ZIP_BOMB")


def mark_duplicates(new: pd.DataFrame, known: pd.DataFrame) -> pd.DataFrame:
    """This run's rows with resends marked duplicate.

    A duplicate is the same bytes for the same return (LA, collection, component, year,
    period) that already arrived, in an earlier run or earlier in this one. Within a run,
    arrival order is the files' modification time (then path): the copy an LA sent again
    is the duplicate, however its name sorts ("x (1).xml" sorts before "x.xml"). The same
    bytes for another return are not a resend: a 903 table can be unchanged from one
    year's return to the next, and that year's return still holds those rows (bronze rows
    are keyed by bytes, return and row); header-only CSVs are identical across LAs."""
    new = new.copy()
    first_of: dict[tuple, str] = {}       # (sha, return identity) -> first arrival
    if not known.empty:
        earlier = known.assign(_dup=known.outcome.eq("duplicate")).sort_values(["_dup", "received_at", "path"])
        for _, k in earlier.iterrows():
            first_of.setdefault((k["sha256"], return_identity(k, RETURN_IDENTITY)), k["path"])
    arrivals = new.loc[new.outcome.ne("rejected")].sort_values(["source_modified_at", "path"], kind="stable").index
    for i in arrivals:
        sha, path = new.at[i, "sha256"], new.at[i, "path"]
        this = (sha, return_identity(new.loc[i], RETURN_IDENTITY))
        prior = first_of.get(this)
        if prior is not None and prior != path:
            new.at[i, "outcome"] = "duplicate"
            new.at[i, "duplicate_of"] = prior
            new.at[i, "reason"] = f"FILE_DUPLICATE: the same bytes arrived as {prior}"
        else:
            first_of.setdefault(this, path)
    return new


def superseded(row: pd.Series, latest: pd.Series) -> pd.Series:
    row = row.copy()
    row["outcome"] = "superseded"
    row["superseded_by"] = latest.sha256
    row["reason"] = f"FILE_RESUBMISSION: superseded by {latest.path}"
    return row


def supersession_changes(new: pd.DataFrame, known: pd.DataFrame, accepted: set[str] | None = None,
                         limits: dict | None = None) -> list[pd.Series]:
    """Ledger rows, of this run or earlier ones, whose outcome changes: among everything landed
    for the same return, the latest (header timestamp, then modification time, then path)
    lands and every other is superseded by it; except that a new latest file that is not a real
    return (:func:`suspect_resubmission`, ``limits``: conf/limits.yaml ``resubmission``) is held
    instead, unless its path is ``accepted``."""
    limits = resubmission_limits() if limits is None else limits
    old = known[known.outcome.isin(["landed", "superseded"])].copy() if not known.empty else known.copy()
    old["is_new"] = False
    frames = [f for f in (old.reindex(columns=new.columns), new[new.outcome == "landed"]) if not f.empty]
    live = pd.concat(frames, ignore_index=True) if frames else new.iloc[:0]
    changed = []
    for _, grp in live.groupby([live[k].astype(str) for k in RETURN_IDENTITY], sort=False):
        if len(grp) < 2:
            continue
        order = grp.assign(_ts=grp.content_ts.fillna(""), _mt=grp.source_modified_at).sort_values(["_ts", "_mt", "path"])
        order, holds = hold_suspects(order, accepted or set(), limits)
        changed += holds
        latest = order.iloc[-1]
        changed += [superseded(row, latest) for _, row in order.iloc[:-1].iterrows()
                    if row.outcome != "superseded" or row.superseded_by != latest.sha256]
        if latest.outcome != "landed":
            latest = latest.copy()
            latest["outcome"] = "landed"
            latest["superseded_by"] = None
            latest["reason"] = None
            changed.append(latest)
    return changed


# --- the resubmission guard: a later file replaces the live one only when it is a real return

HELD = "held"


def resubmission_limits() -> dict[str, float]:
    """conf/limits.yaml ``resubmission``: min_row_share, max_ragged_share."""
    conf = load_yaml("limits.yaml")["resubmission"]
    return {"min_row_share": float(conf["min_row_share"]), "max_ragged_share": float(conf["max_ragged_share"])}


def _count(v) -> int | None:
    return None if v is None or pd.isna(v) else int(v)


def suspect_resubmission(rows, live_rows, limits: dict[str, float], ragged=None) -> str | None:
    """Why a file should not replace the live file of its return (None: it may): no data rows,
    more than ``max_ragged_share`` of its records ``ragged`` (field count not its header's: a
    foreign body under a valid header), or fewer than ``min_row_share`` of the live file's rows."""
    n, live, odd = _count(rows) or 0, _count(live_rows), _count(ragged)
    if n == 0:
        return "it has no data rows"
    max_ragged = limits["max_ragged_share"]
    if odd is not None and odd > max_ragged * n:
        return (f"it has {odd:,} records of {n:,} whose field count differs from its header "
                f"(over {max_ragged:.0%})")
    min_share = limits["min_row_share"]
    if live is not None and n < min_share * live:
        return f"it has {n:,} rows against {live:,} in the file it would replace (under {min_share:.0%})"
    return None


def hold_suspects(order: pd.DataFrame, accepted: set[str],
                  limits: dict[str, float]) -> tuple[pd.DataFrame, list[pd.Series]]:
    """(the return's files without the new latest ones that are held, the held rows): while the
    latest is this run's arrival, not accepted, and a suspect resubmission against the live file
    (the return's landed file from an earlier run, else the next latest), it is held."""
    holds = []
    earlier = order[~order.is_new.astype(bool)]
    live = earlier[earlier.outcome == "landed"]
    reference = live.iloc[-1] if len(live) else (earlier.iloc[-1] if len(earlier) else None)
    while len(order) >= 2:
        latest = order.iloc[-1]
        previous = reference if reference is not None else order.iloc[-2]
        why = None if not latest.is_new or latest.path in accepted else suspect_resubmission(
            latest.row_count, previous.row_count, limits, latest.get("ragged_rows"))
        if why is None:
            break
        row = latest.copy()
        row["outcome"], row["superseded_by"] = HELD, None
        row["reason"] = (f"FILE_RESUBMISSION_HELD: {why}; {previous.path} stays live "
                         f"(cslake land --accept {latest.path} replaces it)")
        holds.append(row)
        order = order.iloc[:-1]
    return order, holds


def accept_held(lake: Lake, paths: list[str]) -> list[str]:
    """The operator's confirmation (``cslake land --accept PATH``): each held file at ``paths``
    lands and supersedes the live file(s) of its return. Returns the paths accepted."""
    known = known_files(lake)
    rows = known[known.path.isin(paths) & known.outcome.eq(HELD)] if not known.empty else known
    missing = sorted(set(paths) - set(rows.path))
    if missing:
        raise StageError(f"--accept: no held file {', '.join(missing)} in {catalog.bronze.files} "
                         f"(give the path as the ledger and the error report show it)")
    changes = []
    for _, acc in rows.iterrows():
        ident = return_identity(acc, RETURN_IDENTITY)
        live = known[known.outcome.eq("landed") & known.apply(
            lambda r: return_identity(r, RETURN_IDENTITY) == ident, axis=1)]
        acc = acc.copy()
        acc["outcome"], acc["reason"], acc["superseded_by"] = "landed", None, None
        changes += [acc] + [superseded(row, acc) for _, row in live.iterrows()]
    spec_cols = [c.name for c in table_spec(catalog.bronze.files).columns]
    lake.write_pandas(pd.DataFrame(changes).reset_index(drop=True)[spec_cols], catalog.bronze.files, mode="merge")
    log.info("land: accepted %d held file(s): %s", len(rows), ", ".join(sorted(rows.path)))
    return sorted(rows.path)


def apply_changes(new: pd.DataFrame, changed: list[pd.Series]) -> pd.DataFrame:
    """This run's rows with the changed outcomes applied, and the changed rows of earlier runs appended."""
    ledger = new.reset_index(drop=True)
    position = {k: i for i, k in enumerate(zip(ledger.sha256, ledger.path))}
    earlier_runs = []
    for row in changed:
        i = position.get((row.sha256, row.path))
        if i is None:  # an arrival from an earlier run whose outcome changes now
            earlier_runs.append(row.reindex(ledger.columns))
        else:
            for c in ("outcome", "superseded_by", "reason"):
                ledger.at[i, c] = row[c]
    if earlier_runs:
        ledger = pd.concat([ledger, pd.DataFrame(earlier_runs)], ignore_index=True)
    return ledger


def decide_outcomes(files: pd.DataFrame, known: pd.DataFrame, run_id: str, now: datetime,
                    accepted: set[str] | None = None) -> pd.DataFrame:
    """One ledger row per arrival, new and (where their outcome changes) old."""
    spec_cols = [c.name for c in table_spec(catalog.bronze.files).columns]
    new = mark_duplicates(arrival_rows(files, run_id, now), known)
    ledger = apply_changes(new, supersession_changes(new, known, accepted))
    return ledger[[c for c in spec_cols if c in ledger.columns] + ["is_new"]]


def return_identity(row, columns: list[str]) -> tuple:
    """Which return a ledger row is, comparable between this run's rows and bronze.files
    (where a year may come back as 2024.0 and a missing value as None or NaN)."""
    out = []
    for c in columns:
        v = row[c]
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            out.append(None)
        elif c == "year":
            out.append(int(v))
        else:
            out.append(str(v))
    return tuple(out)


def _write_findings(lake: Lake, findings, run_id: str, now: datetime) -> int:
    out = findings.select("sha256", "path", "la", "collection", "year", "rule", "severity", "tbl", "row",
                          F.col("col"), "value", "message",
                          F.lit(run_id).alias("run_id"), F.lit(now).cast("timestamp").alias("found_at"))
    out = out.dropDuplicates(list(table_spec(catalog.bronze.findings).keys))
    n = out.count()
    if n:
        lake.write_table(out, catalog.bronze.findings, mode="merge")
    return n
