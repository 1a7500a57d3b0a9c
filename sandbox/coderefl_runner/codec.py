"""The strict data codec between the judge and the candidate.

Values cross the judge/candidate pipe as JSON trees, never as pickles:

* ``null``, ``true``/``false``, JSON numbers (ints below 2**63, floats by
  their exact ``repr``, ``NaN``/``Infinity``) and strings stand for themselves;
* a JSON array is a ``list``;
* a JSON object is always a tagged value ``{"t": TAG, "v": ...}``: tuples,
  sets, dicts (as pairs, so any hashable key survives), bytes, big ints
  (hex), complex, ranges, the standard-library value types tests compare with
  (Counter, OrderedDict, defaultdict, deque, Fraction, Decimal, date/time
  types), dict views, ``re.Match`` results, consumed iterators, and
  references to objects that stay in the candidate.

The **decoder is the judge's**: it runs on bytes a hostile program wrote, so
it checks sizes, depth and node counts and rebuilds every value from the
judge's own classes; nothing of the candidate's is ever called. The encoder
runs on both sides; the candidate's copy is untrusted by construction (all it
can do is choose which plain value to send, which is all a program can do).
"""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import json
import re

#: the largest encoded message either side accepts
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
#: the most nodes one decoded value may have, and its deepest nesting
MAX_NODES = 2_000_000
MAX_DEPTH = 200
#: how many items of a returned iterator or generator are consumed
MAX_ITER_ITEMS = 100_000
_SMALL_INT = 1 << 63
_DEFAULT_FACTORIES = {"int": int, "list": list, "set": set, "str": str, "float": float, "dict": dict,
                      "tuple": tuple, "bool": bool, "frozenset": frozenset, "bytes": bytes}


class CodecError(Exception):
    """A value that cannot cross, or bytes that are not a valid encoding."""


class Unsupported(CodecError):
    """A value of a type that is not plain data."""

    def __init__(self, type_name: str) -> None:
        super().__init__(type_name)
        self.type_name = type_name


class Ref:
    """The judge's stand-in for an object that stays in the candidate (an
    instance of one of the program's classes). It has no behaviour of its own:
    it can only be handed back to the program."""

    __slots__ = ("ref_id", "type_name", "__weakref__")

    def __init__(self, ref_id: int, type_name: str) -> None:
        self.ref_id = ref_id
        self.type_name = type_name

    def __repr__(self) -> str:
        return "<solution.%s object>" % self.type_name


class MatchValue:
    """A ``re.Match`` as plain data: what tests read of a match (truth, groups,
    spans), rebuilt in the judge. Its behaviour is this class's, not the
    program's."""

    def __init__(self, string, spans, names, pos, endpos, pattern) -> None:
        self.string, self.pos, self.endpos, self.pattern = string, pos, endpos, pattern
        self._spans = [tuple(s) for s in spans]
        self._names = dict(names)

    def _index(self, g):
        if isinstance(g, str):
            if g not in self._names:
                raise IndexError("no such group")
            return self._names[g]
        if not isinstance(g, int) or not 0 <= g < len(self._spans):
            raise IndexError("no such group")
        return g

    def span(self, g=0):
        return self._spans[self._index(g)]

    def start(self, g=0):
        return self.span(g)[0]

    def end(self, g=0):
        return self.span(g)[1]

    def group(self, *gs):
        vals = [self._text(g) for g in (gs or (0,))]
        return vals[0] if len(vals) == 1 else tuple(vals)

    def _text(self, g, default=None):
        a, b = self.span(g)
        return default if a < 0 else self.string[a:b]

    def groups(self, default=None):
        return tuple(self._text(i, default) for i in range(1, len(self._spans)))

    def groupdict(self, default=None):
        return {k: self._text(i, default) for k, i in self._names.items()}

    def __getitem__(self, g):
        return self._text(g)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "<re.Match object; span=%r, match=%r>" % (self.span(), self.group())


# ---------------------------------------------------------------------------
# Encoding (either side)
# ---------------------------------------------------------------------------


def encode(value, refs=None) -> object:
    """``value`` as a JSON-ready tree. ``refs`` maps an object to its
    reference tag (the judge's Refs, the candidate's kept objects); any other
    non-data value raises :class:`Unsupported`."""
    return _Encoder(refs).enc(value, 0)


