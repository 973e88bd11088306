"""Reading test code in the shapes models write it: one module in, setup and cases out.

A case is one unit the harness runs on its own (harness.py: exec its source; a lone
`def test*` is then called). Every shape `TestReader` knows is turned into such cases, so
each keeps one outcome and the harness needs nothing new. The guards around it (entry
point, stub, agreement rule) are in synth.code.tests.
"""

from __future__ import annotations

import ast
import copy
import textwrap

from synth.code.extract import is_main_guard, parses
from synth.python_ast import parse_python
from synth.records import DroppedTest, TestCase

LIFECYCLE = {
    "setUp", "tearDown", "setUpClass", "tearDownClass", "asyncSetUp", "asyncTearDown",
    "setup_method", "teardown_method", "setup_class", "teardown_class", "setup", "teardown",
}  # fmt: skip
# unittest assertions with a plain `assert a <op> b` form.
COMPARISONS: dict[str, type[ast.cmpop]] = {
    "assertEqual": ast.Eq, "assertEquals": ast.Eq, "assertListEqual": ast.Eq,
    "assertTupleEqual": ast.Eq, "assertDictEqual": ast.Eq, "assertSetEqual": ast.Eq,
    "assertMultiLineEqual": ast.Eq, "assertNotEqual": ast.NotEq, "assertNotEquals": ast.NotEq,
    "assertIs": ast.Is, "assertIsNot": ast.IsNot, "assertIn": ast.In, "assertNotIn": ast.NotIn,
    "assertGreater": ast.Gt, "assertGreaterEqual": ast.GtE, "assertLess": ast.Lt,
    "assertLessEqual": ast.LtE,
}  # fmt: skip
RUNNER_NAMES = {"TextTestRunner", "TestLoader", "defaultTestLoader", "makeSuite", "TestProgram"}
FuncDef = (ast.FunctionDef, ast.AsyncFunctionDef)


