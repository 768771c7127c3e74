"""The operator's HTTP port: health now; hooks, dashboard and metrics later."""
