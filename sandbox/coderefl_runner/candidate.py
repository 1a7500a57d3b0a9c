"""The candidate: the untrusted side of judge mode.

It imports the program and serves calls from the judge, nothing else. It never
receives the tests, the expected values or the failure messages, and it has no
fd to the server's report channel: whatever it does to its own interpreter
(patched builtins, frames, gc, settrace, ctypes, forks) it can only choose the
values its functions return.

Requests (judge -> candidate), one JSON message each::

    {"f": NAME, "a": [ARGS...], "k": {NAME: ARG}}

Answers (candidate -> judge)::

    {"v": VALUE, "m": [[INDEX, VALUE], ...]}        returned; "m": arguments it changed
    {"ref": ID, "n": TYPE_NAME}                      a class was called: the instance stays here
    {"bad": TYPE_NAME}                               the value is not plain data
    {"unreadable": WHY}                              too large, too deep or cyclic
    {"raise": {"type": ..., "builtin": ..., "msg": ..., "where": ...}}
    {"trace": TEXT}                                  for {"trace": true}: the call run again, traced
"""

from __future__ import annotations

import builtins
import json
import os
import socket
import sys
import traceback
import types

from coderefl_runner import codec, proc
from coderefl_runner.wire import Closed, recv_msg, send_msg

#: library classes the judge takes from its own standard library when the program binds them
VALUE_CLASSES = frozenset(
    "collections.Counter collections.OrderedDict collections.defaultdict collections.deque "
    "fractions.Fraction decimal.Decimal datetime.date datetime.datetime datetime.time datetime.timedelta".split())
_BUILTIN_EXC = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}


def main(params: dict, fds: list[int]) -> None:
    out_w, err_w, cmd_r, res_w, ctl = fds
    proc.take_fds({proc.OUT_FD: out_w, proc.ERR_FD: err_w, proc.CANDIDATE_IN_FD: cmd_r, proc.CANDIDATE_OUT_FD: res_w,
                   proc.CONTROL_FD: ctl})
    proc.detach(dumpable=1)
    _exit, _send, _dumps = os._exit, send_msg, codec.dumps
    out = proc.CANDIDATE_OUT_FD
    try:  # the judge says where the job is once it has one (this process may start before)
        start = json.loads(recv_msg(proc.CANDIDATE_IN_FD, 1 << 20))
        jobdir = start["jobdir"]
    except (Closed, ValueError, KeyError, TypeError):
        _exit(0)
    proc.settle(params, start.get("limits") or {}, cwd=jobdir, path_first=jobdir)
    if not start.get("workers"):
        os.close(proc.CONTROL_FD)  # only a template of workers talks to the judge outside calls
    try:
        module, error = import_solution(jobdir)
        if error is not None:
            _send(out, _dumps({"import": "error", "message": error}))
            _exit(0)
        _send(out, _dumps({"import": "passed", "names": manifest(module)}))
        if start.get("workers"):
            keep_template(module)
        else:
            serve(module)
    except BaseException:
        proc.report_crash("candidate")
    _exit(0)


def import_solution(jobdir: str):
    path = os.path.join(jobdir, "solution.py")
    try:
        with open(path, encoding="utf-8") as fh:
            code = compile(fh.read(), path, "exec")
    except BaseException as err:
        return None, "solution does not compile: " + describe(err)
    module = types.ModuleType("solution")
    module.__file__ = path
    sys.modules["solution"] = module
    try:
        exec(code, module.__dict__)
    except SystemExit as err:
        return None, "solution called sys.exit(%s) while being imported" % _safe_repr(err.code)
    except BaseException as err:
        return None, "solution raised while being imported: " + describe(err)
    finally:
        proc.flush_std()
    return module, None


