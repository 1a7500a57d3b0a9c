"""Running a tests file's steps and reporting one record per test.

Shared by both isolation modes. In judge mode it runs in the judge, a process
that never holds the program's code; in in-process mode it runs in the same
process as the program, after everything it needs was bound to locals (see
:mod:`inprocess`). It compiles every step before any untrusted code runs and
explains a failed comparison with the values on both sides.
"""

from __future__ import annotations

import ast
import builtins
import json
import linecache
import operator
import os
import traceback

from coderefl_runner.plan import Source, plan_for
from coderefl_runner.wire import MESSAGE_CHARS, REPORT_FD, report_record

OPS = {ast.Eq: ("==", operator.eq), ast.NotEq: ("!=", operator.ne), ast.Lt: ("<", operator.lt),
       ast.LtE: ("<=", operator.le), ast.Gt: (">", operator.gt), ast.GtE: (">=", operator.ge),
       ast.In: ("in", lambda a, b: a in b), ast.NotIn: ("not in", lambda a, b: a not in b),
       ast.Is: ("is", operator.is_), ast.IsNot: ("is not", operator.is_not)}

# bound at import, before any program runs in this interpreter
_write, _repr, _exec, _eval, _compile = os.write, repr, exec, eval, compile
_isinstance, _len, _str, _type, _getattr, _callable = isinstance, len, str, type, getattr, callable
_bool, _base, _assert_error, _system_exit = bool, BaseException, AssertionError, SystemExit
_extract_tb, _walk_tb, _basename = traceback.extract_tb, traceback.walk_tb, os.path.basename
_bdict, _dict_update, _dict_clear = builtins.__dict__, dict.update, dict.clear


def srepr(value: object, limit: int = 300) -> str:
    try:
        text = _repr(value)
    except _base as err:  # a hostile __repr__
        text = "<unrepresentable %s: %s>" % (_type(value).__name__, _type(err).__name__)
    if not _isinstance(text, _str):
        text = "<non-string repr>"
    return text if _len(text) <= limit else text[: limit - 3] + "..."


def notes_of(err: BaseException) -> str:
    try:
        notes = _getattr(err, "__notes__", None) or []
        return ("\n" + "\n".join(_str(n) for n in notes)[:800]) if notes else ""
    except _base:
        return ""


def describe_exc(err: BaseException) -> str:
    """``Type: message`` with the last line of the tests or the solution it came from."""
    try:
        head = "%s: %s" % (_type(err).__name__, err)
    except _base:
        head = _type(err).__name__
    head += notes_of(err)
    try:
        where = _getattr(err, "coderefl_where", None)  # set by the judge for the program's exceptions
        if where:
            return head + " (%s)" % where
        frames = [f for f in _extract_tb(err.__traceback__) if f.filename.endswith(("solution.py", "tests.py"))]
        if frames:
            f = frames[-1]
            head += " (%s line %d: %s)" % (_basename(f.filename), f.lineno, (f.line or "").strip())
    except _base:
        pass
    return head


