"""The launcher in the desktop's menus, written as `jina-edge-gui --install-desktop-entry` does."""

from __future__ import annotations

import configparser
import shlex
import sys
from pathlib import Path

import pytest

from jina_edge.gui.app import main


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="a freedesktop.org feature")
def test_install_desktop_entry_writes_a_launcher_and_its_icon(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # The app had no icon and no launcher in the menus (issue 30).
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data dir"))  # a space to quote
    script = tmp_path / "bin dir" / "jina-edge-gui"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "argv", [str(script), "--install-desktop-entry"])
    assert main() == 0
    entry = tmp_path / "data dir" / "applications" / "jina-edge.desktop"
    assert str(entry) in capsys.readouterr().out
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.optionxform = str  # type: ignore[assignment, method-assign]
    parsed.read(entry, encoding="utf-8")
    desktop = parsed["Desktop Entry"]
    assert desktop["Type"] == "Application" and desktop["Name"] == "jina-edge"
    assert shlex.split(desktop["Exec"]) == [str(script)]  # the running script, quoted
    icon = Path(desktop["Icon"])
    assert icon.read_text().startswith("<svg") and icon.parent.name == "apps"


def test_help_names_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jina-edge-gui", "--help"]) == 0
    assert "--install-desktop-entry" in capsys.readouterr().out
