"""Serving: many streams on one shared machine (traffic, batching across streams, latency metrics, capacity).

    traffic.py   arrivals: which utterance is ready when, on which stream
    batching.py  the op DAG of a batch (encoders of several utterances, one decode iteration of several streams)
    engine.py    the scheduler on one shared :class:`accelsim.sim.engine.Machine`, and the exact single-stream path
    result.py    per-utterance outcomes and their metrics (latency percentiles, throughput, utilisation, batches)
    capacity.py  the largest load meeting a latency objective, by bisection
"""
