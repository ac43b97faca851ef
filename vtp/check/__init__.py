"""`vtp check`: the Vertex payloads of compiled pipelines, validated offline, and the parameter
checks every run makes before its first step."""
