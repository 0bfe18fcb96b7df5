import gzip

import orjson
import pytest

from cdn_eval.engine import EngineError, TooLarge, build_trace, parse_bytes, parse_records
from tests.cdn_eval.conftest import csv_bytes, ndjson

ROWS = [
    {"timestamp": 1_700_000_000_000, "path": "/a", "size": 10},
    {"timestamp": 1_700_000_060_000, "path": "/b", "size": 20},
    {"timestamp": 1_700_000_120_000, "path": "/a", "size": 10},
]


def columns_tuple(columns):
    paths = columns.paths if columns.paths is not None else [columns.names[i] for i in columns.path_ids]
    return paths, columns.sizes.tolist(), columns.timestamps.tolist()


@pytest.mark.parametrize(
    "data",
    [
        orjson.dumps(ROWS),
        orjson.dumps({"accessHistory": ROWS}),
        b"\n" + ndjson(ROWS) + b"\n\n",
        csv_bytes(ROWS),
        csv_bytes(ROWS, compress=True),
        gzip.compress(ndjson(ROWS)),
    ],
    ids=["json-array", "json-object", "ndjson", "csv", "csv-gzip", "ndjson-gzip"],
)
def test_every_format_gives_the_same_columns(data):
    columns = parse_bytes(data)
    assert columns_tuple(columns) == (["/a", "/b", "/a"], [10, 20, 10], [r["timestamp"] for r in ROWS])


def test_iso_timestamps_and_numeric_strings():
    rows = [
        {"timestamp": "2023-11-14T22:13:20Z", "path": "/a", "size": 1},
        {"timestamp": "2023-11-14T22:13:21+00:00", "path": "/a", "size": 1},
        {"timestamp": "2023-11-14T22:13:22", "path": "/b", "size": "5"},
    ]
    columns = parse_records(rows)
    assert columns.timestamps.tolist() == [1_700_000_000_000, 1_700_000_001_000, 1_700_000_002_000]
    assert columns.sizes.tolist() == [1, 1, 5]


def test_unsorted_input_is_sorted_and_a_size_change_is_a_new_version():
    rows = [
        {"timestamp": 30, "path": "/a", "size": 11},
        {"timestamp": 10, "path": "/a", "size": 10},
        {"timestamp": 20, "path": "/b", "size": 5},
        {"timestamp": 40, "path": "/a", "size": 11},
    ]
    columns = parse_records(rows)
    trace = build_trace(columns.paths, columns.sizes, columns.timestamps)
    assert trace.timestamps.tolist() == [10, 20, 30, 40]
    assert trace.n_obj == 3  # /a@10, /b, /a@11
    assert trace.req_size.tolist() == [10, 5, 11, 11]
    assert trace.prev.tolist() == [-1, -1, -1, 2] and trace.nxt.tolist() == [4, 4, 3, 4]


@pytest.mark.parametrize(
    "data, line, field",
    [
        (ndjson(ROWS[:2]) + b'{"timestamp": 5, "path": "/c"}\n', 3, "size"),
        (ndjson(ROWS[:1]) + b"\n" + b"{not json\n", 3, None),
        (ndjson(ROWS[:1]) + b'{"timestamp": "yesterday", "path": "/c", "size": 1}\n', 2, "timestamp"),
        (csv_bytes(ROWS).replace(b"20,/b", b"-4,/b"), 3, "size"),
        (orjson.dumps(ROWS[:1] + [{"timestamp": 1, "path": 7, "size": 1}]), 2, "path"),
    ],
    ids=["ndjson-missing-size", "ndjson-bad-json", "ndjson-bad-timestamp", "csv-negative-size", "json-path-type"],
)
def test_malformed_record_is_named_by_line_and_field(data, line, field):
    with pytest.raises(EngineError) as caught:
        parse_bytes(data)
    assert caught.value.line == line
    assert caught.value.field == field
    assert str(line) in caught.value.message


def test_skip_invalid_drops_and_counts_bad_records():
    data = ndjson(ROWS) + b'{"timestamp": 1, "path": "", "size": 1}\n{oops\n' + ndjson(ROWS[:1])
    columns = parse_bytes(data, skip_invalid=True)
    assert len(columns) == 4 and columns.skipped == 2
    assert columns.first_error["line"] == 4


def test_csv_header_must_name_the_columns():
    with pytest.raises(EngineError) as caught:
        parse_bytes(b"time,path,size\n1,/a,3\n")
    assert caught.value.field == "timestamp" and caught.value.line == 1


@pytest.mark.parametrize("data", [b"", b"   \n", b"[]", b'{"accessHistory": []}'])
def test_empty_log_is_a_clear_error(data):
    with pytest.raises(EngineError) as caught:
        parse_bytes(data)
    assert caught.value.code == "empty_log"


