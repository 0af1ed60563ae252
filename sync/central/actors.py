"""Who acted: the central takes an event only from an actor granted that role on its device.

The grants come in the device's own chain (sync/grants.py): ``device.initialized`` vouches for the
first admin's key, and every later grant is signed by an admin's own key. The central folds them,
checking every signature back to the device's genesis, and quarantines with ``actor_not_granted``
an event whose actor holds no such role there, and with ``grant_invalid`` a grant that does not
verify. The check runs under the write lock, so it sees exactly the device's chain as committed.

Keeping it fast: the grants of a device are kept per process (``CentralDB.cache``), as of a
``device_seq``; a batch reads only the grants committed since then (another server may have taken
the batches in between), through the partial index ``events_trust``. Per event the check is a
dictionary lookup; signatures are checked only for grants.
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa

from sync.grants import TRUST_TYPES, GrantBook
from sync.protocol import QUARANTINED

from .db import TRUST_WHERE, CentralDB, events

_CACHE = "grant_books"


def check_actors(db: CentralDB, conn: sa.Connection, device_id: str, new: list[dict],
                 verdicts: dict[int, tuple | None]) -> GrantBook:
    """Set the verdict of each new event (in seq order, the first at the device's head + 1) whose
    actor or grant the device's grants do not allow; return the grants after them, for ``remember``."""
    book = _book_at(db, conn, device_id, new[0]["device_seq"] - 1)
    users = book.users  # the same object as long as no grant is taken; looked up once per event
    for ev in new:
        seq = ev["device_seq"]
        if verdicts.get(seq) is not None:
            continue
        if ev["type"] not in TRUST_TYPES:  # the common case, as GrantBook.problem decides it
            actor = ev["actor"]
            held = users.get(actor["user_id"])
            if held is not None and held[0] == actor["role"]:
                continue
        problem = book.problem(ev)
        if problem is not None:
            verdicts[seq] = (QUARANTINED, problem[0], problem[1])
        elif ev["type"] in TRUST_TYPES:
            book.take(ev)
    book.upto = new[-1]["device_seq"]
    return book


def remember(db: CentralDB, book: GrantBook | None) -> None:
    """Keep a device's grants once the batch that made them has committed."""
    if book is None:
        return
    cache = db.cache.setdefault(_CACHE, {})
    held = cache.get(book.device_id)
    if held is None or held.upto < book.upto:
        cache[book.device_id] = book


def forget(db: CentralDB, device_id: str) -> None:
    db.cache.get(_CACHE, {}).pop(device_id, None)


def _book_at(db: CentralDB, conn: sa.Connection, device_id: str, upto: int) -> GrantBook:
    held = db.cache.get(_CACHE, {}).get(device_id)
    if held is not None and held.upto <= upto:
        book, after = held.copy(), held.upto
    else:
        book, after = GrantBook(device_id), 0
    if after < upto:
        q = (sa.select(events.c.body).where(events.c.device_id == device_id, events.c.device_seq > after,
                                            events.c.device_seq <= upto, TRUST_WHERE)
             .order_by(events.c.device_seq))
        for (body,) in conn.execute(q):
            book.take(orjson.loads(body))
    book.upto = upto
    return book
