"""Text from outside (file names, JSON keys, error messages quoting them) made safe to store and to log.

Sources are hostile or broken now and then: a file name that is not UTF-8, a NUL byte or a newline in a name, a
room key of 100,000 characters. PostgreSQL refuses NUL in text and long index keys, a surrogate cannot even be
encoded, and a newline in a logged name forges a log line. Two helpers, used wherever such text leaves the
process:

* ``escape_name``: a file name in a printable form that maps back to the real name (``unescape_name``), so a
  name travels through XCom and the manifest and the file can still be opened. Names the source contract
  allows (printable, no backslash) are returned unchanged, at the cost of one C-level check.
* ``safe_text``: any other text (a reason, a key quoted in a reason) escaped and cut to a length.

Logs print names with ``%r`` (``repr`` escapes every control character) in addition.
"""

from __future__ import annotations

import hashlib

# A cap for reasons and quoted values: long enough to read, short enough for a log line and an index.
DEFAULT_TEXT_LIMIT = 500


def _escape_char(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.listdir's surrogateescape): \x80..\xff
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:  # C0 controls, NUL, DEL: \x00..\x7f
        return f"\\x{code:02x}"
    if code < 0x10000:  # so \xNN is a character below 0x80 or a raw byte, never both
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _escape(text: str, backslashes: bool = True) -> str:
    return "".join(
        "\\\\" if char == "\\" and backslashes else char if char.isprintable() else _escape_char(char)
        for char in text
    )


def escape_name(name: str) -> str:
    """``name`` with backslashes doubled and every non-printable character (control characters, NUL, bytes
    that were not UTF-8) written as ``\\xNN``/``\\uNNNN``; contract-conforming names come back unchanged.

    Reversible (``unescape_name``): the escaped name identifies the file, in the manifest and in Bronze.
    File names are at most 255 bytes on the filesystems in use, so the escaped form stays under ~1 kB.
    """
    if name.isprintable() and "\\" not in name:
        return name
    return _escape(name)


def unescape_name(escaped: str) -> str:
    """The real (``os``-level) name of an ``escape_name`` result."""
    if "\\" not in escaped:
        return escaped
    out: list[str] = []
    i, end = 0, len(escaped)
    while i < end:
        char = escaped[i]
        kind = escaped[i + 1] if char == "\\" and i + 1 < end else ""
        width = {"x": 2, "u": 4, "U": 8}.get(kind, 0)
        if kind == "\\":
            out.append("\\")
            i += 2
        elif width and i + 2 + width <= end:
            code = int(escaped[i + 2:i + 2 + width], 16)
            # \x80..\xff stand for bytes that were not UTF-8: back to os.listdir's surrogate.
            out.append(chr(0xDC00 + code) if kind == "x" and code >= 0x80 else chr(code))
            i += 2 + width
        else:  # not produced by escape_name: kept as it is
            out.append(char)
            i += 1
    return "".join(out)


def safe_text(text: object, limit: int = DEFAULT_TEXT_LIMIT) -> str:
    """``text`` with its non-printable characters escaped as ``escape_name`` does (backslashes are left as they
    are: text already escaped stays readable; it is not meant to be reversed) and cut to ``limit`` characters,
    with a note of how much was cut and a digest of the whole, so two long values stay distinguishable."""
    value = text if isinstance(text, str) else str(text)
    if not value.isprintable():
        value = _escape(value, backslashes=False)
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{value[:limit]}... ({len(value) - limit} more characters, sha256 {digest})"