def test_big_logs_are_parsed_in_pieces_with_true_line_numbers(monkeypatch):
    from cdn_eval.engine import parsing

    monkeypatch.setattr(parsing, "CHUNK_BYTES", 100)
    rows = [{"timestamp": i, "path": f"/p{i % 7}", "size": 10 + i % 7} for i in range(200)]
    for data in (ndjson(rows), csv_bytes(rows)):
        columns = parse_bytes(data)
        assert columns_tuple(columns) == ([r["path"] for r in rows], [r["size"] for r in rows], list(range(200)))
    bad = ndjson(rows[:150]) + b'{"timestamp": 1, "path": "/x", "size": "big"}\n' + ndjson(rows[:10])
    with pytest.raises(EngineError) as caught:
        parse_bytes(bad)
    assert caught.value.line == 151 and caught.value.field == "size"
    bad_csv = csv_bytes(rows[:120]) + b"7,/y,later\n"
    with pytest.raises(EngineError) as caught:
        parse_bytes(bad_csv)
    assert caught.value.line == 122 and caught.value.field == "timestamp"
    skipped = parse_bytes(bad, skip_invalid=True)
    assert len(skipped) == 160 and skipped.skipped == 1 and skipped.first_error["line"] == 151


def test_gzip_bomb_is_refused():
    with pytest.raises(TooLarge):
        parse_bytes(gzip.compress(b" " * 200_000), max_bytes=100_000)


def test_paths_differing_only_by_a_trailing_nul_stay_apart():
    rows = [{"timestamp": 1, "path": "/a", "size": 1}, {"timestamp": 2, "path": "/a\u0000", "size": 1}]
    columns = parse_bytes(ndjson(rows))
    assert len(set(columns.path_ids.tolist())) == 2


def test_json_documents_over_several_lines_are_not_mistaken_for_ndjson():

    rows = [{"timestamp": 1_700_000_000_000 + i, "path": f"/f{i % 3}", "size": 10 + i % 3} for i in range(12)]
    layouts = [
        orjson.dumps({"accessHistory": rows}, option=orjson.OPT_INDENT_2),
        orjson.dumps({"options": {"max_paths": 3}, "accessHistory": rows}).replace(b"},{", b"},\n{"),
        b"\n\n" + orjson.dumps({"accessHistory": rows}).replace(b"[", b"[\n"),
        b'{\n"accessHistory": ' + orjson.dumps(rows) + b"}",
    ]
    for data in layouts:
        columns = parse_bytes(data)
        assert len(columns) == 12, data[:40]
    # NDJSON (its first line a whole record) is still NDJSON, and a bad line is still named
    assert len(parse_bytes(b"\n".join(orjson.dumps(r) for r in rows))) == 12
    with pytest.raises(EngineError) as info:
        parse_bytes(b"\n".join(orjson.dumps(r) for r in rows[:3]) + b'\n{"timestamp": 1, "path": \n')
    assert info.value.line == 4
    # a multi-line document without accessHistory is named as such
    with pytest.raises(EngineError) as info:
        parse_bytes(orjson.dumps({"records": rows}, option=orjson.OPT_INDENT_2))
    assert info.value.code == "missing_field" and info.value.field == "accessHistory"


def test_paths_whose_digests_collide_keep_their_own_ids(monkeypatch):
    """The digest table only finds candidates: with every digest forced equal, each path still gets
    its own id and every record keeps its path, across pieces too."""
    import numpy as np

    from cdn_eval.engine import parsing

    monkeypatch.setattr(parsing, "CHUNK_BYTES", 100)
    monkeypatch.setattr(parsing, "_digests", lambda table: (np.zeros(table.shape[0], np.uint64),) * 2)
    rows = [{"timestamp": i, "path": f"/p{i * 7 % 13}", "size": 5} for i in range(120)]
    columns = parse_bytes(ndjson(rows))
    assert columns_tuple(columns)[0] == [r["path"] for r in rows]
    assert sorted(columns.names) == sorted({r["path"] for r in rows})


@pytest.mark.parametrize("chunk", [60, 100, 1 << 20])
def test_path_ids_do_not_depend_on_which_digests_collide(monkeypatch, chunk):
    """Ids number the paths in the order they come, whatever digests they share (long paths share the
    digest of their first 256 characters): later stages (SHARDS' sample, W-TinyLFU's sketch, ties)
    depend on the ids, so an evaluation must not change with the digests."""
    import numpy as np

    from cdn_eval.engine import parsing

    long = "/" + "q" * 300
    paths = [long, long + "x", "/b", long + "y", "/b", long, "/c", long + "x"]
    rows = [{"timestamp": i, "path": paths[i % len(paths)] + str(i % 5), "size": 5} for i in range(90)]
    monkeypatch.setattr(parsing, "CHUNK_BYTES", chunk)
    plain = parse_bytes(ndjson(rows)).path_ids.tolist()
    monkeypatch.setattr(parsing, "_digests", lambda table: (np.zeros(table.shape[0], np.uint64),) * 2)
    assert parse_bytes(ndjson(rows)).path_ids.tolist() == plain
    if chunk == 60:  # one record per piece: ids in order of first appearance across the whole log
        first = list(dict.fromkeys(r["path"] for r in rows))
        assert plain == [first.index(r["path"]) for r in rows]


