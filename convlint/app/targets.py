"""Targets as a user names them: the file a target lives in, the models in a folder. Which front end reads a
target is :mod:`convlint.frontends`' business."""

from __future__ import annotations

import os

FOLDER_SUFFIXES = (".onnx",)  # what `convlint FOLDER` picks up; PyTorch targets only when the configuration names them


def file_of(target: str) -> str:
    """The file a target names: ``models/net.py`` for the PyTorch target ``models/net.py:build``."""
    head, sep, tail = target.rpartition(":")
    if sep and head and all(part.isidentifier() for part in tail.split(".")) and not os.path.exists(target):
        return head
    return target


def model_files(folder: str) -> list:
    """Every ONNX model file below ``folder``, sorted; hidden folders and ``__pycache__`` are skipped."""
    found = []
    for here, subdirs, files in os.walk(folder):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(".") and d != "__pycache__")
        found.extend(os.path.join(here, f) for f in sorted(files) if f.lower().endswith(FOLDER_SUFFIXES))
    return found
