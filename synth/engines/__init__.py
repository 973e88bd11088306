"""LLM backends behind one protocol (base.py): vllm_local (vLLM in process), openai_http
(an OpenAI-compatible server), replay (recorded completions) and scripted (tests).

Backends are imported where they are chosen (`synth.run.open_engine`), so using one never
imports the others' dependencies (vLLM takes seconds to import).
"""

from synth.engines.base import ChatRequest, Completion, Engine, Message

__all__ = ["ChatRequest", "Completion", "Engine", "Message"]
