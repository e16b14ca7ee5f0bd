"""What crosses the sandbox's wall, in both directions.

- Into the sandbox: an exercise case's arguments, pickled with cloudpickle
  (they may hold functions, random generators, graphs, candidate
  implementations). Only the judge writes these, so unpickling them inside is
  safe.
- Out of the sandbox: what the learner's function returned, and its arguments
  after the call, as plain JSON (``encode``/``decode``). Nothing from inside
  is ever unpickled outside: a value is numbers, strings, numpy arrays (bytes,
  dtype, shape), lists, tuples, dicts, random-generator states and objects'
  attributes; no code, no class from inside.

Objects in the arguments are numbered in the same walk order on both sides
(``objects``), so that a function which fills ``.grad`` on a graph's nodes
changes the judge's copies of those same nodes (``apply``).
"""

from __future__ import annotations

import base64
import json
import socket
import types
from collections import deque

import numpy as np

LINE_LIMIT = 64 * 2**20  # one message; a larger one is the learner's problem, said so
DEPTH_LIMIT = 40
_SCALARS = (bool, int, float, str, type(None))
_NO_STATE = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType, type)


class Opaque:
    """An object made inside the sandbox, seen outside as its attributes only."""

    def __init__(self, kind: str, state: dict) -> None:
        self.__dict__.update(state)
        self._kind = kind

    def __repr__(self) -> str:
        return f"<{self._kind}>"


_SLOTS: dict[type, tuple[str, ...]] = {}


def _slots(kind: type) -> tuple[str, ...]:
    """The slot names of a type and its bases, once per type (a graph of thousands of nodes asks for each)."""
    try:
        return _SLOTS[kind]
    except KeyError:
        pass
    except TypeError:  # a type whose metaclass makes it unhashable: not cached
        return _slots_of(kind)
    names = _SLOTS[kind] = _slots_of(kind)
    return names


def _slots_of(kind: type) -> tuple[str, ...]:
    names: list[str] = []
    for klass in kind.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names += [slots] if isinstance(slots, str) else [n for n in slots if n not in ("__dict__", "__weakref__")]
    return tuple(names)


def _has_state(value) -> bool:
    if isinstance(value, _NO_STATE) or callable(value):
        return False
    return hasattr(value, "__dict__") or bool(_slots(type(value)))


def state_of(value) -> dict:
    """An object's attributes: its __dict__ and its slots (graph nodes use slots)."""
    state = dict(vars(value)) if hasattr(value, "__dict__") else {}
    for name in _slots(type(value)):
        if hasattr(value, name):
            state[name] = getattr(value, name)
    return state


def _set_state(target, state: dict) -> None:
    for name, value in state.items():
        try:
            object.__setattr__(target, name, value)
        except (AttributeError, TypeError):
            pass


def _children(value) -> list:
    if isinstance(value, (*_SCALARS, np.ndarray, np.generic, np.random.Generator)):
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, dict):
        return list(value.values())
    return list(state_of(value).values()) if _has_state(value) else []


def objects(value) -> list:
    """The objects with attributes reachable from ``value``, breadth first (no recursion: graphs are deep)."""
    found, seen, queue = [], set(), deque([value])
    while queue:
        item = queue.popleft()
        if _has_state(item):
            if id(item) in seen:
                continue
            seen.add(id(item))
            found.append(item)
        queue.extend(_children(item))
    return found


# ----- inside: value -> JSON ---------------------------------------------------------

def encode_message(value, known: list, states: bool = True) -> dict:
    """``value`` and the state of every object it reaches; ``known`` are numbered first, in order.

    Without ``states`` the objects are references only: the other side keeps its own copies as they were.
    """
    numbers = {id(o): n for n, o in enumerate(known)}
    by_number = dict(enumerate(known))
    body = encode(value, numbers, by_number)
    if not states:
        return {"value": body, "objects": {}}
    states, done = {}, 0
    while len(states) < len(numbers) and done < 100_000:
        for n in [n for n in sorted(by_number) if str(n) not in states]:
            obj = by_number[n]
            states[str(n)] = {"kind": type(obj).__name__,
                              "state": {str(k): encode(v, numbers, by_number) for k, v in state_of(obj).items()}}
            done += 1
    return {"value": body, "objects": states}


