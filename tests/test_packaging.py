"""The package builds without a deprecation warning, with a build backend from the pinned range.

setuptools announces what it will stop supporting a year or more ahead, as
a warning in the build's output (``license = { text = "MIT" }``: "By
2027-Feb-18 ... your builds will no longer be supported"). A warning today
is a broken ``make setup`` later, so the build is run here, offline, with
the setuptools of the ``test`` extra, on a copy of the package's files (a
build writes build/ and *.egg-info next to the sources).
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE_FILES = ("pyproject.toml", "README.md", "LICENSE")


def build(source: Path, out: Path) -> tuple[str, list[Path]]:
    """Build a wheel of ``source`` into ``out``; everything pip and the backend printed, and the wheels."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"} | {"PIP_NO_INPUT": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-v",
         "--wheel-dir", str(out), str(source)],
        capture_output=True, text=True, env=env, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output, sorted(out.glob("*.whl"))


@pytest.fixture
def package_copy(tmp_path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in PACKAGE_FILES:
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "course", source / "course", ignore=shutil.ignore_patterns("__pycache__"))
    return source


def test_the_installed_build_backend_is_in_the_pinned_range():
    from packaging.requirements import Requirement
    import setuptools

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    backend = next(Requirement(r) for r in requires if Requirement(r).name == "setuptools")
    assert backend.specifier.contains(setuptools.__version__), (setuptools.__version__, str(backend.specifier))


def test_building_the_package_prints_no_deprecation_warning(package_copy, tmp_path):
    output, wheels = build(package_copy, tmp_path / "wheels")
    assert "deprecat" not in output.lower(), output
    assert len(wheels) == 1
    with zipfile.ZipFile(wheels[0]) as wheel:
        metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        fields = email.message_from_string(wheel.read(metadata).decode())
        assert fields["License-Expression"] == "MIT"
        assert fields["License-File"] == "LICENSE"
        assert any(n.endswith("licenses/LICENSE") for n in wheel.namelist())


def test_the_check_sees_the_deprecation_it_was_written_for(package_copy, tmp_path):
    # The old table form of the license, which setuptools 77 and later announce they will refuse.
    pyproject = package_copy / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('license = "MIT"\nlicense-files = ["LICENSE"]', 'license = { text = "MIT" }'))
    assert pyproject.read_text() != text
    output, _ = build(package_copy, tmp_path / "wheels")
    # pip relays the backend's SetuptoolsDeprecationWarning as a BuildBackendWarning
    assert "`project.license` as a TOML table is deprecated" in output
