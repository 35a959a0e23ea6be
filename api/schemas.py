"""Request and response bodies of the HTTP API (OpenAI's chat schema where a client can tell)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from graph_store import ROW_RELATIONS
from overlay import RuntimeConfig

Role = Literal["system", "developer", "user", "assistant", "tool"]


def setting(name: str) -> Any:
    """A request field that is a runtime setting: its help comes from RuntimeConfig, and so do its bounds
    (the service builds the answer's config with `build_config`, which names the field when one is off)."""
    return Field(None, description=RuntimeConfig.model_fields[name].description)


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Role
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequest(BaseModel):
    """OpenAI's fields that change the answer are honoured; ones that cannot be (n > 1) are refused with 400;
    the rest (top_p, user, …) are accepted and ignored, as sampling here happens among graph candidates."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = Field(None, description="up to 4 stop strings")
    max_tokens: int | None = setting("max_tokens")
    max_completion_tokens: int | None = setting("max_tokens")
    temperature: float | None = setting("temperature")
    seed: int | None = setting("seed")
    n: int | None = Field(None, ge=1)
    overlay: dict[str, Any] | None = Field(
        None, description='runtime settings for this answer (see `overlay config`), e.g. {"beta": 1.0}'
    )

    def plain_messages(self) -> list[dict[str, str]]:
        """The messages as the runtime takes them: role and text."""
        return [{"role": m.role, "content": m.text()} for m in self.messages]

    def stops(self) -> list[str]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return [s for s in stops if s]


class FeedbackRequest(BaseModel):
    rating: Literal[1, -1]
    note: str | None = Field(None, max_length=2000)
    steps: list[int] | None = Field(None, description="only these steps (default: every step)")


class EdgeRequest(BaseModel):
    rel: Literal[ROW_RELATIONS]  # type: ignore[valid-type]
    src: str = Field(min_length=1)
    dst: str = Field(min_length=1)
    weight: float | None = Field(None, ge=0.0)


class FactRequest(BaseModel):
    text: str = Field(min_length=1, max_length=20000)
    title: str | None = Field(None, max_length=300)


def completion(answer: Any, model: str, created: int, trace_url: str) -> dict[str, Any]:
    return {
        "id": answer.id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text, "refusal": None},
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": usage(answer),
        "system_fingerprint": f"snapshot-v{answer.snapshot_version}",
        "overlay": overlay_info(answer, trace_url),
    }


def usage(answer: Any) -> dict[str, int]:
    u = answer.usage
    return {
        "prompt_tokens": u["prompt_tokens"],
        "completion_tokens": u["completion_tokens"],
        "total_tokens": u["prompt_tokens"] + u["completion_tokens"],
    }


def overlay_info(answer: Any, trace_url: str) -> dict[str, Any]:
    """What a completion adds to OpenAI's shape: its trace, and the link to its page (`api.links.trace_link`)."""
    return {
        "trace_id": answer.id,
        "snapshot_version": answer.snapshot_version,
        "adapter": answer.adapter,
        "trace_url": trace_url,
    }


def chunk(cid: str, model: str, created: int, delta: dict, finish: str | None = None) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
