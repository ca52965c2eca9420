"""Property-based run of every operation in the OpenAPI schema (schemathesis): no 5xx, on both backends.

Bounded (few examples per operation) so the suite stays fast; requests carry a real organisation admin key, or the
admin token for /api/admin, so generated data reaches the handlers instead of stopping at authentication.
(schemathesis' ``from_fixture`` does not work with this pytest version, so the operations are driven here with
Hypothesis directly.)
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

MAX_EXAMPLES = 10


def test_no_server_errors(app, client, make_org, backend_settings) -> None:
    org = make_org("enterprise")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        token = backend_settings.admin_token if operation.path.startswith("/api/admin") else org.keys["admin"]

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def run(case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error])

        run()
