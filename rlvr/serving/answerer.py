"""Answering questions with a trained adapter on its base model, outside the pipeline.

`rlvr ask`, the promotion gate and the registered pyfunc model (`rlvr.serving.versions`,
`rlvr.serving.pyfunc`) load adapters here; this module needs no MLflow, so the same code answers on a
GPU host that has only the training stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr.config.schema import Markers
from rlvr.data.prompts import chat_prompt, format_template, prompt_ids
from rlvr.errors import RlvrError
from rlvr.training.decoding import generate
from rlvr.training.hardware import cuda_available, resolve_dtype
from rlvr.training.models import base_for_inference, load_model, load_tokenizer


class QuestionRefused(RlvrError):
    """A question the model cannot answer as asked (blank, or longer than it reads)."""


@dataclass
class Answerer:
    """A loaded adapter that completes questions greedily (on the GPU when there is one)."""

    model: Any
    tokenizer: Any
    markers: Markers
    max_new_tokens: int
    engine: str

    @classmethod
    def load(
        cls,
        adapter: str | Path,
        base_model: str,
        revision: str | None,
        dtype: str,
        markers: Markers,
        max_new_tokens: int,
    ) -> Answerer:
        dtype = resolve_dtype(dtype)
        base = base_for_inference(base_model, revision, dtype)
        model = load_model(base, dtype, adapter=adapter)
        cuda = cuda_available()
        if cuda:
            model = model.to("cuda")
        engine = "merged" if cuda else "generate"
        tokenizer = format_template(load_tokenizer(adapter), markers)  # saved with it already; made sure
        return cls(model, tokenizer, markers, max_new_tokens, engine)

    def complete(self, questions: Sequence[str], batch_size: int = 8) -> list[str]:
        """Greedy answers; a question that is blank, or longer than the model reads (its prompt and the
        answer's `max_new_tokens` together), is refused in one line before any generation."""
        prompts = [chat_prompt(question, self.markers) for question in questions]
        limit = getattr(self.model.config, "max_position_embeddings", None)
        for number, (question, prompt) in enumerate(zip(questions, prompts, strict=True), start=1):
            if not question.strip():
                raise QuestionRefused(f"question {number} is empty; ask something")
            tokens = len(prompt_ids(self.tokenizer, prompt))
            if limit and tokens + self.max_new_tokens > limit:
                raise QuestionRefused(
                    f"question {number} makes a prompt of {tokens} tokens; this model reads {limit} at most, "
                    f"{self.max_new_tokens} of them for its answer: shorten the question"
                )
        completions, _ = generate(
            self.model,
            self.tokenizer,
            prompts,
            self.max_new_tokens,
            batch_size=batch_size,
            desc="answer",
            engine=self.engine,
        )
        return completions
