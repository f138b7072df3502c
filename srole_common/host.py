"""This machine's CPU in words, for the host descriptions results and calibrations record beside their figures."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model(unknown: str = "unknown") -> str:
    """The ``model name`` line of /proc/cpuinfo; elsewhere ``platform.processor()``, else ``unknown``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or unknown
