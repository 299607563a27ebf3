"""The web console under ``/console``: sign-in, the volunteer's screen, live screen-pops.

Server-rendered pages (Jinja2), a little JavaScript of our own, sessions in Redis
(aiohttp-session), live events by Server-Sent Events from the ACD's queue log. Imports ``core``
only: the wiring (``hotline.app``) hands it the accounts and the presence desk.
"""
