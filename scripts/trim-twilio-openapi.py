#!/usr/bin/env python3
"""Writes the part of Twilio's OpenAPI definition (twilio/twilio-oai,
spec/json/twilio_api_v2010.json) that `smsflow numbers` calls: the operations below, the
component schemas they reference (transitively), the security scheme, info and servers.
The Twilio mock of the tests validates every request against it
(stack/src/twilio_numbers/openapi.rs), so CI needs no copy of the whole 1.9 MB file.

    python3 scripts/trim-twilio-openapi.py SPEC.json [OUT.json]
    (default OUT: stack/fixtures/twilio/twilio_api_v2010.numbers.json)

Run it again on a newer spec to follow Twilio's changes; the output is sorted and stable.
"""

import json
import sys
from pathlib import Path

ACCOUNT = "/2010-04-01/Accounts/{AccountSid}"
# Path -> the methods kept.
OPERATIONS = {
    f"{ACCOUNT}/AvailablePhoneNumbers/{{CountryCode}}/Local.json": ["get"],
    f"{ACCOUNT}/AvailablePhoneNumbers/{{CountryCode}}/TollFree.json": ["get"],
    f"{ACCOUNT}/AvailablePhoneNumbers/{{CountryCode}}/Mobile.json": ["get"],
    f"{ACCOUNT}/IncomingPhoneNumbers.json": ["get", "post"],
    f"{ACCOUNT}/IncomingPhoneNumbers/{{Sid}}.json": ["get", "post", "delete"],
}
DEFAULT_OUT = "stack/fixtures/twilio/twilio_api_v2010.numbers.json"
PREFIX = "#/components/schemas/"


def refs(node):
    """Every component schema name `node` references."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(PREFIX):
                yield value[len(PREFIX):]
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    spec = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2] if len(sys.argv) > 2 else DEFAULT_OUT)
    paths = {}
    for path, methods in OPERATIONS.items():
        item = spec["paths"][path]
        kept = {m: item[m] for m in methods}
        kept.update({k: v for k, v in item.items() if k not in ("get", "post", "delete", "put")})
        paths[path] = kept
    all_schemas = spec["components"]["schemas"]
    wanted, todo = set(), list(refs(paths))
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        todo.extend(refs(all_schemas[name]))
    trimmed = {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "servers": spec.get("servers", []),
        "security": spec.get("security", []),
        "paths": paths,
        "components": {
            "securitySchemes": spec["components"]["securitySchemes"],
            "schemas": {name: all_schemas[name] for name in sorted(wanted)},
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(trimmed, indent=1, sort_keys=True) + "\n")
    print(f"{out}: {len(paths)} paths, {len(wanted)} schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