class _Encoder:
    def __init__(self, refs) -> None:
        self.refs = refs
        self.nodes = 0

    def enc(self, v, depth):
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise CodecError("the value is too large or too deeply nested to compare")
        t = type(v)
        if v is None or t is bool or t is str:
            return v
        if t is int:
            return v if -_SMALL_INT < v < _SMALL_INT else {"t": "int", "v": hex(v)}
        if t is float:
            return v
        if t is list:
            return [self.enc(x, depth + 1) for x in v]
        if t is tuple:
            return {"t": "tuple", "v": [self.enc(x, depth + 1) for x in v]}
        if self.refs is not None:
            tag = self.refs(v)
            if tag is not None:
                return tag
        return self.tagged(v, t, depth)

    def items(self, pairs, depth):
        return [[self.enc(k, depth + 1), self.enc(x, depth + 1)] for k, x in pairs]

    def tagged(self, v, t, depth):  # noqa: C901 - one branch per supported type
        e = lambda xs: [self.enc(x, depth + 1) for x in xs]  # noqa: E731
        if isinstance(v, collections.Counter):
            return {"t": "Counter", "v": self.items(dict.items(v), depth)}
        if isinstance(v, collections.OrderedDict):
            return {"t": "OrderedDict", "v": self.items(dict.items(v), depth)}
        if isinstance(v, collections.defaultdict):
            f = v.default_factory
            name = getattr(f, "__name__", None) if f in _DEFAULT_FACTORIES.values() else None
            return {"t": "defaultdict", "f": name, "v": self.items(dict.items(v), depth)}
        if isinstance(v, dict):
            return {"t": "dict", "v": self.items(dict.items(v), depth)}
        if isinstance(v, frozenset):
            return {"t": "frozenset", "v": e(v)}
        if isinstance(v, set):
            return {"t": "set", "v": e(v)}
        if isinstance(v, collections.deque):
            return {"t": "deque", "m": v.maxlen, "v": e(v)}
        if isinstance(v, int):  # int subclasses (IntEnum, ...) travel as their value
            return self.enc(int.__int__(v), depth)
        if isinstance(v, float):
            return float.__float__(v)
        if isinstance(v, str):
            return str.__str__(v)
        if isinstance(v, tuple):  # namedtuples compare as tuples
            return {"t": "tuple", "v": e(tuple.__iter__(v))}
        if isinstance(v, list):
            return e(list.__iter__(v))
        if isinstance(v, bytes):
            return {"t": "bytes", "v": bytes(v).hex()}
        if isinstance(v, bytearray):
            return {"t": "bytearray", "v": bytes(v).hex()}
        if isinstance(v, complex):
            return {"t": "complex", "v": [v.real, v.imag]}
        if isinstance(v, range):
            return {"t": "range", "v": [v.start, v.stop, v.step]}
        if isinstance(v, fractions.Fraction):
            return {"t": "Fraction", "v": [self.enc(v.numerator, depth), self.enc(v.denominator, depth)]}
        if isinstance(v, decimal.Decimal):
            return {"t": "Decimal", "v": str(v)}
        if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
            if getattr(v, "tzinfo", None) is not None:
                raise Unsupported(type(v).__name__ + " with a time zone")
            return {"t": type(v).__name__, "v": v.isoformat()}
        if isinstance(v, datetime.timedelta):
            return {"t": "timedelta", "v": [v.days, v.seconds, v.microseconds]}
        if isinstance(v, type({}.keys())):
            return {"t": "keys", "v": e(v)}
        if isinstance(v, type({}.values())):
            return {"t": "values", "v": e(v)}
        if isinstance(v, type({}.items())):
            return {"t": "items", "v": [e(p) for p in v]}
        if isinstance(v, re.Match):
            spans = [v.span(i) for i in range(v.re.groups + 1)]
            return {"t": "Match", "v": [v.string if isinstance(v.string, str) else bytes(v.string).hex(),
                                        spans, dict(v.re.groupindex), v.pos, v.endpos, v.re.pattern
                                        if isinstance(v.re.pattern, str) else None]}
        if hasattr(type(v), "__next__") and hasattr(type(v), "__iter__"):
            items = []
            for x in v:
                if len(items) >= MAX_ITER_ITEMS:
                    raise CodecError("the returned iterator yields more than %d items" % MAX_ITER_ITEMS)
                items.append(x)
            return {"t": "iter", "v": e(items)}
        raise Unsupported(type(v).__name__)


def dumps(tree: object) -> bytes:
    return json.dumps(tree, separators=(",", ":"), allow_nan=True).encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------------------
# Decoding (the judge's side: untrusted bytes in, the judge's objects out)
# ---------------------------------------------------------------------------


