"""Serving: many streams on a fleet of machines (traffic, dispatch, batching across streams, latency, capacity).

    traffic.py   arrivals: which utterance is ready when, on which stream
    dispatch.py  which chip of the fleet an utterance goes to
    batching.py  the op DAG of a batch (encoders of several utterances, one decode iteration of several streams)
    engine.py    the fleet, each chip's scheduler and how it runs batches (op level or batch level), and the exact
                 single-stream path
    result.py    per-utterance outcomes and their metrics (latency percentiles, throughput, utilisation, batches, chips)
    capacity.py  the largest load (or the smallest fleet) meeting a latency objective at every seed tried
"""
