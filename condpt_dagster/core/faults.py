"""Failpoints for the fault-injection tests (tests/e2e/test_fault_injection.py).

``CONDPT_FAILPOINT=<name>[@<hit>]`` makes the process SIGKILL itself the ``hit``-th time (default: the
first) it reaches ``failpoint(name)``: a crash at a chosen instant, deterministic where a timed kill is
not. Unset, a failpoint costs one environment lookup. Names in use: ``raw_documents:batch``,
``document_labels:batch``, ``token_blocks:before_meta``, ``label_audit:upsert``,
``checkpoint:before_latest``.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "CONDPT_FAILPOINT"
_hits: Counter[str] = Counter()  # per process: how often each armed failpoint was reached


def failpoint(name: str) -> None:
    armed = os.environ.get(ENV)
    if not armed:
        return
    target, _, hit = armed.partition("@")
    if target == name:
        _hits[name] += 1
        if _hits[name] == int(hit or 1):
            os.kill(os.getpid(), signal.SIGKILL)
