"""The PySide6 desktop app, `jina-edge-gui`: views, controllers and workers over the services."""
