"""Job kinds used by the job-engine tests. Workers import this module through
CLINICAST_JOBS__EXTRA_MODULES, the same way a deployment adds its own kinds.

``test.effect`` does its work in steps, then switches its output in: its effect (one line in
``effects.log`` and ``result-{job}.txt``) happens once per job however often it is started.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from training.jobs.context import JobContext
from training.jobs.registry import registry
from training.jobs.runner import JobCancelled


def _append(path: Path, line: str) -> None:
    with path.open("a") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@registry.kind("test.effect", queue="default", max_attempts=3)
def effect(ctx: JobContext, payload: dict[str, Any]) -> None:
    folder = Path(payload["dir"])
    _append(folder / "starts.log", f"{ctx.job_id} {ctx.attempt} {os.getpid()}")
    steps = int(payload.get("steps", 10))
    for step in range(steps):
        if ctx.cancelled.is_set():
            raise JobCancelled()
        ctx.progress(step / steps, f"step {step + 1} of {steps}")
        time.sleep(float(payload.get("step_seconds", 0.2)))
    result = folder / f"result-{ctx.job_id}.txt"
    if result.exists():  # an earlier attempt switched its output in already: nothing to redo
        return
    partial = folder / f"attempts_{ctx.attempt_tag}_"
    partial.write_text(f"job {ctx.job_id} done by attempt {ctx.attempt}")
    partial.replace(result)
    _append(folder / "effects.log", f"{ctx.job_id}")


@registry.kind("test.poison", queue="default", max_attempts=3)
def poison(ctx: JobContext, payload: dict[str, Any]) -> None:
    _append(Path(payload["dir"]) / "starts.log", f"{ctx.job_id} {ctx.attempt}")
    raise ValueError(f"corrupt input in {payload.get('name', 'source')}")
