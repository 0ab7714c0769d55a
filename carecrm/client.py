"""Which address a request came from: the one answer django-axes (sign-in lockouts), the access
log and the public form's rate limit all use.

Behind `TRUSTED_PROXY_COUNT` reverse proxies the client is that many entries from the end of
X-Forwarded-For (each proxy appends the address it was connected from). With 0, or when the header
is shorter than that or the entry is no address, it is the connecting address. Entries further
left are whatever the client wrote and are never used.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    connected = request.META.get("REMOTE_ADDR", "")
    hops_trusted = settings.TRUSTED_PROXY_COUNT
    if hops_trusted:
        hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
        if len(hops) >= hops_trusted and _is_ip(hops[-hops_trusted]):
            return hops[-hops_trusted]
    return connected


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