def manifest(module: types.ModuleType) -> dict:
    """What each top-level name of the program is, for the judge to build its view."""
    names: dict[str, list] = {}
    for name, value in list(module.__dict__.items()):
        if not isinstance(name, str) or (name.startswith("__") and name.endswith("__")):
            continue
        if isinstance(value, types.ModuleType):
            names[name] = ["module", value.__name__]
        elif isinstance(value, type):
            dotted = "%s.%s" % (getattr(value, "__module__", ""), getattr(value, "__qualname__", ""))
            names[name] = ["library", dotted] if dotted in VALUE_CLASSES else ["class", value.__name__]
        elif callable(value):
            names[name] = ["function"]
        else:
            try:
                names[name] = ["value", codec.encode(value)]
            except (codec.CodecError, RecursionError):
                pass  # an object the tests cannot use in judge mode
    return names


def keep_template(module: types.ModuleType) -> None:
    """Per-test time limits: this process keeps the imported program as a
    template and serves from a forked worker. When the judge stops a worker (a
    test ran over its limit) or one dies, the judge sends fresh pipes and the
    next worker starts from the template, as the program was just after import."""
    ctl = socket.socket(fileno=proc.CONTROL_FD)
    while True:
        pid = os.fork()
        if pid == 0:
            ctl.detach()
            os.close(proc.CONTROL_FD)
            os.setpgid(0, 0)  # the judge stops the worker and all it started at once
            serve(module)
            os._exit(0)
        os.close(proc.CANDIDATE_IN_FD)
        os.close(proc.CANDIDATE_OUT_FD)
        try:
            ctl.sendall(b"worker %d\n" % pid)
            _, status = os.waitpid(pid, 0)
            ctl.sendall(b"ended %d\n" % status)
            msg, fds, _, _ = socket.recv_fds(ctl, 16, 2)
        except OSError:
            return
        if msg != b"fork" or len(fds) != 2:
            return
        os.dup2(fds[0], proc.CANDIDATE_IN_FD)
        os.dup2(fds[1], proc.CANDIDATE_OUT_FD)
        for fd in fds:
            os.close(fd)


def serve(module: types.ModuleType) -> None:
    kept: dict[int, object] = {}  # reference id -> object the judge holds a Ref to
    ids: dict[int, int] = {}      # id(object) -> reference id

    def tag(obj):
        rid = ids.get(id(obj))
        return None if rid is None else {"t": "ref", "v": rid}

    def resolve(tree):
        rid = tree.get("v")
        if type(rid) is not int or rid not in kept:
            raise codec.CodecError("unknown reference")
        return kept[rid]

    while True:
        try:
            request = json.loads(recv_msg(proc.CANDIDATE_IN_FD, codec.MAX_MESSAGE_BYTES))
        except Closed:
            return
        answer = call(module, request, kept, ids, tag, resolve)
        proc.flush_std()
        data = codec.dumps(answer)
        if len(data) > codec.MAX_MESSAGE_BYTES:
            data = codec.dumps({"unreadable": "a value over %d bytes" % codec.MAX_MESSAGE_BYTES})
        send_msg(proc.CANDIDATE_OUT_FD, data)


def call(module, request: dict, kept: dict, ids: dict, tag, resolve) -> dict:
    name = request.get("f")
    target = module.__dict__.get(name)
    try:
        args = [codec.decode(a, resolve) for a in request.get("a", [])]
        kwargs = {k: codec.decode(v, resolve) for k, v in request.get("k", {}).items()}
        before = [codec.dumps(a) for a in request.get("a", [])]
    except codec.CodecError as err:
        return {"raise": {"type": "TypeError", "builtin": "TypeError", "msg": str(err), "where": ""}}
    if request.get("trace"):
        return {"trace": trace_call(target, args, kwargs, str(module.__file__))}
    try:
        result = target(*args, **kwargs)
    except BaseException as err:  # noqa: B902 - everything the program raises crosses as data
        return {"raise": exception_record(err)}
    if isinstance(target, type) and type(result) is target:
        rid = len(kept) + 1
        kept[rid], ids[id(result)] = result, rid
        return {"ref": rid, "n": target.__name__}
    try:
        answer: dict = {"v": codec.encode(result, tag)}
    except codec.Unsupported as err:
        return {"bad": err.type_name}
    except (codec.CodecError, RecursionError) as err:
        return {"unreadable": str(err) or type(err).__name__}
    except BaseException as err:  # a generator that raises while being consumed
        return {"raise": exception_record(err)}
    changed = []
    for i, arg in enumerate(args):
        try:
            now = codec.encode(arg, tag)
        except BaseException:
            continue
        if codec.dumps(now) != before[i]:
            changed.append([i, now])
    if changed:
        answer["m"] = changed
    return answer


