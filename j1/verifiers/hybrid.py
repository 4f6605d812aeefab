"""`hybrid`: the rule verifier first, a judge model only to rescue the rule's false negatives.

The recipe of Huang et al. 2025 ("Pitfalls of Rule- and Model-based Verifiers", their genRM reward
manager): a model is asked only where the rule said wrong AND extracted an answer, and (their numeric
guard, on by default) not when the reference is a plain number and the answer is one too (the rule is
exact there) or has no digit at all (number words were already tried; "the answer is correct" is a hack). Responses the rule rejected as degenerate (empty, hedged, echoed, gibberish) never reach the
model: those are the hacks model judges fall for. Rule matches are final, so the hybrid only ever adds
positives. A model output that cannot be parsed leaves the rule's "wrong" standing, as in the paper.
Every reason names the deciding verifier: "rule: ..." or "model: ... (rule: ...)".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from j1.backends import Backend
from j1.models import DEFAULT_MODEL
from j1.verifiers.base import APPROXIMATION, DEGENERATE, Verdict, Verifier, VerifyItem
from j1.verifiers.extract import reference_answer
from j1.verifiers.model import ModelVerifier
from j1.verifiers.normalize import canonical, plain_number
from j1.verifiers.rule import RuleVerifier

log = logging.getLogger(__name__)


class HybridVerifier(Verifier):
    name = "hybrid"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        backend: str = "vllm",
        backend_options: dict[str, Any] | None = None,
        max_tokens: int = 8,
        backend_obj: Backend | None = None,
        rule_options: dict[str, Any] | None = None,
        numeric_guard: bool = True,
    ) -> None:
        self.rule = RuleVerifier(**(rule_options or {}))
        self.model = ModelVerifier(
            model=model,
            backend=backend,
            backend_options=backend_options,
            max_tokens=max_tokens,
            backend_obj=backend_obj,
        )
        self.numeric_guard = numeric_guard
        self.model_calls = 0  # items sent to the model so far (for manifests and tests)

    def needs_model(self, item: VerifyItem, verdict: Verdict) -> bool:
        if verdict.correct is not False or not verdict.extracted or verdict.reason.startswith(DEGENERATE):
            return False  # degenerate includes master keys and claimed verdicts: the model never sees them
        if verdict.reason == APPROXIMATION:
            return False  # a decimal against an exact closed form: the rule's comparison is exact
        if self.numeric_guard and plain_number(canonical(reference_answer(item.reference))) is not None:
            if plain_number(canonical(verdict.extracted)) is not None:
                return False  # two plain numbers: the rule's comparison is exact
            if not any(c.isdigit() for c in verdict.extracted):
                return False  # "the answer is correct" for 42: words the rule could not read as a number
        return True

    def verify(self, items: Sequence[VerifyItem]) -> list[Verdict]:
        ruled = self.rule.verify(items)
        route = [i for i, (it, v) in enumerate(zip(items, ruled, strict=True)) if self.needs_model(it, v)]
        out = [Verdict(v.correct, f"rule: {v.reason}", v.extracted) for v in ruled]
        if route:
            log.debug("hybrid: %d of %d items go to the model", len(route), len(items))
            judged = self.model.verify([items[i] for i in route])
            self.model_calls += len(route)
            for i, m in zip(route, judged, strict=True):
                rule_reason = ruled[i].reason
                if m.correct is None:  # the rule's "wrong" stands
                    out[i] = Verdict(False, f"rule: {rule_reason} (model: {m.reason})", ruled[i].extracted)
                else:
                    out[i] = Verdict(
                        m.correct, f"model: {m.reason} (rule: {rule_reason})", ruled[i].extracted
                    )
        return out

    def close(self) -> None:
        try:
            self.rule.close()
        finally:
            self.model.close()
