"""Telethon pledges: campaigns, the pledge rules and store, payment links and the tote board."""
