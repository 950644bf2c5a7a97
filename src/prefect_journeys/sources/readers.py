"""Reading a source in batches: CSV (with line numbers), Parquet (record batches), SQL (streamed).

A reader checks what it can before the first row is read — files exist, every mapped column is
there (the error lists the missing columns and the ones that exist) — so a mapping mistake stops
the sync before anything is written. Structural errors found while reading (a line with the wrong
number of fields, bad quoting, a byte the encoding cannot decode, a database that goes away) raise
:class:`SourceError` naming the source, the file and the line.

Each batch is a pandas frame of the needed source columns only (CSV cells as text, empty cells as
missing; Parquet and SQL keep their types) with what it takes to name a row: ``file:line`` for CSV,
``file row N`` for Parquet, the row key or ``row N`` for SQL.
"""

from __future__ import annotations

import codecs
import csv
import glob
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from prefect_journeys.sources.connect import connection_error, source_engine, source_url
from prefect_journeys.sources.errors import SourceError
from prefect_journeys.sources.model import Source

_GLOB_CHARS = set("*?[")


@dataclass
class RawBatch:
    """Rows as read, positions 0..n-1, and how to name each one."""

    frame: pd.DataFrame
    file: str | None = None
    lines: Sequence[int] | None = None  # CSV: the line each row starts on
    offset: int = 0  # Parquet/SQL: rows before this batch in its file or result

    def __len__(self) -> int:
        return len(self.frame)

    def ref(self, position: int, key: str | None = None) -> str:
        if self.lines is not None:
            return f"{self.file}:{self.lines[position]}"
        if key is not None and self.file is None:
            return f"key={key}"
        where = f"{self.file} row" if self.file is not None else "row"
        return f"{where} {self.offset + position + 1}"


class Reader(Protocol):
    total: int | None  # rows to expect (an estimate for CSV), None when unknown
    filters_watermark: bool  # True when the reader itself returns only rows >= the watermark

    def batches(self, since: Any | None) -> Iterator[RawBatch]: ...

    def close(self) -> None: ...


def _missing_columns(
    source: Source, where: str, present: Sequence[str], needed: dict[str, str]
) -> SourceError:
    missing = [f"{col} (for {needed[col]})" for col in needed if col not in present]
    shown = ", ".join(present[:40]) + (", ..." if len(present) > 40 else "")
    return SourceError(
        f"source {source.id}: {where} lacks mapped column(s) {', '.join(missing)};"
        f" its columns are: {shown or 'none'}"
    )


def resolve_paths(source: Source) -> list[Path]:
    """The files a csv/parquet source reads: its path, or every match of its glob in name order."""
    pattern = str(source.path)
    root = source.root
    if _GLOB_CHARS & set(pattern):
        full = pattern if Path(pattern).is_absolute() else str(root / pattern)
        found = sorted(Path(p) for p in glob.glob(full, recursive=True) if Path(p).is_file())
        if not found:
            raise SourceError(f"source {source.id}: no file matches {pattern}")
        return found
    path = Path(pattern) if Path(pattern).is_absolute() else root / pattern
    if not path.is_file():
        raise SourceError(f"source {source.id}: no such file {pattern}")
    return [path]


def display_path(source: Source, path: Path) -> str:
    try:
        return path.resolve().relative_to(source.root.resolve()).as_posix()
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------- CSV


def _python_encoding(name: str) -> str:
    """utf-8 reads a leading byte-order mark as such (Excel writes one), not as text."""
    return "utf-8-sig" if codecs.lookup(name).name == "utf-8" else name


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
    return count


