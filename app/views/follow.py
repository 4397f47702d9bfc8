"""The dock contract for views that show the open recording as a whole (stream tree, probe)."""

from __future__ import annotations

from app.model.session import Session


class FollowsRecording:
    """`set_session` for a view with `set_recording(recording)`: shown now, and again whenever
    the session opens, closes or changes the probe of its recording."""

    def set_session(self, session: Session) -> None:
        self._session = session
        session.subscribe(self._session_changed)
        self.set_recording(session.recording)

    def _session_changed(self, topic: str, _value) -> None:
        if topic in ("opened", "closed", "probe"):
            self.set_recording(self._session.recording)
