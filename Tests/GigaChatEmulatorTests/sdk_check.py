"""Drives the GigaChat emulator with the official Python SDK (gigachat==0.2.3), a client nobody here wrote: its
root (v1) chat, embeddings and models, and its primary (v2) chat with a structured parse.

Run by SDKCompatibilityTests.swift with GIGACHAT_BASE_URL, GIGACHAT_AUTH_URL, GIGACHAT_CREDENTIALS and
GIGACHAT_SCOPE pointing at an emulator, and EXPECTED_CHAT / EXPECTED_STREAM holding the answers the emulator must
give (GigaChatEmulator.answer). SDK_CHECK_MODE=faults instead checks that the SDK understands the emulator's error
answers (the emulator is then set up with failFirst [429, 503] and Retry-After: 1). Prints one line per check and
"SDK_CHECK OK" at the end; exits non-zero on the first failed check.
"""

import asyncio
import json
import os
import sys
import time

from typing import List, Literal, Optional

from pydantic import BaseModel, Field

from gigachat import GigaChat
from gigachat.exceptions import NotFoundError, UnprocessableEntityError
from gigachat.models import Chat, Messages, MessagesRole

CHAT_PROMPT = os.environ["CHAT_PROMPT"]
STREAM_PROMPT = os.environ["STREAM_PROMPT"]
EXPECTED_CHAT = os.environ["EXPECTED_CHAT"]
EXPECTED_STREAM = os.environ["EXPECTED_STREAM"]


def check(condition, what):
    if not condition:
        print(f"FAILED: {what}", flush=True)
        sys.exit(1)
    print(f"ok: {what}", flush=True)


def make_client():
    # Everything else (base_url, auth_url, credentials, scope) comes from the GIGACHAT_* environment variables.
    return GigaChat(verify_ssl_certs=False, model="GigaChat", timeout=30)


class InvoiceLine(BaseModel):
    item: str
    quantity: int = Field(ge=1, le=50)


class Invoice(BaseModel):
    """What a bulk extraction job asks for: nested models, bounds, a closed set, an optional field."""

    number: str = Field(min_length=6)
    currency: Literal["RUB", "USD"]
    total: float = Field(gt=0)
    lines: List[InvoiceLine]
    note: Optional[str] = None


def primary_text(messages):
    return "".join(part.text or "" for message in messages or [] for part in message.content or [])


def primary_checks(client):
    """The SDK's primary (v2) chat: create, stream and a structured parse, against /api/v2/chat/completions."""
    response = client.chat.create(CHAT_PROMPT)
    check(primary_text(response.messages) == EXPECTED_CHAT, f"v2 create content {primary_text(response.messages)!r}")
    check(response.messages[0].role == "assistant", "v2 create role")
    check(response.finish_reason == "stop", "v2 create finish_reason stop")
    check(response.model == "GigaChat:2.0.28.2", f"v2 create model {response.model}")
    usage = response.usage
    check(usage.input_tokens + usage.output_tokens == usage.total_tokens and usage.output_tokens > 0,
          "v2 create usage adds up")
    check(usage.input_tokens_details is not None and usage.input_tokens_details.cached_tokens == 0,
          "v2 create cached_tokens")
    check(bool(response.x_headers and response.x_headers.get("x-request-id")), "v2 create x-request-id header")

    chunks = list(client.chat.stream(STREAM_PROMPT))
    content = "".join(primary_text(chunk.messages) for chunk in chunks)
    check(content == EXPECTED_STREAM, f"v2 stream content {content!r}")
    check(len(chunks) > 2, f"v2 stream had {len(chunks)} events")
    check(all(chunk.event == "response.message.delta" for chunk in chunks[:-1]), "v2 delta events")
    done = chunks[-1]
    check(done.event == "response.message.done" and done.finish_reason == "stop", "v2 done event with finish_reason")
    check(done.usage is not None and done.usage.output_tokens > 0, "v2 stream usage in the done event")

    completion, parsed = client.chat.parse("Extract the invoice", response_format=Invoice)
    check(isinstance(parsed, Invoice), f"v2 parse gives an Invoice: {parsed!r}")
    check(len(parsed.number) >= 6 and parsed.currency == "RUB" and parsed.total > 0, "v2 parse respects the bounds")
    check(len(parsed.lines) == 1 and 1 <= parsed.lines[0].quantity <= 50, "v2 parse fills the nested model")
    check(completion.finish_reason == "stop", "v2 parse finish_reason")


def file_checks(client):
    """The SDK's files API: upload (multipart), list, get, attach in a chat, delete."""
    contents = "Договор № 7: ООО «Ромашка» и ИП Иванов.".encode()
    uploaded = client.upload_file(("contract.txt", contents, "text/plain"))
    check(uploaded.filename == "contract.txt" and uploaded.bytes_ == len(contents), "file uploaded")
    check([f.id_ for f in client.get_files().data] == [uploaded.id_], "file listed")
    check(client.get_file(uploaded.id_).purpose == "general", "file described")
    answer = client.chat({"messages": [{"role": "user", "content": "Summarise", "attachments": [uploaded.id_]}]})
    check("contract.txt" in answer.choices[0].message.content, "the attached file reached the model")
    check(client.delete_file(uploaded.id_).deleted, "file deleted")
    check(client.get_files().data == [], "no file left")


