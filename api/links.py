"""Signed links to the explanation page: how a browser, which sends no bearer header, opens a keyed server's page.

With `OVERLAY_API_KEY` set, the link a completion returns (`overlay.trace_url`) carries `sig`, an HMAC-SHA256
of the trace id under the key. It opens that one page (`GET /traces/{id}`) and nothing else: not another
trace, not the JSON routes, no write. It does not expire, as a trace never changes; a new key revokes every
link. The key itself never goes into a URL (browser history, proxy logs), which is why the query carries a
MAC of the id rather than the key.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

SIG_CHARS = 32  # hex digits kept of the MAC: 128 bits
_PURPOSE = b"overlay trace page\0"  # so a MAC made here opens nothing a later signed link might


def sign(key: str, trace_id: str) -> str:
    return hmac.new(key.encode(), _PURPOSE + trace_id.encode(), hashlib.sha256).hexdigest()[:SIG_CHARS]


def signed(key: str, trace_id: str, sig: str | None) -> bool:
    """Whether `sig` opens this trace's page (a constant-time comparison)."""
    return sig is not None and hmac.compare_digest(sig.encode(), sign(key, trace_id).encode())


def trace_link(key: str | None, trace_id: str) -> str:
    """The explanation page's path, signed where the server has a key (a browser opens it as it is)."""
    path = f"/traces/{quote(trace_id, safe='')}"
    return f"{path}?sig={sign(key, trace_id)}" if key else path
