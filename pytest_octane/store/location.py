"""describe_location: a store location fit for messages, any password masked."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["URL_SCHEME", "describe_location"]

URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_QUERY_SECRET = re.compile(r"(?i)(^|&)(password|passwd|pwd|sslpassword)=[^&]*")


def describe_location(location: str) -> str:
    """Return ``location`` fit for messages and reprs: any password replaced by ``***``."""
    if not URL_SCHEME.match(location):
        return location
    try:
        parts = urlsplit(location)
        _ = parts.port  # raises ValueError for a mangled authority
    except ValueError:
        # Unparsable: hide the whole user-info part rather than guess where a password ends.
        return re.sub(r"://[^/?#]*@", "://***@", location, count=1)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = _QUERY_SECRET.sub(r"\1\2=***", parts.query)
    masked = f"{parts.scheme}://{netloc}{parts.path}"
    if query:
        masked += f"?{query}"
    if parts.fragment:
        masked += f"#{parts.fragment}"
    return masked
