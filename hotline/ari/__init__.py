"""Asterisk REST Interface client: REST calls, typed events, websocket with reconnect."""
