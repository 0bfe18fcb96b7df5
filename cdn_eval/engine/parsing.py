"""Access logs -> three columns (paths, sizes, timestamps in ms).

Accepted: a JSON array of records (or {"accessHistory": [...]}) , NDJSON, CSV with a header naming
`timestamp`, `path`, `size` (any order), each optionally gzip-compressed. A record is
{"timestamp": ms since epoch or ISO 8601, "path": non-empty string, "size": bytes >= 0}.

Fast path: decode everything at once (orjson, csv) and convert columns with numpy; only when that
fails does a per-record pass run, to name the first bad record (1-based line, or index for a JSON
array) or, with skip_invalid, to drop bad records and count them.
"""

import csv
import gc
import gzip
import io
import math
import operator
import zlib
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import orjson

from . import kernels, memory
from .errors import EngineError, TooLarge
from .paths import PathStore, as_array

FIELDS = ("timestamp", "path", "size")


CHUNK_BYTES = 2 << 20  # pieces of about this size keep orjson's working buffer (~12x its input) small


@dataclass
class Columns:
    paths: list | None  # one path per record, or None when path_ids/names are given
    sizes: np.ndarray  # int64
    timestamps: np.ndarray  # int64, ms since epoch
    skipped: int = 0
    first_error: dict | None = None  # with skip_invalid: the first dropped record's error
    path_ids: np.ndarray | None = None  # int64 index into names (chunked parsing)
    names: Sequence | None = None  # paths.PathArray from the parser

    def __len__(self):
        return int(self.sizes.shape[0])

    def release(self):
        """Drop the per-record data (after the trace is built); skipped and first_error stay."""
        self.paths = self.sizes = self.timestamps = self.path_ids = self.names = None
        memory.release()


def _chunks(data, start=0):
    """(piece, number of its first line) for data[start:] cut after newlines."""
    line = 1 + data.count(b"\n", 0, start)
    end_of_data = len(data)
    while start < end_of_data:
        end = data.find(b"\n", start + CHUNK_BYTES)
        end = end_of_data if end < 0 else end + 1
        piece = data[start:end]
        yield piece, line
        line += piece.count(b"\n")
        start = end


def _stream_chunks(buffer, read, line=1):
    """The same pieces as _chunks, from a stream: `buffer` holds what was already read, read(n) gives up
    to n more bytes (b"" at the end). Only one piece is held at a time."""
    at_end = False
    while True:
        while len(buffer) <= CHUNK_BYTES and not at_end:
            more = read(CHUNK_BYTES + 1 - len(buffer))
            at_end = not more
            buffer += more
        end = buffer.find(b"\n", CHUNK_BYTES)
        while end < 0 and not at_end:
            searched = len(buffer)
            more = read(1 << 16)
            at_end = not more
            buffer += more
            end = buffer.find(b"\n", searched)
        end = len(buffer) if end < 0 else end + 1
        if end == 0:
            return
        piece, buffer = buffer[:end], buffer[end:]
        yield piece, line
        line += piece.count(b"\n")


DIGEST_WIDTH = 256  # code points hashed per path (longer paths share digests only by prefix: verified)


def _digests(table):
    """64-bit FNV-1a digests of each row's code points (table: fixed-width unicode array): (over the
    whole width, NUL padding included: this orders a piece's paths, as it always has, and so the ids;
    without the padding: the same path has the same digest in every piece, for the table of all pieces)."""
    width = table.dtype.itemsize // 4
    return kernels.fnv_digests(np.ascontiguousarray(table).view(np.uint32).reshape(table.shape[0], width))


def _intern(paths):
    """(id per path, unique paths as an array (paths.as_array), their digests) for one piece, vectorized:
    a 64-bit hash of each path's code points, grouped by np.unique and then verified exactly (on a
    collision, or very long paths, a dict does it)."""
    if not paths:
        return np.zeros(0, np.int64), as_array([]), np.zeros(0, np.uint64)
    width = max(map(len, paths))
    # numpy's fixed-width strings drop trailing NULs, so paths holding one go the dict way
    if width <= DIGEST_WIDTH and "\x00" not in "".join(paths):
        table = np.array(paths, dtype=f"<U{width}")
        digest, same_in_every_piece = _digests(table)
        _, first, inverse = np.unique(digest, return_index=True, return_inverse=True)
        if (table == table[first[inverse]]).all():
            return inverse.astype(np.int64).ravel(), as_array(table[first]), same_in_every_piece[first]
    index = dict.fromkeys(paths)
    for number, path in enumerate(index):
        index[path] = number
    uniques = list(index)
    # digests of the (truncated) paths only find candidates; _Interner compares the strings themselves
    digest = _digests(np.array([path[:DIGEST_WIDTH] for path in uniques]))[1]
    return np.fromiter(map(index.__getitem__, paths), np.int64, len(paths)), as_array(uniques), digest


