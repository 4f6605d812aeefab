"""Request and response models of the judging API (they are also its OpenAPI docs at `/docs`).

Requests are strict: an unknown field, a value of the wrong type ("2" for an integer) or a text field over
`max_field_chars` is a 422 that names the field. The limits come from the `ServeConfig`, so the request
models are built per server by `request_models(cfg)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from j1.server.config import ServeConfig

STRICT = ConfigDict(extra="forbid", strict=True)


@dataclass
class RequestModels:
    pairwise: type[BaseModel]
    pairwise_batch: type[BaseModel]
    pointwise: type[BaseModel]
    pointwise_batch: type[BaseModel]


def request_models(cfg: ServeConfig) -> RequestModels:
    Text = Annotated[str, Field(max_length=cfg.max_field_chars)]
    Prompt = Annotated[str, Field(min_length=1, max_length=cfg.max_field_chars, description="The user turn")]

    class PointwiseOptions(BaseModel):
        model_config = STRICT
        samples: int = Field(
            cfg.samples, ge=1, le=cfg.max_samples, description="Judge outputs per prompt (self-consistency)"
        )
        temperature: float | None = Field(
            None, ge=0, le=2, description="Default: greedy for 1 sample, the server's sample temperature else"
        )
        max_tokens: int | None = Field(None, ge=1, le=cfg.max_tokens_limit, description="Judge output budget")
        include_raw: bool = Field(False, description="Return the judge's raw outputs")
        soft: bool = Field(
            False,
            description="From log-probabilities: pairwise, the judge's P(A) at its verdict token; "
            "pointwise, the expected score at its score token",
        )

    class PairwiseOptions(PointwiseOptions):
        both_orders: bool = Field(
            cfg.both_orders, description="Also judge the swapped pair; report agreement"
        )

    class PairwiseItem(BaseModel):
        model_config = STRICT
        prompt: Prompt
        response_a: Text
        response_b: Text

    class PointwiseItem(BaseModel):
        model_config = STRICT
        prompt: Prompt
        response: Text

    class PairwiseRequest(PairwiseOptions, PairwiseItem):
        pass

    class PointwiseRequest(PointwiseOptions, PointwiseItem):
        pass

    class PairwiseBatchRequest(PairwiseOptions):
        items: list[PairwiseItem] = Field(min_length=1, max_length=cfg.max_batch_items)

    class PointwiseBatchRequest(PointwiseOptions):
        items: list[PointwiseItem] = Field(min_length=1, max_length=cfg.max_batch_items)

    return RequestModels(PairwiseRequest, PairwiseBatchRequest, PointwiseRequest, PointwiseBatchRequest)


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class OrderResult(BaseModel):
    order: str = Field(description='"ab" as given, "ba" swapped (mapped back to the caller\'s A/B)')
    verdict: str | None = Field(description='"A", "B", "tie" (split vote or equal scores) or null')
    scores: dict[str, float]
    votes: dict[str, int]
    reasoning: str
    samples: int
    parsed: int
    errors: list[str]
    raw: list[str] | None = None
    probability_a: float | None = Field(None, description="soft: P(A) at the verdict token, caller's A/B")


class PairwiseResult(BaseModel):
    verdict: str | None = Field(description='"A", "B", "tie", or null when the judge output did not parse')
    scores: dict[str, float] = Field(description="Mean scores per response (formats with scores)")
    reasoning: str
    agreement: bool | None = Field(description="both_orders: whether the two orders agree; else null")
    orders: list[OrderResult]
    parse_ok: bool
    parsed: int
    parse_failures: int
    format: str
    model: str
    usage: Usage
    probability_a: float | None = Field(None, description="soft: mean of the orders' P(A); null without soft")


class PointwiseResult(BaseModel):
    score: float | None = Field(description="Mean score (0-10) of the parsed samples; null if none parsed")
    scores: list[float | None]
    reasoning: str
    parse_ok: bool
    parsed: int
    parse_failures: int
    errors: list[str]
    format: str
    model: str
    usage: Usage
    raw: list[str] | None = None
    expected_score: float | None = Field(
        None, description="soft: the mean over samples of the expected score at the score token"
    )


class PairwiseBatchResult(BaseModel):
    results: list[PairwiseResult]


class PointwiseBatchResult(BaseModel):
    results: list[PointwiseResult]


class Health(BaseModel):
    status: str
    engine: str
    model: str
    format: str
    queue: dict[str, int]
    reason: str | None = None


def error_body(kind: str, message: str, details: Any = None) -> dict[str, Any]:
    """Every error answer: `{"error": {"type", "message", "details"?}}` (OpenAI clients read it too)."""
    body: dict[str, Any] = {"type": kind, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}
