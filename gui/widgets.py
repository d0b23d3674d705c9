"""Small helpers every view uses to make its dialogs, boxes and menus."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

W = TypeVar("W", bound=QWidget)


def transient(widget: W) -> W:
    """`widget`, deleted once closed.

    Else the window keeps every dialog, box and menu it ever opened (and their
    popups) for as long as the app runs.
    """
    widget.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    return widget
