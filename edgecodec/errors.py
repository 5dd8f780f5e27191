"""Error messages for people: one line, whatever the library that raised them wrote."""
from __future__ import annotations


def message_line(error: object, limit: int = 400) -> str:
    """An exception (or message) as one line of at most ``limit`` characters, whitespace collapsed;
    a KeyError shows its key, not the key's repr."""
    if isinstance(error, KeyError) and error.args:
        error = error.args[0]
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."
