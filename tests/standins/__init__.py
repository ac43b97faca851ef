"""Loopback stand-ins of Google Cloud services for tests; nothing here reaches Google.

- `vertex_api.VertexStandIn`: the Vertex AI REST API (pipeline jobs, schedules, operations,
  metadata, seeded models and tuning jobs) for the real SDK and GAPIC clients.
- `gcs.gcs_emulator`: the real Cloud Storage emulator with `STORAGE_EMULATOR_HOST` set.
- `artifact_registry.ArtifactRegistryStandIn`: an Artifact Registry KFP repository.

As pytest fixtures:

    @pytest.fixture
    def vertex():
        with gcs_emulator() as gcs, VertexStandIn(project="p", location="us-central1") as api:
            api.init_sdk()  # or point vtp at api.endpoint
            yield api

Importing this package imports none of them (the Vertex one loads `aiplatform_v1`).
"""
