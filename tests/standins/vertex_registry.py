"""Seeded, read-only resources of the Vertex AI stand-in: Model Registry models (list, get by
`@version` or `@alias`, list versions) for the champion lookup, and hyperparameter tuning jobs
(get, with their trials) for GetTrialsOp."""

from __future__ import annotations

import json
from typing import Any

from google.cloud import aiplatform_v1

from standins.vertex_common import (
    ID,
    LOCATION,
    Call,
    list_page,
    parse_message,
    route,
    to_json,
)
from standins.vertex_errors import not_found

MODEL_FILTER_FIELDS = {"display_name": "string", "labels": "map", "model": "string"}
VERSION_FILTER_FIELDS = {"display_name": "string", "labels": "map", "version_id": "string"}


def _message(message_type, value):
    """`value` (a message, or its JSON as a dict) as a `message_type`, decoded strictly."""
    if isinstance(value, message_type):
        return message_type(value)
    return parse_message(message_type, json.dumps(value), message_type.__name__)


class RegistryService:
    """`models` and `hyperparameterTuningJobs`, as tests seed them."""

    def __init__(self, standin):
        self.standin = standin
        self.models: dict[str, list[aiplatform_v1.Model]] = {}
        self.tuning_jobs: dict[str, aiplatform_v1.HyperparameterTuningJob] = {}

    def routes(self):
        models = f"{LOCATION}/models"
        return [
            route("GET", models, self.list_models, "filter", "pageSize", "pageToken", "orderBy"),
            route(
                "GET",
                f"{models}/(?P<id>{ID}):listVersions",
                self.list_versions,
                "filter",
                "pageSize",
                "pageToken",
                "orderBy",
            ),
            route("GET", f"{models}/(?P<id>[^/:@]+)(?:@(?P<ref>{ID}))?", self.get_model),
            route("GET", f"{LOCATION}/hyperparameterTuningJobs/(?P<id>{ID})", self.get_tuning_job),
        ]

    # seeding

    def add_model_version(self, model) -> aiplatform_v1.Model:
        version = _message(aiplatform_v1.Model, model)
        self.models.setdefault(version.name.split("@")[0], []).append(version)
        return version

    def add_tuning_job(self, job) -> aiplatform_v1.HyperparameterTuningJob:
        stored = _message(aiplatform_v1.HyperparameterTuningJob, job)
        self.tuning_jobs[stored.name] = stored
        return stored

    # models

    @staticmethod
    def default_version(versions: list[aiplatform_v1.Model]) -> aiplatform_v1.Model:
        return next((v for v in versions if "default" in v.version_aliases), versions[-1])

    def _values(self, model: aiplatform_v1.Model) -> dict[str, Any]:
        return {
            "display_name": model.display_name,
            "labels": dict(model.labels),
            "model": model.name.rsplit("/", 1)[-1].split("@")[0],
            "version_id": model.version_id,
            "create_time": model.create_time,
            "update_time": model.update_time,
            "version_create_time": model.version_create_time,
        }

    def _page(self, call: Call, items, fields: dict[str, str], orders: tuple[str, ...]):
        page, token = list_page(
            call,
            items,
            fields=self._values,
            filter_fields=fields,
            order_fields=orders,
            default_order="",
            page_size=self.standin.default_page_size,
        )
        answer: dict[str, Any] = {"models": [to_json(m, call.int_enums) for m in page]}
        if token:
            answer["nextPageToken"] = token
        return answer

    def list_models(self, call: Call):
        parent = self.standin.parent_of(call)
        items = [
            self.default_version(versions)
            for name, versions in self.models.items()
            if name.startswith(parent + "/")
        ]
        return self._page(
            call, items, MODEL_FILTER_FIELDS, ("display_name", "create_time", "update_time")
        )

    def _versions(self, call: Call) -> list[aiplatform_v1.Model]:
        name = self.standin.name_of(call, "models")
        if name not in self.models:
            raise not_found(f"Model {name}")
        return self.models[name]

    def list_versions(self, call: Call):
        versions = self._versions(call)
        return self._page(call, versions, VERSION_FILTER_FIELDS, ("create_time", "update_time"))

    def get_model(self, call: Call):
        versions = self._versions(call)
        ref = call.params.get("ref")
        if not ref:
            return self.default_version(versions)
        for version in versions:
            if ref == version.version_id or ref in version.version_aliases:
                return version
        raise not_found(f"Model {self.standin.name_of(call, 'models')}@{ref}")

    # tuning jobs

    def get_tuning_job(self, call: Call):
        name = self.standin.name_of(call, "hyperparameterTuningJobs")
        if name not in self.tuning_jobs:
            raise not_found(f"HyperparameterTuningJob {name}")
        return self.tuning_jobs[name]
