"""Errors the engine raises; the Django side turns them into 400/413 JSON errors."""


class EngineError(ValueError):
    """Bad input: `code` is a stable machine code, `field` and `line` point at the culprit."""

    def __init__(self, code, message, field=None, line=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.line = line

    def as_dict(self):
        out = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.line is not None:
            out["line"] = self.line
        return out


class TooLarge(EngineError):
    def __init__(self, message, limit):
        super().__init__("too_large", message)
        self.limit = limit
