"""Property-based run of schemathesis against the served OpenAPI schema.

Every generated request, valid or invalid, must get an answer the schema
documents (status, content type, body shape) and never a 500. The number of
examples is bounded so the module stays well under half a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from tests.support.control_plane import ControlPlane, running_control_plane

EXAMPLES = {GenerationMode.POSITIVE: 150, GenerationMode.NEGATIVE: 150}


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with running_control_plane(Path(tmp_path_factory.mktemp("cp-fuzz"))) as cp:
        yield cp


@pytest.mark.parametrize("mode", list(EXAMPLES))
def test_no_server_errors_and_documented_answers(plane: ControlPlane, mode: GenerationMode) -> None:
    # The token goes in through schemathesis' auth config, so it knows auth is supplied
    # (and still checks that a request without it is refused).
    config = schemathesis.Config.from_dict(
        {"auth": {"openapi": {"HTTPBearer": {"bearer": plane.token}}}}
    )
    schema = schemathesis.openapi.from_url(f"{plane.url}/openapi.json", config=config)
    seen: set[str] = set()
    statuses: set[int] = set()

    @given(case=schema.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
        seen.add(case.operation.label)
        statuses.add(case.call_and_validate().status_code)

    run()
    assert len(seen) >= 8, seen  # the examples reached most operations
    if mode is GenerationMode.POSITIVE:  # valid requests got past the token check
        assert any(200 <= s < 300 for s in statuses), statuses
