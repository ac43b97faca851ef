"""Long-running operations of the Vertex AI stand-in (deletes, metadata store creation).

An operation is answered not done, and done after `standin.operation_polls` GETs of it
(0: done at once), so the SDK's `.result()` really polls `GET .../operations/ID`.
"""

from __future__ import annotations

import copy
from typing import Any

from standins.vertex_common import (
    ID,
    LOCATION,
    Call,
    now,
    numeric_id,
    rfc3339,
    route,
    to_json,
)
from standins.vertex_errors import not_found


class OperationService:
    """`.../operations/ID` under any resource of a location."""

    def __init__(self, standin):
        self.standin = standin
        self.operations: dict[str, dict[str, Any]] = {}
        self.polls_left: dict[str, int] = {}
        self.responses: dict[str, dict[str, Any]] = {}

    def routes(self):
        return [route("GET", f"{LOCATION}(?:/.+)?/operations/(?P<op>{ID})", self.get)]

    def start(self, resource: str, metadata_type: str, response, version: str) -> dict[str, Any]:
        """A new operation on `resource`, whose result is `response` (None: Empty)."""
        name = f"{resource}/operations/{numeric_id(f'op-{self.standin.next_seq()}')}"
        moment = rfc3339(now())
        operation = {
            "name": name,
            "metadata": {
                "@type": f"type.googleapis.com/google.cloud.aiplatform.{version}.{metadata_type}",
                "genericMetadata": {"createTime": moment, "updateTime": moment},
            },
            "done": False,
        }
        if response is None:
            result = {"@type": "type.googleapis.com/google.protobuf.Empty"}
        else:
            kind = type(response).__name__
            result = {
                "@type": f"type.googleapis.com/google.cloud.aiplatform.{version}.{kind}",
                **to_json(response),
            }
        self.operations[name] = operation
        self.responses[name] = result
        self.polls_left[name] = max(int(self.standin.operation_polls), 0)
        if self.polls_left[name] == 0:
            self._complete(name)
        return copy.deepcopy(operation)

    def _complete(self, name: str) -> None:
        operation = self.operations[name]
        operation["done"] = True
        operation["response"] = self.responses[name]
        operation["metadata"]["genericMetadata"]["updateTime"] = rfc3339(now())

    def get(self, call: Call):
        name = call.path
        if name not in self.operations:
            raise not_found(f"Operation {name}")
        if not self.operations[name]["done"]:
            self.polls_left[name] -= 1
            if self.polls_left[name] <= 0:
                self._complete(name)
        return copy.deepcopy(self.operations[name])
