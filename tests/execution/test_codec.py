"""The judge's data codec: what crosses from the candidate, and what the judge
refuses to build from hostile bytes."""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import json
import math
import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coderefl.execution.image import sandbox_dir

sys.path.insert(0, str(sandbox_dir()))
from coderefl_runner import codec  # noqa: E402

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-(1 << 200), max_value=1 << 200),
                    st.floats(allow_nan=False), st.text(), st.binary(), st.complex_numbers(allow_nan=False))
hashables = st.recursive(scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3), max_leaves=8)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(hashables, inner, max_size=3)
    | st.sets(hashables, max_size=3) | st.frozensets(hashables, max_size=3),
    max_leaves=20,
)


def roundtrip(value):
    return codec.decode(codec.loads(codec.dumps(codec.encode(value))))


@settings(max_examples=300, deadline=None)
@given(values)
def test_plain_values_cross_exactly(value):
    back = roundtrip(value)
    assert back == value
    assert type(back) is type(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), -0.0, 1e-320, 0.1 + 0.2])
def test_floats_cross_bit_for_bit(value):
    back = roundtrip(value)
    assert math.isnan(back) if math.isnan(value) else (back == value and math.copysign(1, back) == math.copysign(1, value))


def test_library_values_are_rebuilt_from_content():
    d = collections.defaultdict(list, {"k": [1]})
    samples = [collections.Counter("aab"), collections.OrderedDict(b=1, a=2), d, collections.deque([1, 2], maxlen=3),
               fractions.Fraction(1, 3), decimal.Decimal("1.10"), datetime.date(2026, 12, 2),
               datetime.datetime(2026, 12, 2, 8, 0, 1, 5), datetime.time(1, 2), datetime.timedelta(days=2, seconds=3),
               range(1, 10, 3), bytearray(b"xy")]
    for value in samples:
        back = roundtrip(value)
        assert back == value and type(back) is type(value), value
    assert roundtrip(d).default_factory is list
    assert roundtrip(collections.deque([1], maxlen=3)).maxlen == 3
    assert list(roundtrip(iter([1, 2, 3]))) == [1, 2, 3]
    assert roundtrip({"a": 1}.keys()) == {"a"}
    m = roundtrip(re.search(r"(?P<w>b+)(c)?", "abbd"))
    assert m and m.group() == "bb" and m.group("w") == "bb" and m.span() == (1, 3) and m.groups() == ("bb", None)


def test_subclasses_travel_as_their_plain_value():
    class Lying(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    back = roundtrip(Lying(3))
    assert type(back) is int and back == 3 and back != 4


def test_objects_are_unsupported_by_name():
    class Thing:
        pass

    with pytest.raises(codec.Unsupported) as err:
        codec.encode([1, Thing()])
    assert err.value.type_name == "Thing"


@pytest.mark.parametrize("tree", [
    {"t": "nope"}, {"v": 1}, {"t": "dict", "v": [[[1], 2]]}, {"t": "set", "v": [[1]]}, {"t": "tuple", "v": 3},
    {"t": "int", "v": "zz"}, {"t": "Decimal", "v": 1}, {"t": "range", "v": [1, 2]}, {"t": "ref", "v": 1},
    {"t": "defaultdict", "f": "os.system", "v": []}, {"t": "date", "v": "not a date"},
])
def test_malformed_trees_are_refused(tree):
    with pytest.raises(codec.CodecError):
        codec.decode(tree)


def test_hostile_messages_are_refused_not_crashed_on():
    for data in (b"[" * 100_000 + b"]" * 100_000, b"{", b"\xff\xfe", b"1" * 5000):
        with pytest.raises(codec.CodecError):
            codec.decode(codec.loads(data))
    deep = json.dumps({"t": "tuple", "v": [0]})
    for _ in range(codec.MAX_DEPTH + 5):
        deep = '{"t": "tuple", "v": [%s]}' % deep
    with pytest.raises(codec.CodecError):
        codec.decode(codec.loads(deep.encode()))


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["t", "v", "f", "m"]), inner,
                                                                                 max_size=3), max_leaves=10))
def test_the_decoder_never_raises_anything_but_codec_errors(tree):
    try:
        codec.decode(tree)
    except codec.CodecError:
        pass
