"""The privacy API over real HTTP with the real bearer-token middleware and a real vault: a
supervisor's unmask is audited under the token's actor, every other request is refused without
an audit record, and the audit listing never holds a number."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet

from core.config import RedisSettings
from core.keys import Keys
from core.privacy.http import privacy_routes
from core.privacy.vault import Vault, VaultEntry
from core.redisconn import connect
from tests.integration.test_acd_http import ADA, ALICE, PHONE, SAM, api_app

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@dataclass
class Api:
    """An HTTP client of the privacy API, the vault behind it and one stored caller."""

    http: TestClient[web.Request, web.Application]
    vault: Vault
    caller: VaultEntry

    async def call(
        self, method: str, path: str, token: str | None, body: Any = None
    ) -> tuple[int, Any, str]:
        """Status, JSON body and Cache-Control header of one request."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, path, json=body, headers=headers) as resp:
            return resp.status, await resp.json(), resp.headers.get("Cache-Control", "")


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    client = connect(RedisSettings(url=redis_url))
    vault = Vault(
        client,
        Keys("hl"),
        hash_key=b"unmask-test-hash-key-0123456789",
        fernet_keys=[Fernet.generate_key()],
        default_region="CA",
    )
    caller = await vault.store(PHONE, now=NOW)
    app = api_app(privacy_routes(vault, lambda: NOW))
    async with TestClient(TestServer(app)) as http:
        yield Api(http, vault, caller)
    await client.aclose()


async def test_a_supervisor_unmasks_and_is_audited(api: Api) -> None:
    body = {"ref": api.caller.ref, "reason": "caller at risk", "actor": "mallory", "role": "x"}
    status, reply, cache = await api.call("POST", "/privacy/unmask", SAM, body)
    assert (status, cache) == (200, "no-store")
    assert reply == {"number": PHONE, "pseudonym": api.caller.pseudonym}

    [record] = await api.vault.audit_log()
    assert (record.actor, record.role, record.reason) == ("sam", "supervisor", "caller at risk")
    assert (record.ref, record.pseudonym, record.at) == (api.caller.ref, api.caller.pseudonym, NOW)


@pytest.mark.parametrize("token", [ALICE, ADA])
async def test_other_roles_are_refused_and_not_audited(api: Api, token: str) -> None:
    body = {"ref": api.caller.ref, "reason": "curious"}
    status, reply, _ = await api.call("POST", "/privacy/unmask", token, body)
    assert (status, reply["error"]) == (403, "forbidden")
    assert PHONE not in str(reply)
    assert await api.vault.audit_log() == []


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"ref": "ref-of-nobody"}, 400, "reason-required"),
        ({"ref": "ref-of-nobody", "reason": " "}, 400, "reason-required"),
        ({"reason": "why"}, 400, "bad-request"),
        ({"ref": "0" * 64, "reason": "why" * 167}, 400, "reason-too-long"),
        (["ref"], 400, "bad-request"),
        ({"ref": "0" * 64, "reason": "why"}, 404, "no-such-ref"),
    ],
)
async def test_bad_unmask_requests(api: Api, body: Any, status: int, error: str) -> None:
    got, reply, _ = await api.call("POST", "/privacy/unmask", SAM, body)
    assert (got, reply["error"]) == (status, error)
    assert await api.vault.audit_log() == []


async def test_unmask_needs_a_token(api: Api) -> None:
    body = {"ref": api.caller.ref, "reason": "why"}
    status, reply, _ = await api.call("POST", "/privacy/unmask", None, body)
    assert (status, reply) == (401, {"error": "unauthorized"})
    assert await api.vault.audit_log() == []


async def test_audit_listing(api: Api) -> None:
    for reason in ("first", "second", "third"):
        body = {"ref": api.caller.ref, "reason": reason}
        assert (await api.call("POST", "/privacy/unmask", SAM, body))[0] == 200

    for token in (SAM, ADA):
        status, reply, _ = await api.call("GET", "/privacy/audit?count=2", token)
        assert status == 200
        assert [r["reason"] for r in reply["records"]] == ["third", "second"]
        assert reply["records"][0]["actor"] == "sam"
        assert reply["records"][0]["at"] == NOW.isoformat()
        assert set(reply["records"][0]) == {
            "id",
            "at",
            "actor",
            "role",
            "reason",
            "ref",
            "pseudonym",
        }
        assert PHONE.lstrip("+") not in str(reply)

    status, reply, _ = await api.call("GET", "/privacy/audit", ALICE)
    assert (status, reply["error"]) == (403, "forbidden")
    status, reply, _ = await api.call("GET", "/privacy/audit?count=abc", SAM)
    assert (status, reply["error"]) == (400, "bad-request")
