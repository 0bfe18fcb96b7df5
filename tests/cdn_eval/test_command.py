import gzip
import io

import orjson
import pytest
from django.core.management import CommandError, call_command

from cdn_eval.engine.synthetic import zipf_trace
from tests.cdn_eval.conftest import ndjson, records

ROWS = records(zipf_trace(500, 80, seed=9, median=40_000))


def test_json_output_with_a_pinned_size(tmp_path):
    log = tmp_path / "access.ndjson.gz"
    log.write_bytes(gzip.compress(ndjson(ROWS)))
    out, err = io.StringIO(), io.StringIO()
    call_command("cdn_evaluate", str(log), "--cache-size", "2MB", "--json", stdout=out, stderr=err)
    result = orjson.loads(out.getvalue())
    assert result["requests"] == 500
    assert result["recommended"]["cache_bytes"] == 2_000_000
    assert "100.0%" in err.getvalue()  # the progress bar reached the end


def test_readable_report(tmp_path):
    log = tmp_path / "access.ndjson"
    log.write_bytes(ndjson(ROWS))
    out = io.StringIO()
    call_command("cdn_evaluate", str(log), stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "Recommended:" in text and "Tiers:" in text and "Evict first:" in text
    assert "500 requests" in text


def test_bad_log_is_a_command_error_with_the_line(tmp_path):
    log = tmp_path / "bad.ndjson"
    log.write_bytes(ndjson(ROWS[:3]) + b'{"timestamp": 1, "path": "/x"}\n')
    with pytest.raises(CommandError, match="line 4"):
        call_command("cdn_evaluate", str(log), stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("cdn_evaluate", str(tmp_path / "missing.log"), stdout=io.StringIO(), stderr=io.StringIO())


def test_report_labels_belady_a_bound_and_names_the_price(tmp_path):
    log = tmp_path / "access.ndjson"
    log.write_bytes(ndjson(ROWS))
    out = io.StringIO()
    call_command("cdn_evaluate", str(log), stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "belady is a bound, never recommended" in text and "heuristic bound" in text
    assert "CDN_EVAL_EGRESS_PRICE_PER_GB" in text
    assert "knee of the LRU curve" in text and "byte hit ratio" in text.split("knee of the LRU curve")[1]


@pytest.mark.parametrize("value", ["{not json", "[1, 2]"])
def test_invalid_options_json_is_a_command_error(tmp_path, value):
    log = tmp_path / "access.ndjson"
    log.write_bytes(ndjson(ROWS))
    with pytest.raises(CommandError, match="--options must be a JSON object"):
        call_command("cdn_evaluate", str(log), "--options", value, stdout=io.StringIO(), stderr=io.StringIO())
