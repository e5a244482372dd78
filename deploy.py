"""Deploy the app as a Hugging Face Space in one command.

    python deploy.py --space YOUR_NAME/diffusion-playground --hardware zero-a10g

Creates the Space (Gradio SDK) if it does not exist yet, uploads this folder, asks for the hardware
if `--hardware` is given, and prints the Space's address. The Space reads everything else (Gradio and
Python versions, app file, suggested hardware, the hub models to preload) from README.md's front
matter, which is checked before anything is sent. Uploaded: the code, the docs and the embedded models
in assets/models (small diffusers folders the app needs offline). Never uploaded: training
checkpoints, test artifacts, caches, virtual environments and git data (IGNORE_PATTERNS).

Log in once with `hf auth login` (a token with the "write" role), or set HF_TOKEN, or pass --token.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from huggingface_hub import HfApi, SpaceHardware, get_token
from huggingface_hub.errors import HfHubHTTPError, HTTPError
from huggingface_hub.repocard import metadata_load
from huggingface_hub.utils import filter_repo_objects

ROOT = Path(__file__).resolve().parent

# Globs as huggingface_hub matches them (fnmatch on paths relative to the folder; "*" crosses "/").
IGNORE_PATTERNS = [
    ".git/*",
    "*__pycache__/*",
    "*.pyc",
    "*.pytest_cache/*",
    "*.ruff_cache/*",
    ".venv/*",
    "artifacts/*",  # the browser tests' screenshots
    "train/checkpoints/*",  # optimiser state to resume training; the app loads assets/models
    "train/logs/*.out",
    "requirements.txt",  # sent rewritten for the Space: `space_requirements`
]
# ZeroGPU runs only the torch versions its docs list (2.8.0, 2.9.1, 2.10.0, 2.11.0 as of July 2026) on Python 3.10
# or 3.12; this project pins a newer CPU build for its own machines. The Space gets the newest ZeroGPU version.
SPACE_TORCH = "torch==2.11.0"

# What the Space needs from README.md's front matter (https://huggingface.co/docs/hub/spaces-config-reference).
REQUIRED_SETTINGS = ("title", "sdk", "sdk_version", "python_version", "app_file")

HARDWARE = [hardware.value for hardware in SpaceHardware]

LOGIN_HELP = (
    "No Hugging Face token found. Log in once with `hf auth login` (paste a token with the 'write' role, "
    "made at https://huggingface.co/settings/tokens), or set the HF_TOKEN environment variable, or pass --token."
)


def space_id(value: str) -> str:
    """argparse type: an owner/name Space id."""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", value):
        raise argparse.ArgumentTypeError(f"'{value}' is not a Space id: write it as YOUR_NAME/SPACE_NAME.")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", type=space_id, required=True, help="the Space to create or update: USER/NAME")
    parser.add_argument(
        "--hardware",
        choices=HARDWARE,
        metavar="HARDWARE",
        help="ask for this hardware after the upload: zero-a10g (ZeroGPU), cpu-basic, t4-small, ... "
        f"(one of: {', '.join(HARDWARE)}); without it the Space keeps the hardware it has",
    )
    parser.add_argument("--private", action="store_true", help="make a new Space private (an existing one is kept)")
    parser.add_argument("--token", help="a Hugging Face token with the 'write' role (default: the one logged in)")
    return parser.parse_args(argv)


def space_settings(folder: Path) -> dict:
    """README.md's front matter, checked for what a Gradio Space needs; ValueError says what is missing."""
    readme = folder / "README.md"
    settings = metadata_load(readme) if readme.is_file() else None
    if not settings:
        raise ValueError(f"{readme} has no front matter: a Space is configured by the YAML block at its top.")
    missing = [key for key in REQUIRED_SETTINGS if not settings.get(key)]
    if missing:
        raise ValueError(f"README.md's front matter lacks {', '.join(missing)}.")
    if settings["sdk"] != "gradio":
        raise ValueError(f"README.md's front matter says sdk: {settings['sdk']}; this app is a Gradio Space.")
    if not (folder / settings["app_file"]).is_file():
        raise ValueError(f"README.md's front matter names app_file {settings['app_file']}, which does not exist.")
    return settings


def create_space(api: HfApi, space: str, private: bool) -> str:
    """Create the Space if it does not exist (an existing one is left as it is); returns its address."""
    return str(api.create_repo(space, repo_type="space", space_sdk="gradio", private=private, exist_ok=True))


def files_to_upload(folder: Path) -> list[Path]:
    """The files `upload` sends, chosen by huggingface_hub's own filter, for the size shown before uploading."""
    relative = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    return [folder / path for path in filter_repo_objects(relative, ignore_patterns=IGNORE_PATTERNS)]


def space_requirements(folder: Path) -> str:
    """requirements.txt as the Space installs it: torch pinned to a version ZeroGPU runs (`SPACE_TORCH`)."""
    text = (folder / "requirements.txt").read_text()
    return re.sub(r"^torch==\S+", SPACE_TORCH, text, flags=re.MULTILINE)


def upload(api: HfApi, space: str, folder: Path) -> None:
    # upload_folder extends the list it is given with its own defaults: pass a copy.
    api.upload_folder(
        repo_id=space,
        repo_type="space",
        folder_path=folder,
        ignore_patterns=list(IGNORE_PATTERNS),
        commit_message="Deploy Diffusion Playground",
    )
    api.upload_file(
        path_or_fileobj=space_requirements(folder).encode(),
        path_in_repo="requirements.txt",
        repo_id=space,
        repo_type="space",
        commit_message=f"requirements.txt for the Space ({SPACE_TORCH}, a version ZeroGPU runs)",
    )


def main(argv: Sequence[str] | None = None, hub: Callable[..., HfApi] = HfApi, folder: Path = ROOT) -> int:
    """Deploy `folder` to the Space named in `argv`; the exit status. `hub` makes the HfApi (tests: a stand-in)."""
    args = parse_args(argv)
    try:
        space_settings(folder)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    token = args.token or get_token()
    if not token:
        print(f"error: {LOGIN_HELP}", file=sys.stderr)
        return 2
    api = hub(token=token)
    url = f"https://huggingface.co/spaces/{args.space}"
    step, afterwards = "the token", ""
    try:
        api.whoami()
        step = f"creating the Space {args.space}"
        print(f"Creating the Space {args.space} (an existing one is kept) ...")
        url = create_space(api, args.space, args.private)
        files = files_to_upload(folder)
        megabytes = sum(path.stat().st_size for path in files) / 1e6
        step = "the upload"
        print(f"Uploading {len(files)} files, {megabytes:.0f} MB ...")
        upload(api, args.space, folder)
        if args.hardware:
            step = f"the hardware {args.hardware}"
            afterwards = f" The app is uploaded: choose its hardware in the Settings tab of {url}."
            print(f"Requesting the hardware {args.hardware} ...")
            api.request_space_hardware(args.space, args.hardware)
    except HfHubHTTPError as error:  # the Hub answered no: a refused token, someone else's name, a plan too small
        print(f"error: the Hugging Face Hub refused {step}: {error}.{afterwards}", file=sys.stderr)
        return 1
    except HTTPError as error:  # no answer at all: no network, a proxy, a timeout
        print(f"error: could not reach the Hugging Face Hub ({step}): {error}.{afterwards}", file=sys.stderr)
        return 1
    print(f"Done: {url} (a new Space builds for a few minutes before it runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
