"""Asterisk configuration templates (``*.conf``), rendered by ``hotline.dialplans``."""
