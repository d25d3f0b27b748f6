"""One rule for every line healthd logs: one line, bounded, no secret.

A logged message may quote what healthd was sent (a ping's body, a check's output), so a
newline in it would start a line that looks like healthd's own, and a 10 KB body would be
logged whole at each transition. :class:`OneLineFilter` rewrites each record's message:
redacted, control characters escaped (``\\n`` becomes the two characters ``\\n``), then cut at
:data:`LONGEST` characters. Every healthd logger carries it (:func:`get_logger` makes them);
a site may put it on its own handlers too (``healthd.logging.OneLineFilter``). A traceback
is the formatter's to write, and stays as it is.
"""

from __future__ import annotations

import logging

from healthd.util.redact import redact

LONGEST = 2048
# C0 controls, DEL, and the separators some viewers break lines at.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, 0x85)}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t",
                 0x2028: "\\u2028", 0x2029: "\\u2029"})


def one_line(message: object, longest: int = LONGEST) -> str:
    """``message`` redacted, on one line, and at most ``longest`` characters, a note of
    how many were left out included (so a second pass changes nothing)."""
    text = redact(message).translate(_ESCAPES)
    if len(text) > longest:
        note = f"… ({len(text)} characters in all)"
        text = text[:max(0, longest - len(note))] + note
    return text


class OneLineFilter(logging.Filter):
    """Rewrites each record's message by :func:`one_line`; never drops a record. A record
    a logger's filter rewrote passes a handler's unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: keep what there is
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = one_line(message), ()
        return True


_ONE_LINE = OneLineFilter()


def get_logger(name: str) -> logging.Logger:
    """The logger ``name``, carrying :class:`OneLineFilter`: what every healthd module
    logs on."""
    logger = logging.getLogger(name)
    if _ONE_LINE not in logger.filters:
        logger.addFilter(_ONE_LINE)
    return logger
