"""Which console pages each role may open: checked by the server on every request."""

from __future__ import annotations

from typing import Final

#: Who takes calls: volunteers and supervisors (who are also in the agent file).
VOLUNTEER_PAGES: Final = ("agent", "supervisor")
#: The wallboard, the agents table and actions on agents.
SUPERVISOR_PAGES: Final = ("supervisor", "admin")
#: The accounts' list and first-login tokens.
ADMIN_PAGES: Final = ("admin",)
#: The error id of a page the role may not open.
WRONG_ROLE: Final = "wrong-role"


def home_of(role: str) -> str:
    """The page a signed-in account starts on."""
    if role in ADMIN_PAGES:
        return "/console/admin"
    return "/console/supervisor" if role in SUPERVISOR_PAGES else "/console/volunteer"
