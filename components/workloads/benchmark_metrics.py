"""What a benchmark run reports: the Pushgateway job, its grouping labels and metric names.

The wrk hook (files/benchmark/countly.lua) pushes these; Prometheus scrapes them from the
Pushgateway with the labels honoured; `cncfdemo benchmark` and `cncfdemo compare` read them back.
Renaming one here is a breaking change for stored results and the Grafana dashboard.
"""

from __future__ import annotations

JOB = "cncfdemo_benchmark"

# Grouping labels, in the order they appear in the push URL.
GROUPING_LABELS = ("stack", "provider", "run_id")

REQUESTS = "cncfdemo_benchmark_requests_total"
# Non-2xx responses plus socket errors (connect, read, write, timeout).
ERRORS = "cncfdemo_benchmark_errors_total"
DURATION = "cncfdemo_benchmark_duration_seconds"
THROUGHPUT = "cncfdemo_benchmark_throughput_requests_per_second"
# One series per quantile label value in LATENCY_QUANTILES.
LATENCY = "cncfdemo_benchmark_latency_seconds"
LATENCY_MAX = "cncfdemo_benchmark_latency_max_seconds"
CONNECTIONS = "cncfdemo_benchmark_connections"
THREADS = "cncfdemo_benchmark_threads"
COMPLETED = "cncfdemo_benchmark_completed_timestamp_seconds"

LATENCY_QUANTILES = ("0.5", "0.9", "0.99")

METRICS = (REQUESTS, ERRORS, DURATION, THROUGHPUT, LATENCY, LATENCY_MAX, CONNECTIONS, THREADS,
           COMPLETED)