def loads(data: bytes) -> object:
    """Parse a message's JSON, within the size limit."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise CodecError("a message of %d bytes is over the %d-byte limit" % (len(data), MAX_MESSAGE_BYTES))
    try:
        return json.loads(data.decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError, UnicodeDecodeError) as err:
        raise CodecError("malformed message: %s" % type(err).__name__) from None


def decode(tree: object, resolve=None) -> object:
    """Rebuild a value from its tree with the judge's own types. ``resolve``
    turns a ``ref`` tag into an object (the candidate's table, or the judge's
    Ref factory); without it a reference is an error."""
    return _Decoder(resolve).dec(tree, 0)


class _Decoder:
    def __init__(self, resolve) -> None:
        self.resolve = resolve
        self.nodes = 0

    def dec(self, v, depth):
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise CodecError("the value is too large or too deeply nested")
        t = type(v)
        if v is None or t is bool or t is str or t is int or t is float:
            return v
        if t is list:
            return [self.dec(x, depth + 1) for x in v]
        if t is not dict or type(v.get("t")) is not str:
            raise CodecError("malformed value")
        return self.tagged(v["t"], v.get("v"), v, depth)

    def seq(self, v, depth):
        if type(v) is not list:
            raise CodecError("malformed value")
        return [self.dec(x, depth + 1) for x in v]

    def pairs(self, v, depth):
        out = []
        for p in self.seq(v, depth):
            if type(p) is not list or len(p) != 2:
                raise CodecError("malformed mapping")
            out.append(p)
        return out

    def tagged(self, tag, v, whole, depth):  # noqa: C901 - one branch per supported type
        try:
            if tag == "tuple":
                return tuple(self.seq(v, depth))
            if tag == "dict":
                return {_hashable(k): x for k, x in self.pairs(v, depth)}
            if tag == "set":
                return {_hashable(x) for x in self.seq(v, depth)}
            if tag == "frozenset":
                return frozenset(_hashable(x) for x in self.seq(v, depth))
            if tag == "int":
                return _hex_int(v)
            if tag == "bytes":
                return bytes.fromhex(_str(v))
            if tag == "bytearray":
                return bytearray.fromhex(_str(v))
            if tag == "complex":
                re_, im = self.seq(v, depth)
                return complex(_float(re_), _float(im))
            if tag == "range":
                a, b, c = self.seq(v, depth)
                return range(_int(a), _int(b), _int(c))
            if tag == "Counter":
                return collections.Counter({_hashable(k): x for k, x in self.pairs(v, depth)})
            if tag == "OrderedDict":
                return collections.OrderedDict((_hashable(k), x) for k, x in self.pairs(v, depth))
            if tag == "defaultdict":
                f = whole.get("f")
                factory = _DEFAULT_FACTORIES.get(f) if f is not None else None
                if f is not None and factory is None:
                    raise CodecError("malformed defaultdict")
                return collections.defaultdict(factory, {_hashable(k): x for k, x in self.pairs(v, depth)})
            if tag == "deque":
                m = whole.get("m")
                return collections.deque(self.seq(v, depth), None if m is None else _int(m))
            if tag == "Fraction":
                n, d = self.seq(v, depth)
                return fractions.Fraction(_int(n), _int(d))
            if tag == "Decimal":
                return decimal.Decimal(_str(v)[:1000])
            if tag in ("datetime", "date", "time"):
                cls = getattr(datetime, tag)
                return cls.fromisoformat(_str(v)[:64])
            if tag == "timedelta":
                d, s, us = self.seq(v, depth)
                return datetime.timedelta(_int(d), _int(s), _int(us))
            if tag == "keys":
                return dict.fromkeys(_hashable(x) for x in self.seq(v, depth)).keys()
            if tag == "values":
                return dict(enumerate(self.seq(v, depth))).values()
            if tag == "items":
                return dict((_hashable(k), x) for k, x in self.pairs(v, depth)).items()
            if tag == "Match":
                string, spans, names, pos, endpos, pattern = v
                spans = [(_int(a), _int(b)) for a, b in spans]
                names = {_str(k): _int(i) for k, i in dict(names).items()}
                return MatchValue(_str(string), spans, names, _int(pos), _int(endpos),
                                  None if pattern is None else _str(pattern))
            if tag == "iter":
                return iter(self.seq(v, depth))
            if tag == "ref" and self.resolve is not None:
                return self.resolve(whole)
        except CodecError:
            raise
        except (TypeError, ValueError, ArithmeticError, decimal.InvalidOperation, OverflowError) as err:
            raise CodecError("malformed %s value (%s)" % (tag, type(err).__name__)) from None
        raise CodecError("unknown value tag %r" % tag[:40])


def _hashable(x):
    try:
        hash(x)
    except TypeError:
        raise CodecError("an unhashable key or set element") from None
    return x


def _int(x) -> int:
    if type(x) is int:
        return x
    if type(x) is dict and x.get("t") == "int":
        return _hex_int(x.get("v"))
    raise CodecError("malformed number")


def _hex_int(v) -> int:
    s = _str(v)
    if len(s) > 1_000_000:
        raise CodecError("an integer too large to compare")
    return int(s, 16)


def _float(x) -> float:
    if type(x) in (int, float):
        return float(x)
    raise CodecError("malformed number")


def _str(x) -> str:
    if type(x) is not str:
        raise CodecError("malformed string")
    return x
