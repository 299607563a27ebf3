"""Declarative IVR: flow files, business hours and the call-flow state machine."""
