"""Prometheus metrics: counters kept per server process, gauges read from the database at scrape.

Per-device lag, reported backlog and the quarantine size come from the database at each scrape,
so every stateless server behind a load balancer reports the same truth.
"""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily

from sync.clock import Clock, parse_time

from .db import CentralDB, conflicts, devices, quarantine

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class CentralMetrics:
    def __init__(self, db: CentralDB, clock: Clock):
        self.registry = CollectorRegistry(auto_describe=True)
        self.events = PromCounter("tideover_events", "Per-event push answers by site, unit, workflow and result",
                                  ["site", "unit", "workflow", "result"], registry=self.registry)
        self.refused = PromCounter("tideover_push_refused", "Push batches refused as a whole, by reason",
                                   ["reason"], registry=self.registry)
        self.enroll_refused = PromCounter("tideover_enroll_refused", "Enrollment attempts refused, by reason "
                                          "(token_invalid, bad_signature, rate_limited, ...)",
                                          ["reason"], registry=self.registry)
        self.push_seconds = Histogram("tideover_push_seconds", "Time to answer one push batch",
                                      buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                                      registry=self.registry)
        self.registry.register(_DatabaseCollector(db, clock))

    def count(self, counts: Counter) -> None:
        for (site, unit, workflow, result), n in counts.items():
            self.events.labels(site, unit, workflow or "none", result).inc(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _DatabaseCollector:
    def __init__(self, db: CentralDB, clock: Clock):
        self.db, self.clock = db, clock

    def describe(self):
        return []

    def collect(self):
        lag = GaugeMetricFamily("tideover_device_lag_seconds", "Seconds since the device's last push",
                                labels=["device", "site", "unit"])
        backlog = GaugeMetricFamily("tideover_device_backlog_events",
                                    "Events pending at the workstation, as it reported with its last push",
                                    labels=["device", "site", "unit"])
        head = GaugeMetricFamily("tideover_device_highest_seq", "Highest gapless device_seq held",
                                 labels=["device", "site", "unit"])
        quar = GaugeMetricFamily("tideover_quarantine_events", "Events held back in quarantine",
                                 labels=["result"])
        conf = GaugeMetricFamily("tideover_conflicts", "Concurrent task edits flagged for review")
        offset = GaugeMetricFamily("tideover_device_clock_offset_seconds",
                                   "The device's clock minus the central's, measured at its last push "
                                   "(alert when beyond +/-120)", labels=["device", "site", "unit"])
        now = self.clock.now()
        with self.db.read() as conn:
            for d in conn.execute(sa.select(devices.c.device_id, devices.c.site_id, devices.c.unit_id,
                                            devices.c.head_seq, devices.c.backlog, devices.c.last_push_at,
                                            devices.c.clock_offset_s)):
                labels = [d.device_id, d.site_id, d.unit_id]
                if d.last_push_at:
                    seen = parse_time(d.last_push_at)
                    lag.add_metric(labels, max(0.0, (now - seen).total_seconds()))
                backlog.add_metric(labels, d.backlog)
                head.add_metric(labels, d.head_seq)
                if d.clock_offset_s is not None:
                    offset.add_metric(labels, d.clock_offset_s)
            counts = dict(conn.execute(sa.select(quarantine.c.result, sa.func.count())
                                       .group_by(quarantine.c.result)).all())
            n_conf = conn.execute(sa.select(sa.func.count()).select_from(conflicts)).scalar_one()
        for result in ("quarantined", "rejected"):
            quar.add_metric([result], counts.get(result, 0))
        conf.add_metric([], n_conf)
        yield from (lag, backlog, head, quar, conf, offset)
