"""The discrete-event engine: resources, DAG execution, weight residency, placement."""
