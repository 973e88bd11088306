"""Code extraction from the shapes real model output takes."""

from synth.code.extract import (
    complete_statements,
    extract_code,
    extract_tests,
    python_fences,
    without_partial_line,
)

SOLUTION = "def add(a, b):\n    return a + b\n"


def test_single_python_fence_with_prose_around_it():
    text = f"Here is my solution:\n\n```python\n{SOLUTION}```\n\nIt runs in O(1)."
    assert extract_code(text, "add").code == SOLUTION


def test_the_block_defining_the_entry_point_wins_over_examples_and_output():
    text = (
        "```python\nprint(add(1, 2))\n```\n"
        f"```py\n{SOLUTION}```\n"
        "Output:\n```\n3\n```\n"
        "```bash\npython solution.py\n```\n"
    )
    assert extract_code(text, "add").code == SOLUTION


def test_untagged_fence_and_other_language_tags():
    assert extract_code(f"```\n{SOLUTION}```", "add").code == SOLUTION
    assert extract_code(f"```Python3\n{SOLUTION}```", "add").code == SOLUTION
    assert (
        extract_code("```javascript\nfunction add(a, b) { return a + b }\n```", "add").code is None
    )


def test_unclosed_fence_keeps_what_was_written():
    assert extract_code(f"```python\n{SOLUTION}", "add").code == SOLUTION


def test_no_fence_code_with_prose_after_it():
    text = f"Sure.\n{SOLUTION}\nThis adds two numbers together."
    assert extract_code(text, "add").code == SOLUTION.strip()


def test_pure_prose_has_no_code():
    result = extract_code("I am not sure how to solve this problem.", "add")
    assert result.code is None and result.reason == "no_code"
    assert extract_code("", "add").reason == "no_code"


def test_tests_join_every_block_with_asserts():
    text = "```python\nimport math\nassert add(1, 2) == 3\n```\nmore:\n```python\nassert add(0, 0) == 0\n```"
    assert (
        extract_tests(text).code == "import math\nassert add(1, 2) == 3\n\nassert add(0, 0) == 0\n"
    )
    assert extract_tests("```python\nx = 1\n```").code is None


def test_tests_say_whether_their_block_was_left_open():
    assert not extract_tests("```python\nassert add(1, 2) == 3\n```\nprose").open_end
    assert extract_tests("```python\nassert add(1, 2) == 3\n").open_end
    assert [b.closed for b in python_fences("```python\nx = 1\n```\n```python\ny = 2")] == [
        True,
        False,
    ]


def test_a_partial_last_line_is_dropped_a_finished_one_kept():
    assert without_partial_line("a = 1\nassert add(1, 2) == 1") == "a = 1\n"
    assert without_partial_line("a = 1\n") == "a = 1\n"
    assert without_partial_line("assert add(") == ""


def test_complete_statements_of_cut_code():
    # a multi-line statement left open is not a statement
    assert complete_statements("x = 1\ny = [\n    1,\n") == "x = 1\n"
    # a function keeps what it finished; a loop, whose body was cut short, goes whole
    assert complete_statements("def test_a():\n    assert add(1, 1) == 2\n") == (
        "def test_a():\n    assert add(1, 1) == 2\n"
    )
    assert complete_statements("x = 1\nfor i in range(3):\n    assert add(i, 0) == i\n") == (
        "x = 1\n"
    )
    # a class whose only method was cut before its body has nothing finished
    assert complete_statements("class T:\n    def test_a(self):\n") is None
    assert complete_statements("") is None
