"""The providers' batch engines, at half price: OpenAI's Batch API and Anthropic's Message Batches.

Many requests go out at once, each keyed by a `custom_id`; the provider answers within 24 h. A
request is built by the same provider code as an ordinary call (`_payload`, in the provider's best
structured-output mode), and each answer comes back as the same `ChatResponse` an ordinary call
returns, so it is parsed and checked exactly the same way. Nothing here touches the database:
`jobs/provider_batch.py` persists the batches and ingests their answers.

- OpenAI: the requests are a JSONL file uploaded to `/v1/files` (purpose `batch`), then
  `POST /v1/batches` (endpoint `/v1/chat/completions`, completion window `24h`); `GET
  /v1/batches/{id}` until it is completed, expired, cancelled or failed; the answers are the
  contents of `output_file_id`, the per-request errors those of `error_file_id`.
- Anthropic: `POST /v1/messages/batches` with the requests inline; `GET
  /v1/messages/batches/{id}` until `processing_status` is `ended`; the answers are the JSONL at
  `results_url` (succeeded, errored, canceled or expired per request).

Every batch is tagged (OpenAI `metadata`), so a submission whose answer was lost (a timeout, a
killed process) is found again instead of being paid for twice.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from horizonscan.llm.base import ChatRequest, ChatResponse, ConfigurationError, ErrorKind, Provider
from horizonscan.llm.errors import ErrorInfo, error_info, is_context_error, retry_after_seconds, scrub
from horizonscan.retry import RetryPolicy

if TYPE_CHECKING:
    from horizonscan.llm.anthropic_provider import AnthropicProvider
    from horizonscan.llm.openai_provider import OpenAIProvider

T = TypeVar("T")
Outcome = Literal["succeeded", "errored", "expired", "cancelled"]
# open: the provider is still working; ended: results are ready (some requests may have none:
# expired, cancelled); failed: the provider refused the whole batch (e.g. its file did not validate).
BatchState = Literal["open", "ended", "failed"]

ENDPOINT = "/v1/chat/completions"
TAG_KEY = "horizonscan_tag"
# The providers' documented limits per batch (requests, bytes), with room for JSON framing.
OPENAI_MAX_REQUESTS = 50_000
OPENAI_MAX_BYTES = 190 * 1024 * 1024
ANTHROPIC_MAX_REQUESTS = 100_000
ANTHROPIC_MAX_BYTES = 240 * 1024 * 1024
_OPENAI_OPEN = ("validating", "in_progress", "finalizing", "cancelling")


@dataclass
class BatchRequest:
    custom_id: str
    request: ChatRequest


@dataclass
class RemoteBatch:
    """What the provider says about a batch when polled."""

    id: str
    state: BatchState
    status: str  # the provider's own word
    counts: dict[str, int] = field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    error: str | None = None  # why a failed batch failed


@dataclass
class ItemResult:
    """One request's outcome. `response` is set whenever the provider answered (and billed), even
    when `error` says the answer cannot be used (a refusal)."""

    custom_id: str
    outcome: Outcome
    response: ChatResponse | None = None
    error: str | None = None
    kind: ErrorKind | None = None
    raw: str = ""  # the provider's line as received, for the audit log


class BatchAPIError(Exception):
    """A batch endpoint refused or could not be reached.

    `fatal`: nothing can work as configured (key, permission, no batch API at this base URL, no
    credit, nothing answering): the command stops. Otherwise only this batch is affected (e.g. a
    400 about its file). `missing`: the provider does not know this batch (any more).
    """

    def __init__(self, message: str, *, fatal: bool, status: int | None = None, missing: bool = False):
        super().__init__(message)
        self.fatal = fatal
        self.status = status
        self.missing = missing


class BatchUnsupported(ConfigurationError):
    """The provider has no batch engine (the local model, for one)."""


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BatchAPI(ABC):
    """Submit, poll and read one provider's batches through its official SDK."""

    name: str = "batch"
    max_requests: int = 50_000
    max_bytes: int = 190 * 1024 * 1024

    def __init__(
        self,
        provider: Provider,
        *,
        retries: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.provider = provider
        # The mode every request of this run's batches uses: the provider's best. A request the
        # provider refuses for its mode is redone by an ordinary call, which steps down.
        self.mode = provider.mode
        self.retries = retries
        self.policy = RetryPolicy(backoff_base, backoff_max)
        self._sleep = sleep

    # ---- requests ----------------------------------------------------------------------------
    @abstractmethod
    def line(self, item: BatchRequest) -> dict[str, Any]:
        """The request as it goes into the batch."""

    def line_bytes(self, item: BatchRequest) -> int:
        return len(json.dumps(self.line(item), ensure_ascii=False).encode()) + 1

    def describe(self, item: BatchRequest, mode: str | None = None) -> dict[str, Any]:
        """The request as sent (in `mode`, the batch's), for the audit log."""
        return self.provider.describe(item.request, mode or self.mode)

    # ---- the endpoints -----------------------------------------------------------------------
    @abstractmethod
    async def submit(self, items: list[BatchRequest], *, tag: str) -> tuple[str, str | None]:
        """Send a batch; (its id, the uploaded input file's id when there is one)."""

    @abstractmethod
    async def find(self, tag: str, *, since: datetime, count: int, known: set[str]) -> str | None:
        """The id of a batch this tool submitted with `tag` whose answer never reached us."""

    @abstractmethod
    async def retrieve(self, remote_id: str) -> RemoteBatch: ...

    @abstractmethod
    async def results(self, remote: RemoteBatch) -> list[ItemResult]:
        """Every answer (and per-request error) of an ended batch."""

    @abstractmethod
    async def cancel(self, remote_id: str) -> None: ...

    async def aclose(self) -> None:
        await self.provider.aclose()

    # ---- retries -----------------------------------------------------------------------------
    @abstractmethod
    def _classify(self, exc: Exception, what: str) -> Exception | None:
        """A BatchAPIError (give up) or a _Transient (retry) for an SDK exception; None if not ours."""

    async def _call(self, what: str, fn: Callable[[], Awaitable[T]], *, retry: bool = True) -> T:
        """`fn()` with the project's retry rule for server faults (429, 5xx, timeouts, drops)."""
        failures = 0
        while True:
            try:
                return await fn()
            except Exception as exc:
                decided = self._classify(exc, what)
                if decided is None:
                    raise
                if isinstance(decided, _Transient):
                    failures += 1
                    if not retry or failures > self.retries:
                        raise BatchAPIError(
                            f"{self.name}: {what}: {decided} (gave up after {failures} tries)",
                            fatal=True,
                        ) from exc
                    await self._sleep(self.policy.delay(failures, decided.retry_after))
                    continue
                raise decided from exc

    def _status_error(self, what: str, status: int, info: ErrorInfo, headers: Any, key_var: str) -> Exception:
        """The decision for an HTTP error answer of a batch endpoint (the same for both SDKs)."""
        secret = getattr(self.provider, "_secret", "")
        message = scrub(info.message or f"HTTP {status}", secret)
        label = f"{self.name}: {what}: HTTP {status}: {message}"
        if status in (401, 403) or info.type in ("authentication_error", "permission_error"):
            return BatchAPIError(
                f"{label} (check {key_var}, and that it may use the batch API)", fatal=True, status=status
            )
        if status == 404 or info.type == "not_found_error":
            if what.startswith("poll") or what.startswith("read"):
                return BatchAPIError(label, fatal=False, status=status, missing=True)
            return BatchAPIError(
                f"{label} (this server has no batch API: OpenAI and Anthropic have one, most "
                "self-hosted servers do not; run without --batch)",
                fatal=True,
                status=status,
            )
        low = info.message.lower()
        if info.code == "insufficient_quota" or status == 402 or "credit balance" in low:
            return BatchAPIError(
                f"{label} (out of credit: check the plan and billing)", fatal=True, status=status
            )
        if status in (408, 409, 429) or status >= 500:
            return _Transient(f"HTTP {status}: {message}", retry_after_seconds(headers))
        return BatchAPIError(label, fatal=False, status=status)


# ---- OpenAI -----------------------------------------------------------------------------------
class OpenAIBatchAPI(BatchAPI):
    name = "openai batch"
    max_requests = OPENAI_MAX_REQUESTS
    max_bytes = OPENAI_MAX_BYTES

    def __init__(self, provider: OpenAIProvider, **kwargs: Any) -> None:
        super().__init__(provider, **kwargs)
        self.openai = provider

    @property
    def _client(self) -> Any:
        return self.openai._client

    def line(self, item: BatchRequest) -> dict[str, Any]:
        return {
            "custom_id": item.custom_id,
            "method": "POST",
            "url": ENDPOINT,
            "body": self.openai._payload(item.request, self.mode),
        }

    async def submit(self, items: list[BatchRequest], *, tag: str) -> tuple[str, str | None]:
        data = b"".join(json.dumps(self.line(i), ensure_ascii=False).encode() + b"\n" for i in items)
        client = self._client
        upload = await self._call(
            "upload the batch file",
            lambda: client.files.create(
                file=(f"horizonscan-{tag}.jsonl", data, "application/jsonl"), purpose="batch"
            ),
        )
        since = datetime.now(UTC) - timedelta(minutes=5)
        failures = 0
        while True:
            try:
                batch = await self._call(
                    "create the batch",
                    lambda: client.batches.create(
                        input_file_id=upload.id,
                        endpoint=ENDPOINT,
                        completion_window="24h",
                        metadata={TAG_KEY: tag},
                    ),
                    retry=False,
                )
                return str(batch.id), str(upload.id)
            except BatchAPIError as exc:
                # The create may have reached OpenAI even though its answer did not reach us.
                found = await self.find(tag, since=since, count=len(items), known=set())
                if found is not None:
                    return found, str(upload.id)
                failures += 1
                if exc.status is not None or failures > self.retries:
                    raise
                await self._sleep(self.policy.delay(failures))

    async def find(self, tag: str, *, since: datetime, count: int, known: set[str]) -> str | None:
        client = self._client
        page = await self._call("list batches", lambda: client.batches.list(limit=100))
        for batch in page.data:
            if (batch.metadata or {}).get(TAG_KEY) == tag and batch.id not in known:
                return str(batch.id)
        return None

    async def retrieve(self, remote_id: str) -> RemoteBatch:
        client = self._client
        b = await self._call(f"poll batch {remote_id}", lambda: client.batches.retrieve(remote_id))
        counts = b.request_counts.model_dump() if b.request_counts is not None else {}
        state: BatchState = (
            "open" if b.status in _OPENAI_OPEN else "failed" if b.status == "failed" else "ended"
        )
        error = None
        if state == "failed":
            errors = (b.errors.data if b.errors is not None else None) or []
            error = "; ".join(
                f"{'line ' + str(e.line) + ': ' if e.line else ''}{e.message or e.code}" for e in errors[:5]
            )
            error = scrub(f"the provider refused the batch: {error or 'no reason given'}")
        return RemoteBatch(
            id=str(b.id),
            state=state,
            status=str(b.status),
            counts={k: int(v or 0) for k, v in counts.items()},
            output_file_id=b.output_file_id,
            error_file_id=b.error_file_id,
            error=error,
        )

    async def _file_text(self, file_id: str) -> str:
        client = self._client

        async def read() -> str:
            content = await client.files.content(file_id)
            return bytes(content.content).decode("utf-8", "replace")

        return await self._call(f"read file {file_id}", read)

    async def results(self, remote: RemoteBatch) -> list[ItemResult]:
        out: list[ItemResult] = []
        for file_id in (remote.output_file_id, remote.error_file_id):
            if not file_id:
                continue
            for raw in (await self._file_text(file_id)).splitlines():
                if raw.strip():
                    out.append(self._item(raw))
        return out

    def _item(self, raw: str) -> ItemResult:
        secret = self.openai._secret
        try:
            line = json.loads(raw)
        except ValueError:
            return ItemResult("", "errored", error="openai batch: a result line is not JSON", raw=raw[:2000])
        cid = str(line.get("custom_id") or "")
        response = line.get("response")
        err = line.get("error")
        if not isinstance(response, dict) or err:
            err = err if isinstance(err, dict) else {}
            code = str(err.get("code") or "")
            message = scrub(str(err.get("message") or "no answer"), secret)
            outcome: Outcome = (
                "expired"
                if code == "batch_expired"
                else "cancelled"
                if code == "batch_cancelled"
                else "errored"
            )
            return ItemResult(
                cid, outcome, error=f"openai batch: {code or outcome}: {message}", kind="transient", raw=raw
            )
        status = int(response.get("status_code") or 0)
        body = response.get("body")
        if status != 200:
            info = error_info(body)
            return ItemResult(
                cid,
                "errored",
                error=scrub(f"openai: HTTP {status}: {info.message}", secret),
                kind=_openai_kind(status, info),
                raw=raw,
            )
        return _openai_completion(cid, body if isinstance(body, dict) else {}, raw, secret)

    async def cancel(self, remote_id: str) -> None:
        client = self._client
        await self._call(f"cancel batch {remote_id}", lambda: client.batches.cancel(remote_id))

    def _classify(self, exc: Exception, what: str) -> Exception | None:
        import openai

        if isinstance(exc, openai.APIStatusError):
            response = getattr(exc, "response", None)
            info = error_info(exc.body)
            headers = response.headers if response is not None else None
            return self._status_error(what, exc.status_code, info, headers, "OPENAI_API_KEY")
        if isinstance(exc, openai.APIConnectionError):  # timeouts included
            return _Transient(f"cannot reach {self.openai.shown_url} ({type(exc).__name__})")
        if isinstance(exc, (openai.APIResponseValidationError, ValueError)):
            return _Transient("the server's answer is not valid JSON")
        return None


def _openai_kind(status: int, info: ErrorInfo) -> ErrorKind:
    if info.names("response_format") or info.code == "invalid_json_schema":
        return "format"
    if is_context_error(info):
        return "context"
    if status in (401, 403, 404) or info.code == "insufficient_quota":
        return "fatal"
    if status in (408, 409, 429) or status >= 500:
        return "transient"
    return "rejected"


def _openai_completion(cid: str, body: dict[str, Any], raw: str, secret: str) -> ItemResult:
    """A chat completion from a batch output line, read like `OpenAIProvider.chat` reads one."""
    choices = body.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ItemResult(cid, "errored", error="openai batch: the answer is not a chat completion", raw=raw)
    choice = choices[0]
    msg = choice.get("message") or {}
    text = str(msg.get("content") or "")
    usage = body.get("usage") or {}
    finish = str(choice.get("finish_reason") or "stop")
    response = ChatResponse(
        text=text,
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        finish_reason=finish,
    )
    refusal = msg.get("refusal")
    if not text and refusal:
        return ItemResult(
            cid,
            "succeeded",
            response=response,
            error=f"openai: the model refused: {scrub(str(refusal), secret)}",
            kind="refusal",
            raw=raw,
        )
    if finish == "content_filter" and not text:
        return ItemResult(
            cid,
            "succeeded",
            response=response,
            error="openai: the answer was withheld by the content filter",
            kind="refusal",
            raw=raw,
        )
    return ItemResult(cid, "succeeded", response=response, raw=raw)


# ---- Anthropic --------------------------------------------------------------------------------
class AnthropicBatchAPI(BatchAPI):
    name = "anthropic batch"
    max_requests = ANTHROPIC_MAX_REQUESTS
    max_bytes = ANTHROPIC_MAX_BYTES

    def __init__(self, provider: AnthropicProvider, **kwargs: Any) -> None:
        super().__init__(provider, **kwargs)
        self.anthropic = provider

    @property
    def _client(self) -> Any:
        return self.anthropic._client

    def line(self, item: BatchRequest) -> dict[str, Any]:
        return {"custom_id": item.custom_id, "params": self.anthropic._payload(item.request, self.mode)}

    async def submit(self, items: list[BatchRequest], *, tag: str) -> tuple[str, str | None]:
        requests = [self.line(i) for i in items]
        client = self._client
        since = datetime.now(UTC) - timedelta(minutes=5)
        failures = 0
        while True:
            try:
                batch = await self._call(
                    "create the batch", lambda: client.messages.batches.create(requests=requests), retry=False
                )
                return str(batch.id), None
            except BatchAPIError as exc:
                found = await self.find(tag, since=since, count=len(items), known=set())
                if found is not None:
                    return found, None
                failures += 1
                if exc.status is not None or failures > self.retries:
                    raise
                await self._sleep(self.policy.delay(failures))

    async def find(self, tag: str, *, since: datetime, count: int, known: set[str]) -> str | None:
        """Message batches carry no metadata: the one created since `since` with as many requests,
        that no row of ours holds, is taken to be the lost submission."""
        client = self._client

        async def first_page() -> list[Any]:
            page = await client.messages.batches.list(limit=100)
            return list(page.data)

        for batch in await self._call("list batches", first_page):
            counts = batch.request_counts
            total = sum(int(getattr(counts, k, 0) or 0) for k in _ANTHROPIC_COUNTS)
            created = batch.created_at if batch.created_at.tzinfo else batch.created_at.replace(tzinfo=UTC)
            if created >= since and total == count and batch.id not in known:
                return str(batch.id)
        return None

    async def retrieve(self, remote_id: str) -> RemoteBatch:
        client = self._client
        b = await self._call(f"poll batch {remote_id}", lambda: client.messages.batches.retrieve(remote_id))
        counts = {k: int(getattr(b.request_counts, k, 0) or 0) for k in _ANTHROPIC_COUNTS}
        state: BatchState = "ended" if b.processing_status == "ended" else "open"
        return RemoteBatch(id=str(b.id), state=state, status=str(b.processing_status), counts=counts)

    async def results(self, remote: RemoteBatch) -> list[ItemResult]:
        client = self._client

        async def read() -> list[ItemResult]:
            out: list[ItemResult] = []
            decoder = await client.messages.batches.results(remote.id)
            async for entry in decoder:
                out.append(self._item(entry))
            return out

        return await self._call(f"read the results of {remote.id}", read)

    def _item(self, entry: Any) -> ItemResult:
        from horizonscan.llm.anthropic_provider import TOOL_NAME

        secret = self.anthropic._secret
        cid = str(entry.custom_id)
        raw = scrub(entry.model_dump_json(), secret) if hasattr(entry, "model_dump_json") else ""
        result = entry.result
        kind = getattr(result, "type", "")
        if kind == "expired":
            return ItemResult(
                cid, "expired", error="anthropic batch: the request expired", kind="transient", raw=raw
            )
        if kind == "canceled":
            return ItemResult(cid, "cancelled", error="anthropic batch: the request was cancelled", raw=raw)
        if kind == "errored":
            err = getattr(getattr(result, "error", None), "error", None)
            etype = str(getattr(err, "type", "") or "")
            what = scrub(str(getattr(err, "message", "") or "error"), secret)
            return ItemResult(
                cid,
                "errored",
                error=f"anthropic: {etype}: {what}",
                kind=_anthropic_kind(etype, what),
                raw=raw,
            )
        message: Any = getattr(result, "message", None)
        if message is None:
            return ItemResult(cid, "errored", error=f"anthropic batch: unknown result type {kind!r}", raw=raw)
        text = ""
        for block in message.content or []:
            if block.type == "tool_use" and block.name == TOOL_NAME:
                text = json.dumps(block.input, ensure_ascii=False)
                break
            if block.type == "text":
                text += block.text
        usage = message.usage
        response = ChatResponse(
            text=text,
            input_tokens=int(usage.input_tokens or 0) if usage else 0,
            output_tokens=int(usage.output_tokens or 0) if usage else 0,
            finish_reason="length" if message.stop_reason == "max_tokens" else "stop",
        )
        if message.stop_reason == "refusal":
            return ItemResult(
                cid,
                "succeeded",
                response=response,
                error="anthropic: the model refused to answer",
                kind="refusal",
                raw=raw,
            )
        if message.stop_reason == "model_context_window_exceeded":
            return ItemResult(
                cid,
                "succeeded",
                response=response,
                error="anthropic: the text does not fit the model's context",
                kind="context",
                raw=raw,
            )
        return ItemResult(cid, "succeeded", response=response, raw=raw)

    async def cancel(self, remote_id: str) -> None:
        client = self._client
        await self._call(f"cancel batch {remote_id}", lambda: client.messages.batches.cancel(remote_id))

    def _classify(self, exc: Exception, what: str) -> Exception | None:
        import anthropic

        if isinstance(exc, anthropic.APIStatusError):
            response = getattr(exc, "response", None)
            info = error_info(exc.body)
            headers = response.headers if response is not None else None
            return self._status_error(what, exc.status_code, info, headers, "ANTHROPIC_API_KEY")
        if isinstance(exc, anthropic.APIConnectionError):  # timeouts included
            return _Transient(f"cannot reach {self.anthropic.shown_url} ({type(exc).__name__})")
        if isinstance(exc, (anthropic.APIResponseValidationError, ValueError)):
            return _Transient("the server's answer is not valid JSON")
        return None


_ANTHROPIC_COUNTS = ("processing", "succeeded", "errored", "canceled", "expired")


def _anthropic_kind(etype: str, message: str) -> ErrorKind:
    if etype in ("authentication_error", "permission_error", "not_found_error", "billing_error"):
        return "fatal"
    if etype in ("rate_limit_error", "api_error", "overloaded_error", "timeout_error"):
        return "transient"
    if "output_config" in message or "output_format" in message:
        return "format"
    if "prompt is too long" in message.lower():
        return "context"
    return "rejected"


def make_batch_api(provider: Provider, **kwargs: Any) -> BatchAPI:
    """The batch engine of `provider`'s API, or BatchUnsupported saying why there is none."""
    from horizonscan.llm.anthropic_provider import AnthropicProvider
    from horizonscan.llm.openai_provider import OpenAIProvider

    if isinstance(provider, OpenAIProvider):
        return OpenAIBatchAPI(provider, **kwargs)
    if isinstance(provider, AnthropicProvider):
        return AnthropicBatchAPI(provider, **kwargs)
    raise BatchUnsupported(
        f"--batch needs a provider with a batch API (openai:MODEL or anthropic:MODEL); {provider.spec} "
        "has none: the local model runs in this process. Run without --batch"
    )
