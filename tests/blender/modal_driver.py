"""Driving an operator's modal path in the `bpy` module, the way Blender's window manager would.

The `bpy` module always runs in background mode, and there Blender answers `INVOKE_DEFAULT` by
calling `execute()` (it has no window events to hand to `invoke()`), and no event loop runs timers or
modal handlers. So each operator under test gets a test-only copy whose `execute()` starts the
operator's own modal path (`start_modal()`, what `invoke()` runs in the UI): the real operator code
adds its real timer and modal handler to the module's window, and the test delivers TIMER and ESC
events to `modal()` itself. Blender's own handler removal (loading a file, closing a window) then
calls the operator's real `cancel()`.
"""

import time
import types

import bpy

TIMER = types.SimpleNamespace(type="TIMER", value="NOTHING")
ESC = types.SimpleNamespace(type="ESC", value="PRESS")
MOUSEMOVE = types.SimpleNamespace(type="MOUSEMOVE", value="NOTHING")


def driven(operator_class, name: str):
    """Register a copy of `operator_class` as `bpy.ops.np_test.<name>` whose execute() starts its modal path; its runs are in `.runs`.

    A copy, not a subclass: registering a subclass of a registered operator class unhooks the original's
    Python class from Blender (its poll() then fails)."""
    namespace = {k: v for k, v in operator_class.__dict__.items() if k not in ("bl_rna", "__dict__", "__weakref__")}
    runs = []

    def execute(self, context):
        result = self.start_modal(context)
        runs.append(self)
        return result

    namespace.update(bl_idname=f"np_test.{name}", execute=execute, runs=runs)
    copy = type(f"NP_TEST_OT_{name}", (bpy.types.Operator,), namespace)
    bpy.utils.register_class(copy)
    return copy


def pump(operator, until=lambda result: "RUNNING_MODAL" not in result, limit_s: float = 300.0, event=TIMER):
    """Send TIMER events to `operator.modal` until `until(result)`; returns that result."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        result = operator.modal(bpy.context, event)
        if until(result):
            return result
        if "RUNNING_MODAL" not in result:
            raise AssertionError(f"the modal operator ended ({result}) before getting there")
        time.sleep(0.02)
    raise AssertionError(f"the modal operator did not get there within {limit_s} s")
