"""The params wizard: from a recording on disk to a `.params` file the sorter reads, in five pages.

Data file -> fields -> probe -> preview -> write, one module per page, and `shell`
holds them. The widgets only translate between the user and the Qt-free
`app.model.wizard` (what to ask, suggest and write) and `app.model.wizard_state`
(the user's answers and what each page says), which construct the real DataFile
for every answer; anything that touches the file runs on a worker thread and
stale answers are dropped. Nothing is written before Finish: cancelling at any
page leaves the disk as it was.
"""

from app.views.wizard.shell import ParamsWizard

__all__ = ["ParamsWizard"]
