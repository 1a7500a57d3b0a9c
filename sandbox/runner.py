"""coderefl's in-sandbox runner: the trusted side of every execution.

Plain standard library, no coderefl imports: it is copied into the sandbox
image and also run by the (unsafe) local backend.

Modes
  ``serve``  long-lived; in a pooled container it is PID 1. Reads jobs as
             4-byte big-endian length + JSON from stdin, answers the same way
             on stdout, one answer per job, forever.
  ``once``   one job from stdin, one answer on stdout (the local backend).

Per job the server forks a fresh child (no exec: the server has imported
nothing untrusted, so a fork is a clean, fast interpreter) in a fresh work
dir, new session, its own stdout/stderr pipes and a private report pipe. The
child (the *harness*) compiles the tests before the solution is imported,
grabs every reference it needs, then imports the solution and runs each test,
writing one framed record per test. The server alone decides the verdict:
the set of expected tests comes from its own parse of the tests file, and a
run whose report is incomplete, malformed or out of order is ``error``, never
``passed``; the child's exit code and output never count.

Why a fork and not exec: a fresh ``python3`` costs 15-25 ms per job, a fork
of an idle server about 2 ms. The child inherits no secret worth having: the
host channel's fds are closed in it and, as PID 1 is non-dumpable, it cannot
reopen them through /proc/1.
"""

from __future__ import annotations

import ast
import builtins
import collections
import datetime
import decimal
import fractions
import json
import operator
import os
import re
import resource
import select
import shutil
import signal
import struct
import sys
import time
import traceback
import types

PID1 = os.getpid() == 1
WORK_ROOT = os.environ.get("CODEREFL_WORK_ROOT", "/work")
RUNNER_DIR = os.path.dirname(os.path.abspath(__file__))
REPORT_FD = 3
MAX_REPORT_BYTES = 4 * 1024 * 1024
MESSAGE_CHARS = 2000
STATUSES = ("passed", "failed", "error", "skipped")
_STATUS_SET = frozenset(STATUSES)
#: a tests file with this line (alone) only accepts plain values from the solution's functions
PLAIN_VALUES_PRAGMA = "# coderefl: plain-values"
#: the most items of one returned value the plain-value check walks
PLAIN_WALK_LIMIT = 5_000_000
#: what else a solution may return under the guard: stdlib values whose behaviour the solution
#: cannot change (C types, or Python classes checked to be as they were before it ran)
TRUSTED_SCALARS = (re.Match, re.Pattern, decimal.Decimal, fractions.Fraction,
                   datetime.date, datetime.datetime, datetime.time, datetime.timedelta)
TRUSTED_DICTS = (collections.Counter, collections.OrderedDict, collections.defaultdict)
TRUSTED_SEQUENCES = (collections.deque,)
#: a class of the solution may be called under the guard (MBPP's ``Pair(5, 24)``) when its
#: instances cannot pose as values: it defines none of these
VALUE_DUNDERS = frozenset(
    "__eq__ __ne__ __lt__ __le__ __gt__ __ge__ __hash__ __bool__ __len__ __contains__ __iter__ __next__ "
    "__getitem__ __getattr__ __getattribute__ __index__ __int__ __float__ __complex__ __round__ __trunc__ "
    "__floor__ __ceil__ __abs__ __neg__ __pos__ __invert__ __add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ "
    "__truediv__ __rtruediv__ __floordiv__ __rfloordiv__ __mod__ __rmod__ __pow__ __rpow__ __str__ __format__ "
    "__class__ __instancecheck__ __subclasscheck__".split())
#: test frameworks keep run state in their module globals: never rolled back under the guard
NOT_RESTORED = ("hypothesis", "pytest", "_pytest")
_IMMUTABLE_TYPE = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE


def wants_plain_values(src: str) -> bool:
    """Whether the tests ask for the plain-value guard (see ``harness``)."""
    return any(line.strip() == PLAIN_VALUES_PRAGMA for line in src.splitlines())


# ---------------------------------------------------------------------------
# Plan: what the tests file contains, decided by the trusted side
# ---------------------------------------------------------------------------

SETUP_TYPES = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.Global,
    ast.Nonlocal,
    ast.Pass,
)


def _segment(src: str, node: ast.AST, limit: int = 120) -> str:
    text = ast.get_source_segment(src, node) or ast.dump(node)[:limit]
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def make_plan(src: str) -> tuple[list[dict], list[str]]:
    """Split a tests file into ordered steps and the expected test names.

    Steps run in file order. A *statement test* is a top-level ``assert``, a
    bare expression (``check(f)``) or a compound statement (``for``/``if``/
    ``with``/``try``...). Imports, defs, classes and assignments are *setup*.
    ``test_*`` functions and ``Test*`` classes' ``test_*`` methods run after
    the module body, in definition order (pytest's semantics).
    Raises SyntaxError / ValueError when the file cannot be used.
    """
    tree = ast.parse(src, filename="tests.py")
    steps: list[dict] = []
    names: list[str] = []
    funcs: dict[str, str] = {}  # qualified test name -> kind, last definition wins
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # docstring or stray literal
        if isinstance(node, SETUP_TYPES):
            steps.append({"kind": "setup", "line": node.lineno, "end": node.end_lineno})
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                funcs.pop(node.name, None)
                funcs[node.name] = "func"
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                        q = f"{node.name}::{item.name}"
                        funcs.pop(q, None)
                        funcs[q] = "method"
            continue
        name = f"line {node.lineno}: {_segment(src, node)}"
        steps.append({"kind": "test", "line": node.lineno, "end": node.end_lineno, "name": name,
                      "index": len(names)})
        names.append(name)
    for q, kind in funcs.items():
        steps.append({"kind": kind, "name": q, "index": len(names)})
        names.append(q)
    return steps, names