class _Interner:
    """Paths of every piece -> one dense id space (ids in order of first appearance, piece by piece).

    A compiled open-addressing table maps a path's digest to the id of the first path seen with it;
    every hit is then checked against that path itself (one vectorized comparison per piece), so two
    different paths never share an id (a path whose digest belongs to another one gets its own id
    through an exact dict). The paths are kept in a PathStore, not as one str each."""

    def __init__(self):
        self.store = PathStore()
        self.keys = np.zeros(1 << 16, np.uint64)
        self.values = np.full(1 << 16, -1, np.int64)
        self.collided = {}

    def add(self, uniques, digests):
        """Global ids of one piece's unique paths (an array from paths.as_array)."""
        needed = 2 * (len(self.store) + len(uniques))
        if needed > self.keys.shape[0]:
            size = self.keys.shape[0]
            while size < needed:
                size *= 2
            keys, values = np.zeros(size, np.uint64), np.full(size, -1, np.int64)
            kernels.digest_table_grow(self.keys, self.values, keys, values)
            self.keys, self.values = keys, values
        uniques = self.store.fit(uniques)
        base = len(self.store)
        ids, is_new = kernels.digest_table_put(self.keys, self.values, digests, base)
        if is_new.all():
            self.store.extend(uniques)
            return ids
        # A digest already in the table points at a stored path (id < base) or at one of this piece's
        # new paths (base + its rank among them); either way the path itself must be the same.
        seen = np.flatnonzero(~is_new)
        targets = ids[seen]
        earlier = targets < base
        same = np.empty(len(seen), np.bool_)
        same[earlier] = self.store.get(targets[earlier]) == uniques[seen[earlier]]
        same[~earlier] = uniques[is_new][targets[~earlier] - base] == uniques[seen[~earlier]]
        differs = seen[~same]
        if not len(differs):
            self.store.extend(uniques[is_new])
            return ids
        # Same digest, different path: its own id, from the exact dict if it was met before, else a new one.
        # New ids follow the order of the piece's paths (as if no digest were shared), so ids do not
        # depend on the digests: later stages (sampling, W-TinyLFU's sketch, ties) see the same ids.
        new = is_new.copy()
        for k in differs.tolist():
            number = self.collided.get(_text(uniques[k]))
            if number is None:
                new[k] = True
            else:
                ids[k] = number
        order = np.flatnonzero(new)
        final = base + np.flatnonzero(is_new[order])  # final id of the r-th path the table took as new
        in_piece = self.values >= base
        self.values[in_piece] = final[self.values[in_piece] - base]
        ids[order] = base + np.arange(len(order))
        for k in np.flatnonzero(new & ~is_new).tolist():
            self.collided[_text(uniques[k])] = int(ids[k])
        self.store.extend(uniques[order])
        return ids


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _merge(parts):
    """Concatenate per-chunk columns as they are produced, interning paths into ids so that no
    per-record strings outlive their piece."""
    interner = _Interner()
    ids, sizes, stamps, errors = [], [], [], []
    skipped = 0
    for part in parts:
        if part is None:
            continue
        local_ids, uniques, digests = _intern(part.paths)
        if len(uniques):
            ids.append(interner.add(uniques, digests)[local_ids])
        else:
            ids.append(local_ids)
        sizes.append(part.sizes)
        stamps.append(part.timestamps)
        skipped += part.skipped
        if part.first_error:
            errors.append(part.first_error)
    if not ids:
        return None
    names = interner.store.finish()
    del interner  # its table and the store's spare room
    return Columns(
        paths=None,
        sizes=_concatenate(sizes),
        timestamps=_concatenate(stamps),
        skipped=skipped,
        first_error=min(errors, key=lambda e: e["line"]) if errors else None,
        path_ids=_concatenate(ids),
        names=names,
    )


