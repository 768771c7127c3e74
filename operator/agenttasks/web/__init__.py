"""The operator's HTTP port: health, metrics, webhook deliveries, agent progress and the
dashboard."""
