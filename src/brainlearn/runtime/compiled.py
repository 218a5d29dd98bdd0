"""Optional numba kernels: one policy for every module that has them (the replay trees, the trace rules).

``compiled(build)`` returns ``build()`` (numba-compiled functions), built once per process, or None where numba is
not installed or ``BRAINLEARN_NUMBA=0`` is set in the environment; the caller then uses its plain path.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def compiled(build: Callable[[], Any]) -> Any | None:
    """``build()`` compiled once per process (cached on disk by numba), or None: numba missing or turned off."""
    if os.environ.get("BRAINLEARN_NUMBA", "1") == "0":
        return None
    return _built(build)


@functools.cache
def _built(build: Callable[[], Any]) -> Any | None:
    try:
        return build()
    except ImportError:
        log.debug("numba is not installed: %s uses its plain path", build.__module__)
        return None
