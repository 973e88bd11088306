"""A scripted engine for deterministic tests: a function answers each request.

`respond(request, i)` gives the i-th of `request.n` completions, as text or a Completion.
Every request received is kept in `requests`, so a test can check what the model was asked.
It enforces no JSON schema unless built with `structured_output=True` (then `respond` is
expected to answer in JSON: nothing checks it); it passes the request, schema and all, to
`respond` either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from synth.engines.base import ChatRequest, Completion

Respond = Callable[[ChatRequest, int], "str | Completion"]


class ScriptedEngine:
    def __init__(
        self, respond: Respond, name: str = "scripted", structured_output: bool = False
    ) -> None:
        self.respond = respond
        self.name = name
        self.structured_output = structured_output
        self.requests: list[ChatRequest] = []

    def chat(self, requests: Sequence[ChatRequest]) -> list[list[Completion]]:
        results = []
        for request in requests:
            self.requests.append(request)
            prompt_tokens = sum(len(m.content.split()) for m in request.messages)
            completions = []
            for index in range(request.n):
                answer = self.respond(request, index)
                if isinstance(answer, str):
                    answer = Completion(
                        text=answer,
                        finish_reason="stop",
                        prompt_tokens=prompt_tokens,
                        completion_tokens=len(answer.split()),
                    )
                completions.append(answer)
            results.append(completions)
        return results

    def close(self) -> None:
        pass
