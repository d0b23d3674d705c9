"""Qt item models fed plain rows through `set_rows` (the views never see the database).

`ResultsModel` holds the search page's results; `TableModel` the folders and
problems tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)

from jina_edge import Hit

HitRole = Qt.ItemDataRole.UserRole + 1
RowRole = Qt.ItemDataRole.UserRole + 2

_Index = QModelIndex | QPersistentModelIndex


class ResultsModel(QAbstractListModel):
    """Search results, one file per row; `HitRole` gives the FileHit itself to the delegate."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Any] = []  # FileHits, a type the library does not export

    def set_rows(self, rows: Sequence[Any]) -> None:
        """Replace every row."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def hit(self, row: int) -> Hit | None:
        """The best passage of the file at `row` (what is previewed and opened), or None."""
        return self._rows[row].passages[0] if 0 <= row < len(self._rows) else None

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802, D102
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: D102
        result = self._rows[index.row()] if index.isValid() and index.row() < len(
            self._rows) else None
        if result is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return result.path.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join(str(p) for p in (result.path, *result.also_at))
        if role == HitRole:
            return result
        return None


class TableModel(QAbstractTableModel):
    """A read-only table of plain rows (tuples of values), with column headers.

    `RowRole` on any cell gives the whole row; `key` (a column) names a row for
    `row_for`, so a selection can be restored after `set_rows`.
    """

    def __init__(self, headers: Sequence[str], parent: Any = None) -> None:
        super().__init__(parent)
        self.headers = list(headers)
        self._rows: list[tuple[Any, ...]] = []
        self._tooltips: list[str | None] = []

    def set_rows(self, rows: Sequence[tuple[Any, ...]],
                 tooltips: Sequence[str | None] | None = None) -> None:
        """Replace every row; `tooltips` (one per row) shows on hover."""
        self.beginResetModel()
        self._rows = [tuple(r) for r in rows]
        self._tooltips = list(tooltips) if tooltips is not None else [None] * len(self._rows)
        self.endResetModel()

    def row(self, row: int) -> tuple[Any, ...] | None:
        """The plain row at `row`, or None."""
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rows(self) -> list[tuple[Any, ...]]:
        """All rows."""
        return list(self._rows)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802, D102
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802, D102
        return 0 if parent.isValid() else len(self.headers)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: D102
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            value = row[index.column()] if index.column() < len(row) else ""
            return "" if value is None else str(value)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltips[index.row()]
        if role == RowRole:
            return row
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802, D102
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal
                and 0 <= section < len(self.headers)):
            return self.headers[section]
        return None
