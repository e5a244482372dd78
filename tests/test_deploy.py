"""deploy.py against a stand-in for huggingface_hub's HfApi (no network), and the front matter it relies on."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from huggingface_hub import SpaceHardware
from huggingface_hub.errors import HfHubHTTPError, HTTPError
from huggingface_hub.utils import filter_repo_objects

import deploy

ROOT = Path(__file__).resolve().parent.parent


class StandInHub:
    """Records the calls deploy.py makes, in order, with their arguments; answers as the Hub would."""

    failures: dict[str, Exception] = {}  # method name -> the error the Hub answers with instead

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[tuple[str, tuple, dict]] = []

    def record(self, name: str, *args: object, **options: object) -> None:
        if name in self.failures:
            raise self.failures[name]
        self.calls.append((name, args, options))

    def whoami(self) -> dict:
        self.record("whoami")
        return {"name": "teacher"}

    def create_repo(self, repo_id: str, **options: object) -> str:
        self.record("create_repo", repo_id, **options)
        return f"https://huggingface.co/spaces/{repo_id}"

    def upload_folder(self, **options: object) -> None:
        self.record("upload_folder", **options)

    def upload_file(self, **options: object) -> None:
        self.record("upload_file", **options)

    def request_space_hardware(self, repo_id: str, hardware: str) -> None:
        self.record("request_space_hardware", repo_id, hardware)


def run_deploy(argv: list[str], folder: Path = ROOT) -> tuple[int, list[StandInHub]]:
    made: list[StandInHub] = []

    def hub(token: str) -> StandInHub:
        made.append(StandInHub(token))
        return made[-1]

    return deploy.main(argv, hub=hub, folder=folder), made


@pytest.fixture
def app_folder(tmp_path: Path) -> Path:
    """A folder shaped like the repository: app files, an embedded model, and everything that must stay home."""
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    for name in (
        "app.py",
        "requirements.txt",
        "pipelines/engine/loading.py",
        "assets/models/shapes-ddpm/unet/diffusion_pytorch_model.safetensors",
        "assets/models/shapes-ddpm/model_index.json",
        "docs/models.md",
        "train/train_unconditional.py",
        "train/logs/shapes-ddpm.csv",
        # never uploaded:
        "train/checkpoints/shapes-ddpm.pt",
        "artifacts/unconditional.png",
        ".git/HEAD",
        ".git/objects/ab/cdef",
        "__pycache__/app.cpython-311.pyc",
        "pipelines/__pycache__/loading.cpython-311.pyc",
        ".pytest_cache/v/cache/lastfailed",
        "tests/.pytest_cache/README.md",
        ".ruff_cache/0.17.6/123",
        ".venv/bin/python",
        "train/logs/run.out",
    ):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return tmp_path


def test_deploy_creates_the_space_uploads_the_folder_and_requests_the_hardware(capsys: pytest.CaptureFixture) -> None:
    status, made = run_deploy(["--space", "teacher/diffusion-playground", "--hardware", "zero-a10g", "--token", "hf_w"])

    assert status == 0
    (api,) = made
    assert api.token == "hf_w"
    assert [name for name, _, _ in api.calls] == [
        "whoami",
        "create_repo",
        "upload_folder",
        "upload_file",
        "request_space_hardware",
    ]
    _, args, options = api.calls[1]
    assert args == ("teacher/diffusion-playground",)
    assert options == {"repo_type": "space", "space_sdk": "gradio", "private": False, "exist_ok": True}
    _, _, options = api.calls[2]
    assert options["repo_id"] == "teacher/diffusion-playground" and options["repo_type"] == "space"
    assert Path(options["folder_path"]) == ROOT
    requirements = api.calls[3][2]
    assert requirements["path_in_repo"] == "requirements.txt" and requirements["repo_type"] == "space"
    assert "torch==2.11.0" in requirements["path_or_fileobj"].decode()  # a torch version ZeroGPU runs
    assert "torch==2.13.0" not in requirements["path_or_fileobj"].decode()
    assert api.calls[4][1] == ("teacher/diffusion-playground", "zero-a10g")
    assert "Done: https://huggingface.co/spaces/teacher/diffusion-playground" in capsys.readouterr().out


def test_without_hardware_none_is_requested_and_private_reaches_create_repo() -> None:
    status, (api,) = run_deploy(["--space", "teacher/demo", "--private", "--token", "hf_w"])

    assert status == 0
    assert [name for name, _, _ in api.calls] == ["whoami", "create_repo", "upload_folder", "upload_file"]
    assert api.calls[1][2]["private"] is True


def test_ignored_folders_are_not_uploaded(app_folder: Path) -> None:
    status, (api,) = run_deploy(["--space", "teacher/demo", "--token", "hf_w"], folder=app_folder)
    options = api.calls[2][2]
    files = sorted(path.relative_to(app_folder).as_posix() for path in app_folder.rglob("*") if path.is_file())

    # The Hub's own filter, applied to the patterns deploy.py handed to upload_folder.
    uploaded = list(filter_repo_objects(files, ignore_patterns=options["ignore_patterns"]))

    assert status == 0 and Path(options["folder_path"]) == app_folder
    assert uploaded == [
        "README.md",
        "app.py",
        "assets/models/shapes-ddpm/model_index.json",
        "assets/models/shapes-ddpm/unet/diffusion_pytorch_model.safetensors",
        "docs/models.md",
        "pipelines/engine/loading.py",
        "train/logs/shapes-ddpm.csv",
        "train/train_unconditional.py",
    ]
    assert [path.relative_to(app_folder).as_posix() for path in deploy.files_to_upload(app_folder)] == uploaded


def test_the_repository_uploads_its_embedded_models_and_no_checkpoint() -> None:
    uploaded = {path.relative_to(ROOT).as_posix() for path in deploy.files_to_upload(ROOT)}
    weights = {path.relative_to(ROOT).as_posix() for path in (ROOT / "assets" / "models").rglob("*.safetensors")}

    assert weights and weights <= uploaded
    assert {"app.py", "README.md", "LICENSE"} <= uploaded and "requirements.txt" not in uploaded  # sent rewritten
    assert not [path for path in uploaded if path.startswith(("train/checkpoints/", ".git/")) or "__pycache__" in path]


def test_a_refused_hardware_request_says_the_app_is_uploaded(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    refusal = HfHubHTTPError("403 Forbidden: upgrade your plan", response=SimpleNamespace(headers={}, request=None))
    monkeypatch.setattr(StandInHub, "failures", {"request_space_hardware": refusal})

    status, (api,) = run_deploy(["--space", "teacher/demo", "--hardware", "t4-small", "--token", "hf_w"])

    message = capsys.readouterr().err
    assert status == 1 and [name for name, _, _ in api.calls] == [
        "whoami",
        "create_repo",
        "upload_folder",
        "upload_file",
    ]
    assert "refused the hardware t4-small: 403 Forbidden: upgrade your plan" in message
    assert "Settings tab of https://huggingface.co/spaces/teacher/demo" in message


def test_no_network_is_said_before_anything_is_created(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(StandInHub, "failures", {"whoami": HTTPError("Name or service not known")})

    status, (api,) = run_deploy(["--space", "teacher/demo", "--token", "hf_w"])

    assert status == 1 and api.calls == []
    assert "could not reach the Hugging Face Hub (the token): Name or service not known" in capsys.readouterr().err


def test_no_token_says_how_to_log_in(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(deploy, "get_token", lambda: None)

    status, made = run_deploy(["--space", "teacher/demo"])

    assert status == 2 and made == []
    assert "hf auth login" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--space", "no-owner"], ["--space", "a/b", "--hardware", "gpu-please"]])
def test_bad_arguments_are_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_deploy([*argv, "--token", "hf_w"])

    message = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "YOUR_NAME/SPACE_NAME" in message if argv[1] == "no-owner" else "zero-a10g" in message


def test_a_folder_without_front_matter_is_refused_before_anything_is_sent(
    app_folder: Path, capsys: pytest.CaptureFixture
) -> None:
    (app_folder / "README.md").write_text("# Diffusion Playground\n")

    status, made = run_deploy(["--space", "teacher/demo", "--token", "hf_w"], folder=app_folder)

    assert status == 2 and made == []
    assert "front matter" in capsys.readouterr().err


def test_readme_front_matter_is_a_complete_space_configuration() -> None:
    settings = deploy.space_settings(ROOT)

    assert settings["sdk"] == "gradio" and settings["app_file"] == "app.py"
    # ZeroGPU runs Python 3.10 and 3.12 only (Hugging Face's ZeroGPU docs).
    assert str(settings["python_version"]) in {"3.10", "3.12"}
    assert settings["suggested_hardware"] in {hardware.value for hardware in SpaceHardware}
    assert len(settings["short_description"]) <= 60 and settings["license"] == "mit"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    preloaded = [entry.split()[0] for entry in settings["preload_from_hub"]]
    assert preloaded and set(preloaded) <= set(settings["models"])
    # Preloaded weights are safetensors only (the app never loads pickle weights).
    files = [name for entry in settings["preload_from_hub"] for name in entry.split()[1].split(",")]
    assert not [name for name in files if name.endswith((".bin", ".ckpt", ".pt", ".pth"))]
