"""The configuration reference in docs/server.md, made from the declarations (a test holds
the docs to it): `python -m dispatch_server.config.reference` prints the table."""

from __future__ import annotations

from typing import Any

import attrs

from dispatch_server.config._fields import declared
from dispatch_server.config.settings import GROUPS


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def markdown_table() -> str:
    rows = ["| variable | default | accepts | what it does |", "|---|---|---|---|"]
    for group in GROUPS:
        for field in attrs.fields(group):
            setting = declared(field)
            default = setting.shown_default or _shown(field.default)
            what = setting.help
            if setting.required_in_production:
                what += "; **required** when `DISPATCH_ENV=production`"
            rows.append(f"| `{setting.env}` | {default} | {setting.parse.accepts} | {what} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
