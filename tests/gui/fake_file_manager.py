"""A stand-in for the desktop's file manager on a D-Bus bus: logs each ShowItems call.

    python fake_file_manager.py BUS_ADDRESS LOG_FILE

Prints "ready" once it owns org.freedesktop.FileManager1.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import ClassInfo, QCoreApplication, QObject, Slot
from PySide6.QtDBus import QDBusConnection


@ClassInfo({"D-Bus Interface": "org.freedesktop.FileManager1"})
class FileManager(QObject):
    """The one method of the interface the app calls."""

    def __init__(self, log: str) -> None:
        super().__init__()
        self.log = log

    @Slot("QStringList", str)
    def ShowItems(self, uris: list[str], startup_id: str) -> None:  # noqa: N802
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(" ".join(uris) + "\n")


def main() -> None:
    app = QCoreApplication([])
    bus = QDBusConnection.connectToBus(sys.argv[1], "fake-file-manager")
    manager = FileManager(sys.argv[2])
    if not (bus.registerObject("/org/freedesktop/FileManager1", manager,
                               QDBusConnection.RegisterOption.ExportAllSlots)
            and bus.registerService("org.freedesktop.FileManager1")):
        sys.exit(f"could not register on {sys.argv[1]}: {bus.lastError().message()}")
    print("ready", flush=True)
    app.exec()


if __name__ == "__main__":
    main()
