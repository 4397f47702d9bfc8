"""Where the trace view used to live; it is the `app.views.trace` package now."""

from app.views.trace import BACKGROUND, MARGIN_LEFT, TracePanel, TraceView  # noqa: F401
