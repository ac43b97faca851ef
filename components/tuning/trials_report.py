"""Component: the trials report of a tuning job, as HTML and Markdown artifacts."""

from kfp.dsl import HTML, Markdown, Output

from vtp.components._component import vtp_component


@vtp_component
def trials_report(
    trials: list,
    study_spec_metrics: list,
    study_spec_parameters: list,
    report: Output[HTML],
    report_markdown: Output[Markdown],
):
    """Renders every trial: a table sorted by the primary metric with the best trial
    highlighted, the metric per trial and the metric against each parameter.

    The Vertex AI Pipelines console shows both artifacts; locally they are files under the
    pipeline root. The HTML page is self-contained (inline CSS and SVG, no scripts). A copy of
    each, named with its extension (`report.html`, `report_markdown.md`), is written beside it,
    for a browser or an editor to open; the artifact's metadata `file` names that copy.

    Args:
        trials: Trials as `Trial.to_json` strings (or dicts), e.g. the output of `GetTrialsOp`.
        study_spec_metrics: The tuning job's metrics, as `HyperparameterTuningJobRunOp` takes
            them; the first is the one reported.
        study_spec_parameters: The tuning job's parameters, as `HyperparameterTuningJobRunOp`
            takes them (column order, log axes, category order); may be empty.
        report: Receives the HTML page.
        report_markdown: Receives the summary and the table as Markdown.
    """
    from pathlib import Path

    from vtp.components.tuning.report import build_report, render_html, render_markdown

    built = build_report(trials, study_spec_metrics, study_spec_parameters)
    for artifact, text, extension in (
        (report, render_html(built), ".html"),
        (report_markdown, render_markdown(built), ".md"),
    ):
        Path(artifact.path).parent.mkdir(parents=True, exist_ok=True)
        Path(artifact.path).write_text(text, encoding="utf-8")
        Path(artifact.path + extension).write_text(text, encoding="utf-8")
        artifact.metadata["file"] = artifact.uri + extension
    best = built.best
    print(
        f"trials report: {len(built.rows)} trials, best "
        + (f"trial {best.trial_id}" if best else "none")
    )