class TestReader:
    """Reads one test module into setup, cases and dropped cases, in the order written.

    Shapes: top-level asserts; `def test*` functions; test classes, unittest's (`self.assert*`
    rewritten into plain asserts, or, when a method needs its instance, the class run by
    `TestCase.debug()`) or pytest's (`class TestX:`), one case per `test*` method; asserts in
    a helper called at top level or under `if __name__ == "__main__":` (`def check(candidate):
    ...` then `check(f)`), each assert a case; loops and other blocks that assert. Dropped
    on the way: the model's own solution wherever it is defined (and `from m import f` of it:
    the solution is in the namespace already), test runners (`unittest.main()`), prints of
    the solution's results, and the rest of a `__main__` block, which never ran as setup.
    A statement of those that calls the solution and is no print (`assert_allclose(f(1),
    5.0)`, `if f(1) != 1: raise ...` under `__main__`) is not run either, but kept in
    `dropped` as `not_an_assert`, so a caller that must keep every check can refuse the tests.
    """

    def __init__(self, code: str, tree: ast.Module, entry_point: str | None) -> None:
        self.code, self.entry = code, entry_point
        self.setup: list[tuple[ast.stmt, str]] = []
        self.cases: list[TestCase] = []
        self.dropped: list[DroppedTest] = []
        self._numbered = 0
        self._fingerprints: set[str] = set()
        self._needs_unittest = False
        # Sources are copied verbatim (comments and all) unless a node was rewritten on the way.
        self._nodes = list(ast.walk(tree))  # kept alive so that ids stay unique
        self._original = {id(n): ast.dump(n) for n in self._nodes if isinstance(n, ast.stmt)}
        body = self._without_solutions(tree.body)
        self.functions = {n.name: n for n in body if isinstance(n, FuncDef)}
        self._names = set(self.functions)  # function names in use, for the cases made here
        self.asserting = _closure(self.functions, _asserts)
        self.touches_entry = _closure(
            self.functions, lambda f: entry_point is None or _references(f, entry_point)
        )
        statements = [
            (child, True) if main else (node, False)
            for node in body
            for main in [is_main_guard(node)]
            for child in (node.body if main else [node])
        ]
        self._expansions = {
            id(node): self._inline(node) for node, _ in statements if self._helper_call(node)
        }
        self._consumed = self._fully_inlined(tree, statements)
        for node, in_main in statements:
            self._read(node, in_main)

    # -- the model's solution --------------------------------------------------------------

    def _without_solutions(self, body: list[ast.stmt]) -> list[ast.stmt]:
        if self.entry is None:
            return body
        kept = []
        for node in body:
            if _defines(node, self.entry):
                self._drop_solution(node)
            elif not _imports(node, self.entry):
                remover = _SolutionRemover(self.entry)
                remover.visit(node)
                for removed in remover.removed:
                    self._drop_solution(removed)
                kept.append(node)
        return kept

    def _drop_solution(self, node: ast.stmt) -> None:
        solutions = sum(d.reason == "solution_in_tests" for d in self.dropped)
        name = "solution" if not solutions else f"solution_{solutions + 1}"
        test = TestCase(name=name, source=self._source(node))
        self.dropped.append(DroppedTest(test=test, reason="solution_in_tests"))

    def _touches_entry(self, node: ast.stmt) -> bool:
        return self.entry is None or _references(node, self.entry)

    def _drop_statement(self, node: ast.stmt) -> None:
        """A statement that may check the solution but is not read as a case: kept in
        `dropped` (never run), so a caller that needs every check can refuse the tests."""
        count = sum(d.reason == "not_an_assert" for d in self.dropped)
        name = "statement" if not count else f"statement_{count + 1}"
        test = TestCase(name=name, source=self._source(node))
        self.dropped.append(DroppedTest(test=test, reason="not_an_assert"))

    # -- helpers called at top level -------------------------------------------------------

    def _helper_call(self, node: ast.stmt) -> bool:
        """`f(...)` as a statement, f a function of the module that asserts."""
        call = node.value if isinstance(node, ast.Expr) else None
        return (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id in self.asserting
        )

    def _inline(self, node: ast.Expr) -> list[ast.Assert] | None:
        """The helper's asserts with its arguments put in, when its body is only asserts."""
        call = node.value
        assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
        helper = self.functions[call.func.id]
        body = [s for s in helper.body if not _idle(s)]
        if not body or not all(isinstance(s, ast.Assert) for s in body):
            return None
        binding = _bind(helper.args, call)
        if binding is None:
            return None
        if not binding:
            return body  # the original nodes: their sources are copied as written
        return [_Substitute(binding).visit(copy.deepcopy(s)) for s in body]

    def _fully_inlined(self, tree: ast.Module, statements: list) -> set[str]:
        """Helpers every use of which was inlined: their definitions are no longer needed."""
        inlined: dict[str, int] = {}
        for node, _ in statements:
            if self._expansions.get(id(node)):
                name = node.value.func.id
                inlined[name] = inlined.get(name, 0) + 1
        uses: dict[str, int] = {}
        for n in ast.walk(tree):
            if isinstance(n, ast.Name) and n.id in inlined:
                uses[n.id] = uses.get(n.id, 0) + 1
        return {name for name, count in inlined.items() if uses.get(name) == count}

    # -- one statement ---------------------------------------------------------------------

    def _read(self, node: ast.stmt, in_main: bool) -> None:
        if isinstance(node, ast.Assert):
            self._case(node, self._source(node))
        elif _is_test_class(node):
            self._class_cases(node)
        elif isinstance(node, FuncDef):
            if node.name in self._consumed:
                return
            if self._is_case_function(node):
                self._function_cases(node)
            else:
                self.setup.append((node, self._source(node)))
        elif id(node) in self._expansions:
            self._helper_cases(node)
        elif _runs_tests(node):
            return
        elif self._shows_results(node, in_main):
            if not _prints(node) and self._touches_entry(node):
                self._drop_statement(node)  # `assert_allclose(f(1), 5.0)`: a check, no assert
        elif isinstance(node, ast.ClassDef):  # a helper class: later cases may need it
            self.setup.append((node, self._source(node)))
        elif _asserts(node) or _calls(node) & self.asserting:
            self._case(node, self._source(node))
        elif not in_main or isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign)):
            self.setup.append((node, self._source(node)))
        elif self._touches_entry(node):
            self._drop_statement(node)  # `if f(1) != 1: raise ...` under `__main__`

    def _is_case_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """`def test*`, unless it takes arguments the module's own calls give it (a helper)."""
        if not node.name.startswith("test"):
            return False
        called = any(self._helper_call(n) and n.value.func.id == node.name for n in self._nodes)
        return not (called and _required_params(node.args))

    def _function_cases(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """A test function of independent asserts is a case per assert, as if written at
        top level: small models put all their checks in one `def test_f():`, and one wrong
        expectation would otherwise take the right ones with it (the agreement rule drops
        cases, never parts of one). Any other function is one case."""
        for statement in _independent_asserts(node) or [node]:
            self._case(statement, self._source(statement))

    def _helper_cases(self, node: ast.Expr) -> None:
        name = node.value.func.id
        inlined = self._expansions[id(node)]
        if inlined:
            for statement in inlined:
                self._case(statement, self._source(statement))
        elif not self._is_case_function(self.functions[name]):
            # The call itself is the case; the helper stays in the setup.
            references = name in self.touches_entry or (
                self.entry is not None and _references(node, self.entry)
            )  # `check(f)`: the helper's asserts call its parameter
            self._case(node, self._source(node), references=references)
        # else: the `def test*` is a case already, and this call only ran it again

    def _shows_results(self, node: ast.stmt, in_main: bool) -> bool:
        """`print(f(3))`: checks nothing, and as setup would run the solution before its tests."""
        if not isinstance(node, ast.Expr):
            return False
        return in_main or (self.entry is not None and _references(node, self.entry))

    # -- test classes ----------------------------------------------------------------------

    def _class_cases(self, cls: ast.ClassDef) -> None:
        lifecycle = any(isinstance(m, FuncDef) and m.name in LIFECYCLE for m in cls.body)
        for method in cls.body:
            if not (isinstance(method, FuncDef) and method.name.startswith("test")):
                continue
            case = None
            if not lifecycle and not method.decorator_list and _only_self(method):
                case = _standalone(method, cls.name)
            if case is None:
                case = _wrapped(cls, method)
                case.name = self._unique(method.name)
                self._case(case, ast.unparse(case))
            else:
                case.name = self._unique(method.name)
                self._function_cases(case)

    def _unique(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self._names:
            n += 1
            candidate = f"{name}_{n}"
        self._names.add(candidate)
        return candidate

    # -- recording -------------------------------------------------------------------------

    def _case(self, node: ast.stmt, source: str, references: bool | None = None) -> None:
        self._numbered += 1
        case = TestCase(name=f"t{self._numbered}", source=source)
        fingerprint = _fingerprint(node)
        if references is None:
            references = self.entry is None or _references(node, self.entry)
        if fingerprint in self._fingerprints:
            self.dropped.append(DroppedTest(test=case, reason="duplicate"))
        elif not references:
            self.dropped.append(DroppedTest(test=case, reason="no_entry_point"))
        else:
            self.cases.append(case)
            self._needs_unittest |= _references(node, "unittest")
        self._fingerprints.add(fingerprint)

    def setup_source(self) -> str:
        sources = [source for _, source in self.setup]
        imported = any(_imports_module(node, "unittest") for node, _ in self.setup)
        if self._needs_unittest and not imported:
            sources.insert(0, "import unittest")
        return "\n".join(sources)

    def _source(self, node: ast.stmt) -> str:
        """The node's source as written, decorators included (a `@given` property is part of
        its test) and dedented when nested; regenerated when the node was rewritten."""
        if self._original.get(id(node)) != ast.dump(node):
            return ast.unparse(node)
        decorators = getattr(node, "decorator_list", [])
        if decorators:
            lines = self.code.splitlines()[decorators[0].lineno - 1 : node.end_lineno]
            source = "\n".join(lines)
        else:
            source = ast.get_source_segment(self.code, node, padded=True) or ""
        source = textwrap.dedent(source)
        return source if parses(source) else ast.unparse(node)


def _independent_asserts(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.Assert] | None:
    """The asserts of a plain `def test_x():` whose body is two or more asserts and nothing
    else (a docstring aside) and binds no name (`:=`); None for any other function."""
    if isinstance(node, ast.AsyncFunctionDef) or node.decorator_list or _takes_params(node.args):
        return None
    body = node.body[1:] if ast.get_docstring(node) is not None else node.body
    if len(body) < 2 or not all(isinstance(s, ast.Assert) for s in body):
        return None
    if any(isinstance(n, ast.NamedExpr) for s in body for n in ast.walk(s)):
        return None
    return body


def _takes_params(args: ast.arguments) -> bool:
    return bool(args.posonlyargs or args.args or args.vararg or args.kwonlyargs or args.kwarg)


def _closure(functions: dict[str, ast.stmt], test) -> set[str]:
    """Names of the functions that pass `test`, or call (at any depth) one that does."""
    found = {name for name, node in functions.items() if test(node)}
    grew = True
    while grew:
        grew = False
        for name, node in functions.items():
            if name not in found and _calls(node) & found:
                found.add(name)
                grew = True
    return found


def _asserts(node: ast.AST) -> bool:
    """Holds an assert: `assert`, `raise AssertionError`, `self.assert*`, `pytest.raises`."""
    for n in ast.walk(node):
        if isinstance(n, ast.Assert):
            return True
        if isinstance(n, ast.Raise) and "AssertionError" in ast.unparse(n):
            return True
        if isinstance(n, ast.Attribute) and (
            n.attr.startswith("assert") or (n.attr == "raises" and _is_name(n.value, "pytest"))
        ):
            return True
    return False


def _calls(node: ast.AST) -> set[str]:
    return {
        n.func.id
        for n in ast.walk(node)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }


def _runs_tests(node: ast.stmt) -> bool:
    """`unittest.main()`, `pytest.main()`, `TextTestRunner().run(...)`: a runner, not a test."""
    if not isinstance(node, (ast.Expr, ast.Assign)):
        return False
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and n.attr == "main" and _is_name(n.value, "unittest"):
            return True
        if isinstance(n, ast.Attribute) and n.attr == "main" and _is_name(n.value, "pytest"):
            return True
        if isinstance(n, (ast.Name, ast.Attribute)) and _last_name(n) in RUNNER_NAMES:
            return True
    return False


def _idle(node: ast.stmt) -> bool:
    """A statement a helper may hold besides its asserts: docstring, `pass`, `print(...)`."""
    if isinstance(node, ast.Pass):
        return True
    if not isinstance(node, ast.Expr):
        return False
    value = node.value
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return True
    return isinstance(value, ast.Call) and _is_name(value.func, "print")


def _bind(params: ast.arguments, call: ast.Call) -> dict[str, ast.expr] | None:
    """Parameter name -> argument of the call (or default); None when it can't be told."""
    if params.vararg or params.kwarg:
        return None
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords
    ):
        return None
    positional = params.posonlyargs + params.args
    if len(call.args) > len(positional):
        return None
    binding: dict[str, ast.expr] = {}
    defaults = dict(zip([p.arg for p in positional][::-1], params.defaults[::-1], strict=False))
    for param, default in zip(params.kwonlyargs, params.kw_defaults, strict=True):
        if default is not None:
            defaults[param.arg] = default
    for param, arg in zip(positional, call.args, strict=False):
        binding[param.arg] = arg
    names = {p.arg for p in positional + params.kwonlyargs}
    for keyword in call.keywords:
        if keyword.arg not in names or keyword.arg in binding:
            return None
        binding[keyword.arg] = keyword.value
    for name in names - binding.keys():
        if name not in defaults:
            return None
        binding[name] = defaults[name]
    return binding


class _Substitute(ast.NodeTransformer):
    """Parameters replaced by the arguments of the call (a copy of each, where it is used)."""

    def __init__(self, binding: dict[str, ast.expr]) -> None:
        self.binding = binding

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if isinstance(node.ctx, ast.Load) and node.id in self.binding:
            return copy.deepcopy(self.binding[node.id])
        return node


class _SolutionRemover(ast.NodeTransformer):
    """Removes every definition of the entry point below a statement (a method, a nested
    function, one under `if __name__`). A test class that had it as a method called it as
    `self.f(...)`: those calls then go to the real solution."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.removed: list[ast.stmt] = []

    def _definition(self, node: ast.stmt) -> ast.stmt | None:
        if getattr(node, "name", None) == self.name:
            self.removed.append(node)
            return None
        before = len(self.removed)
        self.generic_visit(node)
        if isinstance(node, ast.ClassDef) and len(self.removed) > before:
            node = _SelfToFunction(self.name).visit(node)
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        if isinstance(getattr(node, "body", None), list) and not node.body:
            node.body = [ast.Pass()]
        return node


class _SelfToFunction(ast.NodeTransformer):
    def __init__(self, name: str) -> None:
        self.name = name

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        if node.attr == self.name and _is_name(node.value, "self"):
            return ast.copy_location(ast.Name(id=self.name, ctx=ast.Load()), node)
        return self.generic_visit(node)


def _is_test_class(node: ast.stmt) -> bool:
    if not isinstance(node, ast.ClassDef):
        return False
    if not any(isinstance(m, FuncDef) and m.name.startswith("test") for m in node.body):
        return False
    return _is_unittest_class(node) or "test" in node.name.lower()


def _is_unittest_class(node: ast.ClassDef) -> bool:
    return any(_last_name(base).endswith("TestCase") for base in node.bases)


def _only_self(method: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    args = method.args
    return (
        isinstance(method, ast.FunctionDef)
        and len(args.posonlyargs + args.args) == 1
        and not (args.vararg or args.kwonlyargs or args.kwarg)
    )


def _standalone(method: ast.FunctionDef, class_name: str) -> ast.FunctionDef | None:
    """The method as a plain `def test_x():` of plain asserts; None when it needs its instance."""
    function = copy.deepcopy(method)
    function.body = _UnittestAsserts().rewrite(function.body)
    needs = {"self", class_name}
    if any(isinstance(n, ast.Name) and n.id in needs for s in function.body for n in ast.walk(s)):
        return None
    function.args = ast.arguments(
        posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]
    )
    function.returns = None
    return ast.fix_missing_locations(function)


def _wrapped(cls: ast.ClassDef, method: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.FunctionDef:
    """`def test_x():` that defines the class with this one test method and runs it: by
    `TestCase.debug()` (setUp, the test, tearDown; failures raised, not collected) for
    unittest, by hand (setup_method, then the method) for a plain class."""
    klass = copy.deepcopy(cls)
    klass.body = [
        m
        for m in klass.body
        if not (isinstance(m, FuncDef) and m.name.startswith("test") and m.name != method.name)
    ]
    hooks = {m.name: m for m in klass.body if isinstance(m, FuncDef)}
    name, test = cls.name, method.name
    if _is_unittest_class(cls):
        run = [f"{name}.setUpClass()"] if "setUpClass" in hooks else []
        run.append(f"{name}({test!r}).debug()")
    else:
        run = [f"{name}.setup_class()"] if "setup_class" in hooks else []
        run.append(f"case = {name}()")
        for hook in ("setup_method", "setUp", "setup"):
            if hook in hooks:
                takes_method = len(hooks[hook].args.args) > 1
                run.append(f"case.{hook}(case.{test})" if takes_method else f"case.{hook}()")
        run.append(f"case.{test}()")
    function = parse_python(f"def {test}():\n    pass").body[0]
    assert isinstance(function, ast.FunctionDef)
    function.body = [klass] + parse_python("\n".join(run)).body
    return ast.fix_missing_locations(function)


class _UnittestAsserts(ast.NodeTransformer):
    """`self.assert*` calls into plain statements: `assert a == b`, `try/except/else` for
    assertRaises. One without a plain form (assertCountEqual, assertRaisesRegex, `as cm`)
    calls a fresh `unittest.TestCase()` instead, which has every assertion method."""

    def rewrite(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for statement in body:
            result = self.visit(statement)
            out.extend(result if isinstance(result, list) else [result] if result else [])
        return out or [ast.Pass()]

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        method = _self_method(node.value)
        plain = _plain_assert(method, node.value) if method else None
        if plain is not None:
            return ast.copy_location(plain, node)
        return self.generic_visit(node)

    def visit_With(self, node: ast.With) -> ast.AST | list[ast.stmt]:
        if len(node.items) == 1:
            item = node.items[0]
            call = item.context_expr
            method = _self_method(call)
            if method == "subTest":  # a label for a failure; the body is the check
                return self.rewrite(node.body)
            if (
                method == "assertRaises"
                and item.optional_vars is None
                and isinstance(call, ast.Call)
                and len(call.args) == 1
                and not call.keywords
            ):
                return ast.copy_location(
                    _expect_raises(call.args[0], self.rewrite(node.body)), node
                )
        node = self.generic_visit(node)
        node.body = node.body or [ast.Pass()]
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        if isinstance(getattr(node, "body", None), list) and not node.body:
            node.body = [ast.Pass()]
        return node

    def visit_Assign(self, node: ast.Assign) -> ast.AST | None:
        targets = [t for t in node.targets if isinstance(t, ast.Attribute)]
        if targets and all(
            _is_name(t.value, "self") and t.attr in ("maxDiff", "longMessage") for t in targets
        ):
            return None  # unittest's display settings
        return self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        if _is_name(node.value, "self") and (node.attr.startswith("assert") or node.attr == "fail"):
            fresh = parse_python("unittest.TestCase()", mode="eval").body
            return ast.copy_location(ast.Attribute(value=fresh, attr=node.attr, ctx=node.ctx), node)
        return self.generic_visit(node)


def _self_method(node: ast.expr) -> str | None:
    """`m` of a `self.m(...)` call."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and _is_name(node.func.value, "self")
    ):
        return node.func.attr
    return None


