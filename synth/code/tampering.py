"""The static guard: reject solutions that reach for the checking machinery, not the problem.

The problems synth writes are standard-library algorithm tasks; none of them needs to walk
the interpreter's frames, rebind builtins or another module's attributes, exit the process,
handle signals, install tracing hooks, load native code or read files. A solution that does
is trying to make the check pass without solving anything (the sandbox's drivers catch
those too, at run time: this guard names the construct so the model's feedback says what to
drop). One rejection reason, `static/tampering`, with the construct and its line.

Rules are named so a user whose problems legitimately need one can switch it off
(`LintConfig.tampering`). Python is checked on its syntax tree (aliases followed: `import os
as o; o._exit`), the other languages on their source with comments and string literals
blanked out, so a word in a string or a comment is never a finding.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

from synth.python_ast import parse_python

# Every rule, on by default. "dynamic" (exec/eval/__import__) is here because it hides any
# of the others from a static reading.
RULES = ("frames", "rebinding", "exit", "signals", "tracing", "native", "files", "dynamic", "input")

_FRAME_ATTRS = {
    "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "tb_frame", "tb_next",
    "gi_frame", "cr_frame", "ag_frame", "__globals__", "__closure__", "__code__",
    "__defaults__", "__kwdefaults__", "__builtins__", "__subclasses__",
}  # fmt: skip
# module -> {attribute: rule}; "*" is any attribute of the module (importing it is enough)
_MODULE_ATTRS: dict[str, dict[str, str]] = {
    "sys": {
        "_getframe": "frames", "_current_frames": "frames", "_current_exceptions": "frames",
        "modules": "rebinding", "exit": "exit", "settrace": "tracing", "setprofile": "tracing",
        "addaudithook": "tracing", "monitoring": "tracing", "stdin": "input",
    },
    "inspect": {"*": "frames"},
    "gc": {"*": "frames"},
    "os": {
        "_exit": "exit", "kill": "exit", "killpg": "exit", "abort": "exit", "open": "files",
        "fdopen": "files", "listdir": "files", "scandir": "files", "walk": "files",
        "read": "input", "system": "exit", "execv": "exit", "execve": "exit", "execl": "exit",
        "execvp": "exit", "fork": "exit", "forkpty": "exit",
    },
    "posix": {"*": "exit"},
    "signal": {"*": "signals"},
    "threading": {"settrace": "tracing", "setprofile": "tracing"},
    "ctypes": {"*": "native"},
    "_ctypes": {"*": "native"},
    "cffi": {"*": "native"},
    "faulthandler": {"*": "signals"},
    "atexit": {"*": "exit"},
    "builtins": {"*": "rebinding"},
    "__main__": {"*": "rebinding"},
    "importlib": {"*": "dynamic"},
    "io": {"open": "files", "FileIO": "files", "open_code": "files"},
    "pathlib": {"*": "files"},
    "glob": {"*": "files"},
    "shutil": {"*": "files"},
    "subprocess": {"*": "exit"},
    "multiprocessing": {"*": "exit"},
    "pty": {"*": "exit"},
    "fileinput": {"*": "input"},
}  # fmt: skip
_BUILTIN_CALLS = {
    "exit": "exit", "quit": "exit", "open": "files", "exec": "dynamic", "eval": "dynamic",
    "compile": "dynamic", "__import__": "dynamic", "input": "input", "breakpoint": "tracing",
    "globals": "rebinding",
}  # fmt: skip
_RAISED = {"SystemExit": "exit", "KeyboardInterrupt": "exit", "GeneratorExit": "exit"}
# the builtin module's names (`dir(__builtins__)` would list a dict's methods in a module)
_BUILTIN_NAMES = frozenset(dir(builtins))


@dataclass(frozen=True)
class Finding:
    rule: str
    construct: str
    line: int

    def __str__(self) -> str:
        return f"line {self.line}: {self.construct} ({self.rule})"


def python_findings(code: str, rules: tuple[str, ...] = RULES) -> list[Finding]:
    """Every construct of `code` that an enabled rule forbids, in source order."""
    try:
        tree = parse_python(code)
    except (SyntaxError, ValueError):
        return []  # the parse stage reports it
    found = _PythonGuard().visit_all(tree)
    return sorted((f for f in found if f.rule in rules), key=lambda f: f.line)


class _PythonGuard(ast.NodeVisitor):
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}  # local name -> module it is bound to
        self.found: list[Finding] = []

    def visit_all(self, tree: ast.AST) -> list[Finding]:
        # Imports first: an alias may be used above the line that binds it (in a function).
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self.aliases[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0]
                    )
        self.visit(tree)
        if isinstance(tree, ast.Module):
            self._module_scope_builtins(tree.body)
        return self.found

    def _module_scope_builtins(self, body: list[ast.stmt]) -> None:
        """A builtin's name bound at module scope by a def, a class, an import or a loop
        (`def abs`, `from math import floor as abs`): the tests, which run in the same
        namespace, would call the solution's version. Assignments: `_builtin_targets`."""
        for node in body:
            names: list[str] = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]  # its body is its own scope: not walked
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [(a.asname or a.name).split(".")[0] for a in node.names]
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                names = [n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)]
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                names = [
                    n.id
                    for item in node.items
                    if item.optional_vars is not None
                    for n in ast.walk(item.optional_vars)
                    if isinstance(n, ast.Name)
                ]
            for name in names:
                if name in _BUILTIN_NAMES and not name.startswith("__"):
                    self._add(node, "rebinding", f"binding the builtin's name {name}")
            for field in ("body", "orelse", "finalbody", "handlers"):  # if, try, loops
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    inner = getattr(node, field, None)
                    if isinstance(inner, list):
                        self._module_scope_builtins(
                            [n for n in inner if isinstance(n, ast.stmt)]
                            + [s for h in inner if isinstance(h, ast.ExceptHandler) for s in h.body]
                        )

    def _add(self, node: ast.AST, rule: str, construct: str) -> None:
        self.found.append(Finding(rule, construct, getattr(node, "lineno", 0)))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module_use(node, alias.name, "*")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            if alias.name == "*" and module in _MODULE_ATTRS:
                rule = next(iter(_MODULE_ATTRS[module].values()))
                self._add(node, rule, f"from {module} import *")
            self._module_use(node, module, alias.name)
            self._module_use(node, f"{module}.{alias.name}", "*")
            if alias.name in _FRAME_ATTRS:
                self._add(node, "frames", f"from {module} import {alias.name}")

    def _module_use(self, node: ast.AST, module: str, attr: str) -> None:
        root = module.split(".")[0]
        table = _MODULE_ATTRS.get(module) or _MODULE_ATTRS.get(root) or {}
        if "*" in table:
            self._add(node, table["*"], f"import {module}")
        elif attr in table:
            self._add(node, table[attr], f"{module}.{attr}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in _FRAME_ATTRS:
            self._add(node, "frames", f".{node.attr}")
        module = self._module_of(node.value)
        if module is not None:
            table = _MODULE_ATTRS.get(module, {})
            if node.attr in table and "*" not in table:
                self._add(node, table[node.attr], f"{module}.{node.attr}")
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                self._add(node, "rebinding", f"assigning {module}.{node.attr}")
        self.generic_visit(node)

    def _module_of(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return self.aliases[node.id]
        if isinstance(node, ast.Attribute):  # os.path.x: the dotted module
            parent = self._module_of(node.value)
            return f"{parent}.{node.attr}" if parent else None
        return None

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in ("__builtins__", "__loader__", "__spec__"):
            self._add(node, "rebinding" if node.id == "__builtins__" else "frames", node.id)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in _BUILTIN_CALLS:
            self._add(node, _BUILTIN_CALLS[func.id], f"{func.id}()")
        if isinstance(func, ast.Name) and func.id in ("setattr", "delattr", "getattr"):
            target = self._module_of(node.args[0]) if node.args else None
            name = node.args[1] if len(node.args) > 1 else None
            literal = name.value if isinstance(name, ast.Constant) else None
            if func.id != "getattr" and (
                target is not None
                or (isinstance(node.args[0], ast.Name) and node.args[0].id in _BUILTIN_NAMES)
            ):
                self._add(node, "rebinding", f"{func.id}() on a module or builtin")
            if isinstance(literal, str) and (
                literal in _FRAME_ATTRS
                or (target is not None and literal in _MODULE_ATTRS.get(target, {}))
            ):
                self._add(node, "frames", f"{func.id}(..., {literal!r})")
            elif func.id == "getattr" and target is not None and not isinstance(literal, str):
                self._add(node, "dynamic", f"getattr() on module {target} with a computed name")
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if isinstance(exc, ast.Name) and exc.id in _RAISED:
            self._add(node, _RAISED[exc.id], f"raise {exc.id}")
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            if name in _BUILTIN_NAMES:
                self._add(node, "rebinding", f"global {name} (a builtin)")

    def visit_Assign(self, node: ast.Assign) -> None:
        self._builtin_targets(node, node.targets)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._builtin_targets(node, [node.target])
        self.generic_visit(node)

    def _builtin_targets(self, node: ast.AST, targets: list[ast.expr]) -> None:
        # Module-level rebinding of a builtin the harness or the tests use by name
        # (`len = ...`) changes what the tests compute. Names inside functions are local.
        for target in targets:
            for name in ast.walk(target):
                if (
                    isinstance(name, ast.Name)
                    and isinstance(name.ctx, ast.Store)
                    and name.id in _BUILTIN_NAMES
                    and getattr(node, "col_offset", 1) == 0
                ):
                    self._add(node, "rebinding", f"rebinding the builtin {name.id}")


# --- the other languages: patterns over the code with literals and comments blanked ------

_PATTERNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    # (rule, construct as reported, regex)
    "javascript": (
        ("exit", "process.exit", r"\bprocess\s*(\.\s*|\[\s*)(exit|reallyExit|abort|kill)\b"),
        ("exit", "process['exit']", r"\bprocess\s*\["),
        ("input", "process.stdin", r"\bprocess\s*\.\s*(stdin|binding|_linkedBinding)\b"),
        ("files", "require('fs')", r"\brequire\s*\(\s*(?!['\"`]assert['\"`])"),
        ("dynamic", "eval/Function", r"\b(eval|Function)\s*\("),
        ("rebinding", "rebinding a global or module", r"\b(globalThis|global|module|exports)\b"),
    ),
    "php": (
        ("exit", "exit/die", r"(?<![$>\w])(exit|die)\b"),
        ("exit", "posix_kill", r"(?<![$>\w])(posix_kill|pcntl_\w+|register_shutdown_function)\s*\("),
        ("input", "STDIN", r"(?<![$>\w])(STDIN|fgets|fread|fscanf|stream_get_contents|readline)\b"),
        ("files", "file access", r"(?<![$>\w])(fopen|file_get_contents|file|readfile|opendir|scandir|glob)\s*\("),
        ("frames", "introspection", r"(\$GLOBALS\b|\b(debug_backtrace|get_defined_vars|Reflection\w*)\b)"),
        ("dynamic", "eval", r"(?<![$>\w])(eval|assert_options|ini_set|create_function)\s*\("),
    ),
    "cpp": (
        ("exit", "exit", r"(\b(std\s*::\s*)?(exit|_exit|_Exit|abort|quick_exit|terminate)\s*\(|\bkill\s*\(|\braise\s*\()"),
        ("input", "reading input", r"\b(cin|stdin|scanf|getchar|fread|freopen|syscall)\b|\b(read|pread|readv)\s*\(\s*(0\b|STDIN_FILENO)"),
        ("files", "file access", r"\b(fopen|ifstream|fstream|opendir)\b|\bopen\s*\(\s*\""),
        ("native", "pre-main code", r"\b(constructor|init_priority|destructor|asm|__asm__)\b"),
        ("signals", "signals", r"\b(signal|sigaction|atexit|at_quick_exit)\s*\("),
        ("rebinding", "redefining main", r"(#\s*define\s+main\b|\bmain\s*\()"),
    ),
    "rust": (
        ("exit", "std::process::exit", r"\b(process\s*::\s*(exit|abort)|libc\s*::)"),
        ("input", "reading input", r"\b(stdin|read_line|read_to_string)\b"),
        ("files", "file access", r"\b(fs\s*::|File\s*::)"),
        ("native", "link sections / asm / unsafe externs", r"(\blink_section\b|#\s*!?\[\s*used\s*\]|\basm!|\bextern\s*\"|\bno_mangle\b|\bglobal_asm!)"),
        ("rebinding", "defining main", r"\bfn\s+main\b"),
    ),
    "go": (
        ("exit", "os.Exit", r"\b(os\s*\.\s*Exit|syscall\s*\.\s*(Exit|Kill)|runtime\s*\.\s*Goexit)\b"),
        ("input", "reading input", r"\b(os\s*\.\s*(Stdin|NewFile)|bufio|fmt\s*\.\s*(Scan\w*|Fscan\w*)|ioutil|io\s*\.\s*ReadAll)\b"),
        ("files", "file access", r"\b(os\s*\.\s*(Open\w*|ReadFile|ReadDir)|syscall|unsafe)\b"),
        ("native", "cgo / linkname", r"(\bimport\s+\"C\"|//go:linkname)"),
        ("rebinding", "defining main", r"\bfunc\s+main\s*\("),
    ),
    "java": (
        ("exit", "System.exit / Runtime.halt", r"\b(System\s*\.\s*exit|Runtime\s*\.\s*getRuntime|\.halt\s*\(|addShutdownHook)\b"),
        ("input", "reading input", r"\b(System\s*\.\s*(in|setIn|setOut)|Scanner|BufferedReader|InputStreamReader)\b"),
        ("files", "file access", r"\b(java\s*\.\s*nio\s*\.\s*file|FileInputStream|FileReader|Files\s*\.)"),
        ("frames", "reflection", r"\b(java\s*\.\s*lang\s*\.\s*reflect|getDeclared\w+|setAccessible|StackWalker|Thread\s*\.\s*getAllStackTraces|sun\s*\.\s*misc|Unsafe)\b"),
        ("rebinding", "defining main", r"\bstatic\s+void\s+main\s*\("),
    ),
}  # fmt: skip


def source_findings(language: str, code: str, rules: tuple[str, ...] = RULES) -> list[Finding]:
    """The forbidden constructs in the solution part of a program in `language`."""
    patterns = _PATTERNS.get(language, ())
    blank = blank_literals(code, language)
    found = []
    for rule, construct, pattern in patterns:
        if rule not in rules:
            continue
        for match in re.finditer(pattern, blank, re.MULTILINE):
            line = blank.count("\n", 0, match.start()) + 1
            found.append(Finding(rule, f"{construct}: `{match.group(0).strip()}`", line))
    return sorted(found, key=lambda f: f.line)


def blank_literals(code: str, language: str) -> str:
    """`code` with the contents of comments and string literals replaced by spaces (line
    breaks kept, so line numbers stay right)."""
    out, index, length = [], 0, len(code)
    hash_comments = language == "php"
    while index < length:
        two = code[index : index + 2]
        char = code[index]
        if two == "//" or (char == "#" and hash_comments):
            if language == "go" and code.startswith("//go:", index):
                end = code.find("\n", index)  # a compiler directive is code
                end = length if end == -1 else end
                out.append(code[index:end])
                index = end
                continue
            end = code.find("\n", index)
            end = length if end == -1 else end
            out.append(" " * (end - index))
            index = end
        elif two == "/*":
            end = code.find("*/", index + 2)
            end = length if end == -1 else end + 2
            out.append(re.sub(r"[^\n]", " ", code[index:end]))
            index = end
        elif char in "\"'`" and not (char == "'" and language == "rust"):
            end = index + 1
            while end < length and code[end] != char:
                end += 2 if code[end] == "\\" else 1
                if char != "`" and end < length and code[end] == "\n" and language != "go":
                    break
            end = min(end + 1, length)
            out.append(char + re.sub(r"[^\n]", " ", code[index + 1 : end - 1]) + char)
            index = end
        else:
            out.append(char)
            index += 1
    return "".join(out)
