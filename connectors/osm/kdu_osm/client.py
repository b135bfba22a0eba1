"""A small asynchronous client of the kdu REST API (aiohttp only).

It knows the API's conventions: bearer tokens, the JSON error ``{"error": {"code", "message", "field"}}``,
mutating calls that answer ``202`` with an operation, and the operation's Server-Sent Events stream, which
:meth:`KduClient.run` follows to the end. Cancelling a :meth:`KduClient.run` (``asyncio.wait_for`` in LCM)
cancels the kdu operation too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any, Callable
from urllib.parse import quote, urlsplit

import aiohttp

from .exceptions import KduException

TERMINAL = ("succeeded", "failed", "cancelled")

#: How long a plain (non-operation) request may take.
DEFAULT_REQUEST_TIMEOUT = 120.0
#: How long the cancellation of an operation may take when a call is cancelled.
CANCEL_TIMEOUT = 10.0


def seg(value: str, field: str) -> str:
    """One path segment, escaped; an empty value or one with a '/' is refused (ids never become paths)."""
    if not isinstance(value, str) or value == "":
        raise KduException(f"{field}: must be a non-empty string", code="invalid", field=field)
    if "/" in value or value in (".", ".."):
        raise KduException(f"{field}: {value!r} is not a valid name", code="invalid", field=field)
    return quote(value, safe="")


class KduClient:
    """The kdu API at ``url`` with bearer ``token`` (None for a server without a token file)."""

    def __init__(self, url: str, token: str | None, *, log: logging.Logger | None = None,
                 request_timeout: float = DEFAULT_REQUEST_TIMEOUT, user_agent: str = "kdu-osm"):
        if not url:
            raise KduException("no kdu server: pass kdu_url= or set KDU_SERVER", code="invalid", field="kdu_url")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise KduException(f"kdu_url: {url!r} is not an http(s) URL", code="invalid", field="kdu_url")
        self.url = url.rstrip("/")
        self._token = token or None
        self._log = log or logging.getLogger("kdu_osm")
        self._timeout = request_timeout
        self._ua = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:  # never shows the token
        return f"KduClient({self.url!r})"

    # -- plumbing ---------------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        h = {"Accept": "application/json", "User-Agent": self._ua}
        if self._token:
            h["Authorization"] = "Bearer " + self._token
        return h

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            # A session belongs to one event loop; LCM has one, tests have one per test.
            self._session = aiohttp.ClientSession(headers=self._headers())
            self._loop = loop
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _unreachable(self, err: Exception) -> KduException:
        return KduException(f"kdu server {self.url} unreachable: {err.__class__.__name__}: {err}",
                            code="unreachable")

    @staticmethod
    async def _error(resp: aiohttp.ClientResponse) -> KduException:
        text = await resp.text()
        code, message, field = "", "", ""
        try:
            e = json.loads(text).get("error") or {}
            code, message, field = e.get("code", ""), e.get("message", ""), e.get("field", "")
        except (ValueError, AttributeError):
            message = text.strip()[:500]
        if not message:
            message = f"HTTP {resp.status} {resp.reason}"
        if resp.status == 401:
            message = f"kdu refused the token (401 {code or 'unauthorized'}): {message}"
        elif resp.status == 403:
            message = f"the kdu token may not do this (403 {code or 'forbidden'}): {message}"
        elif field and not message.startswith(field):
            message = f"{field}: {message}"
        return KduException(message, code=code, field=field, status=resp.status)

    async def request(self, method: str, path: str, *, query: dict[str, Any] | None = None,
                      body: Any = None, ok: tuple[int, ...] = (200, 201, 202, 204),
                      headers: dict[str, str] | None = None) -> Any:
        """Sends one request and returns the decoded JSON answer (None for 204)."""
        session = self._get_session()
        params = {k: ("true" if v is True else "false" if v is False else str(v))
                  for k, v in (query or {}).items() if v is not None and v != ""}
        try:
            async with session.request(method, self.url + path, params=params or None,
                                       json=body if body is not None else None, headers=headers,
                                       timeout=aiohttp.ClientTimeout(total=self._timeout)) as resp:
                if resp.status not in ok:
                    raise await self._error(resp)
                if resp.status == 204:
                    return None
                text = await resp.text()
                return json.loads(text) if text else None
        except KduException:
            raise
        except asyncio.TimeoutError as e:
            raise KduException(f"kdu server {self.url}: {method} {path} took longer than {self._timeout:g}s",
                               code="timeout") from e
        except aiohttp.ClientError as e:
            raise self._unreachable(e) from e

    # -- operations -------------------------------------------------------------------------------------

    async def run(self, method: str, path: str, body: Any = None, *, query: dict[str, Any] | None = None,
                  on_change: Callable[[dict], None] | None = None) -> dict:
        """Submits a mutating request and follows its operation until it ends.

        Returns the final operation when it succeeded; raises :class:`KduException` (with ``operation``) when
        it failed or was cancelled. If the caller is cancelled meanwhile, the operation is cancelled on the
        server (an atomic install or upgrade is then rolled back by kdu) before ``CancelledError`` propagates.
        """
        # An idempotency key makes the submission safe to repeat: if the caller is cancelled while it is in
        # flight, the same submission is made again (shielded) to learn the operation's id and cancel it.
        key = {"Idempotency-Key": "kdu-osm-" + uuid.uuid4().hex}
        try:
            op = await self.request(method, path, query=query, body=body, ok=(202,), headers=key)
        except asyncio.CancelledError:
            try:
                op = await asyncio.shield(asyncio.wait_for(
                    self.request(method, path, query=query, body=body, ok=(202,), headers=key), CANCEL_TIMEOUT))
            except (KduException, asyncio.TimeoutError, asyncio.CancelledError) as e:
                self._log.warning("a cancelled submission may have left a kdu operation running: %s", e)
                raise asyncio.CancelledError() from None
            await self._cancel(op["id"])
            raise
        op_id = op["id"]
        try:
            final = await self.follow(op_id, on_change=on_change)
        except asyncio.CancelledError:
            await self._cancel(op_id)
            raise
        if final["state"] != "succeeded":
            raise operation_error(final)
        return final

    async def _cancel(self, op_id: str) -> None:
        # Shielded, so that the cancellation that brought us here does not stop this request.
        try:
            await asyncio.shield(asyncio.wait_for(
                self.request("POST", f"/v1/operations/{seg(op_id, 'operation')}:cancel"), CANCEL_TIMEOUT))
            self._log.info("kdu operation %s cancelled because the call was cancelled", op_id)
        except (KduException, asyncio.TimeoutError, asyncio.CancelledError) as e:
            self._log.warning("could not cancel kdu operation %s: %s", op_id, e)

    async def follow(self, op_id: str, *, on_change: Callable[[dict], None] | None = None) -> dict:
        """Reads the operation's event stream until a terminal state; a dropped stream is resumed."""
        last: dict | None = None
        backoff = 0.2
        while True:
            try:
                async for op in self._events(op_id):
                    if last is not None and op.get("version", 0) <= last.get("version", 0):
                        continue
                    last = op
                    if on_change is not None:
                        on_change(op)
                    if op.get("state") in TERMINAL:
                        return op
            except KduException as e:
                if e.status and e.status < 500:
                    raise
                self._log.debug("event stream of operation %s: %s; resuming", op_id, e)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _events(self, op_id: str):
        session = self._get_session()
        url = f"{self.url}/v1/operations/{seg(op_id, 'operation')}/events"
        try:
            async with session.get(url, headers={"Accept": "text/event-stream"},
                                   timeout=aiohttp.ClientTimeout(total=None, sock_connect=30)) as resp:
                if resp.status != 200:
                    raise await self._error(resp)
                event, data, buf = "", [], b""
                async for chunk in resp.content.iter_any():
                    buf += chunk
                    while b"\n" in buf:
                        raw, buf = buf.split(b"\n", 1)
                        line = raw.decode("utf-8").rstrip("\r")
                        if line == "":
                            if event == "operation" and data:
                                yield json.loads("\n".join(data))
                            event, data = "", []
                        elif line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:"):
                            data.append(line[5:].removeprefix(" "))
        except aiohttp.ClientError as e:
            raise self._unreachable(e) from e


def operation_error(op: dict) -> KduException:
    """The exception for an operation that did not succeed: the kdu error's message."""
    err = op.get("error") or {}
    msg = err.get("message") or f"operation {op.get('id')} {op.get('state')}"
    field = err.get("field", "")
    if field and not msg.startswith(field):
        msg = f"{field}: {msg}"
    code = err.get("code", "") or ("cancelled" if op.get("state") == "cancelled" else "")
    return KduException(msg, code=code, field=field, operation=op)
