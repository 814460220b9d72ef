"""Names of the attributes the plugin puts on pytest's reports.

Shared by the hooks (``plugin/__init__.py``, ``attach.py``) and the collector; a module of its
own so that an inactive plugin imports neither the collector nor the model (issue 28), so
that the collector does not import the package that imports it, and so that a session
without pytest-bdd does not import ``bdd.py``.
"""

from __future__ import annotations

__all__ = ["ATTACH_ATTR", "BDD_ATTR", "JIRA_ATTR"]

#: Report attribute set on xdist workers (see ``WorkerJiraKeys``); a plain list of strings
#: survives xdist's serialisation.
JIRA_ATTR = "octane_jira_keys"

#: Report attribute with the files attached during that phase (plain dicts, see attach.py).
ATTACH_ATTR = "octane_attachments"

#: Report attribute with a pytest-bdd scenario's data (a JSON-able dict, see bdd.py).
BDD_ATTR = "octane_bdd"
