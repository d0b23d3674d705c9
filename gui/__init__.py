"""The PySide6 desktop app (arrives with the desktop-app issue)."""
