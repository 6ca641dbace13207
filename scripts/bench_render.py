"""Prints, per stack, how many resources the program registers, the render's wall time and the
peak memory of the process that rendered it. Each stack renders in a fresh interpreter, so the
figures include the import cost a user pays. Figures, not assertions."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, resource, sys, time
start = time.perf_counter()
from cncfdemo import harness, render
imported = time.perf_counter()
try:
    run = harness.run_program(sys.argv[1])
except harness.ProgramError as err:
    print(json.dumps({"error": str(err).splitlines()[0]}))
    raise SystemExit(0)
ran = time.perf_counter()
render.write(run, __import__("pathlib").Path(sys.argv[2]))
done = time.perf_counter()
print(json.dumps({
    "resources": len(run.resources),
    "import_s": imported - start,
    "program_s": ran - imported,
    "write_s": done - ran,
    "total_s": done - start,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from cncfdemo.stackconfig import available_stacks

    print(f"{'stack':<14} {'resources':>9} {'import s':>9} {'program s':>10} {'write s':>8} "
          f"{'total s':>8} {'peak MB':>8}")
    for stack in available_stacks(ROOT):
        with tempfile.TemporaryDirectory() as out:
            result = subprocess.run([sys.executable, "-c", CHILD, stack, out], cwd=ROOT,
                                    capture_output=True, text=True)
        if result.returncode != 0:
            print(f"{stack:<14} failed: {result.stderr.strip().splitlines()[-1]}")
            continue
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        if "error" in figures:
            print(f"{stack:<14} does not render: {figures['error']}")
            continue
        print(f"{stack:<14} {figures['resources']:>9} {figures['import_s']:>9.2f} "
              f"{figures['program_s']:>10.2f} {figures['write_s']:>8.2f} "
              f"{figures['total_s']:>8.2f} {figures['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
