"""The ACD as the console's presence desk (``console.presence.PresenceDesk``), the records
store as its wrap-up desk (``console.wrapups.WrapupDesk``), and the agent file's people as the
console's accounts."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping

from sqlalchemy.exc import SQLAlchemyError

from acd.config import AgentProfile
from acd.model import AcdError
from acd.routing import AgentState, IllegalTransition
from acd.store import AcdStore
from console.accounts import Account, Accounts
from console.presence import Presence
from console.wrapups import Earlier
from core.api import ApiError
from core.ports import Refused
from records.wrapups import Wrapups

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """A move the agent's state does not allow is a refusal like the store's others."""
    try:
        yield
    except IllegalTransition as exc:
        raise Refused(IllegalTransition.code, str(exc)) from None


class AcdPresence:
    """Presence operations through the ACD store, on the agent file's profiles."""

    def __init__(
        self, store: AcdStore, agents: Mapping[str, AgentProfile], clock: Callable[[], float]
    ) -> None:
        self.store, self.agents, self.clock = store, agents, clock

    async def presence(self, agent_id: str) -> Presence:
        """The agent's state (logged out if the ACD has never seen them)."""
        view = await self.store.agent(agent_id)
        if view is None:
            return Presence(AgentState.LOGGED_OUT.value)
        return Presence(view.state.value, view.pause_reason)

    async def go_available(self, agent_id: str) -> None:
        """Log in to the profile's queues on its first device, or resume from a pause."""
        with _refusals():
            await self._go_available(agent_id)

    async def _go_available(self, agent_id: str) -> None:
        view = await self.store.agent(agent_id)
        if view is None or view.state is AgentState.LOGGED_OUT:
            profile = self.agents.get(agent_id)
            if profile is None:
                raise AcdError("unknown-agent", agent_id)
            await self.store.login(agent_id, profile.queues, profile.devices[0], self.clock())
        elif view.state is AgentState.PAUSED:
            await self.store.resume(agent_id, self.clock())

    async def pause(self, agent_id: str, reason: str) -> None:
        """Pause in every queue."""
        with _refusals():
            await self.store.pause(agent_id, reason, self.clock())

    async def sign_off(self, agent_id: str) -> None:
        """Log out of every queue."""
        with _refusals():
            await self.store.logout(agent_id, self.clock())


class RecordsWrapups:
    """Wrap-ups through the records store, with each queue's dispositions."""

    def __init__(self, wrapups: Wrapups) -> None:
        self.wrapups = wrapups

    def dispositions(self, queue: str) -> tuple[str, ...]:
        """The queue file's dispositions."""
        rules = self.wrapups.queues.get(queue)
        return rules.dispositions if rules else ()

    async def write(self, call_id: str, agent_id: str, disposition: str, notes: str) -> None:
        """Store the wrap-up (notes scrubbed of phone and card numbers by the records side)."""
        await self.wrapups.write(call_id, agent_id, disposition, notes)

    async def earlier(self, call_id: str, agent_id: str) -> Earlier | None:
        """The records store's contact history of the call's caller."""
        try:
            found = await self.wrapups.history(call_id, agent_id)
        except (ApiError, SQLAlchemyError, OSError) as exc:
            logger.info("%s: no contact history for the console: %s", call_id, exc)
            return None
        return Earlier(found.earlier_contacts, tuple(found.last_dispositions))


def console_accounts(profiles: Iterable[AgentProfile]) -> Accounts:
    """Every agent as a console account, with their role and the file's password hash."""
    return Accounts(Account(p.id, p.name, p.role, p.password_hash) for p in profiles)
