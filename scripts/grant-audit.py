#!/usr/bin/env python3
"""Sums the grants the stack scenarios used (target/stack-audit/*.json, written by each
stack scenario of the end-to-end suite) and lists, per function, the DynamoDB, SQS and SES
actions its role grants that no scenario used: a grant to drop, or a path no scenario
covers yet. Records older than template.yaml are left out: they were written against an
earlier template, whose grants may since have changed.

    python3 scripts/grant-audit.py [AUDIT_DIR]      (default: target/stack-audit)
"""

import json
import sys
from pathlib import Path


def main() -> int:
    audit_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "target/stack-audit")
    template_changed = Path("template.yaml").stat().st_mtime
    all_files = sorted(audit_dir.glob("*.json"))
    files = [f for f in all_files if f.stat().st_mtime >= template_changed]
    if len(files) < len(all_files):
        print(f"grant-audit: {len(all_files) - len(files)} records older than template.yaml left out")
    if not files:
        print(f"grant-audit: no scenario records in {audit_dir} (run the end-to-end suite)")
        return 1
    granted: dict[str, set[str]] = {}
    used: dict[str, set[str]] = {}
    for path in files:
        for function, usage in json.loads(path.read_text()).items():
            granted.setdefault(function, set()).update(usage["granted"])
            used.setdefault(function, set()).update(usage["used"])
    print(f"grant-audit: {len(files)} stack scenarios")
    for function in sorted(granted):
        unused = sorted(granted[function] - used[function])
        print(f"  {function}: used {', '.join(sorted(used[function])) or 'nothing'}")
        print(f"  {' ' * len(function)}  unused {', '.join(unused) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
