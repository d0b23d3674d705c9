"""The PySide6 desktop app, `jina-edge-gui`, over the library's public API.

One controller and one view per feature (`search_*`, `folders_*`, `models_*`,
`settings_*`), in a shell of `app`, `window`, `first_run` and `tray`; `context`
and `workers` are the plumbing the controllers share.
"""
