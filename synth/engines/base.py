"""The engine protocol: a batch of chat requests in, completions out.

Every backend (vLLM in process, an OpenAI-compatible server, a replay file, a scripted
function in tests) implements `Engine.chat`. A backend returns exactly `request.n`
completions per request, in request order; a completion it could not get has
`finish_reason="error"` and the reason in `error`, so one bad request never loses a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from pydantic import Field

from synth.records import Frozen, stable_id

Role = Literal["system", "user", "assistant"]


class Message(Frozen):
    role: Role
    content: str


class ChatRequest(Frozen):
    """One conversation to complete, with its sampling parameters."""

    messages: tuple[Message, ...]
    n: int = Field(1, ge=1)
    temperature: float = Field(0.8, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(1024, ge=1)
    seed: int | None = None
    stop: tuple[str, ...] = ()
    tag: str = Field(
        "", description="which step asked (problem, tests, solution, repair); never sent"
    )

    def key(self) -> str:
        """What the replay engine looks completions up by: the conversation alone."""
        return stable_id([m.model_dump() for m in self.messages], length=32)


FinishReason = Literal["stop", "length", "error"]


class Completion(Frozen):
    text: str
    finish_reason: FinishReason
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str = ""


class Engine(Protocol):
    """An LLM backend. `name` says which model answers (it is recorded with the data)."""

    name: str

    def chat(self, requests: Sequence[ChatRequest]) -> list[list[Completion]]:
        """Complete every request; result[i] holds requests[i].n completions."""
        ...

    def close(self) -> None: ...


def user(content: str) -> Message:
    return Message(role="user", content=content)


def assistant(content: str) -> Message:
    return Message(role="assistant", content=content)


def system(content: str) -> Message:
    return Message(role="system", content=content)
