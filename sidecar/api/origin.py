"""What a browser request's trusted headers say about the visitor: region and GPC."""

from __future__ import annotations

from typing import Any

from sidecar.decision.consent import RequestOrigin

# Custom request headers the load balancer adds to every request it forwards (Terraform,
# modules/edge: {client_region} and {client_region_subdivision}); the sidecar's ingress only
# admits traffic through the load balancer, so a browser cannot set them itself.
REGION_HEADER = "X-Sgtm-Client-Region"
SUBDIVISION_HEADER = "X-Sgtm-Client-Region-Subdivision"


def browser_origin(headers: Any) -> RequestOrigin:
    """The visitor's region and Global Privacy Control from a browser request's headers.

    Only browser calls have them: a server-signed call comes from the shop's backend, whose
    location says nothing about the visitor (the plan's default region applies)."""
    country = (headers.get(REGION_HEADER) or "").strip().upper()
    subdivision = (headers.get(SUBDIVISION_HEADER) or "").strip().upper()
    valid_country = len(country) == 2 and country.isascii() and country.isalpha()
    valid_sub = 0 < len(subdivision) <= 6 and subdivision.replace("-", "").isalnum()
    return RequestOrigin(
        country=country if valid_country else None,
        subdivision=subdivision if valid_country and valid_sub and subdivision.isascii() else None,
        gpc=(headers.get("Sec-GPC") or "").strip() == "1",
    )