def encode(value, numbers: dict[int, int], by_number: dict, depth: int = 0):
    """A JSON-able description of ``value``; objects become references numbered in ``numbers`` (grows)."""
    if depth > DEPTH_LIMIT:
        return {"deep": True}
    kind = type(value)
    if kind in _SCALARS:
        return {"f": repr(value)} if kind is float else value
    for base in (bool, int, float, str):  # a subclass crosses as its plain value, nothing more
        if isinstance(value, base) and not isinstance(value, np.generic):
            return encode(base(value), numbers, by_number, depth)
    if isinstance(value, np.ndarray):
        array = np.asarray(value)
        if array.dtype.hasobject:
            return {"list": [encode(v, numbers, by_number, depth + 1) for v in array.ravel().tolist()], "shape": array.shape}
        array = np.ascontiguousarray(array)
        return {"nd": base64.b64encode(array.tobytes()).decode(), "dtype": array.dtype.str, "shape": array.shape}
    if isinstance(value, np.generic):
        if value.dtype.hasobject:
            return encode(value.item(), numbers, by_number, depth)
        return {"np": base64.b64encode(np.asarray(value).tobytes()).decode(), "dtype": value.dtype.str}
    if isinstance(value, complex):
        return {"c": [value.real, value.imag]}
    if isinstance(value, np.random.Generator):
        return {"rng": json.loads(json.dumps(value.bit_generator.state, default=int))}
    if isinstance(value, (list, tuple)):
        return {"t" if isinstance(value, tuple) else "l": [encode(v, numbers, by_number, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"d": [[encode(k, numbers, by_number, depth + 1), encode(v, numbers, by_number, depth + 1)] for k, v in value.items()]}
    if _has_state(value):
        if id(value) not in numbers:
            numbers[id(value)] = len(numbers)
            by_number[numbers[id(value)]] = value
        return {"ref": numbers[id(value)]}
    return {"other": type(value).__name__}


# ----- outside: JSON -> value ---------------------------------------------------------

def decode_message(message: dict, known: list):
    """The value of ``encode_message``; the objects numbered like ``known`` are ``known``, brought up to date."""
    known = list(known)
    states = message.get("objects", {})
    if not isinstance(states, dict) or len(states) > 100_000:
        raise ValueError("not a value")
    for key, entry in states.items():
        number = int(key)
        if number < 0 or number > 100_000:
            raise ValueError("not a value")
        while len(known) <= number:
            known.append(None)
        if known[number] is None:
            known[number] = Opaque(str(entry.get("kind", "object"))[:100], {})
    for key, entry in states.items():
        # An attribute that cannot cross (a function, say) keeps the judge's own value.
        state = {str(k): decode(v, known) for k, v in entry["state"].items()
                 if not (isinstance(v, dict) and "other" in v)}
        _set_state(known[int(key)], state)
    return decode(message["value"], known)


def decode(data, known: list, depth: int = 0):
    """The value ``encode`` described, its object references resolved in ``known``."""
    if depth > DEPTH_LIMIT:
        raise ValueError("the value is nested too deeply")
    if data is None or isinstance(data, (bool, int, str)):
        return data
    if isinstance(data, float):
        return data
    if not isinstance(data, dict):
        raise ValueError("not a value")
    if "f" in data:
        return float(data["f"])
    if "nd" in data:
        dtype = np.dtype(data["dtype"])
        if dtype.hasobject:
            raise ValueError("object arrays do not cross")
        return np.frombuffer(base64.b64decode(data["nd"]), dtype=dtype).reshape(data["shape"]).copy()
    if "list" in data:
        items = [decode(v, known, depth + 1) for v in data["list"]]
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return array.reshape(data["shape"])
    if "np" in data:
        dtype = np.dtype(data["dtype"])
        if dtype.hasobject:
            raise ValueError("object scalars do not cross")
        return np.frombuffer(base64.b64decode(data["np"]), dtype=dtype)[0]
    if "c" in data:
        return complex(*data["c"])
    if "rng" in data:
        generator = np.random.Generator(np.random.PCG64())
        generator.bit_generator.state = data["rng"]
        return generator
    if "t" in data:
        return tuple(decode(v, known, depth + 1) for v in data["t"])
    if "l" in data:
        return [decode(v, known, depth + 1) for v in data["l"]]
    if "d" in data:
        return {_hashable(decode(k, known, depth + 1)): decode(v, known, depth + 1) for k, v in data["d"]}
    if "ref" in data:
        number = int(data["ref"])
        return known[number] if 0 <= number < len(known) else None
    if "other" in data:
        return Opaque(str(data["other"])[:100], {})
    if "deep" in data:
        return Opaque("value nested too deeply", {})
    raise ValueError("not a value")


def _hashable(key):
    try:
        hash(key)
        return key
    except TypeError:
        return repr(key)


def apply(given, after) -> None:
    """Make the judge's ``given`` arguments what the learner's call left of them (in place)."""
    for old, new in zip(given, after):
        _apply_one(old, new)


def _apply_one(old, new) -> None:
    if isinstance(old, np.ndarray) and isinstance(new, np.ndarray):
        if old.shape == new.shape and old.flags.writeable:
            try:
                np.copyto(old, new, casting="unsafe")
            except (TypeError, ValueError):
                pass
        elif old.flags.writeable:
            old[...] = np.nan  # reshaped in place: certainly changed
    elif isinstance(old, list) and isinstance(new, list):
        old[:] = new
    elif isinstance(old, dict) and isinstance(new, dict):
        old.clear()
        old.update(new)
    elif isinstance(old, np.random.Generator) and isinstance(new, np.random.Generator):
        try:
            old.bit_generator.state = new.bit_generator.state
        except (TypeError, ValueError):
            pass


class Line:
    """One JSON message per line over a socket, both ways (the judge and the client in the sandbox).

    ``limit`` bounds how much one message may be before it is refused: the judge
    reads what learner code sends and must not be made to hold gigabytes.
    """

    def __init__(self, sock: socket.socket, peer: str, limit: int | None = None) -> None:
        self.sock, self.peer, self.limit, self.buffer = sock, peer, limit, b""

    def send(self, message: dict) -> None:
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def receive(self) -> dict:
        while b"\n" not in self.buffer:
            if self.limit is not None and len(self.buffer) > self.limit:
                raise ValueError("the answer is larger than the grader accepts")
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError(f"{self.peer} closed the connection")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError("not a message")
        return message
