"""The signed bundle: build time, size and its biggest parts, and start-up to the unlock screen,
frozen against from source in the same run (Qt offscreen).

    python benchmarks/installer.py --signing-key release.key [--json]     # builds into a temp folder
    python benchmarks/installer.py --bundle dist/tideover [--json]        # times an existing bundle

Prints one JSON object:
  build_s                   packaging/build.py end to end (PyInstaller, SBOM, signed manifest); null with --bundle
  bundle_mb, files          the bundle folder; biggest_parts: its largest parts in MB
  frozen_start_to_unlock_ms process start of the bundle's `tideover` (no Python, no venv on PATH) to the
                            unlock screen's first paint, median of --runs
  source_start_to_unlock_ms the same from source (`python -m app.cli` in the venv): the baseline
  verify_s                  `tideover-verify` over the whole bundle
The start is timed with the app's TIDEOVER_EXIT_AT_UNLOCK_PAINT probe (app/ui/main.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.services.demo import seed_demo  # noqa: E402

TARGETS = {"build_s": 300, "bundle_mb": 250, "frozen_start_to_unlock_ms": 3000}


def start_ms(cmd: list[str], env: dict, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.time()
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
        painted = [line for line in out.stdout.splitlines() if line.startswith("unlock-painted ")]
        if out.returncode != 0 or not painted:
            raise SystemExit(f"start-up of {cmd[0]} failed (exit {out.returncode}): {out.stderr[-2000:]}")
        times.append((float(painted[-1].split()[1]) - t0) * 1000)
    return round(statistics.median(times), 1)


def clean_env(data_dir: Path) -> dict:
    """No venv, no Python path: what a ward workstation has."""
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and not p.startswith(str(Path(sys.executable).parent)))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    return {**env, "PATH": path, "QT_QPA_PLATFORM": "offscreen", "TIDEOVER_EXIT_AT_UNLOCK_PAINT": "1",
            "TIDEOVER_DATA_DIR": str(data_dir)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--signing-key", type=Path, help="build with this release key (into a temp folder)")
    parser.add_argument("--bundle", type=Path, help="an already built bundle folder")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="(the output is always JSON)")
    args = parser.parse_args()
    if not (args.bundle or args.signing_key):
        parser.error("give --signing-key (build) or --bundle")
    with tempfile.TemporaryDirectory(prefix="tideover-bench-installer-") as tmp:
        tmp = Path(tmp)
        result: dict = {"build_s": None}
        bundle = args.bundle
        if bundle is None:
            out = subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "--signing-key",
                                  str(args.signing_key), "--dist", str(tmp / "dist"), "--work", str(tmp / "work")],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"build failed: {out.stderr[-3000:]}")
            built = json.loads(out.stdout)
            bundle = Path(built["bundle"])
            result.update(build_s=built["build_s"], bundle_mb=built["bundle_mb"], files=built["files"],
                          biggest_parts=built["biggest_parts"])
        else:
            sys.path.insert(0, str(ROOT / "packaging"))
            from build import sizes

            total, count, biggest = sizes(bundle)
            result.update(bundle_mb=round(total / 1e6, 1), files=count, biggest_parts=biggest)
        store, _made = seed_demo(tmp / "store")
        store.close()
        env = clean_env(tmp / "store")
        result["frozen_start_to_unlock_ms"] = start_ms([str(bundle / "tideover")], env, args.runs)
        source_env = {**env, "PATH": os.environ.get("PATH", "")}
        result["source_start_to_unlock_ms"] = start_ms([sys.executable, "-m", "app.cli"], source_env, args.runs)
        if args.signing_key:
            pub = tmp / "release.pub"
            from cryptography.hazmat.primitives import serialization

            from sync.keyfiles import load_private_key

            passphrase = os.environ.get("TIDEOVER_RELEASE_PASSPHRASE")
            key = load_private_key(args.signing_key, passphrase.encode() if passphrase else None)
            pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
            t0 = time.monotonic()
            subprocess.run([sys.executable, "-m", "app.cli.release", str(bundle), "--public-key", str(pub)],
                           capture_output=True, check=False)
            result["verify_s"] = round(time.monotonic() - t0, 2)
        result["targets"] = TARGETS
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
