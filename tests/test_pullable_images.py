"""Images Vertex can pull: `vtp compile` stamps the configured images; `vtp check`, `submit`,
`schedule create` and `publish` refuse vtp images without a registry host or other than the
configured ones, naming the image and the commands that fix it. Requests go to the loopback
stand-ins (`vertex_api`, the Artifact Registry stand-in): a refusal sends nothing."""

from __future__ import annotations

from pathlib import Path

import yaml
from standins.artifact_registry import ArtifactRegistryStandIn

from vtp import defaults
from vtp.check.images import problems, uses, vtp_image_key
from vtp.cli.main import main
from vtp.compiler import compile_all
from vtp.config import Images

REPO = Path(__file__).resolve().parents[1]
#: vtp's checked-in template: its images name no registry.
REPO_TEMPLATE = str(REPO / "compiled" / "pipelines" / "training.yaml")
OTHER = "europe-west4-docker.pkg.dev/other/images"


def spec_of(path) -> dict:
    return yaml.safe_load(path.read_text())


def test_vtp_images_are_known_by_name_whatever_the_registry_and_tag():
    assert vtp_image_key("vtp-components:0.1.0") == "components"
    assert vtp_image_key(f"{OTHER}/vtp-trainer-gpu:abc1234") == "trainer-gpu"
    assert vtp_image_key("gcr.io/ml-pipeline/google-cloud-pipeline-components:2.22.0") is None
    assert vtp_image_key("python:3.11") is None


def test_compile_stamps_the_configured_images_everywhere_the_template_names_them(tmp_path):
    images = Images(f"{OTHER}/vtp-components:9", {"trainer": f"{OTHER}/vtp-trainer:9"})
    compile_all(tmp_path, images=images)
    training = spec_of(tmp_path / "pipelines" / "training.yaml")
    used = {u.image for u in uses(training)}
    assert used == {f"{OTHER}/vtp-components:9", f"{OTHER}/vtp-trainer:9"}
    header = (tmp_path / "pipelines" / "training.yaml").read_text().split("components:", 1)[0]
    assert f"trainer_image: str [Default: '{OTHER}/vtp-trainer:9']" in header
    assert problems(training, images) == []
    distributed = spec_of(tmp_path / "pipelines" / "distributed.yaml")
    # trainer-distributed was not configured: it keeps the template image, which is refused
    (found,) = problems(distributed, images)
    assert found.startswith(f"image '{defaults.DISTRIBUTED_TRAINER_IMAGE}' (default of pipeline ")


def test_template_images_are_refused_naming_where_and_the_fix(shippable):
    from vtp.config import load

    found = problems(spec_of(Path(REPO_TEMPLATE)), load().images())
    assert len(found) == 2
    component, trainer = found
    assert component.startswith(
        f"image '{defaults.COMPONENT_IMAGE}' (executor 'exec-champion-lookup' and 5 more) has no "
        "registry host, so Vertex cannot pull it: build and push vtp's images (`vtp image push "
        "components --registry us-central1-docker.pkg.dev/PROJECT/REPO`), set `registry`"
    )
    assert "recompile (`vtp compile`)" in component
    assert trainer.startswith(
        f"image '{defaults.TRAINER_IMAGE}' (default of pipeline parameter 'trainer_image')"
    )


def test_images_of_another_registry_are_not_the_configured_ones(shippable, tmp_path):
    from vtp.config import load

    compile_all(tmp_path, images=Images(f"{OTHER}/vtp-components:0.1.0"))
    (found, *_) = problems(spec_of(tmp_path / "pipelines" / "training.yaml"), load().images())
    assert f"image '{OTHER}/vtp-components:0.1.0'" in found
    assert "is not the configured components image 'us-central1-docker.pkg.dev/p/images/" in found
    assert "recompile (`vtp compile`), or push that image (`vtp image push components`)" in found


def test_check_fails_on_the_template_and_passes_on_the_project(shippable, capsys):
    assert main(["check", REPO_TEMPLATE]) == 1
    out = capsys.readouterr().out
    assert "has no registry host, so Vertex cannot pull it" in out
    assert main(["check", "--local"]) == 0  # the project's compiled/ (`compiled` of vtp.toml)
    assert ": 0 problems, 0 warnings" in capsys.readouterr().out


def test_submit_and_schedule_refuse_the_template_and_send_nothing(vertex_api, capsys):
    run = ["--project", "p", "--pipeline-root", "gs://vtp-runs/r"]
    assert main(["submit", REPO_TEMPLATE, *run]) == 2
    err = capsys.readouterr().err
    assert f"vtp: error: {REPO_TEMPLATE}: Vertex could not run this pipeline as compiled" in err
    assert "(local runs, `vtp run --local`, need no pullable image)" in err
    assert main(["schedule", "create", REPO_TEMPLATE, "--cron", "0 3 * * *", *run]) == 2
    assert "has no registry host" in capsys.readouterr().err
    assert vertex_api.calls() == []


def test_a_trainer_image_given_as_a_parameter_needs_only_a_registry_host(vertex_api, capsys):
    run = ["--project", "p", "--pipeline-root", "gs://vtp-runs/r", "--service-account",
           "runner@p.iam.gserviceaccount.com"]  # fmt: skip
    assert main(["submit", "training", "--param", "trainer_image=vtp-trainer:dev", *run]) == 2
    err = capsys.readouterr().err
    assert "image 'vtp-trainer:dev' (value of pipeline parameter 'trainer_image') has no" in err
    assert vertex_api.calls() == []


def test_publish_refuses_the_template_before_any_upload(shippable, capsys):
    with ArtifactRegistryStandIn() as registry:
        host = registry.host_for("p", "pipelines")
        assert main(["publish", REPO_TEMPLATE, "--host", host]) == 2
        assert "has no registry host" in capsys.readouterr().err
        assert registry.requests == []
