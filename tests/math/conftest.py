import pytest

from synth.math.checker import AnswerChecker


@pytest.fixture(scope="session")
def checker():
    """One pool of checker processes for the session (their start-up is paid once)."""
    with AnswerChecker(workers=2, timeout_s=5.0) as pool:
        yield pool
