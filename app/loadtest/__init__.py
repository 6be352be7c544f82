"""``reten loadtest``: the load-test harness that ships with the service (seed, scenarios, report)."""
