"""``--format json``: ``{"convlint": VERSION, "results": [{"target", "error", "findings": [...]}]}``, sorted and stable."""

from __future__ import annotations

import json


def render(report) -> str:
    return json.dumps(report.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
