"""Where the vendors' API specifications are: the one setting every contract test reads.

``CRMSYNC_SPECS_DIR`` names the folder; unset, it is ``../shared/specs`` beside the
repository (where CI has it). The files are pinned in ``hack/specs.lock`` (path, source URL
at a fixed commit, sha256) and ``bash hack/fetch-specs.sh`` downloads them.

When a pinned file is missing, a test that needs it is skipped with a reason saying how to
get it — unless ``CRMSYNC_SPECS_DIR`` was set explicitly: then the files were asked for,
and their absence fails the test.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

ENV = "CRMSYNC_SPECS_DIR"
REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "hack" / "specs.lock"
DEFAULT = REPO.parent / "shared" / "specs"


@dataclass(frozen=True)
class Pinned:
    sha256: str
    path: str
    url: str


def pinned() -> list[Pinned]:
    """The lock file's entries."""
    entries = []
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            sha256, path, url = line.split()
            entries.append(Pinned(sha256, path, url))
    return entries


def specs_dir() -> Path:
    value = os.environ.get(ENV)
    return Path(value) if value else DEFAULT


def require(folder: str) -> Path:
    """``folder`` inside the specs folder, with every pinned file of it present.

    Skips the calling test (fails it when ``CRMSYNC_SPECS_DIR`` is set) otherwise.
    """
    base = specs_dir()
    wanted = [p.path for p in pinned() if p.path.startswith(f"{folder}/")]
    if not wanted:
        raise LookupError(f"no pinned spec files under {folder}/ in {LOCK}")
    missing = [path for path in wanted if not (base / path).is_file()]
    if missing:
        message = (
            f"vendor API spec {missing[0]} ({len(missing)} of {len(wanted)} {folder} files) "
            f"not found in {base}: run `bash hack/fetch-specs.sh` (downloads the files "
            f"pinned in hack/specs.lock), or set {ENV} to a folder holding them"
        )
        if os.environ.get(ENV):  # set, not merely present and empty
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return base / folder