# ---------------------------------------------------------------------------
# The harness: runs in the forked child, next to untrusted code
# ---------------------------------------------------------------------------


def harness(job: dict, steps: list[dict], nonce: str) -> None:
    """Import the solution, run the steps, report each over REPORT_FD.

    Everything the harness needs is bound to locals before untrusted code
    runs, so a program that replaces builtins, patches ``os`` or ``json``,
    or registers atexit hooks cannot change what is reported. Ends with
    ``os._exit`` so no atexit hook or finaliser runs after the report.

    With the plain-values pragma in the tests (the hidden tests of HumanEval
    and MBPP have it), the tests see every callable of the solution (its
    functions, classes, callable objects) through a guard that refuses any
    return value not built from plain builtin types
    (numbers, strings, bytes, None; lists, tuples, sets, dicts of them,
    checked by exact type, never by calling the value's own methods). An
    object whose ``__eq__`` always says True, or whose ``__bool__``,
    ``__sub__`` or ``__float__`` lie, never reaches a comparison: the
    classic way to forge a verdict from inside the tested process.
    """
    _write, _exit, _repr, _exec, _eval, _compile = os.write, os._exit, repr, exec, eval, compile
    _isinstance, _len, _str, _type, _getattr, _callable = isinstance, len, str, type, getattr, callable
    _bool, _base, _assert_error = bool, BaseException, AssertionError
    _extract_tb, _walk_tb = traceback.extract_tb, traceback.walk_tb
    _modtype, _modules = types.ModuleType, sys.modules
    _flush_targets = [sys.stdout, sys.stderr]
    ops = {ast.Eq: ("==", operator.eq), ast.NotEq: ("!=", operator.ne), ast.Lt: ("<", operator.lt),
           ast.LtE: ("<=", operator.le), ast.Gt: (">", operator.gt), ast.GtE: (">=", operator.ge),
           ast.In: ("in", lambda a, b: a in b), ast.NotIn: ("not in", lambda a, b: a not in b),
           ast.Is: ("is", operator.is_), ast.IsNot: ("is not", operator.is_not)}
    fd = REPORT_FD
    src = job.get("tests") or ""
    builtins_snapshot = dict(builtins.__dict__)
    _bdict, _dict_update, _dict_clear = builtins.__dict__, dict.update, dict.clear
    segments: dict[int, str] = {}  # id(node) -> source text, computed before untrusted code runs
    plain = wants_plain_values(src)
    _id, _set, _type_error = id, set, TypeError
    _type_name = type.__dict__["__name__"].__get__  # a type's own name, whatever its metaclass says
    _type_dict = type.__dict__["__dict__"].__get__
    _dict_keys, _dict_values, _dict_items, _list, _tuple = dict.keys, dict.values, dict.items, list, tuple
    scalar_ids = frozenset(map(id, (int, float, complex, bool, str, bytes, type(None)) + TRUSTED_SCALARS))
    dict_ids = frozenset(map(id, (dict,) + TRUSTED_DICTS))
    sequence_ids = frozenset(map(id, (list, tuple, set, frozenset) + TRUSTED_SEQUENCES))
    # the Python classes among the trusted types' ancestors, as they are now
    watched = [(c, _tuple(_type_dict(c).items()))
               for t in TRUSTED_SCALARS + TRUSTED_DICTS + TRUSTED_SEQUENCES for c in t.__mro__
               if not c.__flags__ & _IMMUTABLE_TYPE]
    watched_ids = frozenset(_id(t) for t in TRUSTED_SCALARS + TRUSTED_DICTS + TRUSTED_SEQUENCES
                            if any(not c.__flags__ & _IMMUTABLE_TYPE for c in t.__mro__))

    def classes_intact() -> bool:
        for cls, items in watched:
            now = _type_dict(cls)
            if _len(now) != _len(items):
                return False
            for k, v in items:
                if now.get(k) is not v:
                    return False
        return True

    def not_plain(value: object):
        """None when ``value`` is built from plain builtin types (and the
        trusted stdlib ones) only, else what is not, for the message. Looks at exact types and walks containers with the builtins'
        own iteration: no method of the value runs."""
        stack, seen, budget, intact = [value], _set(), PLAIN_WALK_LIMIT, None
        while stack:
            v = stack.pop()
            budget -= 1
            if budget < 0:
                return "a value too large to check"
            t = _type(v)
            tid = _id(t)
            if tid in watched_ids:
                intact = classes_intact() if intact is None else intact
                if not intact:
                    return "a value of type %s (its class was changed)" % _type_name(t)
            if tid in scalar_ids:
                continue
            if tid in dict_ids:
                if _id(v) not in seen:
                    seen.add(_id(v))
                    stack.extend(_dict_keys(v))
                    stack.extend(_dict_values(v))
            elif tid in sequence_ids:
                if _id(v) not in seen:
                    seen.add(_id(v))
                    stack.extend(v)
            else:
                return "a value of type %s" % _type_name(t)
        return None

    # the modules the tests import, imported now and rolled back to this state after the
    # solution's import and after each call into it (a patched math.isclose cannot lie)
    test_modules: list[tuple[object, dict, dict]] = []  # (module, its dict, that dict's contents)

    def snapshot_test_modules(tree: ast.AST) -> None:
        names = []
        for node in ast.walk(tree):
            if _isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif _isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.append(node.module)
        for name in names:
            parts = name.split(".")
            if parts[0] == "solution" or parts[0] in NOT_RESTORED:
                continue
            try:
                __import__(name)
            except BaseException:
                continue
            for i in range(1, _len(parts) + 1):
                mod = _modules.get(".".join(parts[:i]))
                if _isinstance(mod, _modtype) and all(m is not mod for m, _, _ in test_modules):
                    test_modules.append((mod, mod.__dict__, dict(mod.__dict__)))

    def restore_world() -> None:
        restore_builtins()
        for mod, d, snap in test_modules:
            _dict_clear(d)
            _dict_update(d, snap)
            _modules[snap["__name__"]] = mod

    def plain_class(cls: type) -> bool:
        """A class whose instances cannot pose as values: plain metaclass,
        no value dunder defined on it or on its Python-level ancestors."""
        if _type(cls) is not type:
            return False
        for c in cls.__mro__:
            if c.__flags__ & _IMMUTABLE_TYPE:
                continue  # object and other builtins: their behaviour is the real one
            for k in _type_dict(c).keys():
                if k in VALUE_DUNDERS:
                    return False
        return True

    def guarded(fn, name: str):
        def call(*args, **kwargs):
            try:
                result = fn(*args, **kwargs)
            finally:
                restore_world()  # whatever the call patched, the test goes on with the originals
            if _type(result) is fn and _isinstance(fn, type) and plain_class(fn):
                return result  # an instance of a plain class of the solution (a data holder)
            bad = not_plain(result)
            if bad is not None:
                raise _type_error(
                    "%s() returned %s: these tests accept only plain values (numbers, strings, "
                    "bytes, None, and lists, tuples, sets and dicts of them)" % (name, bad))
            return result

        call.__name__ = call.__qualname__ = name
        call.__wrapped__ = fn
        return call

    def restore_builtins() -> None:
        """Undo anything the program did to builtins before the harness
        evaluates or reports (replacing builtins must not sway the verdict)."""
        _dict_clear(_bdict)
        _dict_update(_bdict, builtins_snapshot)

    def seg(node: ast.AST) -> str:
        return segments.get(id(node)) or "<expression>"

    def send(kind: str, index: int, status: str, message: str) -> None:
        try:
            data = message[:MESSAGE_CHARS].encode("utf-8", "replace")
        except _base:
            data = b"<unprintable message>"
        header = ("R %s %s %d %s %d\n" % (nonce, kind, index, status, _len(data))).encode()
        buf = header + data
        while buf:
            n = _write(fd, buf)
            buf = buf[n:]

    def srepr(value: object, limit: int = 300) -> str:
        try:
            text = _repr(value)
        except _base as err:  # a hostile __repr__
            text = "<unrepresentable %s: %s>" % (_type(value).__name__, _type(err).__name__)
        if not _isinstance(text, _str):
            text = "<non-string repr>"
        return text if _len(text) <= limit else text[: limit - 3] + "..."

    def describe_exc(err: BaseException) -> str:
        try:
            head = "%s: %s" % (_type(err).__name__, err)
        except _base:
            head = _type(err).__name__
        try:
            notes = _getattr(err, "__notes__", None) or []
            if notes:
                head += "\n" + "\n".join(_str(n) for n in notes)[:800]
            frames = [f for f in _extract_tb(err.__traceback__) if f.filename.endswith(("solution.py", "tests.py"))]
            if frames:
                f = frames[-1]
                head += " (%s line %d: %s)" % (os.path.basename(f.filename), f.lineno, (f.line or "").strip())
        except _base:
            pass
        return head

    def explain_compare(node: ast.Compare, left: object, right: object) -> str:
        sym = ops.get(_type(node.ops[0]), ("?", None))[0]
        lsrc = seg(node.left)
        verb = "returned" if _isinstance(node.left, ast.Call) else "was"
        return "%s %s %s, expected %s%s" % (lsrc, verb, srepr(left), "" if sym == "==" else sym + " ", srepr(right))

    def explain_truth(test: ast.expr, value: object) -> str:
        inner = test.operand if _isinstance(test, ast.UnaryOp) and _isinstance(test.op, ast.Not) else test
        verb = "returned" if _isinstance(inner, ast.Call) else "was"
        return "%s %s %s" % (seg(inner), verb, srepr(value))

    # tracebacks and messages can quote test lines without a tests.py on disk
    import linecache

    linecache.cache["tests.py"] = (_len(src), None, [line + "\n" for line in src.splitlines()], "tests.py")

    # -- compile everything before untrusted code runs ---------------------
    compiled: list[tuple[dict, object]] = []
    assert_nodes: dict[int, ast.Assert] = {}
    if src:
        tree = ast.parse(src, filename="tests.py")
        if plain:
            snapshot_test_modules(tree)
        for node in ast.walk(tree):
            if _isinstance(node, ast.Assert):
                assert_nodes.setdefault(node.lineno, node)
                parts = [node, node.test]
                if _isinstance(node.test, ast.Compare):
                    parts.append(node.test.left)
                if _isinstance(node.test, ast.UnaryOp):
                    parts.append(node.test.operand)
                for part in parts:
                    segments[id(part)] = _segment(src, part, 200)
        body = [n for n in tree.body if not (_isinstance(n, ast.Expr) and _isinstance(n.value, ast.Constant))]
        by_line = {n.lineno: n for n in body}
        for step in steps:
            if step["kind"] in ("setup", "test"):
                node = by_line[step["line"]]
                mod = ast.Module(body=[node], type_ignores=[])
                extra = None
                if (step["kind"] == "test" and _isinstance(node, ast.Assert) and _isinstance(node.test, ast.Compare)
                        and _len(node.test.ops) == 1 and _type(node.test.ops[0]) in ops):
                    extra = (_compile(ast.Expression(node.test.left), "tests.py", "eval"),
                             _compile(ast.Expression(node.test.comparators[0]), "tests.py", "eval"),
                             _compile(ast.Expression(node.msg), "tests.py", "eval") if node.msg else None)
                elif step["kind"] == "test" and _isinstance(node, ast.Assert):
                    negated = _isinstance(node.test, ast.UnaryOp) and _isinstance(node.test.op, ast.Not)
                    inner = node.test.operand if negated else node.test
                    extra = (_compile(ast.Expression(inner), "tests.py", "eval"), None,
                             _compile(ast.Expression(node.msg), "tests.py", "eval") if node.msg else None, negated)
                compiled.append((step, (_compile(mod, "tests.py", "exec"), node, extra)))
            else:
                compiled.append((step, None))

    def notes_of(err: BaseException) -> str:
        try:
            notes = _getattr(err, "__notes__", None) or []
            return ("\n" + "\n".join(_str(n) for n in notes)[:800]) if notes else ""
        except _base:
            return ""

    def explain_assertion(err: BaseException, ns: dict) -> str:
        """For an assert that failed inside a function (``check(candidate)``),
        re-evaluate its operands in the failing frame to show the actual value
        (plus hypothesis's falsifying example, when there is one)."""
        base = describe_exc(err)
        found = explain_in_frame(err)
        return base if found is None else found + notes_of(err)

    def explain_in_frame(err: BaseException):
        try:
            frame = None
            for fr, lineno in _walk_tb(err.__traceback__):
                if fr.f_code.co_filename == "tests.py":
                    frame, line = fr, lineno
            if frame is None:
                return None
            node = assert_nodes.get(line)
            if node is None:
                return None
            where = "line %d: %s" % (line, seg(node))
            if _isinstance(node.test, ast.Compare) and _len(node.test.ops) == 1 and _type(node.test.ops[0]) in ops:
                g, loc = frame.f_globals, frame.f_locals
                left = _eval(_compile(ast.Expression(node.test.left), "tests.py", "eval"), g, loc)
                right = _eval(_compile(ast.Expression(node.test.comparators[0]), "tests.py", "eval"), g, loc)
                return "%s failed: %s" % (where, explain_compare(node.test, left, right))
            return "%s failed" % where
        except _base:
            return None

    # -- import the solution ----------------------------------------------
    try:
        with open("solution.py", encoding="utf-8") as fh:
            program = fh.read()
        code = _compile(program, os.path.abspath("solution.py"), "exec")
    except _base as err:
        send("import", 0, "error", "solution does not compile: " + describe_exc(err))
        send("done", 0, "passed", "")
        _exit(0)
    module = _modtype("solution")
    module.__file__ = os.path.abspath("solution.py")
    _modules["solution"] = module
    try:
        _exec(code, module.__dict__)
    except _base as err:
        if _isinstance(err, SystemExit):
            msg = "solution called sys.exit(%s) while being imported" % srepr(err.code)
        else:
            msg = "solution raised while being imported: " + describe_exc(err)
        restore_builtins()
        send("import", 0, "error", msg)
        send("done", 0, "passed", "")
        _exit(0)
    if plain:
        restore_world()
    else:
        restore_builtins()
    send("import", 0, "passed", "")

    # what the tests see: the module itself, or (plain values) a copy whose
    # functions are guarded; the module's own code keeps calling the originals
    view = module
    if plain:
        view = _modtype("solution")
        view.__file__ = module.__file__
        for k, v in _list(_dict_items(module.__dict__)):
            # every callable: a function, a class, an object with __call__ (any could hand back a forger)
            view.__dict__[k] = guarded(v, _str(k)) if _callable(v) else v
    _modules["solution"] = view  # also undoes a program that swapped the module out

    # the module is reachable as ``solution`` unless the program defines that
    # name itself (HumanEval/121's entry point is called ``solution``)
    ns: dict = {"solution": view}
    ns.update({k: v for k, v in _dict_items(view.__dict__) if not (k.startswith("__") and k.endswith("__"))})
    ns.update({"__name__": "tests", "__file__": os.path.abspath("tests.py"), "__builtins__": builtins})

    def run_statement(step: dict, payload) -> tuple[str, str]:
        code, node, extra = payload
        if extra is not None and extra[1] is not None:  # assert <a> <op> <b>
            left = _eval(extra[0], ns)
            right = _eval(extra[1], ns)
            fn = ops[_type(node.test.ops[0])][1]
            if _bool(fn(left, right)):
                return "passed", ""
            msg = explain_compare(node.test, left, right)
        elif extra is not None:  # assert <expr> / assert not <expr>
            value = _eval(extra[0], ns)
            if _bool(value) != extra[3]:
                return "passed", ""
            msg = explain_truth(node.test, value)
        else:
            _exec(code, ns)
            return "passed", ""
        if extra[2] is not None:
            msg += " (message: %s)" % srepr(_eval(extra[2], ns), 500)
        return "failed", msg

    def hypothesis_profile() -> None:
        hyp = _modules.get("hypothesis")
        if hyp is None:
            return
        try:
            hyp.settings.register_profile("coderefl", deadline=None, database=None)
            hyp.settings.load_profile("coderefl")
        except _base:
            pass

    def call_test(step: dict):
        name = step["name"]
        if "::" in name:
            cls_name, meth = name.split("::", 1)
            obj = ns[cls_name]()
            fn = _getattr(obj, meth)
        else:
            fn = ns[name]
        if not _callable(fn):
            raise TypeError("%s is not callable" % name)
        result = fn()
        if _getattr(result, "__await__", None) is not None:
            import asyncio
            asyncio.run(result)

    # -- run the steps in order -------------------------------------------
    profile_set = False
    for step, payload in compiled:
        kind = step["kind"]
        if kind == "setup":
            try:
                _exec(payload[0], ns)
            except _base as err:
                restore_builtins()
                send("setup", step["line"], "error", "setup line %d failed: %s" % (step["line"], describe_exc(err)))
                send("done", 0, "passed", "")
                _exit(0)
            continue
        if kind in ("func", "method") and not profile_set:
            hypothesis_profile()
            profile_set = True
        try:
            if kind == "test":
                status, msg = run_statement(step, payload)
            else:
                call_test(step)
                status, msg = "passed", ""
            restore_builtins()
        except _assert_error as err:
            restore_builtins()
            status, msg = "failed", explain_assertion(err, ns)
        except _base as err:
            restore_builtins()
            status = "error"
            if _isinstance(err, SystemExit):
                msg = "called sys.exit(%s) during the test" % srepr(err.code)
            else:
                msg = describe_exc(err)
        send("test", step["index"], status, msg)
    for stream in _flush_targets:
        try:
            stream.flush()
        except _base:
            pass
    send("done", 0, "passed", "")
    _exit(0)


