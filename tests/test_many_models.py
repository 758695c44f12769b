"""Many models at once: folders, -j N worker processes, and the progress bar on a terminal."""

from __future__ import annotations

import json
import os
import pty
import shutil
import textwrap

from convlint import batch
from convlint.app.progress import Progress

from conftest import FIXTURES, run_cli
from project_files import HEAD_LINE, NET_PY, write

ONNX = os.path.join(FIXTURES, "onnx")


def models_tree(tmp_path) -> str:
    """models/ with every ONNX fixture, one nested, plus files a folder lint must pass over."""
    root = tmp_path / "models"
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / ".cache").mkdir()
    for name in sorted(os.listdir(ONNX)):
        shutil.copy(os.path.join(ONNX, name), root / name)
    shutil.copy(os.path.join(ONNX, "seed_conv_channels.onnx"), root / "nested" / "deeper" / "again.onnx")
    shutil.copy(os.path.join(ONNX, "seed_conv_channels.onnx"), root / ".cache" / "hidden.onnx")
    (root / "notes.txt").write_text("not a model")
    (root / "weights.pt").write_bytes(b"\x80\x02not read")
    return str(tmp_path)


def test_a_folder_lints_every_onnx_model_below_it(tmp_path):
    cwd = models_tree(tmp_path)
    proc = run_cli("models", "--format", "json", "--no-verify", cwd=cwd)
    assert proc.returncode == 1, proc.stderr
    targets = [r["target"] for r in json.loads(proc.stdout)["results"]]
    expected = sorted(os.path.join("models", n) for n in os.listdir(ONNX)) + ["models/nested/deeper/again.onnx"]
    assert targets == sorted(expected)


def test_an_empty_folder_is_an_input_error(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli("empty", cwd=str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr == ("convlint: error: empty: no ONNX model files below this folder, and no targets in it "
                           "named in the configuration\n")


def untimed(report: dict) -> dict:
    """The report without the replay times, which differ from run to run."""
    for result in report["results"]:
        for finding in result["findings"]:
            if finding.get("verification"):
                finding["verification"]["seconds"] = None
    return report


def test_parallel_processes_give_the_same_report(tmp_path):
    cwd = models_tree(tmp_path)
    one = run_cli("models", "--format", "json", cwd=cwd)
    two = run_cli("models", "--format", "json", "-j", "2", cwd=cwd)
    assert one.returncode == two.returncode == 1
    assert untimed(json.loads(two.stdout)) == untimed(json.loads(one.stdout))
    assert len(json.loads(one.stdout)["results"]) == len(os.listdir(ONNX)) + 1
    assert "\r" not in two.stderr  # stderr is a pipe here: no progress bar


def test_workers_are_separate_processes_and_a_dead_one_fails_only_its_items():
    pids = batch.run(os.readlink, ["/proc/self"] * 4, workers=2)
    assert len(pids) == 4 and str(os.getpid()) not in pids
    failed = batch.run(os._exit, [3, 3], workers=2, fallback=lambda item, error: type(error).__name__)
    assert failed == ["BrokenProcessPool", "BrokenProcessPool"]


def read_all(fd) -> str:
    """Everything written to a terminal whose other side, ``fd``, is now closed (Linux then says EIO)."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_progress_bar_draws_on_a_terminal_only():
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as terminal:
        with Progress(3, stream=terminal, delay=0) as progress:
            progress._timer.join()  # the bar appears once the delay has passed
            progress.advance("models/a.onnx")
    drawn = read_all(leader)
    os.close(leader)
    assert "0/3 models" in drawn
    assert "1/3 models  models/a.onnx" in drawn
    assert drawn.endswith("\r\x1b[K")  # erased when the work ends

    class Pipe:
        written = ""

        def write(self, text):
            self.written += text

        def flush(self):
            pass

        def isatty(self):
            return False

    pipe = Pipe()
    with Progress(3, stream=pipe, delay=0) as progress:
        progress.advance("models/a.onnx")
    assert pipe.written == ""


def test_a_folder_takes_in_the_pytorch_targets_the_configuration_names_in_it(tmp_path):
    cwd = models_tree(tmp_path)
    write(cwd, "models/net.py", NET_PY)
    write(cwd, "tools/other.py", NET_PY)
    bare = run_cli("models", "--format", "json", "--no-verify", cwd=cwd)
    assert not [r for r in json.loads(bare.stdout)["results"] if ".py" in r["target"]]  # not named: not a target

    write(cwd, "convlint.toml", textwrap.dedent("""
        [targets.net]
        path = "models/net.py:build"
        input-shape = "N,3,H,W"
        [targets.tool]
        path = "tools/other.py:build"
        [targets.stem]
        path = "models/seed_conv_channels_clean.onnx"
        input-shape = "N,1,H,W"
    """))
    proc = run_cli("models", "--format", "json", "--no-verify", "-j", "2", cwd=cwd)
    results = {r["target"]: [(f["rule"], f["node"], f["location"].get("line")) for f in r["findings"]]
               for r in json.loads(proc.stdout)["results"]}
    assert results["models/net.py:build"] == [("CL101", "head", HEAD_LINE)]
    assert results["models/seed_conv_channels_clean.onnx"] == [("CL101", "conv1", None)]  # with the stem's shapes
    assert "tools/other.py:build" not in results
    assert len(results) == len(os.listdir(ONNX)) + 2
