"""The judge: the trusted side of judge mode.

It holds the tests, the expected values, the failure messages and the report
channel, and it never imports or runs the program. The tests see the program
through proxies: calling one sends the arguments to the candidate process as
plain data and decodes the answer into the judge's own objects, so the only
thing a program can influence is which values its functions return.

Names the tests take from the program:

* functions -> proxies; classes -> proxies whose instances stay in the
  candidate (:class:`codec.Ref`, usable only as arguments back to it);
* plain-data constants -> decoded copies; modules -> the judge's own import of
  the same module; library value classes (Counter, Fraction...) -> the judge's own;
* names that shadow a builtin (``abs``, ``set``) are not given to the tests as
  globals: a test that wants the program's function of that name imports it
  (``from solution import max``);
* helpers the problem itself defines (HumanEval/32's ``poly``) are trusted
  problem code: the hidden tests file defines them (see coderefl/problems), so
  a program's own copy never stands in for them.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import select
import signal
import socket
import sys
import time
import types

from coderefl_runner import codec, proc
from coderefl_runner.harness import start
from coderefl_runner.plan import wants_trace
from coderefl_runner.wire import Closed, recv_msg, recv_msg_by, send_msg, write_by

DIED = "the program's process died during the call"
TRACE_CHARS = 4000
_NOT_MAPPED = {"StopIteration", "StopAsyncIteration", "GeneratorExit", "SystemExit", "KeyboardInterrupt",
               "BaseExceptionGroup", "BaseException"}


class ProgramError(Exception):
    """An exception the program raised that has no builtin equivalent."""


class ProgramDied(Exception):
    """The candidate process ended (exit, crash, memory limit) during a call."""


def main(params: dict, fds: list[int]) -> None:
    out_w, err_w, report_w, job_r, to_cand, from_cand, ctl = fds
    proc.take_fds({proc.OUT_FD: out_w, proc.ERR_FD: err_w, proc.REPORT_FD: report_w, proc.JOB_FD: job_r,
                   proc.TO_CANDIDATE_FD: to_cand, proc.FROM_CANDIDATE_FD: from_cand, proc.CONTROL_FD: ctl})
    proc.detach(dumpable=0, oom_score=900)  # the memory limit's victim is the program, not the judge
    try:
        job = json.loads(recv_msg(proc.JOB_FD, 64 * 1024 * 1024))
        # "/" is read-only in the container and nothing of the job's is on the judge's sys.path
        proc.settle(params, job["limits"], cwd="/" if params.get("pid1") else job["judge_dir"], path_first=None)
        try:  # the candidate waits for this to import the program
            send_msg(proc.TO_CANDIDATE_FD, json.dumps({"jobdir": job["jobdir"], "limits": job["limits"],
                                                       "workers": bool(test_limit(job))}).encode())
        except OSError:
            pass  # it is gone: the import step reports that
        run(job)
    except BaseException:
        proc.report_crash("judge")
        os._exit(70)
    proc.flush_std()
    os._exit(0)


def run(job: dict) -> None:
    harness = start(job["tests"], job["nonce"])
    if harness is None:
        return
    link = Link(proc.TO_CANDIDATE_FD, proc.FROM_CANDIDATE_FD)
    try:
        head = link.receive()
    except (Closed, codec.CodecError) as err:
        harness.send("import", 0, "error", "the program's process ended while being imported (%s)" % err)
        harness.send("done", 0, "passed", "")
        return
    if head.get("import") != "passed" or type(head.get("names")) is not dict:
        harness.send("import", 0, "error", str(head.get("message") or "the program could not be imported")[:2000])
        harness.send("done", 0, "passed", "")
        return
    limit = test_limit(job)
    if limit:
        try:
            link.workers = Workers(link, limit)
        except (OSError, Closed, TimeoutError, ValueError):
            harness.send("import", 0, "error", "the program's process ended while being imported")
            harness.send("done", 0, "passed", "")
            return
        harness.timeout_type = TestTimeout
    ns = namespace(link, head["names"])
    harness.send("import", 0, "passed", "")
    harness.on_test_start = link.start_test
    if wants_trace(job["tests"]):
        harness.explain_more = link.trace_last_call
    harness.run(ns)
    proc.flush_std()
    harness.send("done", 0, "passed", "")


def namespace(link: "Link", manifest: dict) -> dict:
    """The tests' globals: the program's names as proxies and copies."""
    module = types.ModuleType("solution")
    module.__file__ = "solution.py"
    for name, desc in manifest.items():
        value = _from_manifest(link, str(name), desc)
        if value is not _SKIP:
            module.__dict__[name] = value
    sys.modules["solution"] = module
    ns: dict = {}
    if "solution" not in module.__dict__:
        ns["solution"] = module
    for name, value in module.__dict__.items():
        if name.startswith("__") and name.endswith("__"):
            continue
        if name in builtins.__dict__:
            continue  # a program's ``abs`` or ``set`` never stands in for the builtin (import it by name to use it)
        ns[name] = value
    ns.update({"__name__": "tests", "__file__": "tests.py", "__builtins__": builtins})
    return ns


_SKIP = object()


def _from_manifest(link: "Link", name: str, desc):
    if type(desc) is not list or not desc:
        return _SKIP
    kind = desc[0]
    if kind == "function":
        return link.proxy(name, constructor=False)
    if kind == "class":
        return link.proxy(name, constructor=True)
    if kind == "value" and len(desc) == 2:
        try:
            return codec.decode(desc[1])
        except codec.CodecError:
            return _SKIP
    if kind == "module" and len(desc) == 2 and type(desc[1]) is str and name == desc[1].rsplit(".", 1)[-1]:
        try:
            return importlib.import_module(desc[1])
        except BaseException:
            return _SKIP
    if kind == "library" and len(desc) == 2 and type(desc[1]) is str:
        from coderefl_runner.candidate import VALUE_CLASSES

        if desc[1] in VALUE_CLASSES:
            mod, _, cls = desc[1].rpartition(".")
            return getattr(importlib.import_module(mod), cls)
    return _SKIP


def test_limit(job: dict) -> float | None:
    value = (job.get("limits") or {}).get("test_timeout_s")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def ended(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "signal %d" % -code
        return "killed by %s%s" % (name, " (memory limit?)" if code == -signal.SIGKILL else "")
    return "exit code %d: sys.exit or os._exit in the program?" % code


class TestTimeout(BaseException):
    """A test ran over its own time limit (a BaseException: no test or framework swallows it)."""

    __test__ = False


class Workers:
    """The judge's side of per-test time limits: which worker serves calls now,
    and replacing it (fresh pipes, a fork of the template) when it runs over a
    test's limit or dies."""

    def __init__(self, link: "Link", limit: float) -> None:
        self.link, self.limit = link, limit
        self.ctl = socket.socket(fileno=proc.CONTROL_FD)
        self.buf = b""
        self.pid = self._expect(b"worker")

    def _expect(self, word: bytes, wait: float = 10.0) -> int:
        deadline = time.monotonic() + wait
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.ctl], [], [], left)[0]:
                raise TimeoutError
            chunk = self.ctl.recv(256)
            if not chunk:
                raise Closed("the candidate is gone")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        head, _, value = line.partition(b" ")
        if head != word:
            raise ValueError("unexpected control message")
        return int(value)

    def replace(self) -> int | None:
        """Stop the worker and start another; the old one's wait status (None
        when the candidate is gone)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        link = self.link
        try:
            status = self._expect(b"ended")
            to_r, to_w = os.pipe()
            from_r, from_w = os.pipe()
            socket.send_fds(self.ctl, [b"fork"], [to_r, from_w])
            os.close(to_r)
            os.close(from_w)
            os.close(link.wfd)
            os.close(link.rfd)
            link.wfd, link.rfd = to_w, from_r
            self.pid = self._expect(b"worker")
        except (OSError, Closed, TimeoutError, ValueError):
            link.dead = DIED
            return None
        link.dead = None
        link.refs.clear()  # the program's objects lived in the old worker
        return status


class Link:
    """The judge's end of the pipe pair to the candidate."""

    def __init__(self, wfd: int, rfd: int) -> None:
        self.wfd, self.rfd = wfd, rfd
        self.dead: str | None = None
        self.refs: dict[int, codec.Ref] = {}
        self.last_call: tuple[str, dict] | None = None
        self.workers: Workers | None = None
        self.deadline: float | None = None

    def start_test(self) -> None:
        self.last_call = None
        if self.workers is not None:
            self.deadline = time.monotonic() + self.workers.limit

    def receive(self) -> dict:
        if self.deadline is None:
            data = recv_msg(self.rfd, codec.MAX_MESSAGE_BYTES)
        else:
            data = recv_msg_by(self.rfd, codec.MAX_MESSAGE_BYTES, self.deadline)
        answer = codec.loads(data)
        if type(answer) is not dict:
            raise codec.CodecError("malformed answer")
        return answer

    def send(self, data: bytes) -> None:
        if self.deadline is None:
            send_msg(self.wfd, data)
        else:
            write_by(self.wfd, len(data).to_bytes(4, "big") + data, self.deadline)

    def proxy(self, name: str, constructor: bool):
        link = self

        def call(*args, **kwargs):
            return link.call(name, constructor, args, kwargs)

        call.__name__ = call.__qualname__ = name
        return call

    def forget_last_call(self) -> None:
        self.last_call = None

    def trace_last_call(self) -> str:
        """What the last call of a failed test did, line by line (``# coderefl: trace``)."""
        if self.last_call is None or self.dead:
            return ""
        name, request = self.last_call
        try:
            self.send(codec.dumps({**request, "trace": True}))
            answer = self.receive()
        except TimeoutError:
            if self.workers is not None:
                self.workers.replace()
            return ""
        except (Closed, OSError, codec.CodecError):
            self.dead = DIED
            return ""
        trace = answer.get("trace")
        if type(trace) is not str or not trace:
            return ""
        return "\nWhat %s did, line by line (in brackets: the variables that changed, as each line starts):\n%s" % (name, trace[:TRACE_CHARS])

    def _tag(self, obj):
        if type(obj) is codec.Ref:
            return {"t": "ref", "v": obj.ref_id}
        return None

    def call(self, name: str, constructor: bool, args: tuple, kwargs: dict):
        if self.dead:
            raise ProgramDied(self.dead)
        try:
            request = {"f": name, "a": [codec.encode(a, self._tag) for a in args],
                       "k": {str(k): codec.encode(v, self._tag) for k, v in kwargs.items()}}
        except codec.Unsupported as err:
            raise TypeError("judge mode passes only plain data to the program; %s() was given a %s "
                            "(run such tests in-process)" % (name, err.type_name)) from None
        self.last_call = (name, request)
        try:
            self.send(codec.dumps(request))
            answer = self.receive()
        except TimeoutError:
            self.workers.replace()  # type: ignore[union-attr]  (a deadline is only set with workers)
            raise TestTimeout("%s() ran over the test's time limit of %gs" % (name, self.workers.limit)) from None  # type: ignore[union-attr]
        except (Closed, OSError):
            self.dead = DIED
            if self.workers is not None:  # the next test gets a fresh worker; say how this one ended
                status = self.workers.replace()
                if status is not None:
                    raise ProgramDied("the program's process ended during the call (%s)" % ended(status)) from None
            raise ProgramDied(DIED) from None
        except codec.CodecError as err:
            raise TypeError("%s() sent an answer the judge cannot read: %s" % (name, err)) from None
        if "raise" in answer:
            raise _exception(answer["raise"])
        if "ref" in answer:
            if not constructor or type(answer["ref"]) is not int:
                raise TypeError("%s() returned an object of the program's own; only plain data can be compared" % name)
            ref = self.refs.get(answer["ref"])
            if ref is None:
                ref = self.refs[answer["ref"]] = codec.Ref(answer["ref"], str(answer.get("n", "object"))[:80])
            return ref
        if "bad" in answer:
            raise TypeError("%s() returned an object of type %s; only plain data can be compared"
                            % (name, str(answer["bad"])[:200]))
        if "unreadable" in answer:
            raise TypeError("%s() returned a value that cannot be compared: %s" % (name, str(answer["unreadable"])[:200]))
        if "v" not in answer:
            raise TypeError("%s() sent a malformed answer" % name)
        try:
            value = codec.decode(answer["v"], self._resolve)
            for index, tree in answer.get("m") or []:
                if type(index) is int and 0 <= index < len(args):
                    copy_back(args[index], codec.decode(tree, self._resolve))
        except (codec.CodecError, ValueError, TypeError) as err:
            raise TypeError("%s() returned a value the judge cannot read: %s" % (name, err)) from None
        return value

    def _resolve(self, tree: dict):
        ref = self.refs.get(tree.get("v"))  # only references this judge was handed by a constructor
        if ref is None:
            raise codec.CodecError("a reference the judge never received")
        return ref


