"""Qt widgets of the browser; they hold models (`app.model`), never a file handle."""
