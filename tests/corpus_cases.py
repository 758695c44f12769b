"""Loading and running the held-out corpus in tests/corpus/ (see its README): eager PyTorch on real CPU tensors,
and convlint's verdict on each case, classified against the module where PyTorch fails."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

# How convlint did on a faulty model.
FOUND = "found"            # an error on FAULT_MODULE (or inside it)
ELSEWHERE = "elsewhere"    # errors, but none on FAULT_MODULE
WARNING = "warning"        # no error at all; a warning on FAULT_MODULE
MISSED = "missed"          # nothing of the kind


def case_names() -> list[str]:
    return sorted(f[:-3] for f in os.listdir(CORPUS) if f.endswith(".py") and not f.startswith(("_", "conftest")))


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"convlint_corpus_{name}", os.path.join(CORPUS, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def specs(case) -> list[str]:
    s = case.INPUT_SHAPE
    return [s] if isinstance(s, str) else list(s)


def dtypes(case) -> list:
    d = case.INPUT_DTYPE
    n = len(specs(case))
    return list(d) if isinstance(d, (tuple, list)) else [d] * n


def eager_inputs(case) -> list:
    import torch

    out = []
    gen = torch.Generator().manual_seed(0)
    for spec, dtype in zip(specs(case), dtypes(case)):
        dims = [int(d) if d.strip().lstrip("-").isdigit() else case.EAGER_SIZES[d.strip()] for d in spec.split(",")]
        if dtype is None or dtype.startswith("float"):
            out.append(torch.randn(*dims, generator=gen, dtype=getattr(torch, dtype or "float32")))
        elif dtype == "bool":
            out.append(torch.zeros(*dims, dtype=torch.bool))
        else:
            out.append(torch.randint(0, 10, dims, generator=gen, dtype=getattr(torch, dtype)))
    return out


def eager_error(case, builder) -> str | None:
    """None if the model builds and runs on real CPU tensors at the case's sizes, else PyTorch's error."""
    import torch

    try:
        model = builder()
        with torch.no_grad():
            model(*eager_inputs(case))
    except Exception as e:  # PyTorch raises RuntimeError, ValueError, AssertionError, IndexError, TypeError...
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return None


def lint(case, builder, verify: bool = False):
    import convlint

    shapes = specs(case)
    kinds = dtypes(case)
    shape = shapes[0] if len(shapes) == 1 else tuple(shapes)
    dtype = None if all(k is None for k in kinds) else (kinds[0] if len(kinds) == 1 else
                                                          tuple(k or "float32" for k in kinds))
    return convlint.lint(builder, input_shape=shape, input_dtype=dtype, verify=verify)


def module_of(finding) -> str:
    return finding.location.get("module") or ""


def on_module(finding, fault_module: str) -> bool:
    m = module_of(finding)
    if fault_module == "":
        return m == ""
    return m == fault_module or m.startswith(fault_module + ".")


@dataclass
class Verdict:
    name: str
    fault_module: str
    outcome: str
    clean_errors: list = field(default_factory=list)  # "RULE module: message" of errors on the clean twin
    faulty_findings: list = field(default_factory=list)  # "severity RULE module: message" on the faulty model

    def to_json(self) -> dict:
        return {"case": self.name, "fault_module": self.fault_module, "outcome": self.outcome,
                "clean_twin_errors": self.clean_errors, "findings": self.faulty_findings}


def classify(findings, fault_module: str) -> str:
    errors = [f for f in findings if f.severity == "error"]
    if any(on_module(f, fault_module) for f in errors):
        return FOUND
    if errors:
        return ELSEWHERE
    if any(f.severity == "warning" and on_module(f, fault_module) for f in findings):
        return WARNING
    return MISSED


def describe(f) -> str:
    return f"{f.severity} {f.rule} {module_of(f) or '<root>'}: {f.message}"


def judge(name: str) -> Verdict:
    case = load(name)
    faulty = lint(case, case.build).findings
    clean = lint(case, case.build_clean).findings
    return Verdict(name, case.FAULT_MODULE, classify(faulty, case.FAULT_MODULE),
                   [describe(f) for f in clean if f.severity == "error"], [describe(f) for f in faulty])