def sync_checks():
    with make_client() as client:
        token = client.get_token()
        check(token is not None and len(token.access_token) > 0, "OAuth token obtained")

        response = client.chat(CHAT_PROMPT)
        choice = response.choices[0]
        check(choice.message.content == EXPECTED_CHAT, f"chat content {choice.message.content!r}")
        check(choice.finish_reason == "stop", "chat finish_reason stop")
        check(response.model == "GigaChat:2.0.28.2", f"chat model {response.model}")
        check(response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens,
              "chat usage adds up")
        check(bool(response.x_headers and response.x_headers.get("x-request-id")), "chat x-request-id header")

        chunks = list(client.stream(Chat(messages=[Messages(role=MessagesRole.USER, content=STREAM_PROMPT)])))
        content = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
        check(content == EXPECTED_STREAM, f"stream content {content!r}")
        check(len(chunks) > 2, f"stream had {len(chunks)} chunks")
        check(chunks[0].choices[0].delta.role == "assistant", "stream role in the first delta")
        finished = [chunk for chunk in chunks if chunk.choices[0].finish_reason]
        check(len(finished) == 1 and finished[0] is chunks[-1], "finish_reason only in the last chunk")
        check(finished[0].choices[0].finish_reason == "stop", "stream finish_reason stop")
        check(finished[0].usage is not None and finished[0].usage.completion_tokens > 0, "stream usage")

        models = client.get_models()
        ids = [model.id_ for model in models.data]
        check("GigaChat" in ids and "Embeddings" in ids, f"{len(ids)} models listed")
        model = client.get_model("GigaChat-2-Max")
        check(model.id_ == "GigaChat-2-Max", "get_model")

        counts = client.tokens_count(["First text", "Second text"], model="GigaChat")
        check([c.tokens for c in counts] == [2, 2] and [c.characters for c in counts] == [10, 11],
              f"tokens_count {[(c.tokens, c.characters) for c in counts]}")

        embeddings = client.embeddings(["Hello, world!"])
        check(len(embeddings.data) == 1 and len(embeddings.data[0].embedding) == 1024, "embeddings")

        primary_checks(client)
        file_checks(client)


async def async_checks():
    async with make_client() as client:
        response = await client.achat(CHAT_PROMPT)
        check(response.choices[0].message.content == EXPECTED_CHAT, "async chat content")
        parts = []
        async for chunk in client.astream(STREAM_PROMPT):
            parts.append(chunk.choices[0].delta.content or "")
        check("".join(parts) == EXPECTED_STREAM, "async stream content")

        # The combined client's async primary chat is the `achat` namespace.
        response = await client.achat.create(CHAT_PROMPT)
        check(primary_text(response.messages) == EXPECTED_CHAT, "async v2 create content")
        events = [chunk async for chunk in client.achat.stream(STREAM_PROMPT)]
        check("".join(primary_text(chunk.messages) for chunk in events) == EXPECTED_STREAM, "async v2 stream content")
        _, parsed = await client.achat.parse("Extract the invoice", response_format=Invoice)
        check(isinstance(parsed, Invoice), "async v2 parse")


def fault_checks():
    # The SDK retries 429 (honouring Retry-After) and 5xx when max_retries is set; the emulator answers the first
    # two chat calls 429 and 503, so the third attempt succeeds.
    with GigaChat(verify_ssl_certs=False, model="GigaChat", timeout=30, max_retries=2,
                  retry_backoff_factor=0.01) as client:
        started = time.monotonic()
        response = client.chat(CHAT_PROMPT)
        elapsed = time.monotonic() - started
        check(response.choices[0].message.content == EXPECTED_CHAT, "chat succeeds after 429 and 503")
        check(elapsed >= 1.0, f"Retry-After honoured ({elapsed:.2f}s)")

        try:
            client.chat({"model": "NonExistentModel", "messages": [{"role": "user", "content": "Hello"}]})
            check(False, "unknown model raises")
        except NotFoundError as error:
            check(error.status_code == 404 and json.loads(error.content) == {"status": 404, "message": "No such model"},
                  "unknown model -> NotFoundError 404 No such model")

        try:
            client.chat({"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]})
            check(False, "misplaced system message raises")
        except UnprocessableEntityError as error:
            check(json.loads(error.content)["message"] == "Invalid params: system message must be the first message",
                  "misplaced system message -> UnprocessableEntityError 422")


if os.environ.get("SDK_CHECK_MODE") == "faults":
    fault_checks()
else:
    sync_checks()
    asyncio.run(async_checks())
print("SDK_CHECK OK", flush=True)