def _concatenate(parts):
    """One array from a list of pieces, emptying the list (one column's pieces and whole at a time)."""
    whole = np.concatenate(parts)
    parts.clear()
    return whole


def _decompress(data, max_bytes):
    if data[:2] != b"\x1f\x8b":
        return data
    # Bounded inflate so a small gzip bomb cannot exhaust memory.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise EngineError("invalid_gzip", f"The upload looks gzip-compressed but cannot be read: {exc}.") from exc
    if len(out) > max_bytes:
        raise TooLarge(f"The log is larger than {max_bytes} bytes once decompressed.", max_bytes)
    if not inflater.eof or inflater.unused_data:
        # concatenated gzip members (or a truncated one): the stdlib reader reads them all, still bounded
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
                out = handle.read(max_bytes + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise EngineError("invalid_gzip", f"The upload looks gzip-compressed but cannot be read: {exc}.") from exc
        if len(out) > max_bytes:
            raise TooLarge(f"The log is larger than {max_bytes} bytes once decompressed.", max_bytes)
    return out


@contextmanager
def _without_cyclic_gc():
    """Parsing allocates millions of short-lived dicts and strings and creates no reference cycles;
    left on, the cyclic collector walks every surviving container again and again (at 10M lines it
    cost about a third of the parse). Turned back on afterwards if it was on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_bytes(data, skip_invalid=False, max_bytes=1 << 32):
    """Parse an uploaded log of any accepted format."""
    with _without_cyclic_gc():
        columns = _parse_bytes(data, skip_invalid, max_bytes)
    memory.release()
    return columns


def _parse_bytes(data, skip_invalid, max_bytes):
    return _parse_text(_decompress(bytes(data), max_bytes), skip_invalid)


def parse_file(path, skip_invalid=False, max_bytes=1 << 32):
    """Parse a log file without holding all of it: NDJSON and CSV are read piece by piece (gzip is
    inflated as it is read, at most max_bytes), so only one piece of text is in memory at a time.
    JSON arrays and documents are read whole, as parse_bytes does. Same columns as parse_bytes on the
    file's contents, and the same errors except their order: the first met while reading wins, so a
    malformed record before a gzip or size error is the one reported (parse_bytes inflates first).
    Pipes and process substitution work: nothing seeks."""
    with _without_cyclic_gc(), open(path, "rb") as handle:
        gzipped = handle.peek(2)[:2] == b"\x1f\x8b"
        columns = _parse_stream(_Inflated(handle, max_bytes).read if gzipped else handle.read, skip_invalid)
    memory.release()
    return columns


class _Inflated:
    """A gzip file's text, bounded to max_bytes; unreadable gzip is the uploader's error."""

    def __init__(self, handle, max_bytes):
        self.reader = gzip.GzipFile(fileobj=handle)
        self.max_bytes = max_bytes
        self.total = 0

    def read(self, size):
        try:
            out = self.reader.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise EngineError("invalid_gzip", f"The upload looks gzip-compressed but cannot be read: {exc}.") from exc
        self.total += len(out)
        if self.total > self.max_bytes:
            raise TooLarge(f"The log is larger than {self.max_bytes} bytes once decompressed.", self.max_bytes)
        return out


def _read_all(buffer, read):
    parts = [buffer]
    while more := read(1 << 24):
        parts.append(more)
    return b"".join(parts)


def _parse_stream(read, skip_invalid):
    first = read(CHUNK_BYTES + 1)
    head = first.lstrip()[:1]
    while not head and first:  # leading whitespace: look further
        more = read(CHUNK_BYTES)
        if not more:
            break
        first += more
        head = first.lstrip()[:1]
    if head == b"{" and _first_line_is_a_record(first):
        return _nonempty(_merge(parse_ndjson(piece, skip_invalid, line) for piece, line in _stream_chunks(first, read)))
    if head and head not in b"[{":
        if first.startswith(b"\xef\xbb\xbf"):
            first = first[3:]
        while b"\n" not in first:
            more = read(1 << 16)
            if not more:
                break
            first += more
        header_end = first.find(b"\n")
        header_end = len(first) if header_end < 0 else header_end + 1
        return _parse_csv_stream(first[:header_end], _stream_chunks(first[header_end:], read, 2), skip_invalid)
    # a JSON array or document, or anything unusual: as parse_bytes would, on the whole text
    return _parse_text(_read_all(first, read), skip_invalid)


def _first_line_is_a_record(first):
    """NDJSON by _json_document's rule: the first line (complete within `first`) is a whole object."""
    stripped = first.strip()
    newline = stripped.find(b"\n")
    if newline < 0:
        return False
    try:
        return isinstance(orjson.loads(stripped[:newline]), dict)
    except orjson.JSONDecodeError:
        return False


def _parse_text(data, skip_invalid):
    head = data.lstrip()[:1]
    if head == b"[":
        try:
            records = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise EngineError("invalid_json", f"The log is not valid JSON: {exc}.", field="body") from exc
        return parse_records(records, skip_invalid=skip_invalid)
    if head == b"{":
        doc = _json_document(data)
        if doc is not None:
            records = doc["accessHistory"]
            if not isinstance(records, list):
                raise EngineError("invalid_field", "accessHistory must be a list of records.", field="accessHistory")
            return parse_records(records, skip_invalid=skip_invalid)
        return _nonempty(_merge(parse_ndjson(piece, skip_invalid, first_line) for piece, first_line in _chunks(data)))
    if not head:
        raise EngineError("empty_log", "The access log is empty: send at least one record.")
    return parse_csv(data, skip_invalid=skip_invalid)


def _json_document(data):
    """The body as one {"accessHistory": [...], ...} document, or None when it is NDJSON.

    Both start with `{`. NDJSON's first line is a whole record; a JSON document's first line is a whole
    value only when the document is on one line (then it must hold accessHistory), otherwise the first
    line is an unfinished object (pretty-printed, or with options or other keys first)."""
    stripped = data.strip()
    newline = stripped.find(b"\n")
    first = stripped if newline < 0 else stripped[:newline]
    try:
        first_value = orjson.loads(first)
    except orjson.JSONDecodeError:
        first_value = None
    if isinstance(first_value, dict):
        return first_value if newline < 0 and "accessHistory" in first_value else None
    if newline < 0:
        return None  # one line, not valid JSON: the NDJSON pass names the bad line
    try:
        doc = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return None  # neither a document nor clean NDJSON: the NDJSON pass names the first bad line
    if not isinstance(doc, dict):
        return None
    if "accessHistory" not in doc:
        raise EngineError(
            "missing_field", "accessHistory is required: a list of {timestamp, path, size}.", field="accessHistory"
        )
    return doc


def parse_ndjson(data, skip_invalid=False, first_line=1):
    """One piece of NDJSON; None if it holds only blank lines."""
    body = data.strip()
    if not body:
        return None
    try:
        # Fast path: newline-separated objects are a JSON array once the newlines become commas.
        records = orjson.loads(b"[" + body.replace(b"\n", b",") + b"]")
        if len(records) == body.count(b"\n") + 1 and set(map(type, records)) == {dict}:
            return parse_records(records, skip_invalid, None, "Line", first_line=first_line + _leading_lines(data))
    except orjson.JSONDecodeError:
        pass
    raw_lines = data.split(b"\n")
    line_numbers = [n for n, line in enumerate(raw_lines, first_line) if line.strip()]
    lines = [raw_lines[n - first_line] for n in line_numbers]
    try:
        records = orjson.loads(b"[" + b",".join(lines) + b"]")
        if len(records) != len(lines):  # a line holding "1,2" would split into two values
            raise orjson.JSONDecodeError("line count mismatch", "", 0)
    except orjson.JSONDecodeError:
        records = []
        kept_numbers = []
        skipped = 0
        first_error = None
        for number, line in zip(line_numbers, lines, strict=True):
            try:
                records.append(orjson.loads(line))
                kept_numbers.append(number)
            except orjson.JSONDecodeError as exc:
                error = EngineError("invalid_record", f"Line {number} is not valid JSON: {exc}.", line=number)
                if not skip_invalid:
                    raise error from exc
                skipped += 1
                first_error = first_error or error.as_dict()
        columns = parse_records(
            records, skip_invalid=skip_invalid, line_numbers=kept_numbers, unit="Line", allow_empty=True
        )
        columns.skipped += skipped
        found = [e for e in (first_error, columns.first_error) if e]
        columns.first_error = min(found, key=lambda e: e["line"]) if found else None
        return columns
    return parse_records(records, skip_invalid=skip_invalid, line_numbers=line_numbers, unit="Line")


def parse_csv(data, skip_invalid=False):
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    header_end = data.find(b"\n")
    header_end = len(data) if header_end < 0 else header_end + 1
    return _parse_csv_stream(data[:header_end], _chunks(data, header_end), skip_invalid)


def _parse_csv_stream(header_line, pieces, skip_invalid):
    """header_line: the first line (BOM removed); pieces: (piece, first line number) after it."""
    try:
        header = next(csv.reader([header_line.decode("utf-8")]), [])
    except UnicodeDecodeError as exc:
        raise EngineError("invalid_encoding", "CSV logs must be UTF-8 text.", line=1) from exc
    names = [name.strip().lower() for name in header]
    missing = [field for field in FIELDS if field not in names]
    if missing:
        raise EngineError(
            "invalid_csv",
            f"The CSV header (line 1) must name the columns timestamp, path and size; missing: {', '.join(missing)}.",
            field=missing[0],
            line=1,
        )
    index = {field: names.index(field) for field in FIELDS}
    columns = _merge(_parse_csv_piece(piece, index, first_line, skip_invalid) for piece, first_line in pieces)
    return _nonempty(columns)


def _nonempty(columns):
    if columns is None or len(columns) == 0:
        skipped = columns.skipped if columns is not None else 0
        raise EngineError(
            "empty_log",
            f"No valid records in the access log ({skipped} skipped)." if skipped else "The access log is empty.",
        )
    return columns


def _parse_csv_piece(piece, index, first_line, skip_invalid):
    try:
        text = piece.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EngineError("invalid_encoding", "CSV logs must be UTF-8 text.", line=first_line) from exc
    width = max(index.values()) + 1
    body = list(csv.reader(io.StringIO(text)))
    line_numbers = list(range(first_line, first_line + len(body)))
    keep = [k for k, row in enumerate(body) if row]  # blank lines carry nothing
    if len(keep) != len(body):
        body = [body[k] for k in keep]
        line_numbers = [line_numbers[k] for k in keep]
    if not body:
        return None
    if all(len(row) >= width for row in body):
        paths = [row[index["path"]] for row in body]
        sizes = [row[index["size"]] for row in body]
        stamps = [row[index["timestamp"]] for row in body]
        fast = _fast_columns(paths, sizes, stamps)
        if fast is not None:
            return fast
    records = [{field: row[index[field]] for field in FIELDS if index[field] < len(row)} for row in body]
    return _slow_records(records, skip_invalid, line_numbers, "Line", from_text=True, allow_empty=True)


def _leading_lines(data):
    """Blank lines before the first record (so fast-path line numbers stay true)."""
    stripped = data.lstrip()
    return data[: len(data) - len(stripped)].count(b"\n")


def parse_records(records, skip_invalid=False, line_numbers=None, unit="Record", allow_empty=False, first_line=1):
    """Records already decoded from JSON (the API's accessHistory, a JSON array, NDJSON)."""
    if not isinstance(records, list):
        raise EngineError("invalid_field", "accessHistory must be a list of records.", field="accessHistory")
    if not records and allow_empty:
        return _slow_records([], skip_invalid, line_numbers, unit, allow_empty=True)
    if not records:
        raise EngineError("empty_log", "The access log is empty: send at least one record.", field="accessHistory")
    try:
        paths = list(map(_PATH, records))
        sizes = list(map(_SIZE, records))
        stamps = list(map(_TIMESTAMP, records))
    except (KeyError, TypeError):
        pass
    else:
        fast = _fast_columns(paths, sizes, stamps)
        if fast is not None:
            return fast
    if line_numbers is None and first_line != 1:
        # fast-path pieces have no blank lines between records, so record k is on line first_line + k
        line_numbers = range(first_line, first_line + len(records))
    return _slow_records(records, skip_invalid, line_numbers, unit, allow_empty=allow_empty)


_PATH = operator.itemgetter("path")
_SIZE = operator.itemgetter("size")
_TIMESTAMP = operator.itemgetter("timestamp")


def _fast_columns(paths, sizes, stamps):
    """All-valid input converted column-wise; None when anything needs a closer look."""
    if not paths:
        return None
    if set(map(type, paths)) != {str} or "" in paths:
        return None
    try:
        size_arr = np.asarray(sizes)
        if size_arr.dtype.kind == "U":
            size_arr = size_arr.astype(np.int64)
        if size_arr.dtype.kind not in "iu" or size_arr.ndim != 1 or (size_arr < 0).any():
            return None
        size_arr = size_arr.astype(np.int64, copy=False)
        ts_arr = np.asarray(stamps)
        if ts_arr.dtype.kind == "U":
            try:
                ts_arr = ts_arr.astype(np.int64)
            except ValueError:
                ts_arr = np.array([_parse_timestamp(t) for t in stamps], dtype=np.int64)
        elif ts_arr.dtype.kind == "f":
            if not np.isfinite(ts_arr).all() or (ts_arr >= 2.0**63).any():
                return None
            ts_arr = ts_arr.astype(np.int64)
        if ts_arr.dtype.kind not in "iu" or ts_arr.ndim != 1 or (ts_arr < 0).any():
            return None
    except (ValueError, TypeError, OverflowError):
        return None
    return Columns(paths=paths, sizes=size_arr, timestamps=ts_arr.astype(np.int64, copy=False))


MAX_INT64 = 2**63 - 1  # columns are int64


def _parse_timestamp(value):
    """ms since epoch from an int/float/numeric string, or an ISO 8601 string (UTC if no offset)."""
    if isinstance(value, bool):
        raise ValueError("not a timestamp")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("negative")
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or value < 0:
            raise ValueError("not finite")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        stamp = int(moment.timestamp() * 1000)
        if stamp < 0:
            raise ValueError("before 1970")
        return stamp
    raise ValueError("not a timestamp")


def _check_record(record, from_text):
    """(path, size, ms) or (field, problem)."""
    if not isinstance(record, dict):
        return None, ("record", "is not an object with timestamp, path and size")
    for field in FIELDS:
        if field not in record or record[field] is None or record[field] == "":
            return None, (field, "is missing")
    path = record["path"]
    if not isinstance(path, str):
        return None, ("path", "must be a string")
    size = record["size"]
    if from_text and isinstance(size, str) and size.strip().isdigit():
        size = int(size.strip())
    if isinstance(size, bool) or not isinstance(size, int):
        if isinstance(size, float) and size.is_integer() and size >= 0:
            size = int(size)
        else:
            return None, ("size", f"must be a whole number of bytes, got {record['size']!r}")
    if size < 0:
        return None, ("size", f"must not be negative, got {size}")
    if size > MAX_INT64:
        return None, ("size", f"must be at most {MAX_INT64} bytes, got {size}")
    try:
        stamp = _parse_timestamp(record["timestamp"])
    except (ValueError, TypeError, OverflowError):
        return None, ("timestamp", f"must be ms since epoch or ISO 8601, got {record['timestamp']!r}")
    if stamp > MAX_INT64:
        return None, ("timestamp", f"is out of range (at most {MAX_INT64} ms), got {record['timestamp']!r}")
    return (path, size, stamp), None


def _slow_records(records, skip_invalid, line_numbers, unit, from_text=False, allow_empty=False):
    paths, sizes, stamps = [], [], []
    skipped = 0
    first_error = None
    for k, record in enumerate(records):
        parsed, problem = _check_record(record, from_text)
        if parsed is None:
            number = line_numbers[k] if line_numbers else k + 1
            field, text = problem
            error = EngineError("invalid_record", f"{unit} {number}: {field} {text}.", field=field, line=number)
            if not skip_invalid:
                raise error
            skipped += 1
            first_error = first_error or error.as_dict()
            continue
        paths.append(parsed[0])
        sizes.append(parsed[1])
        stamps.append(parsed[2])
    if not paths and allow_empty:
        return Columns(
            paths=[],
            sizes=np.zeros(0, np.int64),
            timestamps=np.zeros(0, np.int64),
            skipped=skipped,
            first_error=first_error,
        )
    if not paths:
        raise EngineError(
            "empty_log",
            f"No valid records in the access log ({skipped} skipped)." if skipped else "The access log is empty.",
        )
    return Columns(
        paths=paths,
        sizes=np.asarray(sizes, dtype=np.int64),
        timestamps=np.asarray(stamps, dtype=np.int64),
        skipped=skipped,
        first_error=first_error,
    )
