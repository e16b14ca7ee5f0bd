"""environment.yml (conda, Binder) and pyproject.toml (pip) name the same packages and versions."""

import re
import tomllib

from conftest import ROOT


# Extras for instructors only, never in the learners' environment (conda, Binder).
INSTRUCTOR_EXTRAS = ("nbgrader",)


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [d for name, extra in project["optional-dependencies"].items()
                                       if name not in INSTRUCTOR_EXTRAS for d in extra]
    pins = {}
    for spec in specs:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==([\w.]+)", spec).groups()
        pins[name.lower()] = version
    return pins


def environment_pins() -> tuple[dict[str, str], list[str]]:
    conda, pip, section = {}, [], None
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.split("#", 1)[0].rstrip()
        if not stripped.startswith(" "):
            section = stripped.rstrip(":")  # a top-level key: name, channels, dependencies
            continue
        if section not in ("dependencies", "pip"):
            continue
        if stripped.strip() == "- pip:":
            section = "pip"
            continue
        match = re.fullmatch(r"\s*- ([A-Za-z0-9_.-]+)(?:=([\w.]+))?", stripped)
        if stripped.strip().startswith("- ") and section == "pip":
            pip.append(stripped.strip()[2:])
        elif match:
            conda[match.group(1).lower()] = match.group(2)
    return conda, pip


def test_same_packages_and_versions():
    conda, _ = environment_pins()
    assert conda.pop("python") == "3.11"
    assert conda.pop("pip") is None
    assert conda == pyproject_pins()


def test_environment_installs_the_course_itself():
    _, pip = environment_pins()
    assert pip == ["-e ."]


def test_python_version_agrees():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.12"


def test_instructor_extras_are_pinned_too():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for name in INSTRUCTOR_EXTRAS:
        for spec in project["optional-dependencies"][name]:
            assert re.fullmatch(r"[A-Za-z0-9_.-]+==[\w.]+", spec), f"pin {spec} exactly, like the others"