# ---------------------------------------------------------------------------
# The server side of one job
# ---------------------------------------------------------------------------


def _child(job: dict, steps: list[dict], nonce: str, jobdir: str, fds: tuple[int, int, int], local: bool) -> None:
    """In the forked child: become a clean, confined process, then run the harness."""
    report_w, out_w, err_w = fds
    exit_ = os._exit  # the program may replace os._exit; this reference stays
    try:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.dup2(report_w, REPORT_FD)
        os.closerange(REPORT_FD + 1, 65536)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        if PID1:
            _set_dumpable(1)
        try:  # lower priority than the server, so its deadline fires on time under a fork bomb
            os.nice(10)
        except OSError:
            pass
        try:
            with open("/proc/self/oom_score_adj", "w") as fh:  # die first on OOM, not the server
                fh.write("1000")
        except OSError:
            pass
        limits = job.get("limits") or {}
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if local:
            _local_rlimits(limits)
        os.chdir(jobdir)
        os.environ.clear()
        os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": jobdir, "LANG": "C.UTF-8",
                           "TMPDIR": "/tmp" if PID1 else jobdir, "PYTHONDONTWRITEBYTECODE": "1"})
        sys.dont_write_bytecode = True
        sys.path[:] = [jobdir] + [p for p in sys.path if p and os.path.abspath(p) != RUNNER_DIR]
        sys.argv[:] = ["solution.py"]
        for name in [m for m in sys.modules if m == "solution" or m.startswith("solution.")]:
            del sys.modules[name]
        sys.stdin = open(0, "r", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
        sys.__stdout__, sys.__stderr__, sys.__stdin__ = sys.stdout, sys.stderr, sys.stdin
        harness(job, steps, nonce)
    except BaseException:
        try:  # the harness itself broke: say so on the job's stderr
            os.write(2, ("coderefl harness failure:\n" + traceback.format_exc()).encode()[-4000:])
        except BaseException:
            pass
    exit_(70)


def _local_rlimits(limits: dict) -> None:
    """Best-effort process limits for the unsafe local backend."""
    mem = int(limits.get("memory_mb", 512)) * 1024 * 1024
    for res, val in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_FSIZE, int(limits.get("tmpfs_mb", 64)) * 1024 * 1024),
                     (resource.RLIMIT_CPU, int(float(limits.get("timeout_s", 10)) + 2))):
        try:
            resource.setrlimit(res, (val, val))
        except (ValueError, OSError):
            pass


