"""vtp pipelines: factories over a target (`build(VERTEX)` / `build(LOCAL)`) and the CLI."""