def copy_back(original, new) -> None:
    """Make an argument the program changed look changed to the tests: same
    object, new content (nested lists and dicts of the same shape keep their identity)."""
    if type(original) is list and type(new) is list:
        for i, (a, b) in enumerate(zip(original, new)):
            if type(a) in (list, dict, set) and type(a) is type(b):
                copy_back(a, b)
            else:
                original[i] = b
        del original[len(new):]
        original.extend(new[len(original):])
    elif isinstance(original, dict) and isinstance(new, dict):
        original.clear()
        original.update(new)
    elif type(original) is set and isinstance(new, (set, frozenset)):
        original.clear()
        original.update(new)
    elif type(original) is bytearray and isinstance(new, (bytes, bytearray)):
        original[:] = new
    elif isinstance(original, codec.collections.deque) and isinstance(new, codec.collections.deque):
        original.clear()
        original.extend(new)


def _exception(record) -> BaseException:
    if type(record) is not dict:
        return ProgramError("the program raised an exception the judge cannot read")
    name = str(record.get("type", "Exception"))[:100]
    builtin = str(record.get("builtin", "Exception"))
    msg = str(record.get("msg", ""))[:2000]
    if name == "SystemExit":
        err: BaseException = ProgramError("the program called sys.exit(%s)" % msg)
    elif name in ("StopIteration", "StopAsyncIteration"):
        err = RuntimeError("the program raised %s" % name)  # it must not end the tests' loops early
    else:
        cls = getattr(builtins, builtin, None)
        if (not isinstance(cls, type) or not issubclass(cls, Exception) or builtin in _NOT_MAPPED
                or issubclass(cls, (StopIteration, StopAsyncIteration))):
            cls = ProgramError
        try:
            err = cls(msg) if cls is not ProgramError or name == builtin else ProgramError("%s: %s" % (name, msg))
        except BaseException:
            err = ProgramError("%s: %s" % (name, msg))
    place = str(record.get("where", ""))[:400]
    if type(err) is not ProgramError and name != type(err).__name__:
        place = ("raised as %s; %s" % (name, place)).rstrip("; ")
    err.coderefl_where = place  # type: ignore[attr-defined]
    return err
