"""Has anything the judge relies on been replaced? A snapshot of module and object attributes.

Taken before a learner's code runs and compared after it ran (and after each
call of the learner's function): a monkeypatched ``np.allclose``, a redefined
``course.assess.diagnose.evaluate``, an exercise whose reference was swapped,
a trace hook or an extra thread all show up as a change.
"""

from __future__ import annotations

import operator
import sys
import threading
from types import ModuleType

# Standard modules the evaluation uses, beside numpy and the course package.
WATCHED_STDLIB = ("builtins", "copy", "numbers", "zlib", "inspect", "traceback", "signal", "math", "json",
                  "dataclasses", "functools", "operator", "itertools", "collections", "threading", "os",
                  "secrets", "select", "pickle")


def _watched(name: str) -> bool:
    return (name in WATCHED_STDLIB or name == "__main__" or name == "numpy" or name.startswith("numpy.")
            or name == "course" or name.startswith("course."))


class Snapshot:
    def __init__(self, extra_objects: dict[str, object] = ()) -> None:
        self._groups: list[tuple[str, dict, tuple, tuple]] = []
        for name, module in list(sys.modules.items()):
            if isinstance(module, ModuleType) and _watched(name):
                namespace = vars(module)
                self._add(name, namespace)
                if name.startswith("course"):
                    for attr, value in list(namespace.items()):
                        if isinstance(value, type) and value.__module__ == name:
                            self._add(f"{name}.{attr}", value.__dict__)
        for label, obj in dict(extra_objects).items():
            self._add(label, vars(obj))
        self._thread_count = threading.active_count()

    def _add(self, label: str, namespace) -> None:
        items = list(namespace.items())
        self._groups.append((label, namespace, tuple(k for k, _ in items), tuple(v for _, v in items)))

    def first_change(self) -> str | None:
        """What was replaced or removed since the snapshot, or None."""
        # Checked after every call of a learner's function, so the common case runs in C: map/is_.
        missing = object()
        for label, namespace, keys, values in self._groups:
            if not all(map(operator.is_, map(namespace.get, keys), values)):
                for attr, value in zip(keys, values):
                    if namespace.get(attr, missing) is not value:
                        return f"`{label}.{attr}` was replaced or removed"
        if sys.gettrace() is not None or sys.getprofile() is not None:
            return "a trace or profile hook was installed"
        if threading.active_count() != self._thread_count:
            return "a thread was started"
        return None
