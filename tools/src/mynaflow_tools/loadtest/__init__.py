"""`mynaflow loadtest`: load the notice flow of a running deployment and measure it.

- `notices`: synthetic, valid J-LIS notices with unique ids per run (pure);
- `measure`: send and arrival instants of one phase, and latency statistics (pure);
- `report`: the figures, the ratios to the baselines, the exit code (pure);
- `driver`: the Kafka and PostgreSQL side (async): the notice flow, the raw Kafka baseline on a
  scratch topic, the PostgreSQL INSERT baseline.
"""
