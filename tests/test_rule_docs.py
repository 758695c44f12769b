"""docs/rules.md and the README's rule table are generated from the rules (`python -m convlint.docs`) and must be up
to date."""

from __future__ import annotations

import os
import subprocess
import sys

from convlint import docs
from convlint.checking import registry

from conftest import ROOT

RULES_MD = os.path.join(ROOT, "docs", "rules.md")
README_MD = os.path.join(ROOT, "README.md")


def test_rules_md_is_up_to_date():
    with open(RULES_MD, encoding="utf-8") as f:
        assert f.read() == docs.render(), "docs/rules.md is out of date: run `python -m convlint.docs`"


def test_the_readme_rule_table_is_up_to_date():
    with open(README_MD, encoding="utf-8") as f:
        readme = f.read()
    assert readme == docs.with_table(readme), "README.md's rule table is out of date: run `python -m convlint.docs`"


def test_every_built_in_rule_has_its_page():
    text = docs.render()
    reg = registry.load()
    for code, rule in reg.rules.items():
        if reg.sources[code] == registry.BUILTIN:
            assert f"\n## {code} {rule.name}\n" in text
            assert rule.section("Why is this bad?") in text


def _check(root):
    return subprocess.run([sys.executable, "-m", "convlint.docs", "--check", str(root)], capture_output=True,
                          text=True, timeout=60)


def test_the_check_command_fails_on_stale_files(tmp_path):
    with open(README_MD, encoding="utf-8") as f:
        readme = f.read()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "rules.md").write_text(docs.render().replace("## CL101", "## CL101 (edited by hand)"))
    (tmp_path / "README.md").write_text(readme.replace("| CL107 |", "| CL107 (edited by hand) |"))
    proc = _check(tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == "".join(f"{tmp_path / rel} is out of date; run `python -m convlint.docs` to regenerate it\n"
                                  for rel in ("docs/rules.md", "README.md"))
    subprocess.run([sys.executable, "-m", "convlint.docs", str(tmp_path)], check=True, capture_output=True, timeout=60)
    assert _check(tmp_path).returncode == 0
    assert (tmp_path / "README.md").read_text() == readme


def test_the_check_command_names_a_readme_without_the_table(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "rules.md").write_text(docs.render())
    (tmp_path / "README.md").write_text("# a project\n")
    proc = _check(tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == (f"{tmp_path / 'README.md'}: it has no rule table between the lines {docs.TABLE_BEGIN} "
                           f"and {docs.TABLE_END}\n")
