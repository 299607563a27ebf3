"""A caller's way through the menus, as the volunteer's screen-pop shows it."""

from __future__ import annotations

from collections.abc import Sequence

from ivr.flow import Flow, MenuNode


def readable_path(flow: Flow, history: Sequence[str]) -> str:
    """The choices in ``history`` ("node=digit" or "node=language") as "language: fr >
    main_menu: 2 (youth)": each node, the choice made, and for a menu where it led."""
    steps = []
    for entry in history:
        node_id, _, choice = entry.partition("=")
        node = flow.nodes.get(node_id)
        if isinstance(node, MenuNode) and choice in node.options:
            steps.append(f"{node_id}: {choice} ({node.options[choice]})")
        else:
            steps.append(f"{node_id}: {choice}")
    return " > ".join(steps)
