"""Light and dark themes: View > Theme > System / Light / Dark, remembered in the settings.

"System" follows the desktop's colour scheme (Qt's style hints) and changes with it. The theme is
one QPalette on the application (Fusion style, so every platform draws it alike); plots read their
colours from `plot_colours()`, and widgets that paint themselves listen to `ThemeMenu.changed`.
"""

from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

THEMES = ("system", "light", "dark")
SETTINGS_KEY = "theme"
Role = QtGui.QPalette.ColorRole

DARK = {Role.Window: "#2b2b2e", Role.WindowText: "#e6e6e6", Role.Base: "#1f1f22", Role.AlternateBase: "#2b2b2e",
        Role.ToolTipBase: "#3a3a3e", Role.ToolTipText: "#f0f0f0", Role.Text: "#e6e6e6", Role.Button: "#36363a",
        Role.ButtonText: "#e6e6e6", Role.BrightText: "#ff6b6b", Role.Link: "#6ab0ff", Role.Highlight: "#2f6db5",
        Role.HighlightedText: "#ffffff", Role.PlaceholderText: "#8c8c90", Role.Mid: "#444448",
        Role.Dark: "#1a1a1c", Role.Light: "#4a4a4e", Role.Midlight: "#3c3c40", Role.Shadow: "#111112"}
DISABLED_TEXT = "#7a7a7e"


def saved_theme(settings: QtCore.QSettings) -> str:
    value = str(settings.value(SETTINGS_KEY, "system") or "system")
    return value if value in THEMES else "system"


def desktop_is_dark() -> bool:
    """Whether the desktop asks for dark colours (Qt 6.5+ style hints, else the palette's lightness)."""
    app = QtWidgets.QApplication.instance()
    if app is None:
        return False
    hints = QtGui.QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    if scheme is not None:
        value = scheme()
        if value == QtCore.Qt.ColorScheme.Dark:
            return True
        if value == QtCore.Qt.ColorScheme.Light:
            return False
    return app.style().standardPalette().color(Role.Window).lightness() < 128


def is_dark(theme: str) -> bool:
    return theme == "dark" or (theme == "system" and desktop_is_dark())


def dark_palette() -> QtGui.QPalette:
    palette = QtGui.QPalette()
    for role, colour in DARK.items():
        palette.setColor(role, QtGui.QColor(colour))
    for role in (Role.Text, Role.WindowText, Role.ButtonText):
        palette.setColor(QtGui.QPalette.ColorGroup.Disabled, role, QtGui.QColor(DISABLED_TEXT))
    return palette


def apply_theme(theme: str) -> bool:
    """Put `theme`'s palette on the application; True when the result is dark."""
    app = QtWidgets.QApplication.instance()
    dark = is_dark(theme)
    if app is None:
        return dark
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    app.setPalette(dark_palette() if dark else app.style().standardPalette())
    return dark


def plot_colours(dark: bool) -> dict[str, str]:
    """Background, foreground (axes, text) and a faint colour for pyqtgraph plots."""
    return {"background": "#1f1f22", "foreground": "#d0d0d0", "faint": "#5a5a60"} if dark else \
        {"background": "#ffffff", "foreground": "#333333", "faint": "#b4b4b4"}


class ThemeMenu(QtCore.QObject):
    """View > Theme: three exclusive choices, the choice remembered, the desktop followed under System."""

    changed = QtCore.pyqtSignal(bool)            # dark or not, after every change

    def __init__(self, menu: QtWidgets.QMenu, settings: QtCore.QSettings, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self.theme = saved_theme(settings)
        self.dark = False
        self.menu = menu.addMenu("&Theme")
        group = QtGui.QActionGroup(self)
        self.actions: dict[str, QtGui.QAction] = {}
        for name in THEMES:
            action = self.menu.addAction(name.capitalize() + (" (follow the desktop)" if name == "system" else ""))
            action.setCheckable(True)
            action.setChecked(name == self.theme)
            action.triggered.connect(lambda _on, n=name: self.set_theme(n))
            group.addAction(action)
            self.actions[name] = action
        hints = QtGui.QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(lambda *_: self.set_theme(self.theme) if self.theme == "system" else None)
        self.set_theme(self.theme, remember=False)

    def set_theme(self, theme: str, remember: bool = True) -> None:
        if theme not in THEMES:
            raise ValueError(f"theme {theme!r}: choose one of {', '.join(THEMES)}")
        self.theme = theme
        self.actions[theme].setChecked(True)
        if remember:
            self.settings.setValue(SETTINGS_KEY, theme)
        self.dark = apply_theme(theme)
        self.changed.emit(self.dark)
