"""What the local twins of Vertex services do: the requests GCPC's launchers would send,
run on this machine (custom jobs, tuning jobs, the model registry)."""
