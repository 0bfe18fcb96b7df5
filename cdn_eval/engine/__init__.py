"""Desktop-CDN evaluator engine: pure Python + numpy (+ numba for the per-request loops), no Django.

columns = parse_file(path)  or  parse_bytes(data)  or  parse_records(list_of_dicts)
trace = build_trace(columns.paths, columns.sizes, columns.timestamps)
result = evaluate(trace, Options.from_dict(raw_options)).to_dict()
"""

from .errors import EngineError, TooLarge
from .evaluate import Options, evaluate, human_bytes, parse_size
from .parsing import parse_bytes, parse_file, parse_records
from .trace import Trace, build_trace, from_columns, from_ids


def evaluate_columns(columns, options=None, progress=None):
    """Build the trace and evaluate it. The columns are used up: their arrays and paths are released
    once the trace holds what it needs, so they do not stay alive through the evaluation."""
    trace = from_columns(columns)
    columns.release()
    result = evaluate(trace, options, progress=progress, skipped_records=columns.skipped)
    if columns.first_error:
        result.notes.append(f"{columns.skipped} malformed records skipped; first: {columns.first_error['message']}")
    return result


__all__ = [
    "EngineError",
    "Options",
    "Trace",
    "TooLarge",
    "build_trace",
    "evaluate",
    "evaluate_columns",
    "from_columns",
    "from_ids",
    "human_bytes",
    "parse_bytes",
    "parse_file",
    "parse_records",
    "parse_size",
]
