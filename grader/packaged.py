"""The manifest a build leaves beside the packaged data (a student release, the Gradescope autograder):
what was built, which checks it holds data for, the seeds, the training check's shipped images."""
from __future__ import annotations

import json

from .config import Config

MANIFEST = "manifest.json"


def read_manifest(config: Config) -> dict:
    """What the build left beside the packaged data ({} in the instructor's repository)."""
    path = config.paths.expected.parent / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
