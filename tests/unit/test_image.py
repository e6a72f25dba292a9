"""The operator image holds the operator only, with pinned dependencies.

Docker is not needed: the Dockerfile is read, the lock file checked against pyproject.toml,
and the operator's wheel built (offline, from exactly what the Dockerfile copies) and
listed. The local test bed (vendor servers, fake data, control plane) is the separate
crmsync-testbed distribution; `crmsync sim` without it says how to install it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import pkgutil
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import crmsync
from crmsync import cli
from tests.conftest import REPO

LOCK = REPO / "requirements.lock"
BUILD_LOCK = REPO / "requirements-build.lock"


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _copied_from_context() -> list[str]:
    sources = []
    for keyword, rest in _dockerfile_instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            sources.extend(rest.split()[:-1])
    return sources


def _lock_pins(lock: Path = LOCK) -> dict[str, tuple[str, list[str]]]:
    """name → (version, hashes) of every requirement in a lock file."""
    text = lock.read_text()
    pins: dict[str, tuple[str, list[str]]] = {}
    for raw in re.split(r"\n(?=\S)", text):
        block = raw.strip()
        if not block or block.startswith("#"):
            continue
        assert not block.startswith("-"), f"{lock.name} has an option line: {block!r}"
        head = block.split("\\")[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)(\s*;.*)?", head)
        assert match, f"not an exact pin in {lock.name}: {head!r}"
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        pins[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return pins


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _runtime_requirements() -> list[Requirement]:
    return [Requirement(r) for r in _pyproject()["project"]["dependencies"]]


def test_dockerfile_copies_only_the_operator() -> None:
    sources = _copied_from_context()
    assert "operator" in sources
    assert set(sources) <= {
        "pyproject.toml",
        "README.md",
        "operator",
        "requirements.lock",
        "requirements-build.lock",
    }
    assert not any("testbed" in s for s in sources)
    assert not [rest for _, rest in _dockerfile_instructions() if "testbed" in rest]


def test_dockerfile_installs_from_the_lock_with_hashes() -> None:
    runs = [rest for keyword, rest in _dockerfile_instructions() if keyword == "RUN"]
    installs = [r for r in runs if "pip install" in r]
    assert installs, "the Dockerfile installs nothing"
    locked = [r for r in installs if "-r /tmp/requirements.lock" in r]
    assert locked, "the image does not install requirements.lock"
    assert "--require-hashes" in locked[0] and "--no-deps" in locked[0]
    for install in installs:  # nothing resolved at build time: every install is --no-deps
        assert "--no-deps" in install, install
    wheels = [r for r in runs if "pip wheel" in r]
    assert wheels and all("--no-deps" in w and "--no-build-isolation" in w for w in wheels)
    backend = [r for r in installs if "-r requirements-build.lock" in r]
    assert backend and "--require-hashes" in backend[0], "the build backend is not pinned"


def test_build_backend_is_pinned_with_hashes() -> None:
    pins = _lock_pins(BUILD_LOCK)
    for text in _pyproject()["build-system"]["requires"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in {BUILD_LOCK.name}: run `bash hack/lock.sh`"
        assert requirement.specifier.contains(pins[name][0], prereleases=True)
    assert all(hashes for _, hashes in pins.values())


def test_every_runtime_dependency_is_pinned_with_hashes() -> None:
    pins = _lock_pins()
    for requirement in _runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run `bash hack/lock.sh`"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside {requirement}: "
            "run `bash hack/lock.sh`"
        )
    for name, (_, hashes) in pins.items():
        assert hashes, f"{name} has no --hash in requirements.lock"


def test_the_lock_is_closed_under_dependencies() -> None:
    """What the locked packages need (as installed here) is locked too: with --no-deps
    the image would otherwise miss it."""
    pins = _lock_pins()
    environment = {"extra": ""}
    missing = []
    for name in pins:
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here: nothing to compare
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            if canonicalize_name(requirement.name) not in pins:
                missing.append(f"{name} → {requirement}")
    assert not missing, f"not in requirements.lock (run `bash hack/lock.sh`): {missing}"


def test_operator_wheel_holds_no_test_bed(tmp_path: Path) -> None:
    """The wheel the image installs, built from what the Dockerfile copies."""
    context = tmp_path / "context"
    context.mkdir()
    for source in _copied_from_context():
        path = REPO / source
        if path.is_dir():
            shutil.copytree(
                path, context / source, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
            )
        else:
            shutil.copy2(path, context / source)
    out = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            str(out),
            str(context),
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (wheel,) = out.glob("crmsync_operator-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "crmsync/cli.py" in names and "crmsync/api/crdgen.py" in names
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"crmsync"}, top
    bed = [n for n in names if re.search(r"(^|/)(sim|controlplane|crmsync_testbed)/", n)]
    assert not bed, f"the operator wheel holds the test bed: {bed[:5]}"


def test_product_package_has_no_test_bed_modules() -> None:
    modules = [m.name for m in pkgutil.walk_packages(crmsync.__path__, "crmsync.")]
    assert "crmsync.cli" in modules
    assert not [m for m in modules if ".sim" in m or ".controlplane" in m]
    for path in Path(crmsync.__path__[0]).rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+crmsync_testbed", text, re.M), path


def test_sim_without_the_test_bed_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **_: [])
    for argv in (
        ["sim", "serve", "--data-dir", "x"],
        ["controlplane", "up", "--dir", "d"],
        ["sim", "--help"],
        ["sim"],
    ):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert "the local test bed is not installed: pip install -e ./testbed" in err, argv
    with pytest.raises(SystemExit):  # the operator's own commands still parse strictly
        cli.main(["crds", "--no-such-option"])


def test_test_bed_commands_plug_in_through_entry_points() -> None:
    names = {e.name for e in importlib.metadata.entry_points(group=cli.COMMANDS_GROUP)}
    if not {"sim", "controlplane"} <= names:
        pytest.skip("crmsync-testbed is not installed (pip install -e ./testbed)")
    parser = cli.build_parser()
    args = parser.parse_args(["sim", "seed", "--contacts", "5"])
    assert args.handler.__module__ == "crmsync_testbed.cli"
    assert args.contacts == 5
    args = parser.parse_args(["controlplane", "down", "--dir", "d"])
    assert args.handler.__module__ == "crmsync_testbed.cli"
    assert isinstance(args, argparse.Namespace)
