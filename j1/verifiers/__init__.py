"""Verifiers: is a response's final answer equivalent to the reference? One registry, three kinds.

| name     | how                                                                                   |
|----------|---------------------------------------------------------------------------------------|
| `rule`   | math-verify plus fixes for its known misses, in a process pool with a hard timeout     |
| `model`  | an xVerify-style judge model asked "Correct"/"Incorrect" through any j1 backend       |
| `hybrid` | rule first; the model only where the rule said wrong but did extract an answer         |

`make_verifier(name, **options)` builds one; every verifier takes a batch of `VerifyItem`s and returns
one `Verdict` per item in order, with `correct=None` (and the reason) when it could not decide.
"""

from __future__ import annotations

import inspect
from typing import Any

from j1 import J1Error
from j1.verifiers.base import Verdict, Verifier, VerifyItem
from j1.verifiers.hybrid import HybridVerifier
from j1.verifiers.model import ModelVerifier
from j1.verifiers.rule import RuleVerifier

VERIFIERS: dict[str, type[Verifier]] = {
    "rule": RuleVerifier,
    "model": ModelVerifier,
    "hybrid": HybridVerifier,
}


def verifier_class(name: str) -> type[Verifier]:
    if name not in VERIFIERS:
        raise J1Error(f"unknown verifier {name!r}; valid verifiers: {', '.join(sorted(VERIFIERS))}")
    return VERIFIERS[name]


def check_verifier(name: str, options: dict[str, Any]) -> type[Verifier]:
    """The class of verifier `name`, once its options are known to be ones it takes (named otherwise with
    the list of valid ones); nothing is started."""
    cls = verifier_class(name)
    valid = sorted(k for k in inspect.signature(cls.__init__).parameters if k != "self")
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise J1Error(f"verifier {name!r} has no option {unknown[0]!r}; valid options: {', '.join(valid)}")
    return cls


def make_verifier(name: str, **options: Any) -> Verifier:
    """Instantiate verifier `name` (see `check_verifier`)."""
    return check_verifier(name, options)(**options)


__all__ = [
    "VERIFIERS",
    "Verdict",
    "Verifier",
    "VerifyItem",
    "check_verifier",
    "make_verifier",
    "verifier_class",
]