def _plain_assert(method: str, call: ast.Call) -> ast.stmt | None:
    """The plain statement for `self.<method>(...)`, or None when there is none."""
    args, keywords = list(call.args), {k.arg: k.value for k in call.keywords}
    if any(isinstance(a, ast.Starred) for a in args) or None in keywords:
        return None
    if method == "assertRaises" and len(args) >= 2:  # assertRaises(E, f, *args, **kwargs)
        body = [ast.Expr(ast.Call(func=args[1], args=args[2:], keywords=call.keywords))]
        return _expect_raises(args[0], body)
    if method == "fail" and len(args) <= 1 and not keywords:
        return ast.Raise(exc=ast.Call(ast.Name("AssertionError", ast.Load()), args, []), cause=None)
    arity = {**dict.fromkeys(COMPARISONS, 2), "assertTrue": 1, "assertFalse": 1,
             "assertIsNone": 1, "assertIsNotNone": 1, "assertIsInstance": 2,
             "assertNotIsInstance": 2}  # fmt: skip
    if method in ("assertAlmostEqual", "assertNotAlmostEqual"):
        return _almost_equal(method, args, keywords)
    if (
        method not in arity
        or set(keywords) - {"msg"}
        or len(args) not in (arity[method], arity[method] + 1)
    ):
        return None
    msg = args[arity[method]] if len(args) > arity[method] else keywords.get("msg")
    if method in COMPARISONS:
        test: ast.expr = ast.Compare(args[0], [COMPARISONS[method]()], [args[1]])
    elif method == "assertTrue":
        test = args[0]
    elif method == "assertFalse":
        test = ast.UnaryOp(ast.Not(), args[0])
    elif method in ("assertIsNone", "assertIsNotNone"):
        op = ast.Is() if method == "assertIsNone" else ast.IsNot()
        test = ast.Compare(args[0], [op], [ast.Constant(None)])
    else:
        test = ast.Call(ast.Name("isinstance", ast.Load()), args[:2], [])
        if method == "assertNotIsInstance":
            test = ast.UnaryOp(ast.Not(), test)
    return ast.Assert(test=test, msg=msg)


