"""A file's bytes as the parsers read them: in chunks, from the start as often as needed, never
held whole (issue 16: memory bounded by streaming, not by the file).

    src = Source.of_path("raw/203/ssda903/2024/episodes.csv")   # or Source.of_bytes(data)
    src.head(512); src.is_blank(); src.text_encoding(); src.text()

Pure Python (runs inside Spark tasks and land's parse helpers).
"""

from __future__ import annotations

import codecs
import io
import os
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

CHUNK_BYTES = 1 << 20
#: What ``bytes.strip()`` strips: a file of only these is empty.
_BLANK = b" \t\n\r\x0b\x0c"


@dataclass(frozen=True)
class TextEncoding:
    """How a text file decodes: what :func:`cslake.io.parse_csv.decode` chose for the whole file."""

    encoding: str
    bom: bool
    errors: str = "strict"
    skip: int = 0  # bytes before the text (a UTF-8 byte-order mark, removed)


class Source:
    """Bytes that can be opened again from the start: a local file or bytes in memory."""

    def __init__(self, opener: Callable[[], BinaryIO], name: str = "") -> None:
        self._opener = opener
        self.name = name
        self._encoding: TextEncoding | None = None

    @classmethod
    def of_bytes(cls, data: bytes, name: str = "") -> "Source":
        data = bytes(data)
        src = cls(lambda: io.BytesIO(data), name)
        src.data = data  # already in memory: read_all costs nothing
        return src

    @classmethod
    def of_path(cls, path: str | os.PathLike) -> "Source":
        return cls(lambda: open(path, "rb"), str(path))

    def open(self) -> BinaryIO:
        return self._opener()

    def chunks(self, size: int = CHUNK_BYTES) -> Iterator[bytes]:
        with self.open() as fh:
            while True:
                block = fh.read(size)
                if not block:
                    return
                yield block

    def head(self, n: int) -> bytes:
        with self.open() as fh:
            return fh.read(n)

    def read_all(self) -> bytes:
        """The whole file (only for formats read whole: an xlsx workbook is a zip archive)."""
        data = getattr(self, "data", None)
        if data is None:
            with self.open() as fh:
                data = fh.read()
        return data

    def is_blank(self) -> bool:
        """True when the file is empty or only white space (``not data.strip()``)."""
        return all(not block.strip(_BLANK) for block in self.chunks())

    def text_encoding(self) -> TextEncoding:
        """utf-8 (a byte-order mark removed, bad bytes replaced), utf-16 by its byte-order mark,
        else utf-8 if every byte decodes, else cp1252, else latin-1: one pass per candidate."""
        if self._encoding is None:
            head = self.head(3)
            if head.startswith(b"\xef\xbb\xbf"):
                self._encoding = TextEncoding("utf-8", True, "replace", 3)
            elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
                self._encoding = TextEncoding("utf-16", True)
            else:
                enc = next((e for e in ("utf-8", "cp1252") if self._decodes(e)), "latin-1")
                self._encoding = TextEncoding(enc, False)
        return self._encoding

    def _decodes(self, encoding: str) -> bool:
        dec = codecs.getincrementaldecoder(encoding)("strict")
        try:
            for block in self.chunks():
                dec.decode(block)
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
        return True

    def text(self) -> io.TextIOWrapper:
        """The decoded text, read as ``io.StringIO(text)`` would be (lines end at "\\n" only)."""
        enc = self.text_encoding()
        fh = self.open()
        if enc.skip:
            fh.read(enc.skip)
        return io.TextIOWrapper(fh, encoding=enc.encoding, errors=enc.errors, newline="\n")

    def head_text(self, chars: int) -> str:
        """At least the first ``chars`` characters of the text (all of it when shorter)."""
        with self.text() as fh:
            return fh.read(chars)