class Harness:
    """The compiled steps of one tests file and the report channel."""

    def __init__(self, src: str, steps: list[dict], nonce: str, fd: int = REPORT_FD) -> None:
        self.src, self.nonce, self.fd = src, nonce, fd
        self.builtins_snapshot = dict(_bdict)
        self.segments: dict[int, str] = {}  # id(node) -> source text
        self.assert_nodes: dict[int, ast.Assert] = {}
        self.compiled: list[tuple[dict, object]] = []
        #: hooks (judge mode): before each test, and extra text for a test that did not pass
        self.on_test_start = None
        self.explain_more = None
        #: an exception type that means "this test ran over its own time limit" (status timeout)
        self.timeout_type: type | None = None
        # tracebacks and messages can quote test lines without a tests.py on disk
        linecache.cache["tests.py"] = (_len(src), None, [line + "\n" for line in src.splitlines()], "tests.py")
        if src:
            self._compile(ast.parse(src, filename="tests.py"), steps)

    # -- before any untrusted code ------------------------------------------
    def _compile(self, tree: ast.Module, steps: list[dict]) -> None:
        source = Source(self.src)
        for node in ast.walk(tree):
            if _isinstance(node, ast.Assert):
                self.assert_nodes.setdefault(node.lineno, node)
                parts = [node, node.test]
                if _isinstance(node.test, ast.Compare):
                    parts.append(node.test.left)
                if _isinstance(node.test, ast.UnaryOp):
                    parts.append(node.test.operand)
                for part in parts:
                    self.segments[id(part)] = source.segment(part, 200)
        body = [n for n in tree.body if not (_isinstance(n, ast.Expr) and _isinstance(n.value, ast.Constant))]
        by_line = {n.lineno: n for n in body}
        for step in steps:
            if step["kind"] not in ("setup", "test"):
                self.compiled.append((step, None))
                continue
            node = by_line[step["line"]]
            code = _compile(ast.Module(body=[node], type_ignores=[]), "tests.py", "exec")
            self.compiled.append((step, (code, node, self._assert_parts(step, node))))

    @staticmethod
    def _assert_parts(step: dict, node: ast.AST):
        if step["kind"] != "test" or not _isinstance(node, ast.Assert):
            return None
        msg = _compile(ast.Expression(node.msg), "tests.py", "eval") if node.msg else None
        test = node.test
        if _isinstance(test, ast.Compare) and _len(test.ops) == 1 and _type(test.ops[0]) in OPS:
            return (_compile(ast.Expression(test.left), "tests.py", "eval"),
                    _compile(ast.Expression(test.comparators[0]), "tests.py", "eval"), msg)
        negated = _isinstance(test, ast.UnaryOp) and _isinstance(test.op, ast.Not)
        inner = test.operand if negated else test
        return (_compile(ast.Expression(inner), "tests.py", "eval"), None, msg, negated)

    # -- reporting -----------------------------------------------------------
    def send(self, kind: str, index: int, status: str, message: str) -> None:
        buf = report_record(self.nonce, kind, index, status, message)
        while buf:
            buf = buf[_write(self.fd, buf):]

    def restore_builtins(self) -> None:
        """Undo anything done to builtins before the harness evaluates or reports."""
        _dict_clear(_bdict)
        _dict_update(_bdict, self.builtins_snapshot)

    # -- explanations ----------------------------------------------------------
    def seg(self, node: ast.AST) -> str:
        return self.segments.get(id(node)) or "<expression>"

    def explain_compare(self, node: ast.Compare, left: object, right: object) -> str:
        sym = OPS.get(_type(node.ops[0]), ("?", None))[0]
        verb = "returned" if _isinstance(node.left, ast.Call) else "was"
        return "%s %s %s, expected %s%s" % (self.seg(node.left), verb, srepr(left),
                                            "" if sym == "==" else sym + " ", srepr(right))

    def explain_truth(self, test: ast.expr, value: object) -> str:
        inner = test.operand if _isinstance(test, ast.UnaryOp) and _isinstance(test.op, ast.Not) else test
        verb = "returned" if _isinstance(inner, ast.Call) else "was"
        return "%s %s %s" % (self.seg(inner), verb, srepr(value))

    def explain_assertion(self, err: BaseException) -> str:
        """For an assert that failed inside a function (``check(candidate)``),
        re-evaluate its operands in the failing frame to show the actual value."""
        found = self._explain_in_frame(err)
        return describe_exc(err) if found is None else found + notes_of(err)

    def _explain_in_frame(self, err: BaseException):
        try:
            frame = None
            for fr, lineno in _walk_tb(err.__traceback__):
                if fr.f_code.co_filename == "tests.py":
                    frame, line = fr, lineno
            if frame is None:
                return None
            node = self.assert_nodes.get(line)
            if node is None:
                return None
            where = "line %d: %s" % (line, self.seg(node))
            if _isinstance(node.test, ast.Compare) and _len(node.test.ops) == 1 and _type(node.test.ops[0]) in OPS:
                g, loc = frame.f_globals, frame.f_locals
                left = _eval(_compile(ast.Expression(node.test.left), "tests.py", "eval"), g, loc)
                right = _eval(_compile(ast.Expression(node.test.comparators[0]), "tests.py", "eval"), g, loc)
                return "%s failed: %s" % (where, self.explain_compare(node.test, left, right))
            return "%s failed" % where
        except _base:
            return None

    # -- running ---------------------------------------------------------------
    def run_statement(self, payload, ns: dict) -> tuple[str, str]:
        code, node, extra = payload
        if extra is not None and extra[1] is not None:  # assert <a> <op> <b>
            left = _eval(extra[0], ns)
            right = _eval(extra[1], ns)
            if _bool(OPS[_type(node.test.ops[0])][1](left, right)):
                return "passed", ""
            msg = self.explain_compare(node.test, left, right)
        elif extra is not None:  # assert <expr> / assert not <expr>
            value = _eval(extra[0], ns)
            if _bool(value) != extra[3]:
                return "passed", ""
            msg = self.explain_truth(node.test, value)
        else:
            _exec(code, ns)
            return "passed", ""
        if extra[2] is not None:
            msg += " (message: %s)" % srepr(_eval(extra[2], ns), 500)
        return "failed", msg

    @staticmethod
    def call_test(name: str, ns: dict) -> None:
        if "::" in name:
            cls_name, meth = name.split("::", 1)
            fn = _getattr(ns[cls_name](), meth)
        else:
            fn = ns[name]
        if not _callable(fn):
            raise TypeError("%s is not callable" % name)
        result = fn()
        if _getattr(result, "__await__", None) is not None:
            import asyncio

            asyncio.run(result)

    def run(self, ns: dict) -> None:
        """Run every step in order against ``ns``; one record per test, then ``done``."""
        profile_set = False
        if "hypothesis" in self.src:  # before any @given runs: no example database, no deadline
            try:
                import hypothesis  # noqa: F401

                hypothesis_profile()
                profile_set = True
            except ImportError:
                pass
        for step, payload in self.compiled:
            kind = step["kind"]
            if kind == "setup":
                try:
                    _exec(payload[0], ns)
                except _base as err:
                    self.restore_builtins()
                    self.send("setup", step["line"], "error",
                              "setup line %d failed: %s" % (step["line"], describe_exc(err)))
                    return
                continue
            if kind in ("func", "method") and not profile_set:
                hypothesis_profile()
                profile_set = True
            if self.on_test_start is not None:
                self.on_test_start()
            try:
                if kind == "test":
                    status, msg = self.run_statement(payload, ns)
                else:
                    self.call_test(step["name"], ns)
                    status, msg = "passed", ""
                self.restore_builtins()
            except _assert_error as err:
                self.restore_builtins()
                status, msg = "failed", self.explain_assertion(err)
            except _base as err:
                self.restore_builtins()
                status = "error"
                if self.timeout_type is not None and _isinstance(err, self.timeout_type):
                    status, msg = "timeout", _str(err)
                elif _isinstance(err, _system_exit):
                    msg = "called sys.exit(%s) during the test" % srepr(err.code)
                else:
                    msg = describe_exc(err)
            if status not in ("passed", "timeout") and self.explain_more is not None:
                msg = msg[:MESSAGE_CHARS] + self.explain_more()
            self.send("test", step["index"], status, msg)


def start(tests: str | None, nonce: str) -> "Harness | None":
    """Read the tests file and report its plan (the test names) before anything
    else runs; the compiled harness, or None when the file cannot be used."""
    steps, names, problem = plan_for(tests)
    reporter = Harness("", [], nonce)
    if problem is not None:
        reporter.send("plan", 0, "error", problem)
        return None
    reporter.send("plan", 0, "passed", json.dumps(names))
    return Harness(tests or "", steps, nonce)


def hypothesis_profile() -> None:
    """No deadline (the sandbox's clock is the limit) and no example database."""
    import sys

    hyp = sys.modules.get("hypothesis")
    if hyp is None:
        return
    try:
        hyp.settings.register_profile("coderefl", deadline=None, database=None)
        hyp.settings.load_profile("coderefl")
    except BaseException:
        pass
