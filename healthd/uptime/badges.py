"""Badges in the shields.io "flat" look, drawn here: no request to shields.io, no font file.

A badge is a grey label and a coloured message, each as wide as its text. Without a font
at hand the text width comes from Verdana's advance widths at 11 px (what shields.io
measures with), and ``textLength`` makes any substitute font fit that width. Imports
nothing of healthd.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

LABEL_COLOUR = "#555"
# shields.io's named colours.
COLOURS = {
    "brightgreen": "#4c1",
    "green": "#97ca00",
    "yellowgreen": "#a4a61d",
    "yellow": "#dfb317",
    "orange": "#fe7d37",
    "red": "#e05d44",
    "lightgrey": "#9f9f9f",
}
STATUS_COLOURS = {
    "passing": COLOURS["brightgreen"],
    "warning": COLOURS["yellow"],
    "failing": COLOURS["red"],
    "stale": COLOURS["orange"],
    "unknown": COLOURS["lightgrey"],
}

# Verdana at 11 px, in pixels. Characters not listed count as DEFAULT_WIDTH.
_WIDTHS: dict[str, float] = {
    " ": 3.9, "!": 4.3, '"': 5.0, "#": 9.0, "$": 7.0, "%": 11.9, "&": 8.0, "'": 2.9,
    "(": 4.9, ")": 4.9, "*": 7.0, "+": 9.0, ",": 4.0, "-": 5.0, ".": 4.0, "/": 4.9,
    ":": 4.9, ";": 4.9, "<": 9.0, "=": 9.0, ">": 9.0, "?": 6.0, "@": 11.0, "[": 4.9,
    "\\": 4.9, "]": 4.9, "^": 9.0, "_": 7.0, "`": 7.0, "{": 7.0, "|": 4.9, "}": 7.0,
    "~": 9.0,
    "a": 6.6, "b": 6.8, "c": 5.8, "d": 6.8, "e": 6.6, "f": 3.8, "g": 6.8, "h": 6.9,
    "i": 3.0, "j": 3.8, "k": 6.5, "l": 3.0, "m": 10.6, "n": 6.9, "o": 6.6, "p": 6.8,
    "q": 6.8, "r": 4.7, "s": 5.7, "t": 4.3, "u": 6.9, "v": 6.5, "w": 8.9, "x": 6.5,
    "y": 6.5, "z": 5.7,
    "A": 7.5, "B": 7.5, "C": 7.7, "D": 8.5, "E": 6.9, "F": 6.3, "G": 8.5, "H": 8.3,
    "I": 4.6, "J": 5.0, "K": 7.6, "L": 6.1, "M": 9.3, "N": 8.2, "O": 8.7, "P": 6.6,
    "Q": 8.7, "R": 7.7, "S": 7.5, "T": 6.8, "U": 8.1, "V": 7.5, "W": 10.9, "X": 7.5,
    "Y": 6.8, "Z": 7.5,
}
_WIDTHS.update(dict.fromkeys("0123456789", 7.0))
DEFAULT_WIDTH = 7.0
PADDING = 5  # on each side of each text
HEIGHT = 20


def text_width(text: str) -> float:
    """The width ``text`` takes in Verdana 11 px, in pixels."""
    return sum(_WIDTHS.get(char, DEFAULT_WIDTH) for char in text)


def uptime_colour(ratio: float | None) -> str:
    """shields.io's scale for an uptime (0 to 1); grey when there is nothing to measure."""
    if ratio is None:
        return COLOURS["lightgrey"]
    for at_least, name in ((0.999, "brightgreen"), (0.99, "green"), (0.97, "yellowgreen"),
                           (0.95, "yellow")):
        if ratio >= at_least:
            return COLOURS[name]
    return COLOURS["red"]


def render(label: str, message: str, colour: str) -> str:
    """An SVG badge "label | message", the message on ``colour`` (a CSS colour).

    It carries its own text alternative (``role="img"``, ``aria-label`` and ``<title>``),
    so an ``<img>`` of it or the SVG opened alone both read as "label: message".
    """
    label_text = round(text_width(label))
    message_text = round(text_width(message))
    label_width = label_text + 2 * PADDING
    message_width = message_text + 2 * PADDING
    width = label_width + message_width
    spoken = f"{label}: {message}"
    label_x = label_width / 2
    message_x = label_width + message_width / 2

    def text(content: str, x: float, length: int) -> str:
        # A shadow one pixel below, as shields.io draws it, hidden from screen readers.
        return (f'<text aria-hidden="true" x="{x:g}" y="15" fill="#010101" fill-opacity=".3" '
                f'textLength="{length}" lengthAdjust="spacingAndGlyphs">{escape(content)}</text>'
                f'<text x="{x:g}" y="14" textLength="{length}" '
                f'lengthAdjust="spacingAndGlyphs">{escape(content)}</text>')

    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" '
        f'role="img" aria-label={quoteattr(spoken)}>'
        f"<title>{escape(spoken)}</title>"
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" '
        'stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{width}" height="{HEIGHT}" rx="3" fill="#fff"/>'
        "</clipPath>"
        '<g clip-path="url(#r)">'
        f'<rect width="{label_width}" height="{HEIGHT}" fill="{LABEL_COLOUR}"/>'
        f'<rect x="{label_width}" width="{message_width}" height="{HEIGHT}" '
        f"fill={quoteattr(colour)}/>"
        f'<rect width="{width}" height="{HEIGHT}" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" '
        'font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        'text-rendering="geometricPrecision" font-size="11">'
        f"{text(label, label_x, label_text)}{text(message, message_x, message_text)}"
        "</g></svg>"
    )
