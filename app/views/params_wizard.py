"""The params wizard's old address; it lives in `app.views.wizard`."""

from app.views.wizard import ParamsWizard

__all__ = ["ParamsWizard"]
