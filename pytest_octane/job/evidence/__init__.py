"""Evidence on every run (issue 23): the build context Octane knows, and the files tests attach.

``ci_server`` decides once per job whether ``<build>`` may be sent; ``attachments`` sends the
files attached to a slice's runs once its task has ended ``success`` or ``warning``.
"""

__all__: list[str] = []
