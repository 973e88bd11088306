"""The test runner that executes inside the sandbox (standard library only, Python >= 3.8).

The solution and the tests run in ONE module namespace, solution first, as if the two
files were concatenated (HumanEval style), but each test is executed on its own so the
verdict knows which tests pass, which fail and why, and a test that hangs is stopped by
its own alarm while the others still report.

Everything arrives on stdin, read to its end before any model code runs: a nonce line,
then one JSON line {"solution": str, "setup": str, "cases": [{"name", "source", "call",
"hypothesis"}], "per_test_timeout_s": float, "hypothesis": {...} or absent, "returns":
{function: type spec}, "modules": [names]}. Nothing of the tests is on disk, and stdin is
/dev/null afterwards, so the solution cannot read the expected values.

The solution runs in this interpreter, so the harness keeps its own tools: everything it
needs after the solution loads (write, exec, compile, the report fd, the nonce, the
encoder) is bound in `main`'s locals before model code runs, the report is encoded with
methods of immutable built-in types only (no module the solution could patch), and
`__main__` no longer names this module. An audit hook, which cannot be removed, refuses
frame and object-graph introspection, tracing hooks, raw memory reads and opening files
of the work directory or /proc while solution code and tests run, when model code asks (the
standard library and hypothesis walk frames for their own purposes, and may). Builtins, and the functions of the
modules the tests import, must be the same objects after each test as before the
solution; top-level functions whose return annotation names plain types (host-parsed,
execute.py) must return exactly those types, so an object that equals everything fails;
the other top-level functions must return values whose comparisons and arithmetic the
solution did not write itself (no class of its own with `__eq__`, `__sub__`, ..., no
`unittest.mock.ANY`). The solution may not bind a builtin's name in the tests' namespace
(`def abs`, `from math import floor as abs`): the tests would call its version.

The report is one line on a private copy of stdout, the nonce then one entry per case:
`<status><hex of the error text>`, status p (passed), f (failed), x (exited: SystemExit
and the like, not a test failure), t (tampering), r (a result not of the annotated type). It is written
only after the last test returns: the proof that the tests ran to their end.
"""

import json
import os
import signal
import sys
import traceback

MAX_ERROR_CHARS = 2000
_FRAME_EVENTS = ("sys._getframe", "sys._current_frames", "sys._current_exceptions",
                 "gc.get_objects", "gc.get_referrers", "gc.get_referents",
                 "sys.settrace", "sys.setprofile", "sys.monitoring.register_callback",
                 "ctypes.string_at", "ctypes.wstring_at", "ctypes.dlsym", "ctypes.call_function",
                 "ctypes.cdata", "ctypes.addressof", "ctypes.PyObj_FromPtr")  # fmt: skip
_FRAME_ATTRS = ("tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back", "f_locals",
                "f_globals", "__globals__", "__closure__")  # fmt: skip
_CODE_ATTRS = ("__code__", "__defaults__", "__kwdefaults__", "__globals__", "__closure__")

