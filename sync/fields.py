"""The formats of an event's fields, written once.

The event model (``sync.events.Event``), the central's fast check (``sync.validity.plainly_valid``),
the push envelope's first look (``sync.central.ingest_envelope``), the wire models
(``sync.protocol``) and the checkpoint take their patterns and lengths from here, so a workstation
and the central cannot come to disagree about what a well-formed event is.
"""

from __future__ import annotations

import re

ID_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z._:-]{0,63}$"  # site and unit ids (and a device id on the wire)
HASH_PATTERN = r"^[0-9a-f]{64}$"  # SHA-256, lowercase hex: an event's hash and prev_hash, a digest
EVENT_ID_LENGTH = 36  # a UUID in text
ID_MAX = 64  # device, task, user and correlation ids
NAME_MAX = 120  # a person's display name, a source, a destination
INT_MAX = 2 ** 53 - 1  # the largest integer every JSON reader holds exactly (see sync.canonical)

ID = re.compile(ID_PATTERN)
HASH = re.compile(HASH_PATTERN)
