"""Accessibility checks in a real browser with axe-core (shared by the browser tests).

axe-core is the npm package pinned here, fetched once like the slides' vendor
files (sha512 checked) into build/test-vendor/, and injected into the page
under test. Nothing here imports playwright.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCKING = ("serious", "critical")


def _build_slides():
    if "build_slides" not in sys.modules:
        spec = importlib.util.spec_from_file_location("build_slides", ROOT / "scripts" / "build_slides.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["build_slides"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["build_slides"]


def axe_source() -> str:
    """The text of axe.min.js (fetched on first use)."""
    slides = _build_slides()
    asset = slides.Asset("axe-core", "4.14.1",
                         "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
                         "axe-core", ("locales/",))
    vendor = ROOT / "build" / "test-vendor"
    slides.fetch_assets(vendor, (asset,))
    return (vendor / "axe-core" / "axe.min.js").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        shown = ", ".join(self.targets[:4]) + (" ..." if len(self.targets) > 4 else "")
        return f"{self.impact} {self.rule} ({self.help}) at {len(self.targets)} place(s): {shown}"


def run_axe(page, include: str | None = None, exclude: tuple[str, ...] = ()) -> list[Violation]:
    """Every axe violation on the page (or inside ``include``, leaving out ``exclude``)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source())
    context = {"include": [include] if include else [["html"]], "exclude": [[e] for e in exclude]}
    found = page.evaluate(
        """async context => {
            const result = await axe.run(context, {resultTypes: ['violations']});
            return result.violations.map(v => [v.id, v.impact, v.help, v.nodes.map(n => n.target.join(' '))]);
        }""", context)
    return [Violation(rule, impact or "", help_, tuple(targets)) for rule, impact, help_, targets in found]


def blocking(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.impact in BLOCKING]
