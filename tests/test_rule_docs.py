"""docs/rules.md is generated from the rule docstrings (`python -m convlint.docs`) and must be up to date."""

from __future__ import annotations

import os
import subprocess
import sys

from convlint import docs
from convlint.checking import registry

from conftest import ROOT

RULES_MD = os.path.join(ROOT, "docs", "rules.md")


def test_rules_md_is_up_to_date():
    with open(RULES_MD, encoding="utf-8") as f:
        assert f.read() == docs.render(), "docs/rules.md is out of date: run `python -m convlint.docs`"


def test_every_built_in_rule_has_its_page():
    text = docs.render()
    reg = registry.load()
    for code, rule in reg.rules.items():
        if reg.sources[code] == registry.BUILTIN:
            assert f"\n## {code} {rule.name}\n" in text
            assert rule.section("Why is this bad?") in text


def test_the_check_command_fails_on_a_stale_file(tmp_path):
    stale = tmp_path / "rules.md"
    stale.write_text(docs.render().replace("## CL101", "## CL101 (edited by hand)"))
    check = [sys.executable, "-m", "convlint.docs", "--check", str(stale)]
    proc = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr == f"{stale} is out of date; run `python -m convlint.docs` to regenerate it\n"
    subprocess.run([sys.executable, "-m", "convlint.docs", str(stale)], check=True, capture_output=True, timeout=60)
    assert subprocess.run(check, capture_output=True, timeout=60).returncode == 0