def _set_dumpable(value: int) -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, value, 0, 0, 0)  # PR_SET_DUMPABLE
    except Exception:
        pass


def _set_subreaper() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def _other_pids() -> list[int]:
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me:
            out.append(int(entry))
    return out


def _children_of(parent: int) -> list[int]:
    kids = []
    for pid in _other_pids():
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent:
            kids.append(pid)
    return kids


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_everything(child: int) -> bool:
    """Kill every process the job left; True when none remains.

    As PID 1 of the container, ``kill(-1, SIGKILL)`` reaches every process of
    the sandbox except ourselves, including ``setsid`` daemons; repeating it
    catches anything forked mid-kill. Locally (not PID 1) that call would hit
    the user's whole session, so we kill the job's process group and, as a
    child subreaper, every orphan re-parented to us.
    """
    deadline = time.monotonic() + 2.0
    while True:
        if PID1:
            try:
                os.kill(-1, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            _reap()
            left = _other_pids()
        else:
            try:
                os.killpg(child, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            for pid in _children_of(os.getpid()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            _reap()
            left = _children_of(os.getpid())
        if not left:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)


def _wipe(path: str, keep_root: bool = True) -> bool:
    ok = True
    try:
        entries = os.listdir(path)
    except OSError:
        return True
    for entry in entries:
        full = os.path.join(path, entry)
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
        except FileNotFoundError:
            pass
        except OSError:
            ok = False
    return ok


def _ipc_clean() -> bool:
    """SysV IPC objects and POSIX queues outlive processes: any left means the
    container must be recycled."""
    for name in ("shm", "sem", "msg"):
        try:
            with open(f"/proc/sysvipc/{name}") as fh:
                if len(fh.read().strip().splitlines()) > 1:
                    return False
        except OSError:
            pass
    try:
        if os.listdir("/dev/mqueue"):
            return False
    except OSError:
        pass
    return True


def _safe_relpath(name: str) -> str | None:
    norm = os.path.normpath(name)
    if os.path.isabs(norm) or norm.startswith("..") or norm in (".", "solution.py", "tests.py"):
        return None
    return norm


class Capture:
    """A capped byte buffer: keeps the first ``cap`` bytes, counts the rest."""

    def __init__(self, cap: int) -> None:
        self.cap, self.data, self.dropped = cap, bytearray(), 0

    def add(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self) -> str:
        return bytes(self.data).decode("utf-8", "replace")


_job_counter = 0


def run_job(job: dict, local: bool = False) -> dict:
    """Run one job and return the trusted verdict (a dict shaped like
    coderefl.records.ExecutionResult, plus ``recycle`` and ``clean``)."""
    global _job_counter
    t0 = time.monotonic()
    limits = job.get("limits") or {}
    timeout = float(limits.get("timeout_s", 10.0))
    out_cap = int(limits.get("output_bytes", 64 * 1024))
    tests_src = job.get("tests")
    nonce = os.urandom(8).hex()

    if tests_src is None:
        steps, names = [], []
    else:
        try:
            steps, names = make_plan(tests_src)
        except (SyntaxError, ValueError) as err:
            line = getattr(err, "lineno", None)
            return _result("error", [_outcome("tests file", "error", f"tests file does not parse (line {line}): {err}")], t0)
        if not names:
            return _result("error", [_outcome("tests file", "error",
                                              "tests file contains no tests (no top-level assert, test call or test_* function)")], t0)

    _job_counter += 1
    root = WORK_ROOT if PID1 else job.get("work_root", WORK_ROOT)
    jobdir = os.path.join(root, f"job-{os.getpid()}-{_job_counter}-{nonce[:6]}")
    os.makedirs(jobdir, mode=0o700)
    try:
        _write_file(os.path.join(jobdir, "solution.py"), job.get("program", ""))
        # The tests are never written to the work dir: the program must not
        # read its hidden tests off the disk. The harness has them in memory.
        for name, content in (job.get("files") or {}).items():
            rel = _safe_relpath(name)
            if rel is None:
                shutil.rmtree(jobdir, ignore_errors=True)
                return _result("error", [_outcome("files", "error", f"bad extra file name {name!r}")], t0)
            _write_file(os.path.join(jobdir, rel), content)
    except OSError as err:
        shutil.rmtree(jobdir, ignore_errors=True)
        return _result("error", [_outcome("files", "error", f"cannot write the work dir: {err}")], t0)

    report_r, report_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        for fd in (report_r, out_r, err_r):
            os.close(fd)
        _child(job, steps, nonce, jobdir, (report_w, out_w, err_w), local)
    for fd in (report_w, out_w, err_w):
        os.close(fd)
    try:  # a pidfd makes the child's exit one more readable fd (Linux >= 5.3)
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None  # older kernels: poll waitpid every 20 ms instead
    out, err = Capture(out_cap), Capture(out_cap)
    report = Capture(MAX_REPORT_BYTES)
    readers = {out_r: out, err_r: err, report_r: report}
    deadline = start + timeout
    timed_out = False
    status_code = None
    while True:
        now = time.monotonic()
        if now >= deadline:
            timed_out = True
            break
        wait = deadline - now if pidfd is not None else min(deadline - now, 0.02)
        ready, _, _ = select.select(list(readers) + ([pidfd] if pidfd is not None else []), [], [], wait)
        for fd in ready:
            if fd == pidfd:
                continue
            chunk = os.read(fd, 65536)
            if chunk:
                readers[fd].add(chunk)
            else:
                del readers[fd]
        if pidfd is not None and pidfd in ready:
            _, status_code = os.waitpid(pid, 0)
            break
        if pidfd is None:
            done_pid, code = os.waitpid(pid, os.WNOHANG)
            if done_pid == pid:
                status_code = code
                break
    ran_for = time.monotonic() - start
    if status_code is None:  # timed out: the child first, so its status is ours to read
        try:
            os.kill(pid, signal.SIGKILL)
            _, status_code = os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            status_code = None
    clean = kill_everything(pid)
    if pidfd is not None:
        os.close(pidfd)
    # every writer is dead now: drain what is left without blocking
    for fd, cap in list(readers.items()):
        os.set_blocking(fd, False)
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                cap.add(chunk)
        except (BlockingIOError, OSError):
            pass
    for fd in (out_r, err_r, report_r):
        os.close(fd)

    if PID1:
        clean = _wipe(WORK_ROOT) and clean
        _wipe("/tmp")
        _wipe("/dev/shm")
        clean = clean and _ipc_clean()
    else:
        shutil.rmtree(jobdir, ignore_errors=True)

    exit_code = None
    if status_code is not None:
        exit_code = os.waitstatus_to_exitcode(status_code)
    verdict, outcomes = judge(names, report.data, nonce, timed_out, exit_code, tests_src is None, report.dropped > 0)
    res = _result(verdict, outcomes, t0, out, err, exit_code)
    res["duration_s"] = round(ran_for, 4)
    res["clean"] = clean
    res["recycle"] = (not clean) or timed_out or (exit_code is not None and exit_code < 0)
    return res


def _write_file(path: str, content) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(content, dict):  # bytes from the host travel base64-encoded
        import base64

        data = base64.b64decode(content.get("b64", ""))
    else:
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    with open(path, "wb") as fh:
        fh.write(data)


def _outcome(name: str, status: str, message: str = "") -> dict:
    return {"name": name, "status": status, "message": message}


def _result(status: str, tests: list[dict], t0: float, out: Capture | None = None, err: Capture | None = None,
            exit_code: int | None = None) -> dict:
    return {
        "status": status,
        "tests": tests,
        "stdout": out.text() if out else "",
        "stderr": err.text() if err else "",
        "truncated": bool((out and out.dropped) or (err and err.dropped)),
        "duration_s": round(time.monotonic() - t0, 4),
        "exit_code": exit_code,
    }


def _how_it_ended(exit_code: int | None) -> str:
    if exit_code is None:
        return "the program ended without a report"
    if exit_code < 0:
        sig = -exit_code
        try:
            sname = signal.Signals(sig).name
        except ValueError:
            sname = f"signal {sig}"
        hint = " (memory limit?)" if sig == signal.SIGKILL else ""
        return f"the process was killed by {sname}{hint} before the tests finished"
    return f"the process exited with code {exit_code} before the tests finished (sys.exit/os._exit in the program?)"


def parse_report(data: bytes, nonce: str) -> list[tuple[str, int, str, str]] | None:
    """Strictly parse the framed records; None when anything is malformed."""
    records = []
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            return None
        parts = data[pos:nl].split(b" ")
        if len(parts) != 6 or parts[0] != b"R" or parts[1].decode("ascii", "replace") != nonce:
            return None
        try:
            kind = parts[2].decode("ascii")
            index, status, size = int(parts[3]), parts[4].decode("ascii"), int(parts[5])
        except (UnicodeDecodeError, ValueError):
            return None
        if status not in _STATUS_SET or size < 0 or nl + 1 + size > len(data):
            return None
        message = data[nl + 1 : nl + 1 + size].decode("utf-8", "replace")
        records.append((kind, index, status, message))
        pos = nl + 1 + size
    return records


def judge(names: list[str], data: bytes, nonce: str, timed_out: bool, exit_code: int | None,
          import_only: bool, overflow: bool) -> tuple[str, list[dict]]:
    """The verdict, from the expected tests and the child's report only.

    ``passed`` needs: a clean import, one record per expected test in order,
    every one passed, and the final ``done`` record, with nothing after it.
    """
    records = parse_report(data, nonce)
    if records is None or overflow:
        return "error", [_outcome("report", "error", "the test report was malformed or forged")] + [
            _outcome(n, "skipped") for n in names]
    outcomes: list[dict] = []
    seq = list(records)
    done = bool(seq) and seq[-1][0] == "done"
    body = seq[:-1] if done else seq
    if any(r[0] == "done" for r in body):
        return "error", [_outcome("report", "error", "the test report was malformed or forged")]
    if not body or body[0][0] != "import":
        if timed_out:
            return "timeout", [_outcome("import solution", "timeout", "timed out while importing the solution")] + [
                _outcome(n, "skipped") for n in names]
        return "error", [_outcome("import solution", "error", _how_it_ended(exit_code))] + [
            _outcome(n, "skipped") for n in names]
    imp = body[0]
    if imp[2] != "passed":
        return "error", [_outcome("import solution", "error", imp[3])] + [_outcome(n, "skipped") for n in names]
    expected = 0
    setup_failed = None
    for kind, index, status, message in body[1:]:
        if kind == "setup" and status == "error":
            setup_failed = message
            continue
        if kind != "test" or index != expected or expected >= len(names) or setup_failed:
            return "error", [_outcome("report", "error", "the test report was out of order or forged")] + [
                _outcome(n, "skipped") for n in names]
        outcomes.append(_outcome(names[index], status, message))
        expected += 1
    missing = names[expected:]
    if setup_failed is not None:
        outcomes.append(_outcome("tests file setup", "error", setup_failed))
        outcomes += [_outcome(n, "skipped", "not run: tests file setup failed") for n in missing]
        return "error", outcomes
    if missing:
        if timed_out:
            outcomes.append(_outcome(missing[0], "timeout", "still running at the time limit"))
            outcomes += [_outcome(n, "skipped", "not run: time limit") for n in missing[1:]]
            return "timeout", outcomes
        outcomes.append(_outcome(missing[0], "error", _how_it_ended(exit_code)))
        outcomes += [_outcome(n, "skipped", "not run") for n in missing[1:]]
        return "error", outcomes
    if not done:
        if timed_out:
            return "timeout", outcomes
        return "error", outcomes + [_outcome("harness", "error", _how_it_ended(exit_code))]
    if timed_out:
        return "timeout", outcomes
    if all(o["status"] == "passed" for o in outcomes):
        return "passed", outcomes
    return "failed", outcomes


# ---------------------------------------------------------------------------
# Framing on stdin/stdout and the two modes
# ---------------------------------------------------------------------------


def _read_exact(fd: int, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _send(fd: int, obj: dict) -> None:
    data = json.dumps(obj).encode()
    buf = struct.pack(">I", len(data)) + data
    while buf:
        buf = buf[os.write(fd, buf):]


def handle(job: dict, local: bool) -> dict:
    op = job.get("op", "run")
    if op == "ping":
        return {"ok": True, "pid": os.getpid(), "uid": os.getuid(), "python": sys.version.split()[0]}
    try:
        return run_job(job, local=local)
    except Exception as err:  # the runner itself failed: never a pass
        return {"status": "error", "tests": [_outcome("runner", "error", f"runner failure: {type(err).__name__}: {err}")],
                "stdout": "", "stderr": "", "truncated": False, "duration_s": 0.0, "exit_code": None,
                "recycle": True, "clean": False}


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else "serve"
    # PID 1 ignores signals it has no handler for; keep it that way (Python
    # installs one for SIGINT) so the child cannot interrupt the server.
    signal.signal(signal.SIGINT, signal.SIG_IGN if PID1 else signal.SIG_DFL)
    if PID1:
        _set_dumpable(0)  # no /proc/1/fd, /proc/1/mem or ptrace for the child
    else:
        _set_subreaper()
    inp, out = os.dup(0), os.dup(1)
    for fd in (inp, out):
        os.set_inheritable(fd, False)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    local = mode == "once" or not PID1
    while True:
        head = _read_exact(inp, 4)
        if head is None:
            return 0
        (size,) = struct.unpack(">I", head)
        body = _read_exact(inp, size)
        if body is None:
            return 0
        try:
            job = json.loads(body)
        except ValueError:
            _send(out, {"status": "error", "tests": [_outcome("job", "error", "malformed job")], "recycle": True})
            continue
        answer = handle(job, local)
        answer["id"] = job.get("id")
        _send(out, answer)
        if mode == "once":
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
