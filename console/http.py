"""The console's pages and live events, as an aiohttp sub-application mounted at ``/console``.

| method | path                       | who                   | what                          |
|--------|----------------------------|-----------------------|-------------------------------|
| GET    | /console/                  | anyone                | sign-in page or own home page |
| GET    | /console/signin            | anyone                | the sign-in form              |
| POST   | /console/signin            | anyone (CSRF)         | id + password; rate-limited   |
| POST   | /console/signout           | signed in (CSRF)      | ends it (``everywhere``: all) |
| GET    | /console/volunteer         | volunteer             | presence and the screen-pop   |
| POST   | /console/presence          | volunteer (CSRF)      | available, pause (in a queue  |
|        |                            |                       | or all), resume a queue,      |
|        |                            |                       | sign-off, end/extend wrap-up  |
| POST   | /console/wrapup            | volunteer (CSRF)      | call, disposition, notes,     |
|        |                            |                       | flags (repeated)              |
| POST   | /console/transfer          | volunteer (CSRF)      | call + queue or supervisor    |
| POST   | /console/pledges           | volunteer (CSRF)      | a telethon call's pledge form |
| POST   | /console/pledges/link      | volunteer (CSRF)      | the pledge's payment link     |
| POST   | /console/hangup            | volunteer (CSRF)      | call: hang up the agent's leg |
| GET    | /console/events            | volunteer             | SSE: offer, earlier, presence, |
|        |                            |                       | monitored, pledge             |
| GET    | /console/chats/events      | volunteer             | SSE: chat, the whole          |
|        |                            |                       | conversation on each change;  |
|        |                            |                       | chat-gone: transferred away;  |
|        |                            |                       | text-call + earlier: the pop  |
|        |                            |                       | of a call to their texter     |
| GET    | /console/chats/{id}        | volunteer             | JSON: one of their own        |
|        |                            |                       | conversations (403 otherwise) |
| POST   | /console/chats/{id}/reply  | volunteer (CSRF)      | text: SMS it to the texter    |
| POST   | /console/chats/{id}/end    | volunteer (CSRF)      | end the conversation          |
| POST   | /console/chats/{id}/callback | volunteer (CSRF)    | call the texter back (masked) |
| GET    | /console/supervisor        | supervisor            | wallboard and agents table    |
| GET    | /console/supervisor/events | supervisor            | SSE: board, per queue log entry; |
|        |                            |                       | log: the entry, if in the filter |
| GET    | /console/supervisor/log    | supervisor            | JSON: the queue log's tail    |
| POST   | /console/supervisor/reset  | supervisor (CSRF)     | agent + reason: reset it      |
| POST   | /console/supervisor/logout | supervisor (CSRF)     | agent: force its sign-off     |
| POST   | /console/supervisor/pause  | supervisor (CSRF)     | agent + reason: force a pause |
| POST   | /console/supervisor/monitor | supervisor role only (CSRF) | call + mode: own phone rung |
| POST   | /console/supervisor/unmask | supervisor role only (CSRF) | call + reason: the number |
| GET    | /console/supervisor/audit  | supervisor            | who unmasked whom, why        |
| GET    | /console/supervisor/chats  | supervisor            | their queues' open text       |
|        |                            |                       | conversations (page or JSON)  |
| GET    | /console/supervisor/chats/{id} | supervisor role only | one, read-only (audited)   |
| GET    | /console/supervisor/chats/events | supervisor      | SSE: chat, on each change (with |
|        |                            |                       | ``conversation``, supervisor  |
|        |                            |                       | role only: its messages,      |
|        |                            |                       | audited); chat-gone           |
| GET    | /console/admin             | admin                 | accounts, first-login tokens  |
| POST   | /console/admin/first-login | admin (CSRF)          | account: a one-time token     |
| GET    | /console/first-login       | anyone                | the form to set a password    |
| POST   | /console/first-login       | anyone (CSRF)         | id + token + password; limited |
| POST   | /console/language          | anyone (CSRF)         | ``language``: en or fr        |
| GET    | /console/static/...        | anyone                | the script and style sheet    |

"Volunteer" pages are for the roles ``agent`` and ``supervisor``, "supervisor" pages for
``supervisor`` and ``admin`` (unmasking for ``supervisor`` only, as the vault requires),
"admin" pages for ``admin``: another role gets 403 with the error id ``wrong-role``. A
supervisor or admin whose profile names the queues they ``supervises`` sees those queues'
tiles and the agents serving them, and acts (reset, pause, sign-off, unmask, listen, whisper,
barge) on those agents and calls only: 403 ``not-your-queue`` otherwise.
Listening to, whispering into or barging into a call, and reading a text conversation, is
for ``supervisor`` only, like unmasking.

Pages are in English or French (``console.i18n``), as the session's chosen language says.
Sessions live in Redis (any instance serves any console); the cookie is HttpOnly,
SameSite=Strict, Secure when configured for TLS, and lasts ``session_s``. Signing in starts a
new session (a session id known before sign-in is worth nothing after it).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final, cast
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp_session import Session, get_session, new_session, session_middleware
from aiohttp_session.redis_storage import RedisStorage
from aiohttp_sse import EventSourceResponse, sse_response

from console.accounts import Account, Accounts
from console.calls import CallDesk
from console.chats import NOT_YOURS, ChatDesk, ChatView
from console.guard import CSRF_FIELD, AttemptLimits, SignInGuard, csrf_ok, csrf_token
from console.i18n import DEFAULT, LABELS, LANGUAGES, load_translations
from console.monitored import monitored
from console.offers import Entry, QueueLogFeed, Subscriber, offered_call, stream_id
from console.passwords import MAX_PASSWORD, MIN_PASSWORD, Passwords
from console.pledges import MESSAGES, REFUSED, PledgeDesk, pledge_body
from console.presence import PresenceDesk
from console.queue_log import (
    EVENTS,
    TAIL_LINES,
    TAIL_SCAN,
    LogFilter,
    LogLine,
    call_of,
    in_scope,
    log_line,
)
from console.roles import ADMIN_PAGES, SUPERVISOR_PAGES, VOLUNTEER_PAGES, WRONG_ROLE, home_of
from console.supervision import MONITOR_MODES, Board, SupervisorDesk, oversees
from console.text_calls import text_call, text_call_pop
from console.wrapups import WrapupDesk
from core.api import ApiError
from core.config import ConsoleSettings
from core.keys import Keys
from core.ports import Refused
from core.privacy.http import MAX_REASON as MAX_UNMASK_REASON

logger = logging.getLogger(__name__)

HERE: Final = Path(__file__).parent
MAX_REASON: Final = 100
#: Seconds between checks that an event stream's browser is still there.
LIVENESS_S: Final = 5.0
PAUSE_REASONS: Final = ("break", "meal", "training", "debrief")
#: Seconds one click on "more wrap-up time" adds.
EXTEND_WRAPUP_S: Final = 60
_ENTRY_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
ACCOUNT_KEY: Final = "account"
LANGUAGE_KEY: Final = "language"
#: The only role the vault lets unmask a caller, and the only one that joins live calls.
UNMASKS: Final = "supervisor"
#: Audit records shown.
AUDIT_LINES: Final = 200
#: The error id of an action on an agent or call outside the supervisor's queues.
NOT_YOUR_QUEUE: Final = "not-your-queue"


@dataclass(frozen=True)
class ConsoleDeps:
    """What the console needs from the app: built once at startup and passed in."""

    settings: ConsoleSettings
    keys: Keys
    #: The app's client (strings decoded).
    redis: aioredis.Redis
    #: A client answering bytes, for aiohttp-session's store.
    session_redis: aioredis.Redis
    accounts: Accounts
    presence: PresenceDesk
    wrapups: WrapupDesk
    supervision: SupervisorDesk
    calls: CallDesk
    chats: ChatDesk
    #: The telethon's pledge form (None: no campaign).
    pledges: PledgeDesk | None = None


def build_console(deps: ConsoleDeps) -> web.Application:
    """The console sub-application (mount it at ``/console``)."""
    storage = RedisStorage(
        deps.session_redis,
        cookie_name=deps.keys.console_session,
        max_age=deps.settings.session_s,
        path="/console",
        secure=deps.settings.secure_cookie,
        httponly=True,
        samesite="Strict",
    )
    app = web.Application(middlewares=[session_middleware(storage)])
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        extensions=["jinja2.ext.i18n"],
        autoescape=jinja2.select_autoescape(default=True),
    )
    feed = QueueLogFeed(deps.redis, deps.keys)
    chat_feed = QueueLogFeed(deps.redis, deps.keys, deps.keys.conversation_feed)
    app.cleanup_ctx.append(_feeding(feed))
    app.cleanup_ctx.append(_feeding(chat_feed))

    async def close_streams(_: web.Application) -> None:
        feed.close()
        chat_feed.close()

    app.on_shutdown.append(close_streams)
    guard = SignInGuard(
        deps.redis,
        deps.keys,
        AttemptLimits(
            deps.settings.attempts_per_account,
            deps.settings.attempts_per_address,
            deps.settings.attempts_window_s,
        ),
    )
    views = _Views(deps, guard, feed, chat_feed)

    async def end_boards(_: web.Application) -> None:
        await views.end_boards()

    app.on_cleanup.append(end_boards)
    app.add_routes(
        [
            web.get("/", views.home),
            web.get("/signin", views.signin_form),
            web.post("/signin", views.signin),
            web.post("/signout", views.signout),
            web.get("/volunteer", views.volunteer),
            web.post("/presence", views.presence),
            web.post("/wrapup", views.wrapup),
            web.post("/transfer", views.transfer),
            web.post("/pledges", views.pledge),
            web.post("/pledges/link", views.pledge_link),
            web.post("/hangup", views.hang_up),
            web.get("/events", views.events),
            web.get("/chats/events", views.chat_events),
            web.get("/chats/{id}", views.chat),
            web.post("/chats/{id}/reply", views.chat_reply),
            web.post("/chats/{id}/end", views.chat_end),
            web.post("/chats/{id}/callback", views.chat_callback),
            web.get("/supervisor", views.supervisor),
            web.get("/supervisor/events", views.board_events),
            web.get("/supervisor/log", views.queue_log),
            web.post("/supervisor/reset", views.reset_agent),
            web.post("/supervisor/logout", views.force_logout),
            web.post("/supervisor/pause", views.force_pause),
            web.post("/supervisor/monitor", views.monitor),
            web.post("/supervisor/unmask", views.unmask),
            web.get("/supervisor/audit", views.audit),
            web.get("/supervisor/chats", views.overseen_chats),
            web.get("/supervisor/chats/events", views.overseen_chat_events),
            web.get("/supervisor/chats/{id}", views.overseen_chat),
            web.get("/admin", views.admin),
            web.post("/language", views.language),
            web.post("/admin/first-login", views.issue_first_login),
            web.get("/first-login", views.first_login_form),
            web.post("/first-login", views.first_login),
            web.static("/static", HERE / "static"),
        ]
    )
    return app


async def _follow(
    stream: EventSourceResponse,
    feed: QueueLogFeed,
    subscriber: Subscriber,
    last: str,
    forward: Callable[[str, Mapping[str, str]], Awaitable[None]],
    caught_up: Callable[[str], Awaitable[None]] | None = None,
) -> None:
    """An entry stream's life: ``forward`` each entry ``feed`` holds after ``last``, then
    ``caught_up(last)``, then each newer entry the subscriber gets, until the browser goes."""
    with contextlib.suppress(ConnectionResetError):  # the browser went away
        while caught := await feed.after(last):
            for entry_id, fields in caught:
                await forward(entry_id, fields)
            last = caught[-1][0]
        if caught_up is not None:
            await caught_up(last)
        while stream.is_connected() and not subscriber.cut_off:
            entry = await subscriber.next(LIVENESS_S)
            if entry and stream_id(entry[0]) > stream_id(last):
                await forward(*entry)
                last = entry[0]


def _feeding(feed: QueueLogFeed) -> Callable[[web.Application], AsyncIterator[None]]:
    """The feed's reader, a background task of the app's lifetime."""

    async def ctx(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(feed.run(), name="console-feed")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


class _Views:
    """The handlers, over the console's dependencies."""

    def __init__(
        self, deps: ConsoleDeps, guard: SignInGuard, feed: QueueLogFeed, chat_feed: QueueLogFeed
    ) -> None:
        self.deps, self.guard, self.feed, self.chat_feed = deps, guard, feed, chat_feed
        self.passwords = Passwords(deps.accounts, deps.redis, deps.keys)
        self.translations = load_translations()
        #: The zone of the queue log tail's times.
        self.zone = ZoneInfo(deps.settings.time_zone)
        #: The board after the newest queue log entry asked for: computed once for every
        #: supervisor's stream at this instance.
        self._boards: dict[str, asyncio.Future[Board]] = {}
        #: That board as JSON for each scope (queues overseen) asked for, shared likewise.
        self._board_json: dict[tuple[str, frozenset[str]], str] = {}
        #: Boards still being computed, ended when the app stops (none may reach Redis after
        #: the app closed its connections).
        self._computing: set[asyncio.Task[Board]] = set()

    def _page(
        self,
        name: str,
        request: web.Request,
        session: Session,
        context: dict[str, object],
        status: int = 200,
    ) -> web.Response:
        """The template ``name`` in the session's language, with the language form."""
        language = _language(session)
        translations = self.translations[language]
        words = {key: translations.gettext(message) for key, message in LABELS.items()}
        context = {
            "gettext": translations.gettext,
            "ngettext": translations.ngettext,
            "_": translations.gettext,
            "language": language,
            "languages": LANGUAGES,
            "labels": words,
            "csrf": csrf_token(session),
            **context,
        }
        return aiohttp_jinja2.render_template(name, request, context, status=status)

    def _gettext(self, session: Session) -> Callable[[str], str]:
        """Messages in the session's language."""
        return self.translations[_language(session)].gettext

    def _forbidden(self, request: web.Request, session: Session, error: str) -> web.HTTPForbidden:
        """403 with an error id: JSON to a script asking for it, else a page."""
        if request.headers.get("Accept", "").startswith("application/json"):
            text = json.dumps({"error": error})
            return web.HTTPForbidden(text=text, content_type="application/json")
        page = self._page("forbidden.html", request, session, {"error": error})
        return web.HTTPForbidden(text=page.text, content_type="text/html")

    async def language(self, request: web.Request) -> web.Response:
        """Keep the chosen language in the session (signed in or not) and go home."""
        session = await get_session(request)
        form = await self._form(request, session)
        if form.get("language") not in LANGUAGES:
            raise web.HTTPBadRequest(text="Unknown language.")
        session[LANGUAGE_KEY] = form["language"]
        raise web.HTTPSeeOther("/console/")

    async def _account(self, request: web.Request) -> tuple[Session, Account | None]:
        session = await get_session(request)
        account_id = session.get(ACCOUNT_KEY)
        account = self.deps.accounts.get(account_id) if isinstance(account_id, str) else None
        return session, account

    async def _signed_in(
        self, request: web.Request, roles: tuple[str, ...]
    ) -> tuple[Session, Account]:
        """The session and its account; a visitor without one goes to the sign-in page, an
        account whose role is not in ``roles`` gets 403 (``wrong-role``)."""
        session, account = await self._account(request)
        if account is None:
            raise web.HTTPSeeOther("/console/signin")
        if account.role not in roles:
            raise self._forbidden(request, session, WRONG_ROLE)
        return session, account

    async def _form(self, request: web.Request, session: Session) -> dict[str, str]:
        """The posted form, if it carries the session's CSRF token (403 otherwise)."""
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        presented = form.get(CSRF_FIELD, "") or request.headers.get("X-CSRF-Token", "")
        if not csrf_ok(session, presented):
            raise web.HTTPForbidden(text="This form has expired: reload the page and try again.")
        return form

    async def home(self, request: web.Request) -> web.StreamResponse:
        _, account = await self._account(request)
        raise web.HTTPSeeOther(home_of(account.role) if account else "/console/signin")

    async def signin_form(self, request: web.Request) -> web.Response:
        session, account = await self._account(request)
        if account is not None:
            raise web.HTTPSeeOther(home_of(account.role))
        return self._signin_page(request, session, "", 200)

    def _signin_page(
        self, request: web.Request, session: Session, error: str, status: int
    ) -> web.Response:
        context = {
            "csrf": csrf_token(session),
            "error": error,
            "password_set": "first" in request.query,
        }
        return self._page("signin.html", request, session, context, status=status)

    async def signin(self, request: web.Request) -> web.Response:
        session = await get_session(request)
        form = await self._form(request, session)
        _ = self._gettext(session)
        account_id, password = form.get("account", "").strip(), form.get("password", "")
        # Per-account counts and log lines name known accounts only (whatever was typed,
        # perhaps a phone number, stays out of Redis keys and logs).
        known = account_id if self.deps.accounts.get(account_id) else ""
        address = request.remote or "unknown"
        if await self.guard.blocked(known, address):
            logger.warning("console sign-in refused for %s: too many failures", known or "?")
            return self._signin_page(
                request, session, _("Too many failed attempts: try again later."), 429
            )
        account = await self.passwords.verify(account_id, password)
        if account is None:
            await self.guard.failed(known, address)
            return self._signin_page(request, session, _("Wrong id or password."), 401)
        language = _language(session)
        fresh = await new_session(request)
        session_id = secrets.token_hex(16)
        fresh.set_new_identity(session_id)
        fresh[ACCOUNT_KEY] = account.id
        fresh[LANGUAGE_KEY] = language
        csrf_token(fresh)
        signed_in = self.deps.keys.console_signed_in(account.id)
        async with self.deps.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(signed_in, session_id)
            pipe.expire(signed_in, self.deps.settings.session_s)
            await pipe.execute()
        logger.info("console: %s signed in (%s)", account.id, account.role)
        raise web.HTTPSeeOther(home_of(account.role))

    async def signout(self, request: web.Request) -> web.Response:
        """End this session, or with ``everywhere`` every session of the account."""
        session, account = await self._signed_in(
            request, (*VOLUNTEER_PAGES, *SUPERVISOR_PAGES, *ADMIN_PAGES)
        )
        form = await self._form(request, session)
        signed_in = self.deps.keys.console_signed_in(account.id)
        if form.get("everywhere"):
            ended = cast(set[str], await self.deps.redis.smembers(signed_in))
            data = [self.deps.keys.console_session_data(sid) for sid in ended]
            await self.deps.redis.delete(signed_in, *data)
            logger.info("console: %s signed out everywhere (%d sessions)", account.id, len(data))
        else:
            await self.deps.redis.srem(signed_in, str(session.identity))
            logger.info("console: %s signed out", account.id)
        session.invalidate()
        raise web.HTTPSeeOther("/console/signin")

    async def volunteer(self, request: web.Request) -> web.Response:
        session, account = await self._signed_in(request, VOLUNTEER_PAGES)
        presence = await self.deps.presence.presence(account.id)
        context = {
            "account": account,
            "presence": presence,
            "reasons": PAUSE_REASONS,
            "csrf": csrf_token(session),
            "events_after": await self.feed.newest_id(),
            "queues": self.deps.calls.queues(),
            "own_queues": self.deps.presence.queues(account.id),
            "error": request.query.get("error", ""),
            "extend_s": EXTEND_WRAPUP_S,
            # The feed's position first: a message stored meanwhile comes by the events.
            "chats_after": await self.chat_feed.newest_id(),
            "chats": [c for c in await self.deps.chats.held(account.id) if c.state == "open"],
        }
        return self._page("volunteer.html", request, session, context)

    async def _own_chat(
        self, request: web.Request, session: Session, account: Account, conversation_id: str
    ) -> ChatView:
        """The conversation if the volunteer holds it; 403 ``not-your-conversation`` if not
        (or if there is no such conversation: an id tells nothing)."""
        view = await self.deps.chats.view(conversation_id)
        if view is None or view.agent != account.id:
            logger.warning("console: %s refused a conversation they do not hold", account.id)
            raise self._forbidden(request, session, NOT_YOURS)
        return view

    async def chat(self, request: web.Request) -> web.Response:
        """One of the volunteer's conversations with its messages (JSON)."""
        session, account = await self._signed_in(request, VOLUNTEER_PAGES)
        view = await self._own_chat(request, session, account, request.match_info["id"])
        return web.json_response(text=view.to_json())

    async def chat_reply(self, request: web.Request) -> web.Response:
        """Text the form's ``text`` to the texter of one of the volunteer's conversations, as
        an SMS volunteer's reply goes (the outbox, its rate limits, 1,600 characters at
        most): ``{"sent": true}`` (202) or ``{"error": id}``."""
        session, account = await self._signed_in(request, VOLUNTEER_PAGES)
        form = await self._form(request, session)
        view = await self._own_chat(request, session, account, request.match_info["id"])
        try:
            await self.deps.chats.reply(view.id, account.id, form.get("text", ""))
        except ApiError as exc:
            return web.json_response({"error": exc.error}, status=exc.status)
        return web.json_response({"sent": True}, status=202)

    async def chat_end(self, request: web.Request) -> web.Response:
        """End one of the volunteer's conversations: ``{"ended": true}`` or ``{"error": id}``."""
        session, account = await self._signed_in(request, VOLUNTEER_PAGES)
        await self._form(request, session)
        view = await self._own_chat(request, session, account, request.match_info["id"])
        try:
            await self.deps.chats.end(view.id, account.id)
        except ApiError as exc:
            return web.json_response({"error": exc.error}, status=exc.status)
        return web.json_response({"ended": True})

    async def chat_callback(self, request: web.Request) -> web.Response:
        """Have the texter of one of the volunteer's conversations called back through the
        masked bridge (as ``#call`` does): ``{"reference": ref}`` (202) or ``{"error": id}``."""
        session, account = await self._signed_in(request, VOLUNTEER_PAGES)
        await self._form(request, session)
        view = await self._own_chat(request, session, account, request.match_info["id"])
        try:
            reference = await self.deps.chats.call_back(view.id, account.id)
        except ApiError as exc:
            return web.json_response({"error": exc.error}, status=exc.status)
        return web.json_response({"reference": reference}, status=202)

    async def chat_events(self, request: web.Request) -> web.StreamResponse:
        """The volunteer's conversations as they change, from ``Last-Event-ID`` (or
        ``?after=``) on: each new message or assignment sends the whole conversation
        (``chat``), as long as the volunteer still holds it, and ``chat-gone`` (its id) once
        it went to another volunteer or was purged; their phone rung to call one's texter
        back sends its pop (``text-call``) and the texter's earlier contacts (``earlier``)."""
        session, account = await self._account(request)
        if account is None:
            raise web.HTTPForbidden(text="Sign in first.")
        if account.role not in VOLUNTEER_PAGES:
            raise self._forbidden(request, session, WRONG_ROLE)
        after = request.headers.get("Last-Event-ID") or request.query.get("after", "")
        with self.chat_feed.subscribe(account.id) as subscriber:
            last = after if _ENTRY_ID.fullmatch(after) else await self.chat_feed.newest_id()
            async with sse_response(request) as stream:

                async def forward(entry_id: str, fields: Mapping[str, str]) -> None:
                    if fields.get("agent") != account.id:
                        return
                    if text_call(fields, account.id) is not None:
                        await self._send_text_call(stream, entry_id, fields, account.id)
                        return
                    conversation_id = fields.get("conversation", "")
                    view = await self.deps.chats.view(conversation_id)
                    if view is not None and view.agent == account.id:
                        await stream.send(view.to_json(), id=entry_id, event="chat")
                    else:
                        gone = json.dumps({"id": conversation_id})
                        await stream.send(gone, id=entry_id, event="chat-gone")

                await _follow(stream, self.chat_feed, subscriber, last, forward)
        return stream

    async def _send_text_call(
        self, stream: EventSourceResponse, entry_id: str, fields: Mapping[str, str], agent: str
    ) -> None:
        """Send the pop of a call to a texter that ``agent`` is rung for (``text-call``),
        then the texter's earlier contacts (``earlier``: the records store may take longer);
        nothing if the volunteer no longer holds the conversation."""
        view = await self.deps.chats.view(fields.get("conversation", ""))
        if view is None or view.agent != agent:
            return
        await stream.send(text_call_pop(fields, view).to_json(), id=entry_id, event="text-call")
        if (earlier := await self.deps.wrapups.texter_earlier(view.id)) is not None:
            await stream.send(json.dumps(asdict(earlier)), id=entry_id, event="earlier")

    async def presence(self, request: web.Request) -> web.Response:
        session, account = await self._signed_in(request, VOLUNTEER_PAGES)
        form = await self._form(request, session)
        action = form.get("action", "")
        try:
            if action == "available":
                await self.deps.presence.go_available(account.id)
            elif action == "pause":
                reason = form.get("reason", "").strip()
                if not reason or len(reason) > MAX_REASON:
                    raise web.HTTPBadRequest(
                        text=f"A pause needs a reason of 1 to {MAX_REASON} characters."
                    )
                queue = self._own_queue(account, form) if form.get("queue") else None
                await self.deps.presence.pause(account.id, reason, queue)
            elif action == "resume-queue":
                await self.deps.presence.resume_queue(account.id, self._own_queue(account, form))
            elif action == "sign-off":
                await self.deps.presence.sign_off(account.id)
            elif action == "end-wrapup":
                await self.deps.presence.end_wrapup(account.id)
            elif action == "extend-wrapup":
                await self.deps.presence.extend_wrapup(account.id, EXTEND_WRAPUP_S)
            else:
                raise web.HTTPBadRequest(text="Unknown action.")
        except Refused as exc:
            raise web.HTTPSeeOther(f"/console/volunteer?error={exc.code}") from None
        raise web.HTTPSeeOther("/console/volunteer")

    def _own_queue(self, account: Account, form: Mapping[str, str]) -> str:
        """The form's ``queue``, one the volunteer serves (400 otherwise)."""
        queue = form.get("queue", "")
        if queue not in self.deps.presence.queues(account.id):
            raise web.HTTPBadRequest(text="Not one of your queues.")
        return queue

    async def wrapup(self, request: web.Request) -> web.Response:
        """Save the volunteer's wrap-up of a call they took. A script asking for JSON gets
        ``{"saved": true}`` or ``{"error": id}``; a plain form goes back to the screen."""
        session, account = await self._signed_in(request, VOLUNTEER_PAGES)
        form = await self._form(request, session)
        wants_json = request.headers.get("Accept", "").startswith("application/json")
        try:
            flags = [f for f in (await request.post()).getall("flags", []) if isinstance(f, str)]
            await self.deps.wrapups.write(
                form.get("call", ""),
                account.id,
                form.get("disposition", ""),
                form.get("notes", ""),
                flags,
            )
            await self.feed.drop_pop(account.id, form.get("call", ""))
        except ApiError as exc:
            if wants_json:
                return web.json_response({"error": exc.error}, status=exc.status)
            raise web.HTTPSeeOther(f"/console/volunteer?error={exc.error}") from None
        if wants_json:
            return web.json_response({"saved": True})
        raise web.HTTPSeeOther("/console/volunteer")

    async def transfer(self, request: web.Request) -> web.Response:
        """Transfer the volunteer's connected call to ``queue``, or with ``to=supervisor`` to
        an available supervisor: ``{"transferred": target}`` or ``{"error": id}`` (JSON, for
        the pop's script)."""
        session, account = await self._signed_in(request, VOLUNTEER_PAGES)
        form = await self._form(request, session)
        call_id = form.get("call", "")
        try:
            if form.get("to") == "supervisor":
                target = await self.deps.calls.to_supervisor(account.id, call_id)
            else:
                target = form.get("queue", "")
                await self.deps.calls.to_queue(account.id, call_id, target)
        except Refused as exc:
            return web.json_response({"error": exc.code}, status=409)
        return web.json_response({"transferred": target})

    async def pledge(self, request: web.Request) -> web.Response:
        """Save the operator's pledge on their telethon call (``pledge`` given: correct it), with
        the pledges API's rules: ``{"pledge": ..., "created": bool}``, or ``{"error": id,
        "message": text}`` in the session's language."""
        session, account = await self._signed_in(request, VOLUNTEER_PAGES)
        form = await self._form(request, session)
        desk = self.deps.pledges
        try:
            if desk is None:
                raise ApiError(404, "no-campaign", "this hotline runs no telethon")
            body = pledge_body(form)
            if form.get("pledge"):
                view = await desk.correct(form["pledge"], account.id, body)
                return web.json_response({"pledge": view, "created": False})
            call_id, client_key = form.get("call", ""), form.get("client_key", "")
            saved = await desk.save(call_id, account.id, client_key, body)
        except ApiError as exc:
            message = self._gettext(session)(MESSAGES.get(exc.error, REFUSED))
            return web.json_response({"error": exc.error, "message": message}, status=exc.status)
        status = 201 if saved.created else 200
        return web.json_response({"pledge": saved.pledge, "created": saved.created}, status=status)

    async def pledge_link(self, request: web.Request) -> web.Response:
        """Text the operator's pledge's payment link to the caller (made and sent once):
        ``{"pledge": ...}`` or ``{"error": id, "message": text}``."""
        session, account = await self._signed_in(request, VOLUNTEER_PAGES)
        form = await self._form(request, session)
        try:
            if self.deps.pledges is None:
                raise ApiError(404, "no-campaign", "this hotline runs no telethon")
            view = await self.deps.pledges.send_link(form.get("pledge", ""), account.id)
        except ApiError as exc:
            message = self._gettext(session)(MESSAGES.get(exc.error, REFUSED))
            return web.json_response({"error": exc.error, "message": message}, status=exc.status)
        return web.json_response({"pledge": view})

    async def _pledge_form(self, fields: Mapping[str, str], agent_id: str) -> str | None:
        """The pledge form (JSON) of a campaign call the entry says ``agent_id`` answered."""
        desk = self.deps.pledges
        queue, call_id = fields.get("queue", ""), fields.get("call", "")
        if desk is None or fields.get("event") != "CONNECT" or queue not in desk.queues():
            return None
        return await self._form_of(desk, call_id, agent_id)

    @staticmethod
    async def _form_of(desk: PledgeDesk, call_id: str, agent_id: str) -> str | None:
        try:
            found = await desk.form(call_id, agent_id)
        except ApiError as exc:  # not a campaign call, or the records are away
            logger.info("%s: no pledge form for %s: %s", call_id, agent_id, exc.error)
            return None
        return json.dumps({"call_id": call_id, **found})

    async def _reopened_form(self, agent_id: str, formed: set[str]) -> str | None:
        """The pledge form of the campaign call ``agent_id`` is on or wraps up, unless this
        stream sent it already (a page reloaded mid-call or during the wrap-up: the form, with
        the pledge saved on it, again, correctable until the wrap-up time is over)."""
        desk = self.deps.pledges
        if desk is None:
            return None
        call_id = await self.deps.presence.call_on_hand(agent_id)
        if call_id is None or call_id in formed:
            return None
        return await self._form_of(desk, call_id, agent_id)

    async def hang_up(self, request: web.Request) -> web.Response:
        """Hang up the volunteer's connected call: ``{"hung_up": true}`` or ``{"error": id}``
        (JSON, for the pop's script)."""
        session, account = await self._signed_in(request, VOLUNTEER_PAGES)
        form = await self._form(request, session)
        try:
            await self.deps.calls.hang_up(account.id, form.get("call", ""))
        except Refused as exc:
            return web.json_response({"error": exc.code}, status=409)
        return web.json_response({"hung_up": True})

    async def events(self, request: web.Request) -> web.StreamResponse:
        """The signed-in volunteer's events, from ``Last-Event-ID`` (or ``?after=``) on: first
        what the stream holds after it, then the instance's live feed. Each queue log entry
        naming the volunteer sends their presence (``presence``), an offer its pop first
        (``offer``) and then the caller's earlier contacts (``earlier``), which the records
        store may take longer to tell; a supervisor joining or leaving their call sends
        ``monitored`` where the queue tells its volunteers; an operator's answer of a
        campaign call its pledge form (``pledge``: a returning donor's details go to this
        operator's stream only). The stream (re)opening during a call or its wrap-up sends
        its pop and form again if it has not sent them (the pop until its wrap-up is saved)."""
        session, account = await self._account(request)
        if account is None:
            raise web.HTTPForbidden(text="Sign in first.")
        if account.role not in VOLUNTEER_PAGES:
            raise self._forbidden(request, session, WRONG_ROLE)
        after = request.headers.get("Last-Event-ID") or request.query.get("after", "")
        with self.feed.subscribe(account.id) as subscriber:
            last = after if _ENTRY_ID.fullmatch(after) else await self.feed.newest_id()
            async with sse_response(request) as stream:
                formed: set[str] = set()  # the calls whose form this stream sent
                popped: set[str] = set()  # the calls whose pop this stream sent

                async def forward(entry_id: str, fields: Mapping[str, str]) -> None:
                    if fields.get("agent") != account.id:
                        return
                    if fields.get("event") == "MONITOR":
                        if notice := monitored(fields, account.id):
                            await stream.send(notice.to_json(), id=entry_id, event="monitored")
                        return
                    call_id = offered_call(fields, account.id)
                    pop = call_id and await self.feed.pop(call_id, float(fields["time"]))
                    if pop:
                        wrapups = self.deps.wrapups
                        data = pop.to_json(
                            wrapups.dispositions(pop.queue), wrapups.flags(pop.queue)
                        )
                        await self.feed.keep_pop(account.id, pop.call_id, data)
                        popped.add(pop.call_id)
                        await self._send_pop(stream, entry_id, pop.call_id, data, account.id)
                    if form := await self._pledge_form(fields, account.id):
                        formed.add(fields.get("call", ""))
                        await stream.send(form, id=entry_id, event="pledge")
                    presence = await self.deps.presence.presence(account.id)
                    data = json.dumps(asdict(presence))
                    await stream.send(data, id=entry_id, event="presence")

                async def caught_up(last: str) -> None:
                    """A stream opened on a call or in its wrap-up: its pop and form again."""
                    if (call_id := await self.deps.presence.call_on_hand(account.id)) and (
                        call_id not in popped
                        and (data := await self.feed.kept_pop(account.id, call_id))
                    ):
                        await self._send_pop(stream, last, call_id, data, account.id)
                    if form := await self._reopened_form(account.id, formed):
                        await stream.send(form, id=last or None, event="pledge")

                await _follow(stream, self.feed, subscriber, last, forward, caught_up)
        return stream

    async def _send_pop(
        self, stream: EventSourceResponse, entry_id: str, call_id: str, data: str, agent: str
    ) -> None:
        """Send a queue call's pop (``offer``: ``data``), then the caller's earlier contacts
        (``earlier``: the records store may take longer)."""
        await stream.send(data, id=entry_id, event="offer")
        if (earlier := await self.deps.wrapups.earlier(call_id, agent)) is not None:
            await stream.send(json.dumps(asdict(earlier)), id=entry_id, event="earlier")

    async def supervisor(self, request: web.Request) -> web.Response:
        """The wallboard, the agents table and the queue log's tail (filtered by the query's
        ``queue``, ``agent`` and ``event``), kept live by ``/supervisor/events``."""
        session, account = await self._signed_in(request, SUPERVISOR_PAGES)
        log_filter = LogFilter.from_query(request.query)
        after, lines = await self._tail(account, log_filter)
        events_query = urlencode({"after": after, **log_filter.as_query()})
        context = {
            "account": account,
            "board": (await self.deps.supervision.board()).limited_to(account.supervises),
            "time_zone": self.deps.settings.time_zone,
            "csrf": csrf_token(session),
            "max_reason": MAX_REASON,
            "max_unmask_reason": MAX_UNMASK_REASON,
            "error": request.query.get("error", ""),
            "takes_calls": account.role in VOLUNTEER_PAGES,
            "log_filter": log_filter,
            "log_lines": lines,
            "log_events": EVENTS,
            "tail_lines": TAIL_LINES,
            "events_url": f"/console/supervisor/events?{events_query}",
        }
        return self._page("supervisor.html", request, session, context)

    async def queue_log(self, request: web.Request) -> web.Response:
        """The queue log's tail as the supervisor page shows it: ``{"lines": [...]}``, newest
        first."""
        _, account = await self._signed_in(request, SUPERVISOR_PAGES)
        _, lines = await self._tail(account, LogFilter.from_query(request.query))
        return web.json_response({"lines": [asdict(line) for line in lines]})

    async def _tail(self, account: Account, log_filter: LogFilter) -> tuple[str, list[LogLine]]:
        """The id of the queue log's newest entry ("0-0" if none) and the newest
        ``TAIL_LINES`` lines among the newest ``TAIL_SCAN`` entries that the account
        oversees and the filter passes, newest first."""
        entries = await self.feed.newest(TAIL_SCAN)
        lines = await self._log_lines(account, log_filter, entries, TAIL_LINES)
        return (entries[0][0] if entries else "0-0"), lines

    async def _log_lines(
        self, account: Account, log_filter: LogFilter, entries: Sequence[Entry], most: int
    ) -> list[LogLine]:
        """The lines of ``entries`` (at most ``most``) that the account oversees and the
        filter passes, with their calls' pseudonyms."""
        desk = self.deps.supervision
        kept = [
            (entry_id, fields)
            for entry_id, fields in entries
            if log_filter.matches(fields)
            and in_scope(account.supervises, fields, desk.agent_queues)
        ][:most]
        calls = {call_of(fields) for _, fields in kept} - {""}
        names = await desk.pseudonyms(calls) if calls else {}
        return [
            log_line(entry_id, fields, names.get(call_of(fields), ""), self.zone)
            for entry_id, fields in kept
        ]

    async def board_events(self, request: web.Request) -> web.StreamResponse:
        """The board now, then again after every queue log entry (``board`` events), limited
        to the queues the account oversees; each of those entries that the query's filter
        passes as a ``log`` line too, from ``Last-Event-ID`` (or ``?after=``) on."""
        _, account = await self._signed_in(request, SUPERVISOR_PAGES)
        scope = account.supervises
        log_filter = LogFilter.from_query(request.query)
        after = request.headers.get("Last-Event-ID") or request.query.get("after", "")
        with self.feed.subscribe() as subscriber:
            last = after if _ENTRY_ID.fullmatch(after) else await self.feed.newest_id()
            async with sse_response(request) as stream:

                async def send_lines(entries: Sequence[Entry]) -> None:
                    for line in await self._log_lines(account, log_filter, entries, len(entries)):
                        await stream.send(line.to_json(), id=line.id, event="log")

                with contextlib.suppress(ConnectionResetError):  # the browser went away
                    board = await self.deps.supervision.board()
                    await stream.send(board.limited_to(scope).to_json(), event="board")
                    while caught := await self.feed.after(last):
                        await send_lines(caught)
                        last = caught[-1][0]
                    while stream.is_connected() and not subscriber.cut_off:
                        entry = await subscriber.next(LIVENESS_S)
                        if entry is None:
                            continue
                        data = await self._board_json_after(entry[0], scope)
                        await stream.send(data, id=entry[0], event="board")
                        if stream_id(entry[0]) > stream_id(last):
                            await send_lines([entry])
                            last = entry[0]
        return stream

    async def _board_json_after(self, entry_id: str, scope: frozenset[str]) -> str:
        """The board after ``entry_id`` as someone overseeing ``scope`` sees it, as JSON:
        serialised once per scope, not once per stream."""
        board = await self._board_after(entry_id)
        data = self._board_json.get((entry_id, scope))
        if data is None:
            if any(key != entry_id for key, _ in self._board_json):
                self._board_json = {}
            data = self._board_json[entry_id, scope] = board.limited_to(scope).to_json()
        return data

    async def _board_after(self, entry_id: str) -> Board:
        """The board after queue log entry ``entry_id``, shared by the streams."""
        board = self._boards.get(entry_id)
        if board is None:

            async def compute() -> Board:
                return await self.deps.supervision.board()

            task = asyncio.create_task(compute(), name=f"board-{entry_id}")
            self._computing.add(task)
            task.add_done_callback(self._computing.discard)
            self._boards = {entry_id: task}
            board = task
        # A stream that goes away does not cancel the others' board.
        return await asyncio.shield(board)

    def _agent_queues(self, form: Mapping[str, str]) -> tuple[str, ...]:
        return self.deps.supervision.agent_queues(form.get("agent", ""))

    def _oversees(
        self, request: web.Request, session: Session, account: Account, queues: tuple[str, ...]
    ) -> None:
        """403 ``not-your-queue`` unless the account oversees one of ``queues`` (an account
        overseeing every queue passes, and meets the desk's own refusals)."""
        if account.supervises and not oversees(account.supervises, queues):
            logger.warning("console: %s refused outside their queues", account.id)
            raise self._forbidden(request, session, NOT_YOUR_QUEUE)

    async def end_boards(self) -> None:
        """Cancel the boards still being computed (the app is stopping)."""
        for task in self._computing:
            task.cancel()
        await asyncio.gather(*self._computing, return_exceptions=True)

    async def reset_agent(self, request: web.Request) -> web.Response:
        """Reset a stuck agent with a reason (kept in the queue log with who did it)."""
        session, account = await self._signed_in(request, SUPERVISOR_PAGES)
        form = await self._form(request, session)
        reason = form.get("reason", "").strip()
        if not reason or len(reason) > MAX_REASON:
            raise web.HTTPBadRequest(
                text=f"A reset needs a reason of 1 to {MAX_REASON} characters."
            )
        self._oversees(request, session, account, self._agent_queues(form))
        try:
            await self.deps.supervision.reset(form.get("agent", ""), account.id, reason)
        except Refused as exc:
            raise web.HTTPSeeOther(f"/console/supervisor?error={exc.code}") from None
        raise web.HTTPSeeOther("/console/supervisor")

    async def force_logout(self, request: web.Request) -> web.Response:
        """Sign an agent out of every queue (audited as a forced logout)."""
        session, account = await self._signed_in(request, SUPERVISOR_PAGES)
        form = await self._form(request, session)
        self._oversees(request, session, account, self._agent_queues(form))
        try:
            await self.deps.supervision.force_logout(
                form.get("agent", ""), account.id, account.role
            )
        except Refused as exc:
            raise web.HTTPSeeOther(f"/console/supervisor?error={exc.code}") from None
        raise web.HTTPSeeOther("/console/supervisor")

    async def force_pause(self, request: web.Request) -> web.Response:
        """Pause an agent in every queue with a reason (audited as a forced pause)."""
        session, account = await self._signed_in(request, SUPERVISOR_PAGES)
        form = await self._form(request, session)
        reason = form.get("reason", "").strip()
        if not reason or len(reason) > MAX_REASON:
            raise web.HTTPBadRequest(
                text=f"A pause needs a reason of 1 to {MAX_REASON} characters."
            )
        self._oversees(request, session, account, self._agent_queues(form))
        try:
            await self.deps.supervision.force_pause(
                form.get("agent", ""), account.id, account.role, reason
            )
        except Refused as exc:
            raise web.HTTPSeeOther(f"/console/supervisor?error={exc.code}") from None
        raise web.HTTPSeeOther("/console/supervisor")

    async def monitor(self, request: web.Request) -> web.Response:
        """Ring the supervisor's own phone to listen to, whisper into or barge into a live
        call (audited first): ``{"monitoring": mode}`` or ``{"error": id}`` to a script
        asking for JSON; a plain form goes back to the board."""
        session, account = await self._signed_in(request, SUPERVISOR_PAGES)
        if account.role != UNMASKS:
            raise self._forbidden(request, session, WRONG_ROLE)
        form = await self._form(request, session)
        mode = form.get("mode", "")
        if mode not in MONITOR_MODES:
            raise web.HTTPBadRequest(text="Listen, whisper or barge.")
        call_queue = await self.deps.supervision.call_queue(form.get("call", ""))
        self._oversees(request, session, account, (call_queue,) if call_queue else ())
        wants_json = request.headers.get("Accept", "").startswith("application/json")
        try:
            call_id = form.get("call", "")
            await self.deps.supervision.monitor(call_id, account.id, account.role, mode)
        except Refused as exc:
            if wants_json:
                return web.json_response({"error": exc.code}, status=409)
            raise web.HTTPSeeOther(f"/console/supervisor?error={exc.code}") from None
        if wants_json:
            return web.json_response({"monitoring": mode}, status=202)
        raise web.HTTPSeeOther("/console/supervisor")

    async def unmask(self, request: web.Request) -> web.Response:
        """Show the number of a call's caller to a supervisor who gives a reason (audited
        first); never cached."""
        session, account = await self._signed_in(request, SUPERVISOR_PAGES)
        if account.role != UNMASKS:
            raise self._forbidden(request, session, WRONG_ROLE)
        form = await self._form(request, session)
        reason = form.get("reason", "").strip()
        if not reason or len(reason) > MAX_UNMASK_REASON:
            raise web.HTTPBadRequest(
                text=f"Unmasking needs a reason of 1 to {MAX_UNMASK_REASON} characters."
            )
        call_queue = await self.deps.supervision.call_queue(form.get("call", ""))
        self._oversees(request, session, account, (call_queue,) if call_queue else ())
        try:
            shown = await self.deps.supervision.unmask(
                form.get("call", ""), account.id, account.role, reason
            )
        except Refused as exc:
            raise web.HTTPSeeOther(f"/console/supervisor?error={exc.code}") from None
        context = {"account": account, "shown": shown}
        response = self._page("unmasked.html", request, session, context)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def audit(self, request: web.Request) -> web.Response:
        """The newest unmasks."""
        session, account = await self._signed_in(request, SUPERVISOR_PAGES)
        lines = await self.deps.supervision.audit(AUDIT_LINES)
        context = {"account": account, "lines": lines}
        return self._page("audit.html", request, session, context)

    async def _overseen_chat(
        self, request: web.Request, session: Session, account: Account, conversation_id: str
    ) -> ChatView:
        """The conversation if it is in a queue the supervisor oversees, its reading audited;
        403 ``not-your-queue`` if not (or if there is no such conversation), ``wrong-role``
        for an admin (reading a conversation is for supervisors, as listening to a call)."""
        if account.role != UNMASKS:
            raise self._forbidden(request, session, WRONG_ROLE)
        view = await self.deps.chats.view(conversation_id)
        if view is None or not oversees(account.supervises, (view.queue,)):
            logger.warning("console: %s refused a conversation outside their queues", account.id)
            raise self._forbidden(request, session, NOT_YOUR_QUEUE)
        await self.deps.chats.audit_reading(view.id, account.id, account.role)
        return view

    async def overseen_chats(self, request: web.Request) -> web.Response:
        """The open text conversations of the supervisor's queues, without their messages: a
        page (kept live by ``/supervisor/chats/events``), or ``{"conversations": [...]}`` to
        a script asking for JSON."""
        session, account = await self._signed_in(request, SUPERVISOR_PAGES)
        chats = [
            chat
            for chat in await self.deps.chats.open_ones()
            if oversees(account.supervises, (chat.queue,))
        ]
        if request.headers.get("Accept", "").startswith("application/json"):
            return web.json_response({"conversations": [asdict(chat) for chat in chats]})
        after = await self.chat_feed.newest_id()
        context = {"account": account, "chats": chats, "events_after": after}
        return self._page("overseen_chats.html", request, session, context)

    async def overseen_chat(self, request: web.Request) -> web.Response:
        """One conversation of the supervisor's queues with its messages, read-only (the
        reading audited): a page kept live by its events, or JSON."""
        session, account = await self._signed_in(request, SUPERVISOR_PAGES)
        view = await self._overseen_chat(request, session, account, request.match_info["id"])
        if request.headers.get("Accept", "").startswith("application/json"):
            return web.json_response(text=view.to_json())
        after = await self.chat_feed.newest_id()
        query = urlencode({"conversation": view.id, "after": after})
        events_url = f"/console/supervisor/chats/events?{query}"
        context = {"account": account, "chat": view, "events_url": events_url}
        return self._page("overseen_chat.html", request, session, context)

    async def overseen_chat_events(self, request: web.Request) -> web.StreamResponse:
        """The conversations of the supervisor's queues as they change, from
        ``Last-Event-ID`` (or ``?after=``) on: ``chat``, without its messages; with
        ``?conversation=`` that one only, whole (the reading audited), and ``chat-gone``
        once it left the supervisor's queues or was purged."""
        session, account = await self._signed_in(request, SUPERVISOR_PAGES)
        only = request.query.get("conversation", "")
        if only:
            await self._overseen_chat(request, session, account, only)
        after = request.headers.get("Last-Event-ID") or request.query.get("after", "")
        with self.chat_feed.subscribe() as subscriber:
            last = after if _ENTRY_ID.fullmatch(after) else await self.chat_feed.newest_id()
            async with sse_response(request) as stream:

                async def forward(entry_id: str, fields: Mapping[str, str]) -> None:
                    conversation_id = fields.get("conversation", "")
                    if fields.get("call") or (only and conversation_id != only):
                        return
                    view = await self.deps.chats.view(conversation_id)
                    if view is None or not oversees(account.supervises, (view.queue,)):
                        if only:
                            gone = json.dumps({"id": conversation_id})
                            await stream.send(gone, id=entry_id, event="chat-gone")
                        return
                    if only:
                        await self.deps.chats.audit_reading(only, account.id, account.role)
                    else:
                        view = dataclasses.replace(view, lines=(), canned=())
                    await stream.send(view.to_json(), id=entry_id, event="chat")

                await _follow(stream, self.chat_feed, subscriber, last, forward)
        return stream

    async def admin(self, request: web.Request) -> web.Response:
        """The accounts, whether each can sign in, and first-login tokens to issue."""
        session, account = await self._signed_in(request, ADMIN_PAGES)
        return await self._admin_page(request, session, account, None)

    async def _admin_page(
        self,
        request: web.Request,
        session: Session,
        account: Account,
        issued: tuple[Account, str] | None,
    ) -> web.Response:
        accounts = [(a, await self.passwords.has_password(a)) for a in self.deps.accounts.all()]
        context = {
            "account": account,
            "accounts": accounts,
            "issued": issued,
            "csrf": csrf_token(session),
        }
        return self._page("admin.html", request, session, context)

    async def issue_first_login(self, request: web.Request) -> web.Response:
        """A one-time token for ``account``, shown on this page only."""
        session, admin = await self._signed_in(request, ADMIN_PAGES)
        form = await self._form(request, session)
        account = self.deps.accounts.get(form.get("account", ""))
        if account is None:
            raise web.HTTPBadRequest(text="Unknown account.")
        token = await self.passwords.issue_first_login(account.id)
        logger.info("console: %s issued a first-login token for %s", admin.id, account.id)
        return await self._admin_page(request, session, admin, (account, token))

    async def first_login_form(self, request: web.Request) -> web.Response:
        session = await get_session(request)
        return self._first_login_page(request, session, "", 200)

    def _first_login_page(
        self, request: web.Request, session: Session, error: str, status: int
    ) -> web.Response:
        context = {
            "csrf": csrf_token(session),
            "error": error,
            "min_password": MIN_PASSWORD,
            "max_password": MAX_PASSWORD,
        }
        return self._page("first_login.html", request, session, context, status=status)

    async def first_login(self, request: web.Request) -> web.Response:
        """Set a password with a first-login token; failures count like failed sign-ins."""
        session = await get_session(request)
        form = await self._form(request, session)
        _ = self._gettext(session)
        account_id, token = form.get("account", "").strip(), form.get("token", "").strip()
        password = form.get("password", "")
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            error = _("A password has %(low)d to %(high)d characters.") % {
                "low": MIN_PASSWORD,
                "high": MAX_PASSWORD,
            }
            return self._first_login_page(request, session, error, 400)
        if password != form.get("confirm", ""):
            return self._first_login_page(request, session, _("The passwords differ."), 400)
        known = account_id if self.deps.accounts.get(account_id) else ""
        address = request.remote or "unknown"
        if await self.guard.blocked(known, address):
            logger.warning("console first login refused for %s: too many failures", known or "?")
            error = _("Too many failed attempts: try again later.")
            return self._first_login_page(request, session, error, 429)
        if not await self.passwords.first_login(account_id, token, password):
            await self.guard.failed(known, address)
            return self._first_login_page(request, session, _("Wrong id or token."), 401)
        logger.info("console: %s set their password with a first-login token", account_id)
        raise web.HTTPSeeOther("/console/signin?first=1")


def _language(session: Session) -> str:
    """The session's chosen language, or the default."""
    chosen = session.get(LANGUAGE_KEY)
    return chosen if isinstance(chosen, str) and chosen in LANGUAGES else DEFAULT
