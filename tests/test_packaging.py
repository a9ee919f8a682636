"""environment.yml (conda) and pyproject.toml must declare the same dependencies."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]


def requirement_names(requirements):
    return {
        re.split(r"[<>=!~\[ ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements
    }


def conda_dependencies():
    dependencies, in_list = [], False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_list = True
        elif in_list and re.match(r"^ {2}(    )?- [A-Za-z]", line):  # conda's, then pip's
            dependencies.append(line.strip()[2:])
    return dependencies


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = requirement_names(project["dependencies"] + project["optional-dependencies"]["dev"])
    conda = requirement_names(conda_dependencies()) - {"python", "pip", "pip:"}
    assert conda == declared, (
        f"only in environment.yml: {conda - declared}; only in pyproject: {declared - conda}"
    )
    pinned = {r.split()[0] for r in conda_dependencies()}
    for requirement in project["dependencies"]:
        assert requirement in pinned, f"{requirement} differs in environment.yml"


def test_the_package_needs_no_test_or_notebook_runner_tools():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = requirement_names(project["dependencies"])
    assert not runtime & {"nbmake", "papermill", "pytest", "jupytext", "ruff", "jupyter"}
    extras = project["optional-dependencies"]
    assert "papermill" in requirement_names(extras["batch"])
    assert {"nbmake", "pytest", "papermill"} <= requirement_names(extras["test"])


def test_ci_and_the_readme_use_the_oldest_keras_and_tensorflow_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    minimum = dict(
        re.fullmatch(r"(keras|tensorflow)>=([\d.]+)", requirement).groups()
        for requirement in project["dependencies"]
        if re.fullmatch(r"(keras|tensorflow)>=[\d.]+", requirement)
    )
    ci = (ROOT / ".ci" / "run").read_text()
    for name, version in minimum.items():
        assert f'"{name}=={version}.0"' in ci, name
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"Keras {minimum['keras']} or later and TensorFlow {minimum['tensorflow']}" in readme
