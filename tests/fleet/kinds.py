"""Scripted models for every job kind on the fleet: math (both solution styles), code with
a judge and system prompts, translation and explanation. Each answer is a pure function of
the request (a chunk delivered twice gets the very same answers), and each model is also
an engine plug-in (`engine: python`) the fleet's workers load."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import yaml

from synth.engines.base import ChatRequest
from synth.engines.scripted import ScriptedEngine
from tests.fleet.world import respond as code_respond

MATH_CONCEPTS = 12
SUM = re.compile(r"What is (\d+) plus (\d+)\?")
RIGHT_JUDGEMENT = json.dumps({"correctness": 5, "informativeness": 4, "rationale": "fine"})


def write_math_taxonomy(path: Path) -> Path:
    children = [
        {"id": f"m{i}", "name": f"Sum {i}", "description": f"Adding, kind {i}.", "weight": 1}
        for i in range(MATH_CONCEPTS)
    ]
    areas = [{"id": "sums", "name": "Sums", "children": children}]
    path.write_text(yaml.safe_dump({"name": "sums", "domain": "math", "areas": areas}))
    return path


def _digest(request: ChatRequest) -> str:
    return hashlib.sha256(f"{request.seed}:{request.messages[0].content}".encode()).hexdigest()


def math_respond(request: ChatRequest, index: int) -> str:
    """Problems `What is A plus B?` with a reference program; solutions by the prompt's
    style: in code style a program whose output comes back, then its boxed value; in text
    style the boxed sum. The second sample of a problem first answers 0 (wrong)."""
    if request.tag == "problem":
        digest = _digest(request)
        a, b = int(digest[:4], 16) % 900 + 100, int(digest[4:8], 16) % 900 + 100
        story = " ".join(f"w{digest[i : i + 3]}" for i in range(8, 68, 3))
        return (
            f"## Problem\nWhat is {a} plus {b}? Story: {story}.\n\n"
            f"## Reference program\n```python\nprint({a} + {b})\n```\n"
        )
    a, b = (int(n) for n in SUM.search(request.messages[0].content).groups())
    last = request.messages[-1].content
    if last.startswith("```output"):
        value = last.split("\n")[1].strip()
        return f"The program printed {value}.\n\nThe answer is $\\boxed{{{value}}}$."
    if request.tag == "solution" and index == 1:
        return "A guess.\n\n$\\boxed{0}$"
    if "write a Python program" in request.messages[0].content:  # the code style
        return f"Let me compute it.\n\n```python\nprint({a} + {b})\n```"
    return f"Adding: ${a} + {b} = {a + b}$.\n\nThe answer is $\\boxed{{{a + b}}}$."


def judged_code_respond(request: ChatRequest, index: int) -> str:
    """The fleet world's code model, which also judges (and reads past system prompts)."""
    if request.tag == "judge":
        return RIGHT_JUDGEMENT
    unprompted = tuple(m for m in request.messages if m.role != "system")
    return code_respond(request.model_copy(update={"messages": unprompted}), index)


def _python_name(request: ChatRequest) -> str:
    return re.search(r"def (\w+)\(", request.messages[0].content).group(1)


def translate_respond(request: ChatRequest, index: int) -> str:
    """JavaScript translations of `add_*` functions; the first attempt does not parse, a
    correction does."""
    name = _python_name(request)
    body = "a + ;" if request.tag == "translate" else "a + b;"
    tests = "\n".join(
        f"assert.deepStrictEqual({name}({x}, {y}), {x + y});" for x, y in ((1, 2), (0, 5))
    )
    return (
        f"```javascript\nfunction {name}(a, b) {{ return {body} }}\n```\n\n"
        f"```javascript\nconst assert = require('assert');\n{tests}\n```\n"
    )


def explain_respond(request: ChatRequest, index: int) -> str:
    """Explanations of `add_*` functions, code rebuilt from them, and a judge's scores."""
    if request.tag == "explain":
        return "It returns the sum of its two arguments, a plus b."
    if request.tag == "regenerate":
        name = _python_name(request)
        return f"```python\ndef {name}(a, b):\n    return a + b\n```"
    if request.tag == "judge":
        return json.dumps({"faithfulness": 5, "rationale": "it says what the code does"})
    raise AssertionError(request.tag)


def math_engine(settings, seed):
    return ScriptedEngine(math_respond, name="sums")


def judged_code_engine(settings, seed):
    return ScriptedEngine(judged_code_respond, name="world")


def translate_engine(settings, seed):
    return ScriptedEngine(translate_respond, name="translator")


def explain_engine(settings, seed):
    return ScriptedEngine(explain_respond, name="explainer")
