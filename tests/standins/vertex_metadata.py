"""Vertex ML Metadata in the stand-in: what `PipelineJob.submit(experiment=...)` calls.

The SDK gets (or creates, a long-running operation) the `default` metadata store, gets or
creates the experiment's context (schema `system.Experiment`), polls the job until its
`job_detail.pipeline_run_context` exists, then adds that context as a child of the
experiment's (`:addContextChildren`). A job's `system.Pipeline` and `system.PipelineRun`
contexts are created here when it starts running, the run's with its parameters as
`input:NAME` metadata, as Vertex records them.
"""

from __future__ import annotations

import re
from typing import Any

from google.cloud import aiplatform_v1

from standins.vertex_common import (
    ID,
    LOCATION,
    Call,
    decode,
    list_page,
    now,
    route,
    to_json,
)
from standins.vertex_errors import ApiError, invalid, not_found

RESOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
FILTER_FIELDS = {
    "schema_title": "string",
    "display_name": "string",
    "parent_contexts": "list",
    "child_contexts": "list",
    "create_time": "time",
    "update_time": "time",
    "labels": "map",
}


class MetadataService:
    """`metadataStores` and their `contexts`."""

    def __init__(self, standin):
        self.standin = standin
        self.stores: dict[str, aiplatform_v1.MetadataStore] = {}
        self.contexts: dict[str, aiplatform_v1.Context] = {}

    def routes(self):
        stores = f"{LOCATION}/metadataStores"
        store = f"{stores}/(?P<store>{ID})"
        contexts = f"{store}/contexts"
        return [
            route("GET", store, self.get_store),
            route("POST", stores, self.create_store, "metadataStoreId"),
            route("GET", f"{contexts}/(?P<id>{ID})", self.get_context),
            route("POST", contexts, self.create_context, "contextId"),
            route(
                "GET", contexts, self.list_contexts, "filter", "pageSize", "pageToken", "orderBy"
            ),
            route("POST", f"{contexts}/(?P<id>{ID}):addContextChildren", self.add_children),
        ]

    # stores

    def store_name(self, call: Call) -> str:
        return f"{self.standin.parent_of(call)}/metadataStores/{call.params['store']}"

    def ensure_store(self, parent: str, store_id: str = "default") -> aiplatform_v1.MetadataStore:
        name = f"{parent}/metadataStores/{store_id}"
        if name not in self.stores:
            moment = now()
            self.stores[name] = aiplatform_v1.MetadataStore(
                name=name, create_time=moment, update_time=moment
            )
        return self.stores[name]

    def get_store(self, call: Call):
        name = self.store_name(call)
        if name not in self.stores:
            raise not_found(f"MetadataStore {name}")
        return self.stores[name]

    def create_store(self, call: Call):
        decode(call, aiplatform_v1.MetadataStore, "metadata_store")
        store_id = call.arg("metadataStoreId") or "default"
        if not RESOURCE_ID.match(store_id):
            raise invalid("metadata_store_id", store_id, "must match [a-z0-9][a-z0-9-]{0,127}")
        parent = self.standin.parent_of(call)
        name = f"{parent}/metadataStores/{store_id}"
        if name in self.stores:
            raise ApiError(409, f"MetadataStore {name} already exists")
        store = self.ensure_store(parent, store_id)
        return self.standin.operations.start(
            name, "CreateMetadataStoreOperationMetadata", store, call.version
        )

    # contexts

    def _store_or_404(self, call: Call) -> str:
        name = self.store_name(call)
        if name not in self.stores:
            raise not_found(f"MetadataStore {name}")
        return name

    def get_context(self, call: Call):
        name = f"{self._store_or_404(call)}/contexts/{call.params['id']}"
        if name not in self.contexts:
            raise not_found(f"Context {name}")
        return self.contexts[name]

    def add_context(self, context: aiplatform_v1.Context) -> aiplatform_v1.Context:
        moment = now()
        context.create_time = moment
        context.update_time = moment
        context.etag = str(int(moment.timestamp() * 1e6))
        self.contexts[context.name] = context
        return context

    def create_context(self, call: Call):
        context = decode(call, aiplatform_v1.Context, "context")
        store = self._store_or_404(call)
        context_id = call.arg("contextId")
        if not RESOURCE_ID.match(context_id):
            raise invalid("context_id", context_id, "must match [a-z0-9][a-z0-9-]{0,127}")
        if not context.schema_title:
            raise invalid("context.schema_title", "", "is required (e.g. system.Experiment)")
        name = f"{store}/contexts/{context_id}"
        if name in self.contexts:
            raise ApiError(409, f"Context {name} already exists")
        stored = aiplatform_v1.Context(context)
        stored.name = name
        aiplatform_v1.Context.pb(stored).ClearField("parent_contexts")
        return self.add_context(stored)

    def list_contexts(self, call: Call):
        store = self._store_or_404(call)
        items = [c for c in self.contexts.values() if c.name.startswith(store + "/")]
        children = {c.name: [k.name for k in items if c.name in k.parent_contexts] for c in items}

        def values(context: aiplatform_v1.Context) -> dict[str, Any]:
            return {
                "schema_title": context.schema_title,
                "display_name": context.display_name,
                "parent_contexts": list(context.parent_contexts),
                "child_contexts": children[context.name],
                "create_time": context.create_time,
                "update_time": context.update_time,
                "labels": dict(context.labels),
            }

        page, token = list_page(
            call,
            items,
            fields=values,
            filter_fields=FILTER_FIELDS,
            order_fields=("create_time", "update_time", "display_name"),
            default_order="create_time desc",
            page_size=self.standin.default_page_size,
        )
        answer: dict[str, Any] = {"contexts": [to_json(c, call.int_enums) for c in page]}
        if token:
            answer["nextPageToken"] = token
        return answer

    def add_children(self, call: Call):
        request = decode(call, aiplatform_v1.AddContextChildrenRequest, "request")
        parent = self.get_context(call)
        for i, child in enumerate(request.child_contexts):
            if child not in self.contexts:
                raise not_found(f"child_contexts[{i}]: Context {child}")
            if child == parent.name:
                raise invalid(f"child_contexts[{i}]", child, "must not be the context itself")
            stored = self.contexts[child]
            if parent.name not in stored.parent_contexts:
                stored.parent_contexts.append(parent.name)
                stored.update_time = now()
        return {}

    # the contexts of a pipeline run

    def pipeline_contexts(self, record) -> tuple[aiplatform_v1.Context, aiplatform_v1.Context]:
        """The `system.Pipeline` and `system.PipelineRun` contexts of a job starting to run."""
        parent = record.job.name.rsplit("/pipelineJobs/", 1)[0]
        store = self.ensure_store(parent).name
        pipeline_name = f"{store}/contexts/{record.pipeline_name}"
        pipeline = self.contexts.get(pipeline_name) or self.add_context(
            aiplatform_v1.Context(
                name=pipeline_name,
                display_name=record.pipeline_name,
                schema_title="system.Pipeline",
                schema_version="0.0.1",
            )
        )
        config = record.job.runtime_config
        inputs = {f"input:{k}": v for k, v in dict(config.parameter_values).items()}
        run = self.add_context(
            aiplatform_v1.Context(
                name=f"{store}/contexts/{record.job_id}",
                display_name=record.job_id,
                schema_title="system.PipelineRun",
                schema_version="0.0.1",
                parent_contexts=[pipeline.name],
                metadata=inputs,
            )
        )
        return aiplatform_v1.Context(pipeline), aiplatform_v1.Context(run)

    def context(self, name: str) -> aiplatform_v1.Context | None:
        """A copy of the context `name`, or None."""
        found = self.contexts.get(name)
        return aiplatform_v1.Context(found) if found else None
