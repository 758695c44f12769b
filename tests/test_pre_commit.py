"""The hooks of .pre-commit-hooks.yaml, run by the real pre-commit on real commits in a temporary git repository.

pre-commit clones a hook repository at a commit, so the hooks are taken from a snapshot of this working tree
(every file git would see, committed into a temporary repository): the test checks the code as it is, before any
commit. The ``convlint`` hook gets its own environment, built by pre-commit with pip; it must not contain torch.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import FIXTURES, ROOT
from project_files import HEAD_LINE, NET_PY, write

FAULTY = os.path.join(FIXTURES, "onnx", "seed_conv_channels.onnx")
CLEAN = os.path.join(FIXTURES, "onnx", "seed_conv_channels_clean.onnx")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "convlint tests", "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "convlint tests", "GIT_COMMITTER_EMAIL": "tests@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,  # no signing or hooks from the machine's config
}


def run(*args, cwd, env, check=True):
    proc = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Git identity, a pre-commit cache of this module's own, and this Python's scripts (convlint) on PATH."""
    home = tmp_path_factory.mktemp("pre-commit-home")
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    return dict(os.environ, **GIT_ENV, PRE_COMMIT_HOME=str(home), PATH=path, NO_COLOR="1")


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory, env):
    """(path, commit) of a git repository holding a snapshot of this working tree."""
    repo = tmp_path_factory.mktemp("convlint-snapshot")
    listed = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT, env=env).stdout
    for rel in filter(None, listed.split("\0")):
        src = os.path.join(ROOT, rel)
        if os.path.isfile(src):  # a file deleted in the working tree is still listed as cached
            os.makedirs(os.path.dirname(os.path.join(repo, rel)), exist_ok=True)
            shutil.copy2(src, os.path.join(repo, rel))
    run("git", "init", "-q", cwd=repo, env=env)
    run("git", "add", "-A", cwd=repo, env=env)
    run("git", "commit", "-q", "-m", "snapshot of the working tree", cwd=repo, env=env)
    return str(repo), run("git", "rev-parse", "HEAD", cwd=repo, env=env).stdout.strip()


def user_project(path, hook_repo, env, hooks) -> str:
    """A git repository whose .pre-commit-config.yaml uses ``hooks`` from the snapshot, with the hook installed."""
    os.makedirs(path)
    repo, rev = hook_repo
    with open(os.path.join(path, ".pre-commit-config.yaml"), "w") as f:
        f.write(f"repos:\n  - repo: {repo}\n    rev: {rev}\n    hooks:\n")
        f.writelines(f"      - id: {hook}\n" for hook in hooks)
    run("git", "init", "-q", cwd=path, env=env)
    run(sys.executable, "-m", "pre_commit", "install", cwd=path, env=env)
    return path


def commit(project, env, *files):
    run("git", "add", *files, cwd=project, env=env)
    proc = run("git", "commit", "-m", "add models", cwd=project, env=env, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def committed(project, env) -> list:
    proc = run("git", "ls-tree", "-r", "--name-only", "HEAD", cwd=project, env=env, check=False)
    return proc.stdout.split() if proc.returncode == 0 else []


def test_the_onnx_hook_refuses_a_faulty_model_and_accepts_a_clean_one(tmp_path, hook_repo, env):
    project = user_project(str(tmp_path / "project"), hook_repo, env, ["convlint"])
    shutil.copy(FAULTY, os.path.join(project, "faulty.onnx"))
    shutil.copy(CLEAN, os.path.join(project, "clean.onnx"))

    status, output = commit(project, env, ".pre-commit-config.yaml", "faulty.onnx", "clean.onnx")
    assert status == 1, output
    assert "convlint (ONNX models)" in output and "Failed" in output
    assert ("faulty.onnx: conv1 (Conv): CL101 error: input 'image' has 1 channel, but weight 'conv1_weight' "
            "(4, 3, 3, 3) with group=1 expects 3") in output
    assert "Found 1 error in 2 models." in output
    assert committed(project, env) == []

    run("git", "rm", "-q", "--cached", "faulty.onnx", cwd=project, env=env)
    status, output = commit(project, env, "clean.onnx")
    assert status == 0, output
    assert "convlint (ONNX models)" in output and "Passed" in output
    assert committed(project, env) == [".pre-commit-config.yaml", "clean.onnx"]

    # the hook's own environment: convlint without torch
    (python,) = glob.glob(os.path.join(env["PRE_COMMIT_HOME"], "repo*", "py_env-*", "bin", "python"))
    probe = "import importlib.util, convlint; print(importlib.util.find_spec('torch'))"
    assert run(python, "-c", probe, cwd=project, env=env).stdout == "None\n"


def test_the_project_hook_lints_the_configured_pytorch_targets(tmp_path, hook_repo, env):
    project = user_project(str(tmp_path / "project"), hook_repo, env, ["convlint-project"])
    write(project, "models/net.py", NET_PY)
    write(project, "pyproject.toml", textwrap.dedent("""
        [project]
        name = "classifier"

        [tool.convlint.targets.net]
        path = "models/net.py:build"
        input-shape = "N,3,H,W"
    """))

    status, output = commit(project, env, ".")
    assert status == 1, output
    assert "convlint (configured targets)" in output and "Failed" in output
    assert (f"models/net.py:{HEAD_LINE}: head (Conv2d): CL101 error: input 'stem' has 8 channels, but weight "
            "'head.weight' (2, 4, 1, 1) with group=1 expects 4") in output
    assert committed(project, env) == []

    write(project, "models/net.py", NET_PY.replace("head_channels=4", "head_channels=8"))
    status, output = commit(project, env, ".")
    assert status == 0, output
    assert "convlint (configured targets)" in output and "Passed" in output
    assert committed(project, env) == [".pre-commit-config.yaml", "models/net.py", "pyproject.toml"]
