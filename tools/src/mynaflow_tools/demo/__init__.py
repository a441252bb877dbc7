"""`make demo`: the Naka Ward incident (docs/incident.md) replayed through the four services.

`scenario` is the data, `system` the demo's own database, topics and processes, `feed` the
producers and topic readers, `run` the steps and their waits, `report` what a manager reads.
"""
