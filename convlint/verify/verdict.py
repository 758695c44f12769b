"""A verification verdict: what onnxruntime said when the flagged layer was replayed alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

CONFIRMED = "confirmed"
NOT_REPRODUCED = "not reproduced"
UNVERIFIABLE = "unverifiable"


@dataclass
class Witness:
    """The concrete input the layer was replayed on: a shape per runtime input, and the values chosen for symbols."""

    inputs: dict = field(default_factory=dict)  # input name -> tuple of ints, in the node's input order
    symbols: dict = field(default_factory=dict)  # the model's symbol names -> int

    def describe(self) -> str:
        """``input (1, 1, 8, 8)``, ``inputs a (2, 3), b (3, 4)`` or ``its constant inputs``, then ``with H=8, W=8``."""
        shapes = {name: "(" + ", ".join(map(str, s)) + ("," if len(s) == 1 else "") + ")"
                  for name, s in self.inputs.items()}
        if not shapes:
            text = "its constant inputs"
        elif len(shapes) == 1:
            text = f"input {next(iter(shapes.values()))}"
        else:
            text = "inputs " + ", ".join(f"{name} {s}" for name, s in shapes.items())
        if self.symbols:
            text += " with " + ", ".join(f"{k}={v}" for k, v in self.symbols.items())
        return text

    def to_json(self) -> dict:
        return {"inputs": {k: list(v) for k, v in self.inputs.items()}, "symbols": dict(self.symbols)}


@dataclass
class Verification:
    """The verdict on one finding: ``confirmed`` (the runtime refuses the layer), ``not reproduced`` (it ran the
    layer, so the finding is lowered to a warning) or ``unverifiable`` (``message`` says why).

    The runtime is the model's own: onnxruntime for an ONNX model, PyTorch for a PyTorch layer, whose verdict then
    carries onnxruntime's on the layer's export as a second statement (``export``), which never overrules it."""

    status: str
    message: str  # the runtime's own words when confirmed; the reason when unverifiable
    witness: Optional[Witness] = None
    seconds: float = 0.0
    log: str = ""  # onnxruntime's native log during the replay, captured so that nothing reaches the terminal
    layers: int = 1  # how many nodes the replay ran: more than one when the fault spans several (a cycle)
    replayed: str = ""  # what stood for the layer, when it was not the layer itself (a PyTorch declaration)
    runtime: str = "onnxruntime"  # whose verdict this is: "onnxruntime" or "PyTorch"
    export: Optional["Verification"] = None  # onnxruntime's verdict on the export of a layer PyTorch judged
    outputs: tuple = ()  # the output shapes, when the runtime ran the layer
    action: str = ""  # what the runtime was asked, when it was not to run a layer (a load_state_dict)
    about_values: bool = False  # a precision warning's verdict: what the run returned (NaN, inf), not a refusal

    def line(self) -> str:
        """The verdict as one line of text, shown under the finding."""
        on = self.witness.describe() if self.witness is not None else "its inputs"
        what = "this layer" if self.layers == 1 else f"these {self.layers} layers"
        if self.replayed:
            what = f"the layer as declared, replayed as {self.replayed},"
        if self.action and self.status in (CONFIRMED, NOT_REPRODUCED):
            text = f'{CONFIRMED} — {self.runtime} refuses {self.action}: "{self.message}"' \
                if self.status == CONFIRMED else \
                f"{NOT_REPRODUCED} — {self.runtime} accepts {self.action}; reported as a warning, not an error"
        elif self.replayed and self.runtime != "onnxruntime" and self.status == CONFIRMED:
            text = f'{CONFIRMED} — {self.runtime} refuses to construct the layer as declared, {self.replayed}: ' \
                   f'"{self.message}"'
        elif self.about_values and self.status in (CONFIRMED, NOT_REPRODUCED):
            text = f"{self.status} — {self.runtime} runs {what} on {on} and returns {self.message}"
        elif self.status == CONFIRMED:
            text = f'{CONFIRMED} — {self.runtime} refuses {what} on {on}: "{self.message}"'
        elif self.status == NOT_REPRODUCED:
            text = f"{NOT_REPRODUCED} — {self.runtime} ran {what} on {on}; reported as a warning, not an error"
        else:
            text = f"{UNVERIFIABLE} — {self.message}"
        if self.export is not None:
            text += "; " + self.export.about_export()
        return text

    def about_export(self) -> str:
        """This verdict as a statement about a PyTorch layer's export: ``onnxruntime would run its export ...``."""
        export = f"its export ({self.replayed})" if self.replayed else "its export"
        if self.status == CONFIRMED:
            return f'onnxruntime refuses {export} too: "{self.message}"'
        if self.status == NOT_REPRODUCED:
            return f"onnxruntime would run {export} and return {self.message}" if self.message else \
                f"onnxruntime would run {export}"
        return f"onnxruntime cannot replay {export}: {self.message}"

    def to_json(self) -> dict:
        out = {"status": self.status, "message": self.message,
               "witness": self.witness.to_json() if self.witness is not None else None,
               "seconds": round(self.seconds, 4)}
        if self.replayed:
            out["replayed"] = self.replayed
        if self.action:
            out["action"] = self.action
        if self.runtime != "onnxruntime":
            out["runtime"] = self.runtime
        if self.export is not None:
            out["onnxruntime"] = self.export.to_json()
        return out
