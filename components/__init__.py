"""vtp components: reusable KFP v2 components for training pipelines on Vertex AI."""
