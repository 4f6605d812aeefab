"""The contract every verifier keeps: items in, one verdict per item out, in order.

A verdict is `correct=True/False` when the verifier decided, and `correct=None` when it could not
(timeout, crash, unparsable reference, unparsable judge output); `reason` always says why, so a caller
can count unverifiable samples instead of mistaking them for wrong ones.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

# Reasons a caller may branch on (the hybrid verifier does); free text follows after ": ".
DEGENERATE = "degenerate"  # the rule's degeneracy checks rejected the response (never sent to a model)
NO_ANSWER = "no answer"  # nothing could be extracted from the response
MISMATCH = "mismatch"  # an answer was extracted and is not equivalent to the reference
# a decimal that rounds to an exact reference it does not equal (1.414214 for sqrt(2)): the rule's
# comparison is exact, so the hybrid verifier never asks a model about it
APPROXIMATION = "mismatch: a decimal approximation of an exact answer"
TIMEOUT = "timeout"
CRASH = "crash"


@dataclass(frozen=True)
class VerifyItem:
    question: str
    response: str
    reference: str


@dataclass(frozen=True)
class Verdict:
    correct: bool | None
    reason: str
    extracted: str | None = None


class Verifier(ABC):
    """Subclasses set `name` and implement `verify`; `close` releases workers or engines."""

    name: ClassVar[str]

    @abstractmethod
    def verify(self, items: Sequence[VerifyItem]) -> list[Verdict]:
        """One `Verdict` per item, in input order."""

    def close(self) -> None:
        return None

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
