"""``gyre demo``: the whole continuous-training loop, on real data, on a running stack.

See :mod:`gyre.stack.demo._loop` for the stages and the events each one waits for.
"""

from __future__ import annotations

from gyre.stack.demo._data import DemoData, DemoDataError, load_csv, load_default
from gyre.stack.demo._events import EventRecorder, RecordedEvent
from gyre.stack.demo._loop import DemoFailed, DemoOptions, DemoResult, run_demo
from gyre.stack.demo._summary import build_summary, dumps, render_summary

__all__ = [
    "DemoData",
    "DemoDataError",
    "DemoFailed",
    "DemoOptions",
    "DemoResult",
    "EventRecorder",
    "RecordedEvent",
    "build_summary",
    "dumps",
    "load_csv",
    "load_default",
    "render_summary",
    "run_demo",
]
