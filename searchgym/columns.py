"""Column files: named numpy arrays and string columns in one file, read without parsing.

Why: a cache hit of a 100k-entity bundle spent 24 s parsing 157k JSON lines and 16 s parsing a
30 MB world JSON, one Python object per value. A column file is a short JSON header followed by
raw little-endian arrays, so reading it is one ``read`` plus one ``numpy.frombuffer`` per column.
A column of strings is one UTF-8 blob plus *character* offsets: the blob is decoded once and
sliced, which costs a fraction of a microsecond per string. Repeated strings (a passage's
section, a fact id stated by several passages) are stored once in a table and referenced by
int32 codes, so loading also interns them: equal strings become one object with one cached hash.
A column read on demand (:class:`IndexedStrings`: a corpus's texts, its fact table) is the UTF-8
of each value ended by NUL plus the *byte* offset of each value, so one value is decoded on
access without decoding (or even scanning) the rest of the blob.

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
from typing import Any, BinaryIO, overload

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

    def add_indexed_strings(self, name: str, values: Sequence[str]) -> None:
        """A column of strings read one at a time (:meth:`ColumnReader.indexed_strings`):
        ``<name>.utf8``, each value's UTF-8 ended by NUL, and ``<name>.starts``, the byte offset
        where each value starts (plus the blob's length)."""
        encoded = [value.encode("utf-8") + b"\0" for value in values]
        starts = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=starts[1:])
        self.add_array(f"{name}.utf8", np.frombuffer(b"".join(encoded), dtype=np.uint8), "u1")
        self.add_array(f"{name}.starts", starts, "i8")

    def add_coded(self, name: str, values: Sequence[str | None], *, indexed: bool = False) -> None:
        """A column of repeated (or missing) strings: a table of distinct values, in order of
        first appearance, and one int32 code per row (``-1`` for None); ``indexed``: the table
        is an indexed string column (a large table read on demand)."""
        table: dict[str, int] = {}
        codes = [-1 if value is None else table.setdefault(value, len(table)) for value in values]
        (self.add_indexed_strings if indexed else self.add_strings)(f"{name}.table", list(table))
        self.add_array(f"{name}.codes", codes, "i4")

    def add_lists(self, name: str, rows: Sequence[Sequence[str]], *, indexed: bool = False) -> None:
        """A column of string tuples: ``<name>.bounds`` (CSR row offsets) over coded items."""
        bounds = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows)), out=bounds[1:])
        self.add_array(f"{name}.bounds", bounds, "i8")
        self.add_coded(f"{name}.items", [item for row in rows for item in row], indexed=indexed)

    def write(self, path: Path, meta: dict[str, Any]) -> None:
        columns: list[dict[str, Any]] = []
        offsets: list[int] = []
        position = 0
        for name, array in self.arrays.items():
            position += _padding(position)
            columns.append({"name": name, "dtype": array.dtype.str, "shape": list(array.shape), "offset": position})
            offsets.append(position)
            position += array.nbytes
        header = json.dumps(
            {"meta": meta, "columns": columns, "data_bytes": position},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")

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
        header_length = int.from_bytes(data[len(MAGIC) : prefix], "little")
        if prefix + header_length > len(data):
            raise ColumnFileError(f"{self.path} is truncated inside its header")
        try:
            header = json.loads(data[prefix : prefix + header_length])
            self.meta: dict[str, Any] = header["meta"]
            columns = header["columns"]
            data_bytes = int(header["data_bytes"])
        except (ValueError, KeyError, TypeError) as error:
            raise ColumnFileError(f"{self.path} has a corrupted header ({error})") from None
        start = prefix + header_length
        start += _padding(start)
        if start + data_bytes != len(data):
            raise ColumnFileError(
                f"{self.path} holds {len(data) - start} data bytes, its header says "
                f"{data_bytes}: truncated or corrupted"
            )
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

    def array(self, name: str, length: int | None = None, *, dtype: str = "integer") -> np.ndarray:
        """Column ``name``, checked to have ``length`` rows and to be of ``dtype``: ``"integer"``
        (any int; offsets, codes, rows), ``"bytes"`` (``u1``: UTF-8 blobs) or a numpy dtype
        string. Why: the header states each column's dtype, and a header corrupted there (a
        float where offsets were) would otherwise load and fail later, far from the file, with a
        ``TypeError`` instead of a :class:`ColumnFileError` that names the file."""
        try:
            array = self.arrays[name]
        except KeyError:
            raise ColumnFileError(f"{self.path} has no column {name!r}") from None
        if dtype == "integer":
            fits = array.dtype.kind in "iu"
        else:
            fits = array.dtype == np.dtype("u1" if dtype == "bytes" else dtype).newbyteorder("<")
        if not fits or array.ndim != 1:
            raise ColumnFileError(
                f"column {name!r} of {self.path} is {array.dtype.str} of shape {list(array.shape)}, "
                f"expected a 1-d {dtype} column"
            )
        if length is not None and len(array) != length:
            raise ColumnFileError(f"column {name!r} of {self.path} has {len(array)} rows, expected {length}")
        return array

    def _bounds(self, name: str, length: int | None, total: int) -> np.ndarray:
        bounds = self.array(name, None if length is None else length + 1)
        if len(bounds) == 0 or bounds[0] != 0 or bounds[-1] != total or np.any(bounds[1:] < bounds[:-1]):
            raise ColumnFileError(f"column {name!r} of {self.path} has inconsistent offsets")
        return bounds

    def _text(self, name: str) -> str:
        try:
            return self.array(name, dtype="bytes").tobytes().decode("utf-8")
        except UnicodeDecodeError as error:
            raise ColumnFileError(f"column {name!r} of {self.path} is not valid UTF-8 ({error})") from None

    def strings(self, name: str, length: int | None = None) -> list[str]:
        if f"{name}.joined" in self.arrays:
            text = self._text(f"{name}.joined")
            values = text.split("\0") if text else [""]
            if values.pop() != "" or (length is not None and len(values) != length):
                raise ColumnFileError(
                    f"column {name!r} of {self.path} has {len(values)} rows, not {length}, or an unterminated last row"
                )
            return values
        text = self._text(f"{name}.blob")
        offsets = self._bounds(f"{name}.offsets", length, len(text))
        return [text[low:high] for low, high in pairwise(offsets.tolist())]

    def indexed_strings(self, name: str, length: int | None = None) -> IndexedStrings:
        """A column written by :meth:`ColumnWriter.add_indexed_strings`, decoded on access.
        Its offsets and terminators are checked here; a value that is not valid UTF-8 (a
        corruption that kept the file's size and mtime) raises :class:`ColumnFileError` when read."""
        blob = self.array(f"{name}.utf8", dtype="bytes")
        starts = self.array(f"{name}.starts", None if length is None else length + 1)
        if (
            len(starts) == 0
            or starts[0] != 0
            or starts[-1] != len(blob)
            or np.any(starts[1:] <= starts[:-1])
            or (len(blob) and np.any(blob[starts[1:] - 1] != 0))
        ):
            raise ColumnFileError(f"column {name!r} of {self.path} has inconsistent offsets")
        return IndexedStrings(blob, starts, f"column {name!r} of {self.path}")

    def packed_strings(self, name: str, length: int | None = None) -> Sequence[str]:
        """A column written by :meth:`ColumnWriter.add_strings`, kept packed and decoded on
        access (an :class:`IndexedStrings` over its NUL-ended UTF-8): a list of a million
        entity names costs ~60 B per name in string objects, the packed column its bytes plus
        one offset. Checked to be valid UTF-8 here. A column whose values hold a NUL (written
        with character offsets) is returned as a list."""
        if f"{name}.joined" not in self.arrays:
            return self.strings(name, length)
        blob = self.array(f"{name}.joined", dtype="bytes")
        self._text(f"{name}.joined")  # one decode, thrown away: corrupt bytes fail the load, not a look-up
        ends = np.flatnonzero(blob == 0)
        starts = np.zeros(len(ends) + 1, dtype=np.int64)
        starts[1:] = ends + 1
        if (len(blob) and blob[-1] != 0) or (length is not None and len(starts) - 1 != length):
            raise ColumnFileError(
                f"column {name!r} of {self.path} has {len(starts) - 1} rows, not {length}, or an unterminated last row"
            )
        return IndexedStrings(blob, starts, f"column {name!r} of {self.path}")

    def codes(
        self, name: str, length: int | None = None, *, indexed: bool = False, packed: bool = False
    ) -> tuple[Sequence[str], np.ndarray]:
        """The table and codes of a coded column (see :meth:`ColumnWriter.add_coded`), checked;
        ``indexed``: the table was written indexed and is an :class:`IndexedStrings`;
        ``packed``: the table is read with :meth:`packed_strings`."""
        table: Sequence[str]
        if indexed:
            table = self.indexed_strings(f"{name}.table")
        else:
            table = self.packed_strings(f"{name}.table") if packed else self.strings(f"{name}.table")
        codes = self.array(f"{name}.codes", length)
        if len(codes) and (int(codes.min()) < -1 or int(codes.max()) >= len(table)):
            raise ColumnFileError(f"column {name!r} of {self.path} has codes outside its table")
        return table, codes

    def coded(self, name: str, length: int | None = None) -> list[str | None]:
        table, codes = self.codes(name, length)
        assert isinstance(table, list)
        lookup: list[str | None] = [*table, None]  # code -1 reads the last entry: None
        return list(map(lookup.__getitem__, codes.tolist()))

    def lists(self, name: str, length: int | None = None) -> list[tuple[str, ...]]:
        return self.lists_and_codes(name, length)[0]

    def lists_and_codes(
        self, name: str, length: int | None = None
    ) -> tuple[list[tuple[str, ...]], list[str], np.ndarray, np.ndarray]:
        """A list column's rows, plus its item table, item codes and row bounds (for callers
        that index the items in bulk, like a corpus's fact index)."""
        table, codes, bounds = self.list_codes(name, length)
        items = list(map(table.__getitem__, codes.tolist()))
        rows = [tuple(items[low:high]) for low, high in pairwise(bounds.tolist())]
        return rows, list(table), codes, bounds

    def list_codes(
        self, name: str, length: int | None = None, *, indexed: bool = False, packed: bool = False
    ) -> tuple[Sequence[str], np.ndarray, np.ndarray]:
        """A list column's item table, item codes and row bounds, checked but not decoded
        into rows (for readers that make a row on demand)."""
        table, codes = self.codes(f"{name}.items", indexed=indexed, packed=packed)
        if len(codes) and int(codes.min()) < 0:
            raise ColumnFileError(f"column {name!r} of {self.path} has a missing list item")
        self._bounds(f"{name}.bounds", length, len(codes))
        return table, codes, self.array(f"{name}.bounds")


class IndexedStrings(Sequence[str]):
    """A read-only sequence of strings decoded one at a time from a UTF-8 blob.

    Why: a 157k-passage corpus's texts are 86 MB; decoding and splitting all of them was a
    third of a cache hit, while an env reads the few passages its searches return. Holds a
    numpy view of the blob (so it pickles as just that blob) and int64 offsets (8 B a value;
    a list of Python ints was ~40).
    """

    __slots__ = ("_blob", "_starts", "_where")

    def __init__(self, blob: np.ndarray, starts: np.ndarray, where: str) -> None:
        self._blob, self._starts, self._where = blob, starts, where

    def __len__(self) -> int:
        return len(self._starts) - 1

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        starts = self._starts
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("string index out of range")
        try:
            return self._blob[starts[index] : starts[index + 1] - 1].tobytes().decode("utf-8")
        except UnicodeDecodeError as error:
            raise ColumnFileError(f"{self._where} is not valid UTF-8 ({error})") from None

    def all(self) -> list[str]:
        """Every value, decoded in one pass (what building a whole-corpus index wants)."""
        return self.span(0, len(self))

    def span(self, low: int, high: int) -> list[str]:
        """Values ``low:high`` (within bounds), decoded in one pass."""
        if high <= low:
            return []
        try:
            values = self._blob[self._starts[low] : self._starts[high]].tobytes().decode("utf-8").split("\0")
        except UnicodeDecodeError as error:
            raise ColumnFileError(f"{self._where} is not valid UTF-8 ({error})") from None
        if len(values) == high - low + 1:  # no value holds a NUL itself: the split is exact
            values.pop()
            return values
        return [self[i] for i in range(low, high)]


def string_span(strings: Sequence[str], low: int, high: int) -> list[str]:
    """Values ``low:high`` of a string column as read (a list, or an :class:`IndexedStrings`
    decoded in one pass)."""
    return strings.span(low, high) if isinstance(strings, IndexedStrings) else list(strings[low:high])
