#!/usr/bin/env python3
"""Opt-out import into the local store: time and peak memory, and that a second run adds
nothing.

Writes a CSV of ROWS rows (phone,date,source; every 100th phone invalid, so 1%) and a
configuration with a fresh data directory, stores the example account, then runs
`smsflow optouts import` twice under `/usr/bin/time -v`. Reports wall time, peak RSS and the
import summary of each run, and checks that the first run accepted every valid row, that
both listed every invalid line, and that the second run accepted nothing.

    python3 bench/optout_import.py target/release/smsflow [ROWS=100000]
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "smsflow.example.toml")


def write_csv(path, rows):
    invalid = []
    with open(path, "w") as f:
        f.write("phone,date,source\n")
        for i in range(rows):
            line = i + 2  # the header is line 1
            if i % 100 == 99:
                f.write(f"555-{i % 100:02d},2024-05-01,bench\n")
                invalid.append(line)
            else:
                # Ten exchanges of 10,000 lines each in Minneapolis' 952 area code.
                exchange = 314 + i // 10_000
                f.write(f"(952) {exchange}-{i % 10_000:04d},2024-05-01,bench\n")
    return invalid


def timed(cmd):
    proc = subprocess.run(
        ["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, check=False
    )
    stats = proc.stderr
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", stats)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stats)
    return proc, wall.group(1) if wall else "?", int(rss.group(1)) if rss else 0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    work = tempfile.mkdtemp(prefix="smsflow-optout-bench-")
    try:
        data = os.path.join(work, "data")
        config = os.path.join(work, "smsflow.toml")
        with open(EXAMPLE) as f:
            text = re.sub(r'(?m)^data_dir = .*$', f'data_dir = "{data}"', f.read())
        with open(config, "w") as f:
            f.write(text)
        csv_path = os.path.join(work, "optouts.csv")
        invalid = write_csv(csv_path, rows)
        size_mb = os.path.getsize(csv_path) / 1e6
        subprocess.run(
            [binary, "accounts", "push", "--config", config],
            check=True,
            capture_output=True,
        )
        cmd = [binary, "--json", "optouts", "import", csv_path, "--account", "acme",
               "--config", config]
        print(f"{rows} rows ({len(invalid)} invalid), {size_mb:.1f} MB, binary {binary}")
        results = []
        for run in (1, 2):
            proc, wall, rss = timed(cmd)
            # Exit code 6: finished, with rejected rows listed.
            if proc.returncode != 6:
                sys.exit(f"run {run}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
            summary = json.loads(proc.stdout)
            lines = [r["line"] for r in summary["invalid"]]
            assert lines == invalid, f"run {run}: invalid lines differ"
            results.append(summary)
            print(
                f"run {run}: wall {wall}, peak RSS {rss / 1024:.1f} MiB, "
                f"accepted {summary['accepted']}, duplicates {summary['duplicates']}, "
                f"invalid {len(summary['invalid'])}"
            )
        valid = rows - len(invalid)
        assert results[0]["accepted"] == valid, "first run must accept every valid row"
        assert results[1]["accepted"] == 0, "second run must add nothing"
        assert results[1]["duplicates"] == valid, "second run: every valid row a duplicate"
        db = os.path.join(data, "smsflow.redb")
        print(f"database file {os.path.getsize(db) / 1e6:.1f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