#: how many line events a trace records, and how many of them it shows (first and last)
TRACE_EVENTS, TRACE_SHOWN = 20_000, 40


class _TraceFull(Exception):
    pass


def trace_call(target, args: list, kwargs: dict, path: str) -> str:
    """Run the call again under ``sys.settrace`` and say what it did, line by
    line: each line of the program it ran, with the local variables that changed
    (LDB-style runtime feedback: where the state first goes wrong). Bounded: at
    most TRACE_EVENTS events, the first and last TRACE_SHOWN of them shown."""
    events: list[str] = []
    last: dict[int, dict] = {}  # frame id -> locals shown last

    def snapshot(frame) -> str:
        before = last.get(id(frame), {})
        now = {}
        for k, v in list(frame.f_locals.items())[:20]:
            now[k] = _short(v)
        last[id(frame)] = now
        changed = [f"{k}={v}" for k, v in now.items() if before.get(k) != v]
        return ", ".join(changed)

    def tracer(frame, event, arg):
        if frame.f_code.co_filename != path:
            return None
        if event in ("line", "return", "exception"):
            if len(events) >= TRACE_EVENTS:
                raise _TraceFull
            state = snapshot(frame)
            if event == "line":
                text = linecache.getline(path, frame.f_lineno).strip()
                events.append(f"{frame.f_code.co_name} line {frame.f_lineno}: {text[:80]}" + (f"   [{state}]" if state else ""))
            elif event == "return":
                events.append(f"{frame.f_code.co_name} returns {_short(arg)}" + (f"   [{state}]" if state else ""))
            else:
                events.append(f"{frame.f_code.co_name} raises {type(arg[1]).__name__}: {_short(arg[1], 80)}")
        return tracer

    import linecache

    full = False
    sys.settrace(tracer)
    try:
        target(*args, **kwargs)
    except _TraceFull:
        full = True
    except BaseException:  # noqa: B902 - the exception is in the trace already
        pass
    finally:
        sys.settrace(None)
    if len(events) > 2 * TRACE_SHOWN:
        hidden = len(events) - 2 * TRACE_SHOWN
        events = events[:TRACE_SHOWN] + [f"... {hidden} more steps ..."] + events[-TRACE_SHOWN:]
    if full:
        events.append(f"... stopped after {TRACE_EVENTS} steps")
    return "\n".join(events)


def _short(value, limit: int = 40) -> str:
    try:
        text = repr(value)
    except BaseException:
        text = "<unrepresentable>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def exception_record(err: BaseException) -> dict:
    cls = type(err)
    builtin = next((c.__name__ for c in cls.__mro__ if c.__name__ in _BUILTIN_EXC and c.__module__ == "builtins"),
                   "Exception")
    try:
        msg = str(err)[:2000]
    except BaseException:
        msg = "<unprintable message>"
    if isinstance(err, SystemExit):
        msg = _safe_repr(err.code)
    return {"type": cls.__name__, "builtin": builtin, "msg": msg, "where": where(err)}


def where(err: BaseException) -> str:
    try:
        frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename.endswith("solution.py")]
        if frames:
            f = frames[-1]
            return "solution.py line %d: %s" % (f.lineno, (f.line or "").strip())
    except BaseException:
        pass
    return ""


def describe(err: BaseException) -> str:
    try:
        head = "%s: %s" % (type(err).__name__, err)
    except BaseException:
        head = type(err).__name__
    place = where(err)
    if isinstance(err, SyntaxError):
        place = "solution.py line %s: %s" % (err.lineno, (err.text or "").strip())
    return head + (" (%s)" % place if place else "")


def _safe_repr(value) -> str:
    try:
        return repr(value)[:200]
    except BaseException:
        return "<unprintable>"
