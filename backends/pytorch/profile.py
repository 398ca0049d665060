"""PyTorch's own profiler (`torch.profiler`), each operator charged to the module that
ran it.

Two passes, because charging costs time: the timed inferences run under the profiler
alone; then one more inference runs with a `record_function` scope opened around every
module's forward (hooks), which names the module of each operator in turn. Eager
PyTorch runs the same operators in the same order every time, so the i-th operator of
a timed inference is the i-th of the charged one (checked: where the sequences differ,
nothing is charged and the profile says so). The hooks alone made MobileNetV2 INT8's
profiled inference 1.45x slower here, all of it outside the operators."""

from __future__ import annotations

import numpy as np
import torch

from backends.profiling import OperatorProfiler, merge_by_name
from harness.core.layer_classes import CONVOLUTION, UNMAPPED, conv_class, operator_class

MODULE_SCOPE = "module::"
INFERENCE_SCOPE = "edgebench::inference"
UNCHARGED = ("the charged inference ran other operators than the timed ones: no operator "
             "is charged to a module")


class PyTorchProfiler(OperatorProfiler):
    source = ("torch.profiler (CPU activities); operators charged to modules by a second "
              "pass with record_function scopes opened in forward hooks")

    def __init__(self, model: torch.nn.Module, predict, float_precision: str) -> None:
        self.model = model
        self.modules = dict(model.named_modules())
        self._predict = predict
        self.float_precision = float_precision
        self.notes = ("an operator's time is its CPU time, the operators it calls included; "
                      "torch runs one at a time, and eager Python runs between them",)
        self._batch: np.ndarray | None = None
        self._profile = _profiler()
        self._profile.__enter__()

    def predict(self, batch: np.ndarray) -> None:
        self._batch = batch
        with torch.profiler.record_function(INFERENCE_SCOPE):
            self._predict(batch)

    def operators(self, last: int) -> list[dict]:
        self._profile.__exit__(None, None, None)
        timed = _inferences(self._profile.events())[-last:]
        modules = self._charged(len(timed[0]) if timed else 0)
        runs = [[self._operator(event, module) for event, module in
                 zip(run, modules or [None] * len(run), strict=False)] for run in timed]
        return merge_by_name(runs)

    def _charged(self, count: int) -> list[str | None] | None:
        """The module of each operator of one more inference, in order; None where it
        cannot be told (a compiled program: its modules are traced into kernels)."""
        if hasattr(self.model, "_orig_mod") or self._batch is None:
            return None
        hooks = [handle for path, module in self.modules.items()
                 for handle in _scope(module, path)]
        try:
            with _profiler() as charging:
                self.predict(self._batch)
        finally:
            for handle in hooks:
                handle.remove()
        (run,) = _inferences(charging.events(), keep_scopes=True)
        if len(run) != count:
            self.notes = (*self.notes, UNCHARGED)
            return None
        return [module for _, module in run]

    def _operator(self, event, module_path: str | None) -> dict:
        layer_class = operator_class(event.name)
        module = self.modules.get(module_path) if module_path else None
        if layer_class == CONVOLUTION:
            layer_class = UNMAPPED
            if module is not None and hasattr(module, "groups"):
                layer_class = conv_class(tuple(module.kernel_size), module.groups,
                                         module.in_channels)
        quantized = event.name.startswith("quantized::")
        return {"name": f"{module_path or '(model)'}:{event.name}", "type": event.name,
                "kernel": event.name, "precision": "int8" if quantized else self.float_precision,
                "layer": module_path or None, "layer_class": layer_class,
                "time_ms": event.cpu_time_total / 1000}


def _profiler():
    return torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])


def _scope(module: torch.nn.Module, path: str) -> list:
    """Hooks opening a profiler scope named after `path` around the module's forward
    (the profiler's own ops: `record_function`'s wrapper costs as much again)."""
    name, scopes = MODULE_SCOPE + path, []
    enter_scope = torch.ops.profiler._record_function_enter_new
    exit_scope = torch.ops.profiler._record_function_exit._RecordFunction

    def enter(_module, _inputs):
        scopes.append(enter_scope(name, None))

    def leave(_module, _inputs, _output):
        exit_scope(scopes.pop())

    return [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]


def _inferences(events, keep_scopes: bool = False) -> list[list]:
    """Each inference's top-level operators in order (those no other operator called);
    with `keep_scopes`, as (operator, innermost module path or None) pairs."""
    runs: dict[int, list] = {}
    order: list[int] = []
    for event in events:
        if event.name == INFERENCE_SCOPE:
            order.append(event.id)
            continue
        if event.name.startswith(MODULE_SCOPE):
            continue
        parent = event.cpu_parent
        module = None
        if parent is not None and parent.name.startswith(MODULE_SCOPE):
            module = parent.name[len(MODULE_SCOPE):]
        while parent is not None and parent.name.startswith(MODULE_SCOPE):
            parent = parent.cpu_parent
        if parent is None or parent.name != INFERENCE_SCOPE:
            continue  # called by another operator (counted there), or outside any run
        runs.setdefault(parent.id, []).append((event, module) if keep_scopes else event)
    return [runs.get(number, []) for number in order]
