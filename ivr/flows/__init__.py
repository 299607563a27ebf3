"""IVR flow files shipped with the package (``demo.toml``)."""
