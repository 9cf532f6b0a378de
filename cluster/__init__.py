"""The tool on several hosts at once, on one machine: `Cluster` (cluster/hosts.py)."""

from cluster.hosts import Cluster, OutboxWorker

__all__ = ["Cluster", "OutboxWorker"]
