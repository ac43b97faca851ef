"""Cloud Storage on loopback: the real `gcp-storage-emulator`, in memory, on a free port, with
`STORAGE_EMULATOR_HOST` pointing at it for the duration (the `google-cloud-storage` client,
and so the Vertex AI SDK, then talk to it with no credentials).

    with gcs_emulator("data-bucket") as gcs:
        gcs.client().bucket("data-bucket").blob("x.csv").upload_from_string("a,b\\n")

The SDK's `PipelineJob.submit` checks the pipeline-root bucket: when it is missing it creates
it here and grants the job's service account object access (`gcs.iam_members(bucket)` shows
them). Do not create the pipeline-root bucket beforehand, and give a service account: for an
existing bucket (a second submit to the same root), or without a service account, the SDK asks
Cloud Resource Manager over gRPC for the project number, which is not on loopback; it retries
for 45-60 s, logs the error and submits anyway. Use a new bucket for each submit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


@dataclass
class GcsEmulator:
    """A running emulator: `host` is `http://127.0.0.1:PORT`."""

    host: str
    project: str
    server: Any

    def client(self):
        """A `google.cloud.storage.Client` on the emulator (anonymous credentials)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project=self.project,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.host},
        )

    def bucket_names(self) -> list[str]:
        return sorted(bucket.name for bucket in self.client().list_buckets())

    def iam_members(self, bucket: str) -> dict[str, set[str]]:
        """The bucket's IAM policy: members by role."""
        policy = self.client().bucket(bucket).get_iam_policy()
        return {binding["role"]: set(binding["members"]) for binding in policy.bindings}


@contextmanager
def gcs_emulator(*buckets: str, project: str = "p") -> Iterator[GcsEmulator]:
    """Runs the emulator with `buckets` created, `STORAGE_EMULATOR_HOST` set meanwhile (and
    restored after)."""
    from gcp_storage_emulator import server as emulator  # a dev dependency

    server = emulator.create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    previous = os.environ.get(EMULATOR_ENV)
    try:
        port = server._api._httpd.server_port  # port 0: the one the OS picked
        running = GcsEmulator(f"http://127.0.0.1:{port}", project, server)
        os.environ[EMULATOR_ENV] = running.host
        client = running.client()
        for bucket in buckets:
            client.create_bucket(bucket)
        yield running
    finally:
        if previous is None:
            os.environ.pop(EMULATOR_ENV, None)
        else:
            os.environ[EMULATOR_ENV] = previous
        server.stop()
