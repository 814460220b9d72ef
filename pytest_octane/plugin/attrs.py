"""Names of the attributes the plugin puts on pytest's reports.

Shared by the hooks (``plugin/__init__.py``, ``attach.py``) and the collector; a module of its
own so that an inactive plugin imports neither the collector nor the model (issue 28), and so
that the collector does not import the package that imports it.
"""

from __future__ import annotations

__all__ = ["ATTACH_ATTR", "JIRA_ATTR"]

#: Report attribute set on xdist workers (see ``WorkerJiraKeys``); a plain list of strings
#: survives xdist's serialisation.
JIRA_ATTR = "octane_jira_keys"

#: Report attribute with the files attached during that phase (plain dicts, see attach.py).
ATTACH_ATTR = "octane_attachments"
