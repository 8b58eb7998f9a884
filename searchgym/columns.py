"""Column files: named numpy arrays and string columns in one file, read without parsing.

Why: a cache hit of a 100k-entity bundle spent 24 s parsing 157k JSON lines and 16 s parsing a
30 MB world JSON, one Python object per value. A column file is a short JSON header followed by
raw little-endian arrays, so reading it is one ``read`` plus one ``numpy.frombuffer`` per column.
A column of strings is one UTF-8 blob plus *character* offsets: the blob is decoded once and
sliced, which costs a fraction of a microsecond per string. Repeated strings (a passage's
section, a fact id stated by several passages) are stored once in a table and referenced by
int32 codes, so loading also interns them: equal strings become one object with one cached hash.

Layout: ``MAGIC``, the header length (uint64, little-endian), the header (UTF-8 JSON: ``meta``
and, per column, its dtype, shape and offset), then each column's bytes at a 64-byte-aligned
offset. Anything that does not add up (wrong magic, a header that does not parse, a column past
the end of the file, offsets that run backwards, a code outside its table) raises
:class:`ColumnFileError`, so a truncated or corrupted file is rebuilt rather than half-read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from searchgym.cache import atomic_write_with

MAGIC = b"SGCOLS01"
_ALIGN = 64
_HEADER_LENGTH_BYTES = 8


class ColumnFileError(ValueError):
    """A column file is truncated, corrupted, or not the layout its reader expects."""


def _padding(position: int) -> int:
    return -position % _ALIGN


class ColumnWriter:
    """Collects named columns in memory, then writes them as one column file (atomically)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def add_array(self, name: str, values: Any, dtype: str) -> None:
        if name in self.arrays:
            raise ValueError(f"column {name!r} added twice")
        self.arrays[name] = np.ascontiguousarray(np.asarray(values, dtype=np.dtype(dtype).newbyteorder("<")))

    def add_strings(self, name: str, values: Sequence[str]) -> None:
        """A column of strings: ``<name>.joined``, the UTF-8 of the values each ended by NUL (cut
        again by ``str.split`` at C speed), or, when a value holds a NUL itself, ``<name>.blob``
        and ``<name>.offsets`` (character offsets)."""
        if not any("\0" in value for value in values):
            joined = "\0".join(values) + "\0" if values else ""
            self.add_array(f"{name}.joined", np.frombuffer(joined.encode("utf-8"), dtype=np.uint8), "u1")
            return
        lengths = np.fromiter((len(value) for value in values), dtype=np.int64, count=len(values))
        offsets = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        self.add_array(f"{name}.blob", np.frombuffer("".join(values).encode("utf-8"), dtype=np.uint8), "u1")
        self.add_array(f"{name}.offsets", offsets, "i8")

    def add_coded(self, name: str, values: Sequence[str | None]) -> None:
        """A column of repeated (or missing) strings: a table of distinct values, in order of
        first appearance, and one int32 code per row (``-1`` for None)."""
        table: dict[str, int] = {}
        codes = [-1 if value is None else table.setdefault(value, len(table)) for value in values]
        self.add_strings(f"{name}.table", list(table))
        self.add_array(f"{name}.codes", codes, "i4")

    def add_lists(self, name: str, rows: Sequence[Sequence[str]]) -> None:
        """A column of string tuples: ``<name>.bounds`` (CSR row offsets) over coded items."""
        bounds = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows)), out=bounds[1:])
        self.add_array(f"{name}.bounds", bounds, "i8")
        self.add_coded(f"{name}.items", [item for row in rows for item in row])

    def write(self, path: Path, meta: dict[str, Any]) -> None:
        columns: list[dict[str, Any]] = []
        offsets: list[int] = []
        position = 0
        for name, array in self.arrays.items():
            position += _padding(position)
            columns.append({"name": name, "dtype": array.dtype.str, "shape": list(array.shape), "offset": position})
            offsets.append(position)
            position += array.nbytes
        header = json.dumps({"meta": meta, "columns": columns, "data_bytes": position},
                            sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

        def write(handle: BinaryIO) -> None:
            handle.write(MAGIC + len(header).to_bytes(_HEADER_LENGTH_BYTES, "little") + header)
            start = len(MAGIC) + _HEADER_LENGTH_BYTES + len(header)
            handle.write(b"\0" * _padding(start))
            written = 0
            for offset, array in zip(offsets, self.arrays.values()):
                handle.write(b"\0" * (offset - written))
                handle.write(array.data)
                written = offset + array.nbytes

        atomic_write_with(path, write)


class ColumnReader:
    """The columns of one file, as read-only numpy views of its bytes (nothing is parsed)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        data = self.path.read_bytes()
        prefix = len(MAGIC) + _HEADER_LENGTH_BYTES
        if len(data) < prefix or data[: len(MAGIC)] != MAGIC:
            raise ColumnFileError(f"{self.path} is not a searchgym column file (bad magic or truncated)")
        header_length = int.from_bytes(data[len(MAGIC):prefix], "little")
        if prefix + header_length > len(data):
            raise ColumnFileError(f"{self.path} is truncated inside its header")
        try:
            header = json.loads(data[prefix:prefix + header_length])
            self.meta: dict[str, Any] = header["meta"]
            columns = header["columns"]
            data_bytes = int(header["data_bytes"])
        except (ValueError, KeyError, TypeError) as error:
            raise ColumnFileError(f"{self.path} has a corrupted header ({error})") from None
        start = prefix + header_length
        start += _padding(start)
        if start + data_bytes != len(data):
            raise ColumnFileError(f"{self.path} holds {len(data) - start} data bytes, its header says "
                                  f"{data_bytes}: truncated or corrupted")
        self.arrays: dict[str, np.ndarray] = {}
        for column in columns:
            try:
                dtype, shape = np.dtype(column["dtype"]), tuple(int(n) for n in column["shape"])
                count, offset = int(np.prod(shape, dtype=np.int64)), start + int(column["offset"])
                if offset + count * dtype.itemsize > len(data):
                    raise ColumnFileError(f"column {column['name']!r} of {self.path} runs past the end of the file")
                self.arrays[column["name"]] = np.frombuffer(data, dtype, count, offset).reshape(shape)
            except (ValueError, KeyError, TypeError) as error:
                if isinstance(error, ColumnFileError):
                    raise
                raise ColumnFileError(f"{self.path} has a corrupted column entry ({error})") from None

    def expect(self, kind: str, version: int) -> dict[str, Any]:
        """The header's meta, checked to be of file ``kind`` and layout ``version``."""
        if self.meta.get("kind") != kind or self.meta.get("version") != version:
            raise ColumnFileError(f"{self.path} is not a version-{version} {kind} column file")
        return self.meta

    def array(self, name: str, length: int | None = None) -> np.ndarray:
        try:
            array = self.arrays[name]
        except KeyError:
            raise ColumnFileError(f"{self.path} has no column {name!r}") from None
        if length is not None and len(array) != length:
            raise ColumnFileError(f"column {name!r} of {self.path} has {len(array)} rows, expected {length}")
        return array

    def _bounds(self, name: str, length: int | None, total: int) -> list[int]:
        bounds = self.array(name, None if length is None else length + 1)
        if len(bounds) == 0 or bounds[0] != 0 or bounds[-1] != total or np.any(bounds[1:] < bounds[:-1]):
            raise ColumnFileError(f"column {name!r} of {self.path} has inconsistent offsets")
        return bounds.tolist()

    def _text(self, name: str) -> str:
        try:
            return self.array(name).tobytes().decode("utf-8")
        except UnicodeDecodeError as error:
            raise ColumnFileError(f"column {name!r} of {self.path} is not valid UTF-8 ({error})") from None

    def strings(self, name: str, length: int | None = None) -> list[str]:
        if f"{name}.joined" in self.arrays:
            text = self._text(f"{name}.joined")
            values = text.split("\0") if text else [""]
            if values.pop() != "" or (length is not None and len(values) != length):
                raise ColumnFileError(f"column {name!r} of {self.path} has {len(values)} rows, not {length}, "
                                      "or an unterminated last row")
            return values
        text = self._text(f"{name}.blob")
        offsets = self._bounds(f"{name}.offsets", length, len(text))
        return [text[low:high] for low, high in pairwise(offsets)]

    def codes(self, name: str, length: int | None = None) -> tuple[list[str], np.ndarray]:
        """The table and codes of a coded column (see :meth:`ColumnWriter.add_coded`), checked."""
        table = self.strings(f"{name}.table")
        codes = self.array(f"{name}.codes", length)
        if len(codes) and (int(codes.min()) < -1 or int(codes.max()) >= len(table)):
            raise ColumnFileError(f"column {name!r} of {self.path} has codes outside its table")
        return table, codes

    def coded(self, name: str, length: int | None = None) -> list[str | None]:
        table, codes = self.codes(name, length)
        lookup: list[str | None] = [*table, None]  # code -1 reads the last entry: None
        return list(map(lookup.__getitem__, codes.tolist()))

    def lists(self, name: str, length: int | None = None) -> list[tuple[str, ...]]:
        return self.lists_and_codes(name, length)[0]

    def lists_and_codes(self, name: str, length: int | None = None
                        ) -> tuple[list[tuple[str, ...]], list[str], np.ndarray, np.ndarray]:
        """A list column's rows, plus its item table, item codes and row bounds (for callers
        that index the items in bulk, like a corpus's fact index)."""
        table, codes = self.codes(f"{name}.items")
        if len(codes) and int(codes.min()) < 0:
            raise ColumnFileError(f"column {name!r} of {self.path} has a missing list item")
        items = list(map(table.__getitem__, codes.tolist()))
        bounds = self._bounds(f"{name}.bounds", length, len(items))
        rows = [tuple(items[low:high]) for low, high in pairwise(bounds)]
        return rows, table, codes, self.array(f"{name}.bounds")
