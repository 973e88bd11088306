"""An OpenAI-compatible chat endpoint (`vllm serve`, or any compatible server) over HTTP.

Requests of a batch go out concurrently (a thread pool of `concurrency` workers over one
pooled httpx client). Connection errors, timeouts, 429 and 5xx answers are retried with
exponential backoff and jitter (tenacity); other 4xx answers are not retried. A request
that still fails becomes `finish_reason="error"` completions carrying the reason, so one
bad request never loses the batch. Servers that ignore `n` are asked again for the rest.

A request's JSON schema goes out as `response_format={"type": "json_schema", ...}` with
its JSON-asking conversation (vLLM's server, OpenAI and most compatible servers enforce
it). A server that refuses a schema request with a 400 or 422 is asked again with the
plain conversation and no schema; when that succeeds, this engine stops sending schemas
(`structured_output` turns False), so its answers come as the prompts' plain format.
`repetition_penalty` is no OpenAI parameter: it is sent as an extra body field, which
vLLM's server reads (others may ignore or refuse it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx
from pydantic import Field
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from synth.engines.base import ChatRequest, Completion
from synth.errors import SynthError
from synth.records import Frozen

log = logging.getLogger(__name__)


class OpenAIConfig(Frozen):
    base_url: str = Field("http://127.0.0.1:8000/v1", description="the server's /v1 URL")
    model: str
    api_key: str = Field(default_factory=lambda: os.environ.get("OPENAI_API_KEY", "EMPTY"))
    concurrency: int = Field(16, ge=1)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0)
    backoff_s: float = Field(0.5, ge=0)
    structured_output: bool = Field(
        True, description="send request schemas as response_format (False: never)"
    )


class _Retryable(Exception):
    """A failure worth another try (connection, timeout, 429, 5xx)."""


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, (_Retryable, httpx.TransportError))


class OpenAIEngine:
    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config
        self.name = config.model
        self.structured_output = config.structured_output
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self.client = httpx.Client(
            timeout=config.timeout_s,
            headers={"Authorization": f"Bearer {config.api_key}"},
            limits=httpx.Limits(
                max_connections=config.concurrency, max_keepalive_connections=config.concurrency
            ),
        )

    def check(self) -> None:
        """Raise a clear error when the server does not answer (called before a run)."""
        url = self.config.base_url.rstrip("/") + "/models"
        try:
            self.client.get(url, timeout=min(10.0, self.config.timeout_s))
        except httpx.HTTPError as exc:
            raise SynthError(
                "--base-url",
                f"cannot reach {url}: {exc.__class__.__name__}: {exc}",
                "start the server (vllm serve MODEL) or fix the URL",
            ) from None

    def chat(self, requests: Sequence[ChatRequest]) -> list[list[Completion]]:
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(self.config.concurrency, len(requests))) as pool:
            return list(pool.map(self._complete, requests))

    def close(self) -> None:
        self.client.close()

    # --- one request -----------------------------------------------------------------

    def _complete(self, request: ChatRequest) -> list[Completion]:
        completions: list[Completion] = []
        while len(completions) < request.n:
            try:
                got = self._post_with_retries(request, request.n - len(completions))
            except _Failed as failure:
                missing = request.n - len(completions)
                return (
                    completions
                    + [Completion(text="", finish_reason="error", error=str(failure))] * missing
                )
            if not got:
                break
            completions.extend(got)
        return completions[: request.n]

    def _post_with_retries(self, request: ChatRequest, n: int) -> list[Completion]:
        retrying = Retrying(
            stop=stop_after_attempt(self.config.max_retries + 1),
            wait=wait_exponential_jitter(
                multiplier=self.config.backoff_s,
                jitter=self.config.backoff_s,
                max=30 * max(self.config.backoff_s, 0.01),
            ),
            retry=retry_if_exception(_is_retryable),
            reraise=False,
        )
        structured = self.structured_output and request.json_schema is not None
        try:
            try:
                return retrying(self._post, request, n, structured)
            except _Refused as refused:
                if not structured:
                    raise _Failed(str(refused)) from None
                # the server may not know response_format: once more without the schema
                try:
                    got = retrying(self._post, request, n, False)
                except _Refused:
                    raise _Failed(str(refused)) from None
                log.warning(
                    "%s refused a JSON schema (%s); sending no more schemas", self.url, refused
                )
                self.structured_output = False
                return got
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            raise _Failed(
                f"{self.url}: gave up after {self.config.max_retries + 1} attempts: {_describe(cause)}"
            ) from None

    def _post(self, request: ChatRequest, n: int, structured: bool = False) -> list[Completion]:
        response = self.client.post(self.url, json=self.body(request, n, structured))
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code}: {response.text[:300]}")
        if response.status_code in (400, 422) and structured:
            raise _Refused(f"{self.url}: HTTP {response.status_code}: {response.text[:500]}")
        if response.status_code >= 400:
            raise _Failed(f"{self.url}: HTTP {response.status_code}: {response.text[:500]}")
        return _parse(response.json())

    def body(self, request: ChatRequest, n: int, structured: bool) -> dict:
        """The JSON body of a chat completion request (the schema only when `structured`)."""
        body: dict = {
            "model": self.config.model,
            "messages": [m.model_dump() for m in request.conversation(structured)],
            "n": n,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "max_tokens": request.max_tokens,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop"] = list(request.stop)
        if request.frequency_penalty is not None:
            body["frequency_penalty"] = request.frequency_penalty
        if request.repetition_penalty is not None:
            body["repetition_penalty"] = request.repetition_penalty
        if structured and request.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": request.tag or "answer",
                    "schema": request.schema(),
                    "strict": True,
                },
            }
        return body


class _Failed(Exception):
    """A request that will not succeed: reported in the completions' `error`."""


class _Refused(_Failed):
    """A 400 or 422 answer to a request with a schema: perhaps the schema is what failed."""


def _parse(data: dict) -> list[Completion]:
    choices = data.get("choices") or []
    usage = data.get("usage") or {}
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    total = int(usage.get("completion_tokens") or 0)
    shares = [total // len(choices)] * len(choices) if choices else []
    if shares:
        shares[0] += total - sum(shares)
    completions = []
    for choice, share in zip(choices, shares, strict=True):
        message = choice.get("message") or {}
        reason = choice.get("finish_reason")
        completions.append(
            Completion(
                text=message.get("content") or "",
                finish_reason="length" if reason == "length" else "stop",
                prompt_tokens=prompt_tokens,
                completion_tokens=share,
            )
        )
    return completions


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
