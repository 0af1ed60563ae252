"""``tideover demo``: the product's main job on a throwaway store, in one command."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from app.services import tasks as ts
from app.services.demo import DEMO_PASSWORD, seed_demo
from app.services.demo_central import EmbeddedCentral, enroll_and_sync, summary_line

from .tasks import print_board


def register(sub) -> None:
    p = sub.add_parser("demo", help="run Tideover on a throwaway store with synthetic patients",
                       description="Sets up a throwaway encrypted store with synthetic users, census and one "
                                   "task per workflow, moves each along, starts an embedded central on "
                                   "loopback, enrolls the store with it and syncs. With a display, opens the "
                                   "desktop app on it (syncing in the background); with --headless or no "
                                   "display, prints the sync summary, the unit's board and the audit check.")
    p.add_argument("--headless", action="store_true", help="print to the terminal instead of opening the app")
    p.add_argument("--keep", action="store_true", help="keep the demo store (its folder is printed)")
    p.set_defaults(run=cmd_demo)


def cmd_demo(args, ctx) -> int:
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="tideover-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    central = EmbeddedCentral(data_dir).start()  # starts while the store is seeded
    try:
        store, made = seed_demo(data_dir / "store")
        ctx.adopt(store)
        synced = enroll_and_sync(store, central)
        if not args.headless:
            from .launcher import launch_gui_demo

            code = launch_gui_demo(store, data_dir)
            if code is not None:
                return code
        print(f"Demo workstation: site {store.site_id}, unit {store.unit_id}, device {store.device_id}")
        print(f"Users: admin, nina, colm, sam (password: {DEMO_PASSWORD!r})")
        print(summary_line(synced) + "\n")
        print("Captured one task in each workflow and moved it along:")
        for workflow, task_id in made.items():
            task = ts.show_task(store, task_id, record_view=False)
            moves = " -> ".join(e["to_status"] for e in task["timeline"] if e.get("to_status"))
            print(f"  {workflow:<20} {task_id}  {moves}  (to {task['destination']})")
        print("\nUnit board (open tasks):")
        print_board(ts.list_tasks(store, open_only=True))
        n = store.verify()
        print(f"\naudit verify: {n} events, every chain intact, checkpoint signature valid")
        if args.keep:
            print(f"\nThe demo store is kept in {data_dir / 'store'}")
        return 0
    finally:
        try:
            ctx.close()
        finally:
            central.stop()
        if not args.keep and not args.data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