def _undecodable_line(path: Path, encoding: str) -> tuple[int, str]:
    """The first line whose bytes ``encoding`` cannot decode, and what is wrong with it."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError as exc:
                bad = raw[exc.start : exc.start + 1]
                return number, f"byte 0x{bad.hex()} at column {exc.start + 1}"
    return 0, "undecodable bytes"


class CsvReader:
    """CSV files with a header line; only the mapped columns are kept."""

    filters_watermark = False

    def __init__(self, source: Source, needed: dict[str, str]) -> None:
        self.source = source
        self.needed = needed
        self.paths = resolve_paths(source)
        self.encoding = _python_encoding(source.encoding)
        self.headers: list[list[str]] = [self._header(p) for p in self.paths]
        lines = sum(_count_lines(p) for p in self.paths)
        self.total: int | None = max(lines - len(self.paths), 0)

    def _error(self, path: Path, line: int, message: str) -> SourceError:
        return SourceError(
            f"source {self.source.id}: {display_path(self.source, path)} line {line}: {message}"
        )

    def _decode_error(self, path: Path) -> SourceError:
        line, what = _undecodable_line(path, self.encoding)
        return self._error(
            path,
            line,
            f"cannot decode {what} as {self.source.encoding}"
            " (is the file in another encoding? set 'encoding:', e.g. latin-1 or cp1252)",
        )

    def _open(self, path: Path) -> Any:
        return path.open(encoding=self.encoding, newline="")

    def _reader(self, handle: Any) -> Any:
        return csv.reader(handle, delimiter=self.source.delimiter, strict=True)

    def _header(self, path: Path) -> list[str]:
        try:
            with self._open(path) as handle:
                reader = self._reader(handle)
                header = next(reader, None)
        except UnicodeDecodeError:
            raise self._decode_error(path) from None
        except csv.Error as exc:
            raise self._error(path, 1, f"malformed header line: {exc}") from None
        name = display_path(self.source, path)
        if not header:
            raise SourceError(f"source {self.source.id}: {name} is empty (no header line)")
        header = [h.strip() for h in header]
        seen: set[str] = set()
        for column in header:
            if column in seen:
                raise self._error(path, 1, f"column {column!r} appears twice in the header")
            seen.add(column)
        if any(col not in seen for col in self.needed):
            raise _missing_columns(self.source, name, header, self.needed)
        return header

    def batches(self, since: Any | None) -> Iterator[RawBatch]:
        size = self.source.batch_size
        for path, header in zip(self.paths, self.headers, strict=True):
            name = display_path(self.source, path)
            wanted = list(self.needed)
            index = [header.index(col) for col in wanted]
            width = len(header)
            rows: list[list[str]] = []
            lines: list[int] = []
            with self._open(path) as handle:
                reader = self._reader(handle)
                last = 0
                try:
                    for record in reader:
                        start, last = last + 1, reader.line_num
                        if start == 1:
                            continue  # the header
                        if not record:
                            continue  # a blank line
                        if len(record) != width:
                            raise self._error(
                                path, start, f"expected {width} fields, found {len(record)}"
                            )
                        rows.append([record[i] for i in index])
                        lines.append(start)
                        if len(rows) >= size:
                            yield _csv_batch(rows, lines, wanted, name)
                            rows, lines = [], []
                except UnicodeDecodeError:
                    raise self._decode_error(path) from None
                except csv.Error as exc:
                    raise self._error(path, reader.line_num, f"malformed line: {exc}") from None
            if rows:
                yield _csv_batch(rows, lines, wanted, name)

    def close(self) -> None:
        pass


def _csv_batch(rows: list[list[str]], lines: list[int], columns: list[str], name: str) -> RawBatch:
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    frame = frame.where(frame != "", None)  # an empty cell is a missing value
    return RawBatch(frame, file=name, lines=lines)


# ----------------------------------------------------------------------------- Parquet


class ParquetReader:
    """Parquet files read in record batches of ``batch_size`` rows (only the mapped columns)."""

    filters_watermark = False

    def __init__(self, source: Source, needed: dict[str, str]) -> None:
        import pyarrow.parquet as pq

        self.source = source
        self.needed = needed
        self.files: list[tuple[Path, Any]] = []
        total = 0
        for path in resolve_paths(source):
            name = display_path(source, path)
            try:
                handle = pq.ParquetFile(path)
            except Exception as exc:
                raise SourceError(
                    f"source {source.id}: {name}: cannot read Parquet: {exc}"
                ) from None
            present = list(handle.schema_arrow.names)
            if any(col not in present for col in needed):
                raise _missing_columns(source, name, present, needed)
            total += handle.metadata.num_rows
            self.files.append((path, handle))
        self.total: int | None = total

    def batches(self, since: Any | None) -> Iterator[RawBatch]:
        columns = list(self.needed)
        for path, handle in self.files:
            name = display_path(self.source, path)
            offset = 0
            try:
                for batch in handle.iter_batches(
                    batch_size=self.source.batch_size, columns=columns
                ):
                    frame = batch.to_pandas(integer_object_nulls=True)
                    yield RawBatch(frame, file=name, offset=offset)
                    offset += len(frame)
            except SourceError:
                raise
            except Exception as exc:
                raise SourceError(
                    f"source {self.source.id}: {name} row {offset + 1}: cannot read Parquet: {exc}"
                ) from None

    def close(self) -> None:
        for _path, handle in self.files:
            handle.close()


# ----------------------------------------------------------------------------- SQL


class SqlReader:
    """A table or a query, streamed with a server-side cursor; a watermark becomes
    ``WHERE column >= :since ORDER BY column`` run in the source database."""

    filters_watermark = True

    def __init__(self, source: Source, needed: dict[str, str]) -> None:
        self.source = source
        self.needed = needed
        self.url: URL = source_url(source)
        self.engine: Engine = source_engine(source)
        self.total: int | None = None
        try:
            with self.engine.connect() as conn:
                present = list(
                    conn.execute(text(f"SELECT * FROM {self._relation()} WHERE 1 = 0")).keys()
                )
        except DBAPIError as exc:
            self.close()
            raise self._db_error(exc) from None
        except SQLAlchemyError as exc:
            self.close()
            raise SourceError(f"source {source.id}: {exc}") from None
        if any(col not in present for col in needed):
            self.close()
            raise _missing_columns(source, self._what(), present, needed)

    def _what(self) -> str:
        return f"table {self.source.table}" if self.source.table else "the query"

    def _quote(self, name: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(name)

    def _relation(self) -> str:
        if self.source.table:
            return ".".join(self._quote(part) for part in self.source.table.split("."))
        query = str(self.source.query).strip().rstrip(";")
        return f"({query}) AS pj_source"

    def _db_error(self, exc: DBAPIError) -> SourceError:
        if exc.connection_invalidated or _is_connect_error(exc):
            return connection_error(self.source, self.url, exc)
        detail = " ".join(str(exc.orig).split())[:300]
        return SourceError(f"source {self.source.id}: reading {self._what()} failed: {detail}")

    def batches(self, since: Any | None) -> Iterator[RawBatch]:
        columns = ", ".join(self._quote(col) for col in self.needed)
        sql = f"SELECT {columns} FROM {self._relation()}"
        params: dict[str, Any] = {}
        if self.source.watermark is not None:
            mark = self._quote(self.source.watermark.column)
            if since is not None:
                sql += f" WHERE {mark} >= :since"
                params["since"] = since
            sql += f" ORDER BY {mark}"
        offset = 0
        try:
            with self.engine.connect() as conn:
                yield from self._stream(conn, sql, params, offset)
        except DBAPIError as exc:
            raise self._db_error(exc) from None

    def _stream(
        self, conn: Connection, sql: str, params: dict[str, Any], offset: int
    ) -> Iterator[RawBatch]:
        size = self.source.batch_size
        result = conn.execution_options(stream_results=True, yield_per=size).execute(
            text(sql), params
        )
        keys = list(result.keys())
        for part in result.partitions(size):
            frame = pd.DataFrame.from_records([tuple(r) for r in part], columns=keys)
            yield RawBatch(frame, offset=offset)
            offset += len(frame)

    def close(self) -> None:
        self.engine.dispose()


def _is_connect_error(exc: DBAPIError) -> bool:
    text_ = str(exc.orig).lower()
    return any(
        word in text_
        for word in (
            "connection",
            "could not connect",
            "unable to open",
            "server closed",
            "timeout",
        )
    )


def open_reader(source: Source) -> Reader:
    """A reader for ``source`` that has checked its files or table and the mapped columns."""
    needed = source.columns_needed()
    if source.kind == "csv":
        return CsvReader(source, needed)
    if source.kind == "parquet":
        return ParquetReader(source, needed)
    return SqlReader(source, needed)


__all__ = [
    "CsvReader",
    "ParquetReader",
    "RawBatch",
    "Reader",
    "SqlReader",
    "open_reader",
    "resolve_paths",
]
