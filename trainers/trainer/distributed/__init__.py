"""A data-parallel example trainer that really synchronises its replicas.

Run it with `python -m trainer.distributed.task` on every replica of a Vertex custom job
(primary + workers, optional evaluators). `cluster` reads where a replica sits from the
Vertex environment, `collective` is a small all-reduce/broadcast/gather/barrier layer over TCP,
`logreg` trains a logistic regression with it in numpy (no deep-learning framework, no NCCL)
and exports it as a scikit-learn model. Like the reference trainer it
imports nothing from the `components` package: it runs in its own image.
"""