# The alarm handler and the return-type checker live in globals of their own, so nothing
# reachable from them (`__globals__`, defaults) leads back to this module.
_ISOLATED = '''
class TestTimeout(BaseException):
    """Raised by the alarm; a BaseException so `except Exception` in model code can't swallow it."""

class ReturnTypeError(BaseException):
    """A result that is not the type the signature names (never swallowed either)."""

def on_alarm(signum, frame):
    raise TestTimeout()

def describe_type(value):
    kind = type(value)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else module + "." + kind.__qualname__

def conforms(value, spec, budget):
    """Whether value is exactly of the plain type spec says (containers all the way down)."""
    budget[0] -= 1
    if budget[0] < 0:
        return True  # very large results: the checked prefix stands for the rest
    kind, args = spec[0], spec[1:]
    actual = type(value)
    if kind in ("plain", "honest"):  # honest: no plain annotation, comparisons not forged
        if actual in SCALARS:
            return True
        if actual in (list, tuple, set, frozenset):
            return all(conforms(item, spec, budget) for item in value)
        if actual is dict:
            return all(conforms(k, spec, budget) and conforms(v, spec, budget)
                       for k, v in value.items())
        return kind == "honest" and not forged(actual)
    if kind == "any":
        return True
    if kind == "union":
        return any(conforms(value, option, budget) for option in args)
    if kind in ("list", "set", "frozenset"):
        return actual is TYPES[kind] and all(conforms(item, args[0], budget) for item in value)
    if kind == "tuple":
        return actual is tuple and len(value) == len(args) and all(
            conforms(item, option, budget) for item, option in zip(value, args))
    if kind == "tuple_of":
        return actual is tuple and all(conforms(item, args[0], budget) for item in value)
    if kind == "dict":
        return actual is dict and all(
            conforms(k, args[0], budget) and conforms(v, args[1], budget)
            for k, v in value.items())
    return actual in ALLOWED.get(kind, (TYPES.get(kind),))

def made_by_solution(function, klass):
    """Whether a class attribute is Python code that no installed file holds (the solution
    wrote it); dataclasses' generated methods come from "<string>" and are theirs."""
    code = getattr(getattr(function, "__func__", function), "__code__", None)
    if code is None:
        return False  # implemented in C: a built-in or a compiled library's
    filename = code.co_filename
    if filename == "<string>" and "__dataclass_fields__" in getattr(klass, "__dict__", {}):
        return False
    return not filename.startswith(TRUSTED)

def forged(kind):
    """Whether values of this type may lie in the comparisons tests make (==, <, abs(a - b)):
    unittest.mock's ANY and the like, or any class whose comparison or arithmetic the
    solution wrote itself."""
    if (getattr(kind, "__module__", "") or "").startswith("unittest.mock"):
        return True
    for klass in getattr(kind, "__mro__", ()):
        space = getattr(klass, "__dict__", {})
        for name in COMPARISONS:
            if name in space and made_by_solution(space[name], klass):
                return True
    return False

def make_checked(name, function, spec, shown):
    depth = [0]

    def checked(*args, **kwargs):
        if depth[0]:  # a recursive call from the solution itself: checked at the top
            return function(*args, **kwargs)
        depth[0] += 1
        try:
            result = function(*args, **kwargs)
        finally:
            depth[0] -= 1
        if not conforms(result, spec, [100000]):
            if spec[0] == "honest":
                raise ReturnTypeError(
                    name + "() returned a " + describe_type(result) + ", whose comparisons "
                    "the solution defines itself: return plain values the tests can compare")
            raise ReturnTypeError(
                name + "() returned a " + describe_type(result) + ", but its signature says "
                + shown + ": return exactly that type (plain built-in values)")
        return result

    checked.__name__ = getattr(function, "__name__", name)
    checked.__doc__ = getattr(function, "__doc__", None)
    checked.__wrapped__ = function
    return checked
'''


def _isolated():
    space = {
        "__builtins__": {
            "BaseException": BaseException, "type": type, "all": all, "any": any, "len": len,
            "zip": zip, "getattr": getattr, "__build_class__": __build_class__,
            "__name__": "isolated",
        },
        "__name__": "isolated",
        "SCALARS": (int, float, bool, str, bytes, complex, type(None)),
        "TYPES": {"int": int, "float": float, "bool": bool, "str": str, "bytes": bytes,
                  "complex": complex, "none": type(None), "list": list, "set": set,
                  "frozenset": frozenset, "dict": dict, "tuple": tuple},
        "ALLOWED": {"int": (int, bool), "float": (float, int, bool),
                    "complex": (complex, float, int, bool)},
        "list": list, "tuple": tuple, "set": set, "frozenset": frozenset, "dict": dict,
        "COMPARISONS": ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
                        "__sub__", "__rsub__", "__abs__"),
        "TRUSTED": (),  # set by main: the installed library's paths
    }  # fmt: skip
    exec(compile(_ISOLATED, "synth-harness", "exec"), space)
    return space


def _settle_hypothesis(options):
    """Fixed seed, bounded examples, no database: a property fails the same way every run,
    and its falsifying example is attached to the failure."""
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:
        return
    settings.register_profile(
        "synth",
        max_examples=int(options.get("max_examples", 100)),
        derandomize=True,
        deadline=None,
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )
    settings.load_profile("synth")