def _almost_equal(method: str, args: list[ast.expr], keywords: dict) -> ast.stmt | None:
    """unittest's rule: round(abs(a - b), places) == 0 (places 7), or abs(a - b) <= delta."""
    if len(args) < 2 or len(args) > 4 or set(keywords) - {"places", "msg", "delta"}:
        return None
    places = args[2] if len(args) > 2 else keywords.get("places")
    msg = args[3] if len(args) > 3 else keywords.get("msg")
    delta = keywords.get("delta")
    if places is not None and delta is not None:
        return None
    difference = ast.Call(ast.Name("abs", ast.Load()), [ast.BinOp(args[0], ast.Sub(), args[1])], [])
    equal = method == "assertAlmostEqual"
    if delta is not None:
        test = ast.Compare(difference, [ast.LtE() if equal else ast.Gt()], [delta])
    else:
        rounded = ast.Call(
            ast.Name("round", ast.Load()), [difference, places or ast.Constant(7)], []
        )
        test = ast.Compare(rounded, [ast.Eq() if equal else ast.NotEq()], [ast.Constant(0)])
    return ast.Assert(test=test, msg=msg)


def _expect_raises(exception: ast.expr, body: list[ast.stmt]) -> ast.Try:
    """try: body / except E: pass / else: raise AssertionError("E not raised")."""
    message = f"{ast.unparse(exception)} not raised"
    failure = ast.Raise(
        exc=ast.Call(ast.Name("AssertionError", ast.Load()), [ast.Constant(message)], []),
        cause=None,
    )
    handler = ast.ExceptHandler(type=exception, name=None, body=[ast.Pass()])
    return ast.Try(body=body, handlers=[handler], orelse=[failure], finalbody=[])


