"""Deployment safety invariants that are cheap to check statically."""

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*ROOT.glob("schedules/**/*.py"), *ROOT.glob("app/**/*.py")])


def test_streamlit_config_keeps_security_on_and_caps_uploads():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["enableXsrfProtection"] is True
    assert server["enableCORS"] is True
    assert server["maxUploadSize"] == 16  # MB: run logs; configs are capped at 1 MB by the library
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["showErrorDetails"] == "type"  # never a traceback in the browser


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func  # bare builtins only: model.eval() and re.compile() are fine
            if isinstance(fn, ast.Name):
                yield fn.id


def test_no_eval_exec_or_pickle_on_any_input():
    assert SOURCES, "no sources found"
    for path in SOURCES:
        tree = ast.parse(path.read_text(), filename=str(path))
        calls = set(_calls(tree))
        assert not calls & {"eval", "exec", "compile", "__import__"}, str(path)
        imports = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
        }
        assert not imports & {"pickle", "dill", "marshal", "shelve"}, f"{path} imports {imports}"
        # torch.load unpickles unless weights_only=True (the default only from torch 2.6): every call
        # must say weights_only=True, so no version of torch >= 2.4 unpickles arbitrary objects.
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
                kw = {k.arg: k.value for k in node.keywords}
                assert (
                    isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
                ), f"{path}:{node.lineno}: torch.load without weights_only=True"


def test_expression_evaluator_refuses_python():
    from schedules.design import ConfigError
    from schedules.design.expr import check_expression

    for bad in [
        "__import__('os').system('true')",
        "().__class__",
        "open('/etc/passwd')",
        "[x for x in ()]",
        "lambda: 1",
        "step.__class__",
        "'a' * 10",
    ]:
        try:
            check_expression(bad, {"n": 10, "total_steps": 10, "warmup_steps": 0}, "decay.kwargs.lr_lambda")
        except ConfigError as exc:
            assert exc.problems[0].path == "decay.kwargs.lr_lambda"
        else:
            raise AssertionError(f"accepted: {bad}")


def test_dockerfile_is_slim_cpu_non_root_with_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert lines[0].startswith("FROM python:3.11-slim")
    # pinned by digest: a sha256 of 64 hex digits after the tag (issue 17)
    assert re.fullmatch(r"FROM python:3\.11-slim@sha256:[0-9a-f]{64}", lines[0]), lines[0]
    assert "whl/cpu" in text  # CPU torch, not PyPI's CUDA build
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any(line.startswith("HEALTHCHECK") for line in lines) and "/_stcore/health" in text
    cmd = [line for line in lines if line.startswith("CMD ")][-1]  # the last CMD is the container's
    assert '"0.0.0.0"' in cmd and '"app.serve"' in cmd  # app/serve.py runs app/main.py
    assert "enableXsrfProtection" not in text and "enableCORS" not in text  # config.toml's settings stand
    assert "COPY .streamlit/" in text


def test_config_files_over_the_cap_are_rejected_before_parsing():
    from schedules import ConfigError, parse_config_json
    from schedules.design import MAX_CONFIG_BYTES

    big = b'{"name": "' + b"x" * MAX_CONFIG_BYTES + b'"}'
    try:
        parse_config_json(big)
    except ConfigError as exc:
        assert exc.lines() == [
            f"(file): must be at most {MAX_CONFIG_BYTES:,} bytes (a config is a small JSON "
            f"document), got '{len(big):,} bytes'"
        ]
    else:
        raise AssertionError("accepted an oversized config")
