"""The trace browser's main view: a canvas of rasterised traces (`canvas.TraceView`), its ring
of columns (`ring`), stream lanes (`lanes`), decorations behind one overlay protocol
(`decorations`), input (`input`) and the panel with toolbar and scrollbar (`panel`)."""

from app.views.trace.canvas import TraceView
from app.views.trace.decorations import MARGIN_LEFT, Overlay, format_seconds, nice_step
from app.views.trace.panel import TracePanel
from app.views.trace.ring import BACKGROUND, RasterRing, ring_shift, ring_spans

__all__ = ["BACKGROUND", "MARGIN_LEFT", "Overlay", "RasterRing", "TracePanel", "TraceView", "format_seconds",
           "nice_step", "ring_shift", "ring_spans"]
