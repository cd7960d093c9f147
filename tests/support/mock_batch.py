"""OpenAI's files + Batch API and Anthropic's Message Batches, on 127.0.0.1, for tests.

Composed with a `MockLLMServer` (`.llm`): one base URL serves the ordinary chat endpoints (the
fallback calls) and the batch endpoints, and each batch line is run through the same strict chat
endpoint over real HTTP, the way the providers run them (so a line the chat endpoint would refuse
comes back as that line's error, and the `llm.script` faults apply to batch lines in order).
Requests made on behalf of a batch carry `x-mock-batch: <batch id>`; `ordinary_requests()` are
the others.

Strict like the real APIs:
- OpenAI: uploads need `purpose` = batch and a `.jsonl` file; `POST /v1/batches` needs an
  existing batch file, endpoint `/v1/chat/completions`, completion window `24h`, metadata of at
  most 16 string values, and nothing else. The file is validated while the batch is
  `validating`: every line a JSON object with exactly `custom_id` (unique), `method` POST, `url`
  equal to the endpoint and an object `body`, one model for all lines; otherwise the batch
  `failed` with `errors.data`. Then `in_progress` → `finalizing` → `completed` (one step per
  `GET /v1/batches/{id}`), answers in `output_file_id`, per-line errors in `error_file_id`;
  `expire_after=N` lets only N lines run, the batch `expired` and the rest `batch_expired`;
  cancel gives `cancelling` → `cancelled`.
- Anthropic: `POST /v1/messages/batches` needs `anthropic-version`, a non-empty `requests` list
  whose entries have exactly `custom_id` (`^[a-zA-Z0-9_-]{1,64}$`, unique) and `params` (with
  `model`, integer `max_tokens`, `messages`; no `stream`); `processing_status` `in_progress` →
  `ended`; `results_url` only once ended, JSONL of `succeeded` / `errored` / `expired` /
  `canceled` results.
`hold=True` keeps every batch in progress (a long batch, for restart tests); `instant=True` ends a
batch at its first poll.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.mock_llm import MockLLMServer, _anthropic_error, _openai_error

ENDPOINTS = ("/v1/chat/completions",)
FILE_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
LINE_KEYS = {"custom_id", "method", "url", "body"}
CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_FILE_BYTES = 200 * 1024 * 1024
BATCH_HEADER = "x-mock-batch"


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class MockBatchServer:
    """`with MockBatchServer() as srv:`; point the SDKs at `srv.openai_url` / `srv.anthropic_url`."""

    llm: MockLLMServer = field(default_factory=MockLLMServer)
    hold: bool = False
    expire_after: int | None = None  # lines a batch runs before it expires (None: all)
    refuse: str | None = None  # when set, every OpenAI batch fails validation with this message
    instant: bool = False  # a batch ends at its first poll (instead of one step per poll)
    port: int = 0

    def __post_init__(self) -> None:
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}  # OpenAI
        self.message_batches: dict[str, dict[str, Any]] = {}  # Anthropic
        self.calls: list[tuple[str, str]] = []  # (method, path) of every batch-API request
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.base}/v1"

    @property
    def anthropic_url(self) -> str:
        return self.base

    def __enter__(self) -> MockBatchServer:
        sock = socket.socket()
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self.llm.port = self.port
        app = Starlette(
            routes=[
                Route("/v1/files", self._file_create, methods=["POST"]),
                Route("/v1/files/{file_id}", self._file_get, methods=["GET"]),
                Route("/v1/files/{file_id}/content", self._file_content, methods=["GET"]),
                Route("/v1/batches", self._batch_create, methods=["POST"]),
                Route("/v1/batches", self._batch_list, methods=["GET"]),
                Route("/v1/batches/{batch_id}", self._batch_get, methods=["GET"]),
                Route("/v1/batches/{batch_id}/cancel", self._batch_cancel, methods=["POST"]),
                Route("/v1/messages/batches", self._mb_create, methods=["POST"]),
                Route("/v1/messages/batches", self._mb_list, methods=["GET"]),
                Route("/v1/messages/batches/{batch_id}", self._mb_get, methods=["GET"]),
                Route("/v1/messages/batches/{batch_id}/results", self._mb_results, methods=["GET"]),
                Route("/v1/messages/batches/{batch_id}/cancel", self._mb_cancel, methods=["POST"]),
                # The ordinary endpoints, from the composed server.
                Route("/v1/chat/completions", self.llm._openai, methods=["POST"]),
                Route("/v1/messages", self.llm._anthropic, methods=["POST"]),
                Route("/props", self.llm._props, methods=["GET"]),
                Route("/v1/models", self.llm._models, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(app, log_level="critical", lifespan="off", timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("mock batch server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    # ---- what tests look at --------------------------------------------------------------------
    def ordinary_requests(self) -> list[dict[str, Any]]:
        """Chat requests made by the client itself (not on behalf of a batch)."""
        return [r for r in self.llm.requests if BATCH_HEADER not in r["headers"]]

    def created(self, kind: str = "openai") -> list[str]:
        return list(self.batches if kind == "openai" else self.message_batches)

    # ---- auth --------------------------------------------------------------------------------
    def _openai_auth(self, request: Request) -> Response | None:
        key = self.llm.api_key
        if key is not None and request.headers.get("authorization") != f"Bearer {key}":
            return _openai_error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        return None

    def _anthropic_auth(self, request: Request) -> Response | None:
        key = self.llm.api_key
        if key is not None and request.headers.get("x-api-key") != key:
            return _anthropic_error(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return _anthropic_error(400, "invalid_request_error", "anthropic-version: header is required")
        return None

    # ---- OpenAI files ------------------------------------------------------------------------
    async def _file_create(self, request: Request) -> Response:
        self.calls.append(("POST", "/v1/files"))
        refused = self._openai_auth(request)
        if refused is not None:
            return refused
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return _openai_error(400, "The request must be multipart/form-data.", "invalid_request_error")
        form = await request.form()
        purpose = form.get("purpose")
        upload = form.get("file")
        if purpose not in FILE_PURPOSES:
            return _openai_error(
                400,
                f"Invalid value for purpose: {purpose!r}.",
                "invalid_request_error",
                "invalid_value",
                "purpose",
            )
        if upload is None or isinstance(upload, str):
            return _openai_error(
                400, "Missing required parameter: 'file'.", "invalid_request_error", None, "file"
            )
        data = await upload.read()
        name = upload.filename or "file"
        if purpose == "batch" and not name.endswith(".jsonl"):
            return _openai_error(
                400,
                "Invalid file format for Batch API. Must be .jsonl",
                "invalid_request_error",
                None,
                "file",
            )
        if len(data) > MAX_FILE_BYTES:
            return _openai_error(400, "File is too large.", "invalid_request_error", None, "file")
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        meta = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": name,
            "purpose": purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }
        self.files[file_id] = {"meta": meta, "data": data}
        return JSONResponse(meta)

    def _no_file(self, file_id: str) -> Response:
        return _openai_error(404, f"No such File object: {file_id}", "invalid_request_error", None, "id")

    async def _file_get(self, request: Request) -> Response:
        refused = self._openai_auth(request)
        if refused is not None:
            return refused
        entry = self.files.get(request.path_params["file_id"])
        return JSONResponse(entry["meta"]) if entry else self._no_file(request.path_params["file_id"])

    async def _file_content(self, request: Request) -> Response:
        self.calls.append(("GET", "/v1/files/content"))
        refused = self._openai_auth(request)
        if refused is not None:
            return refused
        entry = self.files.get(request.path_params["file_id"])
        if entry is None:
            return self._no_file(request.path_params["file_id"])
        return Response(entry["data"], media_type="application/octet-stream")

    def _store_file(self, lines: list[dict[str, Any]], purpose: str) -> str | None:
        if not lines:
            return None
        data = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        self.files[file_id] = {
            "meta": {
                "id": file_id,
                "object": "file",
                "bytes": len(data),
                "created_at": int(time.time()),
                "filename": f"{purpose}.jsonl",
                "purpose": purpose,
                "status": "processed",
                "expires_at": None,
                "status_details": None,
            },
            "data": data,
        }
        return file_id

    # ---- OpenAI batches ----------------------------------------------------------------------
    async def _batch_create(self, request: Request) -> Response:
        self.calls.append(("POST", "/v1/batches"))
        refused = self._openai_auth(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return _openai_error(
                400, "We could not parse the JSON body of your request.", "invalid_request_error"
            )
        if not isinstance(body, dict):
            return _openai_error(400, "The body must be a JSON object.", "invalid_request_error")
        for key in body:
            if key not in (
                "input_file_id",
                "endpoint",
                "completion_window",
                "metadata",
                "output_expires_after",
            ):
                return _openai_error(
                    400, f"Unrecognized request argument supplied: {key}", "invalid_request_error", None, key
                )
        for key in ("input_file_id", "endpoint", "completion_window"):
            if key not in body:
                return _openai_error(
                    400, f"Missing required parameter: '{key}'.", "invalid_request_error", None, key
                )
        if body["endpoint"] not in ENDPOINTS:
            return _openai_error(
                400,
                f"Invalid value: '{body['endpoint']}'. This mock supports '/v1/chat/completions'.",
                "invalid_request_error",
                "invalid_value",
                "endpoint",
            )
        if body["completion_window"] != "24h":
            return _openai_error(
                400,
                f"Invalid value: '{body['completion_window']}'. Supported values are: '24h'.",
                "invalid_request_error",
                "invalid_value",
                "completion_window",
            )
        metadata = body.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict)
            or len(metadata) > 16
            or any(not isinstance(v, str) or len(k) > 64 or len(v) > 512 for k, v in metadata.items())
        ):
            return _openai_error(
                400, "Invalid metadata.", "invalid_request_error", "invalid_value", "metadata"
            )
        entry = self.files.get(str(body["input_file_id"]))
        if entry is None:
            return _openai_error(
                400,
                f"No such File object: {body['input_file_id']}",
                "invalid_request_error",
                None,
                "input_file_id",
            )
        if entry["meta"]["purpose"] != "batch":
            return _openai_error(
                400,
                "The file must be uploaded with purpose 'batch'.",
                "invalid_request_error",
                None,
                "input_file_id",
            )
        now = int(time.time())
        batch_id = f"batch_{uuid.uuid4().hex[:24]}"
        batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "errors": None,
            "input_file_id": body["input_file_id"],
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": metadata,
        }
        with self._lock:
            self.batches[batch_id] = {
                "batch": batch,
                "auth": request.headers.get("authorization", ""),
                "lines": [],
                "out": [],
                "err": [],
            }
        return JSONResponse(batch)

    async def _batch_list(self, request: Request) -> Response:
        refused = self._openai_auth(request)
        if refused is not None:
            return refused
        limit = int(request.query_params.get("limit", "20"))
        data = [e["batch"] for e in reversed(list(self.batches.values()))][:limit]
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": len(self.batches) > limit,
            }
        )

    def _no_batch(self, batch_id: str) -> Response:
        return _openai_error(
            404, f"No batch found with id '{batch_id}'.", "invalid_request_error", None, "id"
        )

    async def _batch_get(self, request: Request) -> Response:
        self.calls.append(("GET", "/v1/batches/{id}"))
        refused = self._openai_auth(request)
        if refused is not None:
            return refused
        entry = self.batches.get(request.path_params["batch_id"])
        if entry is None:
            return self._no_batch(request.path_params["batch_id"])
        await self._advance(entry)
        while self.instant and not self.hold and entry["batch"]["status"] in ("in_progress", "finalizing"):
            await self._advance(entry)
        return JSONResponse(entry["batch"])

    async def _batch_cancel(self, request: Request) -> Response:
        refused = self._openai_auth(request)
        if refused is not None:
            return refused
        entry = self.batches.get(request.path_params["batch_id"])
        if entry is None:
            return self._no_batch(request.path_params["batch_id"])
        batch = entry["batch"]
        if batch["status"] not in ("validating", "in_progress", "finalizing"):
            return _openai_error(
                400, f"Cannot cancel a batch with status '{batch['status']}'.", "invalid_request_error"
            )
        batch["status"], batch["cancelling_at"] = "cancelling", int(time.time())
        return JSONResponse(batch)

    def _validate(self, entry: dict[str, Any]) -> list[dict[str, Any]]:
        """OpenAI's checks of the input file while the batch is validating (errors.data)."""
        if self.refuse:
            return [{"code": "invalid_request", "message": self.refuse, "param": None, "line": None}]
        batch = entry["batch"]
        raw = self.files[batch["input_file_id"]]["data"].decode("utf-8", "replace")
        errors: list[dict[str, Any]] = []
        seen: set[str] = set()
        models: set[str] = set()
        lines: list[dict[str, Any]] = []
        for n, text in enumerate(raw.splitlines(), 1):
            if not text.strip():
                continue

            def bad(code: str, message: str, param: str | None = None, n: int = n) -> None:
                errors.append({"code": code, "message": message, "param": param, "line": n})

            try:
                line = json.loads(text)
            except ValueError:
                bad("invalid_json_line", "This line is not parseable as valid JSON.")
                continue
            if not isinstance(line, dict) or set(line) != LINE_KEYS:
                bad("invalid_request", "Each line must have exactly custom_id, method, url and body.")
                continue
            cid = line["custom_id"]
            if not isinstance(cid, str) or not cid:
                bad("missing_required_parameter", "custom_id must be a non-empty string.", "custom_id")
            elif cid in seen:
                bad(
                    "duplicate_custom_id",
                    "The custom_id for this request is a duplicate of another request.",
                    "custom_id",
                )
            seen.add(str(cid))
            if line["method"] != "POST":
                bad("invalid_method", "The method for this request must be POST.", "method")
            if line["url"] != batch["endpoint"]:
                bad(
                    "invalid_url",
                    "The URL provided for this request does not match the batch endpoint.",
                    "url",
                )
            if not isinstance(line["body"], dict) or "model" not in line["body"]:
                bad("missing_required_parameter", "The body must be an object with a model.", "body")
                continue
            models.add(str(line["body"]["model"]))
            if len(models) > 1:
                bad("mismatched_model", "All requests in a batch must use the same model.", "body.model")
            lines.append(line)
        if not lines and not errors:
            errors.append(
                {"code": "empty_file", "message": "The input file is empty.", "param": None, "line": None}
            )
        entry["lines"] = lines
        return errors

    async def _advance(self, entry: dict[str, Any]) -> None:
        """One step of the batch's life per poll (none while `hold` keeps it in progress)."""
        batch = entry["batch"]
        now = int(time.time())
        status = batch["status"]
        if status == "validating":
            errors = self._validate(entry)
            if errors:
                batch.update(status="failed", failed_at=now, errors={"object": "list", "data": errors})
                return
            batch.update(status="in_progress", in_progress_at=now)
            batch["request_counts"]["total"] = len(entry["lines"])
        elif status == "in_progress" and not self.hold:
            await self._run_openai(entry)
            batch.update(status="finalizing", finalizing_at=now)
        elif status == "finalizing":
            expired = any(
                e.get("error", {}) and e["error"].get("code") == "batch_expired" for e in entry["err"]
            )
            batch["output_file_id"] = self._store_file(entry["out"], "batch_output")
            batch["error_file_id"] = self._store_file(entry["err"], "batch_output")
            if expired:
                batch.update(status="expired", expired_at=now)
            else:
                batch.update(status="completed", completed_at=now)
        elif status == "cancelling":
            done = {e["custom_id"] for e in entry["out"] + entry["err"]}
            for line in entry["lines"]:
                if line["custom_id"] not in done:
                    entry["err"].append(self._no_answer(line, "batch_cancelled", "The batch was cancelled."))
            batch["output_file_id"] = self._store_file(entry["out"], "batch_output")
            batch["error_file_id"] = self._store_file(entry["err"], "batch_output")
            batch.update(status="cancelled", cancelled_at=now)
        counts = batch["request_counts"]
        counts["completed"] = len(entry["out"])
        counts["failed"] = len(entry["err"])

    @staticmethod
    def _no_answer(line: dict[str, Any], code: str, message: str) -> dict[str, Any]:
        return {
            "id": f"batch_req_{uuid.uuid4().hex[:20]}",
            "custom_id": line["custom_id"],
            "response": None,
            "error": {"code": code, "message": message},
        }

    async def _run_openai(self, entry: dict[str, Any]) -> None:
        """Each line through the chat endpoint, in order, as OpenAI's runners would."""
        headers = {"authorization": entry["auth"], BATCH_HEADER: entry["batch"]["id"]}
        async with httpx.AsyncClient(base_url=self.base, timeout=60) as client:
            for n, line in enumerate(entry["lines"]):
                if self.expire_after is not None and n >= self.expire_after:
                    entry["err"].append(
                        self._no_answer(
                            line,
                            "batch_expired",
                            "This request could not be executed before the completion window expired.",
                        )
                    )
                    continue
                try:
                    resp = await client.post(line["url"], json=line["body"], headers=headers)
                    status, body = resp.status_code, _json_or_error(resp)
                except httpx.HTTPError:
                    status, body = (
                        500,
                        {"error": {"message": "The server had an error.", "type": "server_error"}},
                    )
                out = {
                    "id": f"batch_req_{uuid.uuid4().hex[:20]}",
                    "custom_id": line["custom_id"],
                    "response": {"status_code": status, "request_id": uuid.uuid4().hex, "body": body},
                    "error": None,
                }
                (entry["out"] if status == 200 else entry["err"]).append(out)

    # ---- Anthropic message batches -------------------------------------------------------------
    def _mb_problem(self, body: Any) -> str | None:
        if not isinstance(body, dict) or "requests" not in body:
            return "requests: Field required"
        extra = sorted(set(body) - {"requests"})
        if extra:
            return f"{extra[0]}: Extra inputs are not permitted"
        requests = body["requests"]
        if not isinstance(requests, list) or not requests:
            return "requests: List should have at least 1 item"
        if len(requests) > 100_000:
            return "requests: List should have at most 100000 items"
        seen: set[str] = set()
        for n, req in enumerate(requests):
            if not isinstance(req, dict):
                return f"requests.{n}: Input should be an object"
            extra = set(req) - {"custom_id", "params"}
            if extra:
                return f"requests.{n}.{sorted(extra)[0]}: Extra inputs are not permitted"
            cid = req.get("custom_id")
            if not isinstance(cid, str) or not CUSTOM_ID.match(cid):
                return f"requests.{n}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
            if cid in seen:
                return f"requests: custom_id {cid!r} is not unique"
            seen.add(cid)
            params = req.get("params")
            if not isinstance(params, dict):
                return f"requests.{n}.params: Field required"
            for key in ("model", "max_tokens", "messages"):
                if key not in params:
                    return f"requests.{n}.params.{key}: Field required"
            if not isinstance(params["max_tokens"], int):
                return f"requests.{n}.params.max_tokens: Input should be a valid integer"
            if params.get("stream"):
                return f"requests.{n}.params.stream: streaming is not supported in batches"
        return None

    async def _mb_create(self, request: Request) -> Response:
        self.calls.append(("POST", "/v1/messages/batches"))
        refused = self._anthropic_auth(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return _anthropic_error(400, "invalid_request_error", "The request body is not valid JSON.")
        problem = self._mb_problem(body)
        if problem:
            return _anthropic_error(400, "invalid_request_error", problem)
        now = time.time()
        batch_id = f"msgbatch_{uuid.uuid4().hex[:24]}"
        n = len(body["requests"])
        batch = {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "in_progress",
            "request_counts": {"processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
            "ended_at": None,
            "created_at": _rfc3339(now),
            "expires_at": _rfc3339(now + 86400),
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": None,
        }
        with self._lock:
            self.message_batches[batch_id] = {
                "batch": batch,
                "requests": body["requests"],
                "headers": {
                    "x-api-key": request.headers.get("x-api-key", ""),
                    "anthropic-version": request.headers.get("anthropic-version", ""),
                },
                "results": [],
                "polls": 0,
            }
        return JSONResponse(batch)

    async def _mb_list(self, request: Request) -> Response:
        refused = self._anthropic_auth(request)
        if refused is not None:
            return refused
        limit = int(request.query_params.get("limit", "20"))
        data = [e["batch"] for e in reversed(list(self.message_batches.values()))][:limit]
        return JSONResponse(
            {
                "data": data,
                "has_more": len(self.message_batches) > limit,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    def _mb_missing(self, batch_id: str) -> Response:
        return _anthropic_error(404, "not_found_error", f"message_batch {batch_id} not found")

    async def _mb_get(self, request: Request) -> Response:
        self.calls.append(("GET", "/v1/messages/batches/{id}"))
        refused = self._anthropic_auth(request)
        if refused is not None:
            return refused
        entry = self.message_batches.get(request.path_params["batch_id"])
        if entry is None:
            return self._mb_missing(request.path_params["batch_id"])
        entry["polls"] += 1
        batch = entry["batch"]
        if batch["processing_status"] == "canceling":
            self._mb_end(entry, cancelled=True)
        elif (
            batch["processing_status"] == "in_progress"
            and not self.hold
            and (entry["polls"] > 1 or self.instant)
        ):
            await self._run_anthropic(entry)
            self._mb_end(entry)
        return JSONResponse(batch)

    def _mb_end(self, entry: dict[str, Any], *, cancelled: bool = False) -> None:
        batch = entry["batch"]
        done = {r["custom_id"] for r in entry["results"]}
        for req in entry["requests"]:
            if req["custom_id"] not in done:
                entry["results"].append(
                    {
                        "custom_id": req["custom_id"],
                        "result": {"type": "canceled" if cancelled else "expired"},
                    }
                )
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for r in entry["results"]:
            counts[r["result"]["type"]] += 1
        batch.update(
            processing_status="ended",
            ended_at=_rfc3339(time.time()),
            request_counts=counts,
            results_url=f"{self.base}/v1/messages/batches/{batch['id']}/results",
        )

    async def _run_anthropic(self, entry: dict[str, Any]) -> None:
        headers = {**entry["headers"], BATCH_HEADER: entry["batch"]["id"]}
        async with httpx.AsyncClient(base_url=self.base, timeout=60) as client:
            for n, req in enumerate(entry["requests"]):
                if self.expire_after is not None and n >= self.expire_after:
                    continue  # left unprocessed: `expired` when the batch ends
                try:
                    resp = await client.post("/v1/messages", json=req["params"], headers=headers)
                    status, body = resp.status_code, _json_or_error(resp)
                except httpx.HTTPError:
                    status, body = (
                        500,
                        {"type": "error", "error": {"type": "api_error", "message": "Internal"}},
                    )
                if status == 200:
                    result: dict[str, Any] = {"type": "succeeded", "message": body}
                else:
                    error = (
                        body
                        if body.get("type") == "error"
                        else {"type": "error", "error": body.get("error", {})}
                    )
                    result = {"type": "errored", "error": error}
                entry["results"].append({"custom_id": req["custom_id"], "result": result})

    async def _mb_results(self, request: Request) -> Response:
        self.calls.append(("GET", "/v1/messages/batches/{id}/results"))
        refused = self._anthropic_auth(request)
        if refused is not None:
            return refused
        entry = self.message_batches.get(request.path_params["batch_id"])
        if entry is None:
            return self._mb_missing(request.path_params["batch_id"])
        if entry["batch"]["processing_status"] != "ended":
            return _anthropic_error(
                400, "invalid_request_error", "Results are not available until processing has ended."
            )
        data = b"".join(json.dumps(r).encode() + b"\n" for r in entry["results"])
        return Response(data, media_type="application/binary")

    async def _mb_cancel(self, request: Request) -> Response:
        refused = self._anthropic_auth(request)
        if refused is not None:
            return refused
        entry = self.message_batches.get(request.path_params["batch_id"])
        if entry is None:
            return self._mb_missing(request.path_params["batch_id"])
        batch = entry["batch"]
        if batch["processing_status"] == "in_progress":
            batch.update(
                processing_status="canceling",
                cancel_initiated_at=_rfc3339(time.time()),
            )
        return JSONResponse(batch)


def _json_or_error(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {"error": {"message": resp.text[:200] or "not JSON", "type": "server_error"}}
    return body if isinstance(body, dict) else {"error": {"message": "not an object", "type": "server_error"}}
