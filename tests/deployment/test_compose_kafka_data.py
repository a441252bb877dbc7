"""docker-compose.yml keeps Kafka's log segments inside the Kafka data volume.

Without `KAFKA_LOG_DIRS` the apache/kafka image writes to a folder inside the container, so
`docker compose down` then `up` loses every topic while PostgreSQL (in its own volume) keeps
its marks. Read as text: the compose file is also validated by `docker-compose config -q` in
`.ci/run`, and no YAML parser is a dependency of the workspace.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def _kafka_service_block(text: str) -> str:
    # From "  kafka:" up to the next service at the same indentation.
    found = re.search(r"^  kafka:\n(?P<body>(?:^(?:    .*|\s*)\n)+)", text, re.MULTILINE)
    assert found, "docker-compose.yml has no kafka service"
    return found.group("body")


@pytest.mark.unit
def test_kafka_log_dirs_lie_inside_a_mounted_volume() -> None:
    block = _kafka_service_block(COMPOSE_FILE.read_text(encoding="utf-8"))
    log_dirs = re.search(r"^\s+KAFKA_LOG_DIRS:\s*(\S+)\s*$", block, re.MULTILINE)
    assert log_dirs, "KAFKA_LOG_DIRS is unset: the broker would write inside the container"
    mounts = re.findall(r"^\s+- [\w.-]+:(/\S+)\s*$", block, re.MULTILINE)
    assert mounts, "the kafka service mounts no named volume"
    for log_dir in log_dirs.group(1).split(","):
        assert any(
            log_dir == mount or log_dir.startswith(mount.rstrip("/") + "/") for mount in mounts
        ), f"{log_dir} is not inside any of the kafka volumes {mounts}"
