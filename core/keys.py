"""Every Redis key the service uses, in one place.

| key                               | type   | holds                                             |
|-----------------------------------|--------|---------------------------------------------------|
| ``{p}:call:{channel}``            | string | JSON of one live call's IVR state (no number)     |
| ``{p}:app:{app}:calls``           | set    | channel ids of the live calls an app instance owns |
| ``{p}:journal``                   | stream | one entry per IVR transition, channel id first    |
| ``{p}:acd:agent:{id}``            | hash   | ACD agent: profile, state, queues, device, misses |
| ``{p}:acd:call:{id}``             | hash   | ACD call: queue, owner, pseudonym, score, state   |
| ``{p}:acd:offer:{id}``            | hash   | a ringing offer: call, queue, agents, offered_at  |
| ``{p}:acd:q:{q}:members``         | zset   | logged-in agents, scored by file order            |
| ``{p}:acd:q:{q}:staffed``         | set    | logged-in, unpaused agents                        |
| ``{p}:acd:q:{q}:avail:*``         | zset   | AVAILABLE agents, scored by the queue's strategy  |
| ``{p}:acd:q:{q}:avail:{s}:{lvl}`` | zset   | the same, with skill ``s`` at level ``lvl``       |
| ``{p}:acd:q:{q}:wait``            | zset   | waiting calls by -priority*1e13 + enqueue ms      |
| ``{p}:acd:q:{q}:wait:{route}``    | zset   | the same per needed skill (``*`` = none)          |
| ``{p}:acd:q:{q}:routes``          | set    | routes with waiting calls                         |
| ``{p}:acd:q:{q}:since``           | zset   | waiting calls by enqueue time                     |
| ``{p}:acd:q:{q}:rr``              | string | order of the agent ROUND_ROBIN offered last       |
| ``{p}:acd:q:{q}:stats``           | hash   | counters: answered, abandoned, wait/handle sums   |
| ``{p}:acd:q:{q}:day:{date}``      | hash   | the same counters of one local day (TTL 3 days)   |
| ``{p}:acd:q:{q}:handle``          | list   | the last 100 handle times (seconds)               |
| ``{p}:acd:wrapup``                | zset   | agents in wrap-up, by its end                     |
| ``{p}:acd:q:{q}:offers``          | zset   | the queue's unsettled offers, by offer time       |
| ``{p}:acd:seq``                   | string | offer id counter                                  |
| ``{p}:acd:reconciled``            | hash   | repairs made by the reconcilers, count by kind    |
| ``{p}:alive``                     | string | present while Redis holds the service's data      |
| ``{p}:acd:queue_log``             | stream | app_queue-style queue_log events (no numbers)     |
| ``{p}:acd:leg:{leg}``             | hash   | JSON fields: an agent leg's offer, agent, phase   |
| ``{p}:acd:caller:{channel}``      | hash   | JSON fields: a queued caller's offer, bridge      |
| ``{p}:acd:inbox:{instance}``      | stream | offers for calls another instance owns            |
| ``{p}:acd:nail:{agent}``          | hash   | a nailed-up agent's leg, bridge and call          |
| ``{p}:acd:callback:{call}``       | hash   | a callback to make: queue, pseudonym, vault ref   |
| ``{p}:acd:monitor:{session}``     | string | JSON: a supervisor's listen/whisper/barge session |
| ``{p}:acd:monitors:{channel}``    | set    | monitor sessions on a caller's or volunteer's call |
| ``{p}:login:{channel}``           | string | JSON: a volunteer-line call's state (no PIN)      |
| ``{p}:vault:entry:{ref}``         | hash   | one caller: encrypted number, pseudonym, its slot |
|                                   |        | key, language, created, last_seen                 |
| ``{p}:vault:last_seen``           | zset   | vault refs scored by last_seen (epoch seconds)    |
| ``{p}:vault:pseudonym:{slot}``    | string | ref that holds pseudonym slot ``{slot}``          |
| ``{p}:audit``                     | stream | append-only: who unmasked which ref, when, why    |
| ``{p}:audit:staff``               | stream | append-only: staff transfers, forced logouts, ... |
| ``{p}:records:wrapups``           | stream | wrap-ups taken while the records database is away |
| ``{p}:sms:msg:{id}``              | hash   | one outbound SMS: state, recipient ref (no number) |
| ``{p}:sms:idem:{key}``            | string | message id created for an idempotency key         |
| ``{p}:sms:open``                  | string | message id whose queued job still takes a batch   |
| ``{p}:sms:batch:{id}``            | list   | message ids that job ``sms-{id}`` carries as well |
| ``{p}:sms:sid:{sid}``             | string | message id of a provider message sid              |
| ``{p}:sms:failed``                | zset   | ids of failed/undelivered messages, by time       |
| ``{p}:sms:bucket:{sender}``       | hash   | token bucket (segments) of one sending number     |
| ``{p}:sms:optout``                | set    | keyed hashes of numbers that sent STOP            |
| ``{p}:sms:seen:{kind}:{sid}``     | string | a webhook already handled (Twilio retries)        |
| ``{p}:sms:conv:{sender}``         | list   | inbound SMS JSON of one sender (keyed hash)       |
| ``{p}:acd:chat:{conv}``           | hash   | a chat task: queue, agent, state, times           |
| ``{p}:acd:chat:agent:{id}``       | set    | conversations an agent holds (its chat load)      |
| ``{p}:acd:chat:q:{q}:wait``       | zset   | conversations waiting for a chat slot, by time    |
| ``{p}:conv:{id}``                 | hash   | an SMS conversation: caller ref, pseudonym, state |
| ``{p}:conv:{id}:msgs``            | list   | its messages as JSON (who, body, at; no number)   |
| ``{p}:conv:open:{ref}``           | string | the open conversation of a caller ref             |
| ``{p}:conv:relay:{agent}``        | string | conversation an SMS volunteer's replies go to     |
| ``{p}:conv:index``                | zset   | conversation ids by last activity (retention)     |
| ``{p}:conv:log``                  | stream | conversations opened, assigned, ended (no number) |
| ``{p}:conv:feed``                 | stream | conversation + agent per change, or call to it    |
| ``{p}:req:{id}``                  | hash   | a recorded request: kind, caller ref, reference   |
| ``{p}:req:code:{code}``           | string | request id holding a short reference while open   |
| ``{p}:req:index``                 | zset   | request ids by creation time (retention)          |
| ``{p}:voice:requests``            | stream | call-backs for the ARI side: refs, no numbers     |
| ``{p}_console_{id}``              | string | JSON of one console session (aiohttp-session)    |
| ``{p}:console:fails:{kind}:{who}``| string | failed sign-ins of an account/address, by window |
| ``{p}:console:signed_in:{id}``    | set    | an account's session ids (sign-out everywhere)    |
| ``{p}:console:password:{id}``     | string | argon2 hash of a password set at first login      |
| ``{p}:console:first_login:{id}``  | string | SHA-256 of an account's one-time first-login token|
| ``{p}:console:read:{id}:{conv}``  | string | a supervisor's reading of a conversation audited  |
| ``{p}:console:pop:{id}:{call}``   | string | JSON of a call's pop (no number), until wrapped up|
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Entries the conversation log (``Keys.conversation_log``) keeps (about), drained or not;
#: every script that writes it caps it there.
CONVERSATION_LOG_MAXLEN: Final = 100_000
#: Entries the conversation feed (``Keys.conversation_feed``) keeps (about).
CONVERSATION_FEED_MAXLEN: Final = 10_000


@dataclass(frozen=True)
class Keys:
    """Key names under one deployment prefix."""

    prefix: str

    def call(self, channel_id: str) -> str:
        """The live state of one call."""
        return f"{self.prefix}:call:{channel_id}"

    def app_calls(self, app: str) -> str:
        """The set of live calls that app instance ``app`` drives."""
        return f"{self.prefix}:app:{app}:calls"

    @property
    def journal(self) -> str:
        """The IVR journal stream."""
        return f"{self.prefix}:journal"

    @property
    def acd(self) -> str:
        """The root of every ACD key (the ACD's Lua scripts derive the others from it)."""
        return f"{self.prefix}:acd"

    @property
    def acd_reconciled(self) -> str:
        """Counts of the reconcilers' repairs, by kind."""
        return f"{self.acd}:reconciled"

    @property
    def alive(self) -> str:
        """The marker whose absence says Redis lost the service's data (restarted empty)."""
        return f"{self.prefix}:alive"

    @property
    def acd_queue_log(self) -> str:
        """The ACD's queue_log stream."""
        return f"{self.acd}:queue_log"

    def acd_agent(self, agent_id: str) -> str:
        """One ACD agent's profile and state."""
        return f"{self.acd}:agent:{agent_id}"

    def acd_call(self, call_id: str) -> str:
        """One queued or connected ACD call."""
        return f"{self.acd}:call:{call_id}"

    def acd_texter(self, call_id: str) -> str:
        """A call a volunteer asked for (to a texter): the agent it holds and the app instance
        that owns it (``acd/lua/texter.lua``)."""
        return f"{self.acd}:texter:{call_id}"

    def acd_leg(self, leg_id: str) -> str:
        """The adapter's state of one agent leg (an offer ringing, whispering or bridged)."""
        return f"{self.acd}:leg:{leg_id}"

    def acd_caller(self, channel_id: str) -> str:
        """The adapter's state of one caller channel in a queue (media, offer, bridge)."""
        return f"{self.acd}:caller:{channel_id}"

    def acd_nail(self, agent_id: str) -> str:
        """A nailed-up agent's standing connection: leg, bridge, current call."""
        return f"{self.acd}:nail:{agent_id}"

    def acd_callback(self, call_id: str) -> str:
        """A caller waiting to be called back: queue, language, pseudonym, vault ref."""
        return f"{self.acd}:callback:{call_id}"

    def acd_monitor(self, session: str) -> str:
        """A supervisor's listen, whisper or barge session on a call (JSON, with a TTL)."""
        return f"{self.acd}:monitor:{session}"

    def acd_monitors(self, channel_id: str) -> str:
        """The monitor sessions on the call of a caller's or volunteer's channel (a set, with
        a TTL)."""
        return f"{self.acd}:monitors:{channel_id}"

    def login(self, channel_id: str) -> str:
        """The state of one call to the volunteer line (no PIN in it)."""
        return f"{self.prefix}:login:{channel_id}"

    def acd_inbox(self, instance: str) -> str:
        """Offers claimed by any instance for calls that ``instance`` owns."""
        return f"{self.acd}:inbox:{instance}"

    def acd_queue(self, queue: str, part: str) -> str:
        """One of an ACD queue's indexes or counters (``part`` as in the table above)."""
        return f"{self.acd}:q:{queue}:{part}"

    def vault_entry(self, ref: str) -> str:
        """The vault entry of the caller whose keyed hash is ``ref``."""
        return f"{self.prefix}:vault:entry:{ref}"

    @property
    def vault_index(self) -> str:
        """Vault refs by last_seen."""
        return f"{self.prefix}:vault:last_seen"

    def pseudonym(self, slot: str) -> str:
        """The reservation of pseudonym slot ``slot``."""
        return f"{self.prefix}:vault:pseudonym:{slot}"

    @property
    def audit(self) -> str:
        """The append-only audit stream of unmasked numbers."""
        return f"{self.prefix}:audit"

    @property
    def staff_audit(self) -> str:
        """The append-only audit stream of staff actions (transfers, logouts, exports)."""
        return f"{self.prefix}:audit:staff"

    @property
    def records_wrapups(self) -> str:
        """Wrap-ups (scrubbed notes) accepted while the records database was away, until the
        drain writes them."""
        return f"{self.prefix}:records:wrapups"

    @property
    def records_drain_lock(self) -> str:
        """The lock (a string with a TTL) held by whichever process drains the streams into
        SQL, one batch at a time, so that several workers take turns."""
        return f"{self.prefix}:records:drain:lock"

    def sms_message(self, message_id: str) -> str:
        """One outbound SMS record."""
        return f"{self.prefix}:sms:msg:{message_id}"

    def sms_idempotency(self, key: str) -> str:
        """The message created for an idempotency key."""
        return f"{self.prefix}:sms:idem:{key}"

    @property
    def sms_open_batch(self) -> str:
        """The message whose job, still queued, takes further messages into its batch."""
        return f"{self.prefix}:sms:open"

    def sms_batch(self, message_id: str) -> str:
        """The other messages the job of ``message_id`` sends after its own."""
        return f"{self.prefix}:sms:batch:{message_id}"

    def sms_sid(self, sid: str) -> str:
        """The message a provider sid belongs to."""
        return f"{self.prefix}:sms:sid:{sid}"

    @property
    def sms_failed(self) -> str:
        """Failed and undelivered outbound messages."""
        return f"{self.prefix}:sms:failed"

    def sms_bucket(self, sender: str) -> str:
        """The rate-limit token bucket of one sending number."""
        return f"{self.prefix}:sms:bucket:{sender}"

    @property
    def sms_optout(self) -> str:
        """Keyed hashes of opted-out numbers."""
        return f"{self.prefix}:sms:optout"

    def sms_seen(self, kind: str, sid: str) -> str:
        """Marks a webhook (``kind`` inbound or status:{status}) for ``sid`` as handled."""
        return f"{self.prefix}:sms:seen:{kind}:{sid}"

    def sms_conversation(self, sender: str) -> str:
        """Inbound messages of one sender (keyed hash)."""
        return f"{self.prefix}:sms:conv:{sender}"

    def chat(self, conversation_id: str) -> str:
        """One chat task of the ACD (the Lua scripts derive the other chat keys from ``acd``)."""
        return f"{self.acd}:chat:{conversation_id}"

    def chat_agent(self, agent_id: str) -> str:
        """The conversations an agent holds."""
        return f"{self.acd}:chat:agent:{agent_id}"

    def conversation(self, conversation_id: str) -> str:
        """One SMS conversation."""
        return f"{self.prefix}:conv:{conversation_id}"

    def conversation_messages(self, conversation_id: str) -> str:
        """The messages of one SMS conversation."""
        return f"{self.prefix}:conv:{conversation_id}:msgs"

    def open_conversation(self, ref: str) -> str:
        """The open conversation of the caller whose vault ref is ``ref``."""
        return f"{self.prefix}:conv:open:{ref}"

    def relay_current(self, agent_id: str) -> str:
        """The conversation an SMS-relayed volunteer's replies go to."""
        return f"{self.prefix}:conv:relay:{agent_id}"

    @property
    def conversation_index(self) -> str:
        """Conversation ids by last activity."""
        return f"{self.prefix}:conv:index"

    @property
    def conversation_log(self) -> str:
        """SMS conversations opened, assigned and ended, for the records (keyed caller
        reference, pseudonym, agent; never a number or a message)."""
        return f"{self.prefix}:conv:log"

    @property
    def conversation_feed(self) -> str:
        """A stream entry per change to a conversation (a message, an assignment), naming the
        conversation and the agent holding it, for the consoles' live chat panels; and one
        (with ``call``, ``language`` and ``at``) when the ACD rings a volunteer who asked to
        call the conversation's texter, for their screen-pop."""
        return f"{self.prefix}:conv:feed"

    def request(self, request_id: str) -> str:
        """One recorded request."""
        return f"{self.prefix}:req:{request_id}"

    def request_code(self, code: str) -> str:
        """The open request holding short reference ``code``."""
        return f"{self.prefix}:req:code:{code}"

    @property
    def request_index(self) -> str:
        """Request ids by creation time."""
        return f"{self.prefix}:req:index"

    @property
    def voice_requests(self) -> str:
        """Call-back requests for the ARI side."""
        return f"{self.prefix}:voice:requests"

    @property
    def console_session(self) -> str:
        """The cookie name of console sessions, and their keys' stem (aiohttp-session adds
        ``_{id}``; a cookie name has no colon)."""
        return f"{self.prefix.replace(':', '_')}_console"

    def console_session_data(self, session_id: str) -> str:
        """One console session's record (where aiohttp-session keeps it)."""
        return f"{self.console_session}_{session_id}"

    def console_read(self, account_id: str, conversation_id: str) -> str:
        """Present (for a while) once a supervisor's reading of a conversation is audited."""
        return f"{self.prefix}:console:read:{account_id}:{conversation_id}"

    def console_pop(self, agent_id: str, call_id: str) -> str:
        """The pop a volunteer's console was sent for a call (sent again on a reload during
        the call or its wrap-up; gone once the wrap-up is saved)."""
        return f"{self.prefix}:console:pop:{agent_id}:{call_id}"

    def console_signed_in(self, account_id: str) -> str:
        """The session ids an account has signed in with (until they expire)."""
        return f"{self.prefix}:console:signed_in:{account_id}"

    def console_failures(self, kind: str, who: str) -> str:
        """Failed console sign-ins of one account (``kind`` "account") or address."""
        return f"{self.prefix}:console:fails:{kind}:{who}"

    def console_password(self, account_id: str) -> str:
        """The argon2 hash of the password an account set at first login."""
        return f"{self.prefix}:console:password:{account_id}"

    def console_first_login(self, account_id: str) -> str:
        """The SHA-256 of an account's one-time first-login token (until it is used or
        expires)."""
        return f"{self.prefix}:console:first_login:{account_id}"
