"""Fixtures shared by the wire codec tests."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

VECTORS_PATH = Path(__file__).parent / "data" / "wso2-key-vectors.json"
"""A copy of /work/shared/wire/wso2-key-vectors.json: keys serialized by a real JVM."""


@pytest.fixture(scope="session")
def wso2_vectors() -> dict[str, dict]:
    """The vectors by name, each with its decoded Java stream under "stream"."""
    vectors = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    return {vector["name"]: vector | {"stream": base64.b64decode(vector["cacheKeyBase64"])} for vector in vectors}


RMQ_JMS_VECTORS_PATH = Path(__file__).parent / "data" / "rmq-jms-vectors.json"
"""A copy of /work/shared/wire/rmq-jms-vectors.json: what the RabbitMQ JMS client puts on the
wire, and hand-framed bodies a JMS consumer accepted."""
LEGACY_VECTORS_PATH = Path(__file__).parent / "data" / "wso2-legacy-vectors.json"
"""A copy of /work/shared/wire/wso2-legacy-vectors.json: the 2.0.x-2.1.8 connector's text."""


@pytest.fixture(scope="session")
def rmq_jms_vectors() -> dict:
    return json.loads(RMQ_JMS_VECTORS_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def legacy_vectors() -> dict:
    return json.loads(LEGACY_VECTORS_PATH.read_text(encoding="utf-8"))
