"""Optional imports that are absent, answered from memory.

httpcore asks ``import sniffio`` (optional, to tell asyncio from trio) each time it sets
up a lock, event or semaphore: several times per HTTP request. When sniffio is not
installed, each try searches every ``sys.path`` entry again (about 0.3 ms of CPU), which
made it the operator's largest CPU cost with hundreds of syncs. A ``None`` entry in
``sys.modules`` makes the same ImportError immediate; an installed module is left alone.
"""

from __future__ import annotations

import importlib.util
import sys

OPTIONAL = ("sniffio",)


def remember_absent(names: tuple[str, ...] = OPTIONAL) -> list[str]:
    """Mark the modules of ``names`` that cannot be imported; returns those marked."""
    marked = []
    for name in names:
        if name in sys.modules or importlib.util.find_spec(name) is not None:
            continue
        sys.modules[name] = None  # type: ignore[assignment]
        marked.append(name)
    return marked