def test_parsing_leaves_the_cyclic_gc_as_it_found_it():
    import gc

    assert gc.isenabled()
    parse_bytes(ndjson(ROWS))
    with pytest.raises(EngineError):
        parse_bytes(b'{"timestamp": 1, "path": "/a", "size": -1}\n')
    assert gc.isenabled()
    gc.disable()
    try:
        parse_bytes(ndjson(ROWS))
        assert not gc.isenabled()
    finally:
        gc.enable()


def _outcome(parse, data):
    try:
        columns = parse(data)
    except EngineError as exc:
        return exc.as_dict()
    return columns_tuple(columns), columns.skipped, columns.first_error


@pytest.mark.parametrize("chunk", [100, 2 << 20])
def test_a_file_read_piece_by_piece_parses_like_its_bytes(tmp_path, monkeypatch, chunk):
    """The jobs and the command stream the upload from disk: same columns, line numbers and errors."""
    from cdn_eval.engine import parse_file, parsing

    monkeypatch.setattr(parsing, "CHUNK_BYTES", chunk)
    rows = [{"timestamp": i, "path": f"/p{i % 7}", "size": 10 + i % 7} for i in range(200)]
    bad = ndjson(rows[:150]) + b'{"timestamp": 1, "path": "/x", "size": "big"}\n' + ndjson(rows[:10])
    logs = [
        ndjson(rows),
        b"\n\n  " + ndjson(rows) + b"\n\n",
        csv_bytes(rows),
        b"\xef\xbb\xbf" + csv_bytes(rows),
        csv_bytes(rows[:120]) + b"7,/y,later\n",
        gzip.compress(ndjson(rows)),
        gzip.compress(csv_bytes(rows[:50])) + gzip.compress(csv_bytes(rows[:50]).split(b"\n", 1)[1]),
        orjson.dumps(rows),
        orjson.dumps({"accessHistory": rows}, option=orjson.OPT_INDENT_2),
        orjson.dumps({"accessHistory": rows}),
        bad,
        b"   \n",
        b"time,path,size\n1,/a,3\n",
    ]
    path = tmp_path / "log"
    for data in logs:
        path.write_bytes(data)
        for skip in (False, True):
            expected = _outcome(lambda d, skip=skip: parse_bytes(d, skip_invalid=skip), data)
            assert _outcome(lambda p, skip=skip: parse_file(p, skip_invalid=skip), path) == expected, data[:60]


def test_a_streamed_gzip_file_is_bounded_and_checked(tmp_path):
    from cdn_eval.engine import parse_file

    path = tmp_path / "log.gz"
    members = gzip.compress(ndjson(ROWS)) + gzip.compress(ndjson(ROWS))  # as `cat a.gz b.gz` makes
    path.write_bytes(members)
    assert len(parse_bytes(members)) == len(parse_file(path)) == 6
    path.write_bytes(gzip.compress(ndjson(ROWS * 10_000)))
    with pytest.raises(TooLarge):
        parse_file(path, max_bytes=100_000)
    path.write_bytes(gzip.compress(ndjson(ROWS))[:-12])
    for parse in (lambda: parse_file(path), lambda: parse_bytes(path.read_bytes())):
        with pytest.raises(EngineError) as caught:
            parse()
        assert caught.value.code == "invalid_gzip"


def test_paths_keep_their_identity_when_later_pieces_need_a_wider_store(monkeypatch):
    """Paths are stored as ASCII bytes, then unicode, then Python strings as pieces need it (a
    non-ASCII path, a path ending in NUL, a very long one); every record keeps its exact path."""
    from cdn_eval.engine import parsing

    monkeypatch.setattr(parsing, "CHUNK_BYTES", 200)
    names = ["/a", "/b", "/é", "/a\u0000", "/" + "x" * 300, "/b\u0000\u0000", "/ü/1"]
    rows = []
    for round_ in range(len(names)):
        for i in range(12):  # each round brings one new kind of path, among the earlier ones
            rows.append({"timestamp": len(rows), "path": names[(round_ + i) % (round_ + 1)], "size": 3})
    columns = parse_bytes(ndjson(rows))
    assert columns_tuple(columns)[0] == [r["path"] for r in rows]
    assert sorted(columns.names) == sorted(names)
    trace = build_trace(None, columns.sizes, columns.timestamps, columns.path_ids, columns.names)
    assert sorted(trace.paths) == sorted(names) and all(isinstance(p, str) for p in trace.paths)


@pytest.mark.parametrize("compress", [False, True])
def test_a_log_from_a_pipe_is_read_without_seeking(tmp_path, compress):
    """`cdn_evaluate <(zcat log.gz)` and FIFOs: parse_file never seeks."""
    import os
    import threading

    from cdn_eval.engine import parse_file

    rows = [{"timestamp": i, "path": f"/p{i % 7}", "size": 10 + i} for i in range(50)]
    data = gzip.compress(ndjson(rows)) if compress else ndjson(rows)
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(data,))
    writer.start()
    columns = parse_file(fifo)
    writer.join()
    assert columns_tuple(columns) == columns_tuple(parse_bytes(data))
