"""``crmsync run``: the kopf operator process."""

from __future__ import annotations

import asyncio
import logging

import kopf


def main_run(
    *, namespaces: list[str], verbose: bool, liveness: str | None, standalone: bool
) -> int:
    import crmsync.handlers  # noqa: F401 - registers the handlers

    kopf.configure(verbose=verbose)
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
    asyncio.run(
        kopf.operator(
            clusterwide=not namespaces,
            namespaces=namespaces,
            liveness_endpoint=liveness,
            standalone=standalone,
        )
    )
    return 0
