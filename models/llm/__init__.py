"""The llama.cpp decision engine. Public API (everything else is internal):

    from models.llm import DecisionRequest, Engine

    engine = Engine(model_path=path, n_ctx=8192, n_seq_max=16, n_gpu_layers=-1,
                    adapters={"vampire": [(lora_path, 0.8)]})
    engine.warm_up(prefixes={name: system_prompt(archetype), ...})  # optional prefixes
    ticket = engine.submit(request)       # from any thread; joins the running batch
    result = ticket.future.result()       # DecisionResult (asyncio: wrap_future)
    results = engine.decide(requests)     # submit all, wait for all, in request order
    engine.close()

`DecisionRequest(request_id, archetype, system_prompt, prompt, allowed_actions,
max_tokens=96, time_limit_s=5.0)`: prompts come from models/prompts.py; the system
prompt should depend on the archetype only, as it is the shared KV prefix.

`DecisionResult(request_id, action, target, speech, emotion, error, prompt_tokens,
prefix_tokens_reused, generated_tokens, seconds)`: a validated decision (`error` None)
or an error whose text starts with one of the ERROR_* kinds; a failing request never
affects the others. `seconds` counts from the request's submission.

`Engine(*, model_path, n_ctx, n_seq_max, n_gpu_layers=0, n_threads=None, adapters={},
seed=0, chat_template=None, sampling=SamplingParams(), constrained=True,
max_prefixes=8, n_batch=512, flash_attn=None)`:

- loads the model and every adapter once (ModelMissing, ModelLoadFailed, ConfigError);
  `adapters` maps an archetype to its LoRA stack of (path, scale);
- `n_ctx` KV cells are shared by `n_seq_max` parallel sequences plus `max_prefixes`
  cached archetype prefixes (unified KV);
- one loop thread owns the context and batches continuously across every caller:
  `submit(request)` returns a ticket at once, `decide(requests)` waits for its own;
  `cancel(request_id)` may be called from any thread; `warm_up()` once per process;
  `reset_prefixes()` forgets cached prefixes (after editing system prompts);
- `offload` -> {gpu_supported, n_gpu_layers, n_layers, offloaded_layers};
- `stats` counts decodes, prompt tokens evaluated, prefix hits, grammar tiers and
  adapter switch times; `close()` frees everything (also a context manager).
"""

from models.llm.engine import Engine
from models.llm.sampler import SamplingParams
from models.llm.types import (
    ERROR_BUDGET,
    ERROR_CANCELLED,
    ERROR_CONTEXT_OVERFLOW,
    ERROR_DECODE_FAILURE,
    ERROR_INVALID_OUTPUT,
    ERROR_INVALID_REQUEST,
    ERROR_TIMEOUT,
    DecisionRequest,
    DecisionResult,
)

__all__ = [
    "ERROR_BUDGET",
    "ERROR_CANCELLED",
    "ERROR_CONTEXT_OVERFLOW",
    "ERROR_DECODE_FAILURE",
    "ERROR_INVALID_OUTPUT",
    "ERROR_INVALID_REQUEST",
    "ERROR_TIMEOUT",
    "DecisionRequest",
    "DecisionResult",
    "Engine",
    "SamplingParams",
]
