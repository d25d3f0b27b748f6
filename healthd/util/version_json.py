"""python-dockerflow's ``version.json``: where the build says what it is.

Read by ``/__version__`` and by the ``stats/code`` provider. Imports nothing of healthd.
"""

from __future__ import annotations

import json
import os
from typing import Any


def read_version_json(base_dir: str | os.PathLike) -> Any:
    """The parsed ``base_dir/version.json`` (source, version, commit, build), or None.

    None when there is no such file; raises ``ValueError`` when it is not JSON and
    ``OSError`` when it cannot be read, so ``/__version__`` can answer 500 for both.
    """
    path = os.path.join(base_dir, "version.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
