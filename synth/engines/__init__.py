"""LLM backends behind one protocol (base.py): vllm_local (vLLM in process), openai_http
(an OpenAI-compatible server), replay (recorded completions) and scripted (tests).

Which one a run uses is an `EngineSettings` record; registry.py's `ENGINES` maps each kind
to lazy constructors, so using one never imports the others' dependencies (vLLM takes
seconds to import).
"""

from synth.engines.base import ChatRequest, Completion, Engine, Message

__all__ = ["ChatRequest", "Completion", "Engine", "Message"]
