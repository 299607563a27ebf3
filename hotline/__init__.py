"""The wiring on top of the features: the app, its HTTP server, metrics, harness and CLI."""
