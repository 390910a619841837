"""The catalogue: what can be bought, and its price by card and on chain.

One product today, `multi_inbox`: it lifts the one-inbox limit of a free workspace while
`DISPATCH_ENFORCE_MULTI_INBOX_UPGRADE=true`. Prices come from the settings.
"""

from __future__ import annotations

import attrs

from dispatch_server.config.settings import USDC_DECIMALS, Billing
from dispatch_server.core.errors import DomainError, ErrorCode

MULTI_INBOX = "multi_inbox"


@attrs.frozen(kw_only=True)
class Product:
    id: str
    name: str
    description: str
    price_cents: int  # by card, in `currency`
    currency: str
    usdc_amount: int  # on chain, in USDC base units

    @property
    def usdc_display(self) -> str:
        """The on-chain price in dollars (`9.00`), as quotes show it."""
        whole, fraction = divmod(self.usdc_amount, 10**USDC_DECIMALS)
        return f"{whole}.{fraction:0{USDC_DECIMALS}d}".rstrip("0").rstrip(".") or "0"


def catalogue(settings: Billing) -> dict[str, Product]:
    return {
        MULTI_INBOX: Product(
            id=MULTI_INBOX,
            name="Dispatch multi-inbox",
            description="More than one inbox in the workspace",
            price_cents=settings.multi_inbox_price_cents,
            currency=settings.currency,
            usdc_amount=settings.multi_inbox_usdc,
        )
    }


def product(settings: Billing, product_id: str, *, param: str = "product") -> Product:
    """The catalogue's product of that id, or `400 product_unknown`."""
    found = catalogue(settings).get(product_id)
    if found is None:
        raise DomainError(
            f"no product {product_id!r}; the catalogue has {', '.join(catalogue(settings))}",
            code=ErrorCode.PRODUCT_UNKNOWN,
            param=param,
        )
    return found
