"""Shipping to Google Cloud: submit and schedule runs on Vertex AI Pipelines, publish templates
to Artifact Registry, build and push images."""
