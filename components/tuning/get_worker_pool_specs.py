"""Component: worker pools that train with the best hyperparameters."""

from vtp.components._component import vtp_component


@vtp_component
def get_worker_pool_specs(best_hyperparameters: list, worker_pool_specs: list) -> list:
    """Appends `--<parameterId>=<value>` to every pool's args, as Vertex passes trial values.

    Earlier values of the same flags (`--id=old`, `--id old`) are removed first, so a flag is
    never given twice and applying the same parameters again changes nothing. Unused pools
    (`{}`) stay empty.

    Args:
        best_hyperparameters: `[{"parameterId", "value"}]` from `get_best_hyperparameters`
            (`Trial.Parameter` JSON strings, as GCPC's former op gave, work too).
        worker_pool_specs: The pools of the custom job (`CustomTrainingJobOp` input).

    Returns:
        The pools, checked and written as the payload builders write them.
    """
    from vtp.components.tuning.selection import hyperparameters_from_list
    from vtp.components.tuning.trials import apply_hyperparameters

    params = hyperparameters_from_list(best_hyperparameters)
    pools = apply_hyperparameters(worker_pool_specs, params)
    print(f"worker pools with {', '.join(f'--{k}' for k in params) or 'no parameters'}")
    return pools