def _read_stdin(read):
    chunks = []
    while True:
        chunk = read(0, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _snapshot(modules):
    """The callables each module (and builtins) holds, by identity."""
    taken = []
    for module in modules:
        namespace = getattr(module, "__dict__", {})
        for key, value in list(namespace.items()):
            if callable(value) or key in ("__import__", "__build_class__"):
                taken.append((module, key, value))
    return taken


def main():
    # Bound now, before any model code: the solution may rebind any of these names later.
    read, write, exit_now, dup, dup2 = os.read, os.write, os._exit, os.dup, os.dup2
    run_code, compile_code, setitimer = exec, compile, signal.setitimer
    timer, str_, len_, isinstance_ = signal.ITIMER_REAL, str, len, isinstance
    base_exception, system_exit = BaseException, (SystemExit, KeyboardInterrupt, GeneratorExit)
    format_list, extract_tb = traceback.format_list, traceback.extract_tb
    format_exception_only = traceback.format_exception_only
    getcwd, realpath = os.getcwd, os.path.realpath
    import builtins

    data = _read_stdin(read)
    nonce, _, payload = data.decode("utf-8").partition("\n")
    nonce = nonce.strip()
    spec = json.loads(payload)
    del data, payload
    null = os.open("/dev/null", os.O_RDONLY)
    dup2(null, 0)  # the tests were on stdin: gone before the solution could read them
    os.close(null)
    report = dup(1)  # a private copy of stdout, kept from the solution
    timeout = float(spec.get("per_test_timeout_s", 5))
    isolated = _isolated()
    test_timeout, return_type_error = isolated["TestTimeout"], isolated["ReturnTypeError"]
    signal.signal(signal.SIGALRM, isolated["on_alarm"])
    if spec.get("hypothesis"):
        _settle_hypothesis(spec["hypothesis"])
    watched = [builtins]
    for name in spec.get("modules", ()):
        try:
            watched.append(__import__(name))
        except BaseException:  # noqa: BLE001 - the tests report a module that is missing
            pass
    snapshot = _snapshot(watched)
    workdir = realpath(getcwd())
    guarded = [False]  # on while model code runs; a cell the solution cannot reach

    getframe = sys._getframe
    trusted = tuple(
        entry.rstrip("/") + "/"
        for entry in sys.path
        if entry.startswith("/") and not realpath(entry).startswith(workdir)
    ) + ("<frozen",)
    relays = ("inspect.py", "traceback.py", "logging/__init__.py")  # they hand frames out
    isolated["TRUSTED"] = trusted
    builtin_space = dict(builtins.__dict__)  # before the solution: what the names mean

    def from_model_code():
        """Whether the audited operation was asked for by the solution or a test, directly
        or through a stdlib function that hands frames out (the standard library and
        hypothesis use frames for their own purposes and may)."""
        guarded[0] = False  # our own _getframe is audited too
        try:
            frame = getframe(2)  # 0: here, 1: audit, 2: who did the audited thing
            for _ in range(2):
                if frame is None:
                    return False
                name = frame.f_code.co_filename
                if not name.startswith(trusted):
                    return True
                if not name.endswith(relays):
                    return False
                frame = frame.f_back
            return False
        finally:
            guarded[0] = True

    def audit(event, args):
        if not guarded[0]:
            return
        if event in _FRAME_EVENTS and from_model_code():
            raise RuntimeError("synth: " + event + " is not allowed while the tests run")
        if (
            event == "object.__getattr__"
            and len_(args) > 1
            and args[1] in _FRAME_ATTRS
            and from_model_code()
        ):
            raise RuntimeError("synth: ." + str_(args[1]) + " is not allowed while the tests run")
        if (
            event == "object.__setattr__"
            and len_(args) > 1
            and args[1] in _CODE_ATTRS
            and from_model_code()
        ):
            raise RuntimeError("synth: setting " + str_(args[1]) + " is not allowed")
        if event == "open" and args:
            path = args[0]
            if isinstance_(path, int):
                if path > 2:
                    raise RuntimeError("synth: opening file descriptors is not allowed")
                return
            try:
                where = realpath(os.fsdecode(path))
            except BaseException:  # noqa: BLE001
                return
            if where == workdir or where.startswith((workdir + "/", "/proc", "/dev/fd")):
                raise RuntimeError("synth: opening " + where + " is not allowed")

    sys.addaudithook(audit)
    namespace = {"__name__": "solution"}
    # `import __main__` should not lead to this module and its nonce-holding frame.
    sys.modules["__main__"] = type(sys)("__main__")

    def describe(exc, source_name):
        """The failure as a person would read it: assert message, or the traceback tail."""
        if isinstance(exc, test_timeout):
            return "timed out"
        frames = [f for f in extract_tb(exc.__traceback__) if f.filename != __file__]
        text = "".join(format_list(frames)) + "".join(format_exception_only(type(exc), exc))
        if frames:
            text = "Traceback (most recent call last):\n" + text
        text = text.strip()
        if isinstance(exc, AssertionError) and not str_(exc):
            text = "AssertionError (" + source_name + ")\n" + text
        return text[-MAX_ERROR_CHARS:]

    def run(code, filename, call=None, guard=True):
        setitimer(timer, timeout)
        guarded[0] = guard
        try:
            run_code(compile_code(code, filename, "exec"), namespace)
            if call:
                namespace[call]()
        finally:
            guarded[0] = False
            setitimer(timer, 0)

    def outcome(exc, name):
        guarded[0] = False
        try:
            text = describe(exc, name)
        except base_exception:  # noqa: BLE001 - an exception whose str() misbehaves
            text = "the test raised " + str_(type(exc).__name__)
        if isinstance(exc, return_type_error):
            return "r", text
        if isinstance(exc, system_exit):
            return "x", "exited early (" + type(exc).__name__ + "): not a test result\n" + text
        return "f", text

    def tampered():
        """What the solution rebound since the snapshot, or ''."""
        for module, key, value in snapshot:
            if getattr(module, "__dict__", {}).get(key) is not value:
                return "t", "the solution rebound " + module.__name__ + "." + key
        return None

    def shadowed(space, builtin_space):
        """A builtin's name the solution bound in the tests' namespace (`def abs`, `import
        floor as abs`): the tests would call the solution's instead of the builtin."""
        for key in list(space):
            if key[:2] != "__" and key in builtin_space and space[key] is not builtin_space[key]:
                return "t", "the solution defines " + key + ", a builtin's name the tests use"
        return None

    checked = {}
    error_before_tests = None
    try:
        run(spec.get("solution", ""), "solution.py")
        error_before_tests = tampered() or shadowed(namespace, builtin_space)
        for name, type_spec in spec.get("returns", {}).items():
            function = namespace.get(name)
            if callable(function):
                shown = type_spec.pop()  # the annotation as written
                checked[name] = isolated["make_checked"](name, function, type_spec, shown)
                namespace[name] = checked[name]
        if checked:  # each checked call adds a frame: keep the recursion depth a solution has
            sys.setrecursionlimit(sys.getrecursionlimit() * 2 + 100)
        if spec.get("setup", "").strip() and error_before_tests is None:
            run(spec["setup"], "tests_setup.py")
    except base_exception as exc:  # noqa: BLE001 - anything the solution does is reported
        error_before_tests = outcome(exc, "setup")

    entries = []
    for case in spec["cases"]:
        if error_before_tests is not None:
            status, text = error_before_tests
        else:
            try:
                run(case["source"], case["name"], case.get("call"))
                status, text = "p", ""
            except base_exception as exc:  # noqa: BLE001
                status, text = outcome(exc, case["name"])
            rebound = tampered()
            for name, wrapper in checked.items():
                if namespace.get(name) is not wrapper:
                    rebound = rebound or ("t", "the solution rebound " + name + " while tested")
                    namespace[name] = wrapper
            if rebound is not None:
                status, text = rebound
                error_before_tests = rebound  # nothing after it can be trusted
        entries.append(status + text.encode("utf-8", "replace").hex())

    for stream in (sys.stdout, sys.stderr):  # what the solution printed is evidence
        try:
            stream.flush()
        except base_exception:  # noqa: BLE001 - the solution may have closed or replaced it
            pass
    line = (nonce + ":" + ";".join(entries) + "\n").encode("ascii")
    while line:
        line = line[write(report, line) :]
    exit_now(0)  # skip atexit handlers and threads the solution may have left


if __name__ == "__main__":
    main()