def _fingerprint(node: ast.stmt) -> str:
    """What makes two cases the same test: an assert's condition (not its message), a test
    function's body (not its name)."""
    if isinstance(node, ast.Assert):
        return "assert " + ast.dump(node.test)
    if isinstance(node, FuncDef):
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        return "def " + ast.dump(ast.Module(body=body, type_ignores=[]))
    return ast.dump(node)


def _required_params(args: ast.arguments) -> bool:
    positional = args.posonlyargs + args.args
    return len(positional) > len(args.defaults) or any(d is None for d in args.kw_defaults)


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _last_name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _imports(node: ast.stmt, name: str) -> bool:
    """`from <module> import name`: the model importing its solution from a file."""
    return isinstance(node, ast.ImportFrom) and any(a.name == name for a in node.names)


def _imports_module(node: ast.stmt, module: str) -> bool:
    return isinstance(node, ast.Import) and any(a.name == module for a in node.names)


def _prints(node: ast.stmt) -> bool:
    """`print(...)` as a statement: shows a result, checks nothing."""
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and _is_name(node.value.func, "print")
    )


def _references(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def _defines(node: ast.stmt, name: str) -> bool:
    """`def name`, `class name` or `name = ...` (a lambda, an alias)."""
    if isinstance(node, ast.Assign):
        return any(_is_name(t, name) for t in node.targets)
    return (
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.name == name
    )
