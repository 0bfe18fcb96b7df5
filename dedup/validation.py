"""Request validation for the file API (pure: no Django)."""

import re

MAX_PATH_BYTES = 1024
RESERVED_LAST_SEGMENT = "manifest"  # files/<path>/manifest is the manifest endpoint
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def path_problem(path):
    """Why a file path is not acceptable, or None."""
    if not path:
        return "The path is empty."
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        return f"The path is longer than {MAX_PATH_BYTES} bytes."
    if _CONTROL.search(path):
        return "The path contains control characters."
    segments = path.split("/")
    if any(segment in ("..", ".") for segment in segments):
        return "The path may not contain '.' or '..' segments."
    if path.startswith("/") or "" in segments:
        return "The path may not start or end with '/' or contain empty segments ('//')."
    if segments[-1] == RESERVED_LAST_SEGMENT:
        return "A path may not end in '/manifest' (that is the manifest endpoint)."
    return None


def is_sha256_hex(value):
    return isinstance(value, str) and bool(SHA256_HEX.match(value))


def parse_range(header, size):
    """(start, end) inclusive for a single 'bytes=' range; None to serve the whole body; 'unsatisfiable'.

    Malformed or multi-range headers are ignored (RFC 9110 allows serving the full representation).
    """
    if not header or not header.startswith("bytes="):
        return None
    spec = header[6:].strip()
    if "," in spec:
        return None
    first, sep, last = spec.partition("-")
    if not sep:
        return None
    first, last = first.strip(), last.strip()
    try:
        if first == "":
            if not last:
                return None
            length = int(last)
            if length <= 0:
                return "unsatisfiable"
            return (max(0, size - length), size - 1) if size else "unsatisfiable"
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start < 0:
        return None
    if start >= size:
        return "unsatisfiable"
    if end < start:
        return None
    return start, min(end, size - 1)


def etag_matches(if_none_match, etag):
    if not if_none_match:
        return False
    candidates = [item.strip() for item in if_none_match.split(",")]
    bare = etag.strip('"')
    return any(c == "*" or c.removeprefix("W/").strip('"') == bare for c in candidates)
