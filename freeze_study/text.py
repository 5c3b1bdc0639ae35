"""Text that came from outside (file names, exception messages) made fit for a terminal line, a tag or a param.

File names on Linux are bytes; Python keeps the ones that are not UTF-8 as strings with
lone surrogates, which open the file but cannot be encoded for a terminal, SQLite, JSON
or HTTP. `shown` turns them into backslash escapes (`caf\\xe9.jpg`), readable and
unambiguous, wherever such a name is printed or recorded. Pure functions; nothing happens at import.
"""

from __future__ import annotations


def shown(text: object) -> str:
    """`text` as str with undecodable bytes (surrogate escapes) written as `\\xNN`."""
    s = str(text)
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        pass
    try:  # bytes a file name held (os.fsdecode's surrogate escapes)
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # other lone surrogates
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


def one_line(text: object, limit: int | None = None) -> str:
    """The first non-empty line of `text` (shown), cut to `limit` characters with an ellipsis."""
    lines = [line.strip() for line in shown(text).splitlines() if line.strip()]
    line = lines[0] if lines else ""
    if limit is not None and len(line) > limit:
        line = line[: limit - 1] + "…"
    return line


def fits(text: str, limit: int, note: str) -> str:
    """`text` if at most `limit` characters, else its start and `note` (e.g. '… 600 in all, see classes.json')."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(note))] + note


def counted(n: int, noun: str) -> str:
    """'1 seed', '3 seeds', '0 images': `n` (any integer type, numpy's too) and the noun, plural unless n is 1."""
    n = int(n)
    return f"{n} {noun}{'' if n == 1 else 's'}"
