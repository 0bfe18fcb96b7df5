import subprocess
import sys

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_names_each_dependency(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    checks = response.json()["checks"]
    assert set(checks) == {"database", "redis", "broker"}
    assert all(c["ok"] for c in checks.values())


def test_check_status_command_prints_each_dependency(capsys):
    call_command("check_status")
    out = capsys.readouterr().out
    for name in ("database", "redis", "broker", "ready"):
        assert name in out


def _settings_import(env):
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup()"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_production_refuses_default_secret_key_and_debug():
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "."}
    no_secret = _settings_import({**base, "DJANGO_ENV": "production"})
    assert no_secret.returncode != 0 and "SECRET_KEY" in no_secret.stderr
    debug_on = _settings_import({**base, "DJANGO_ENV": "production", "DEBUG": "1", "SECRET_KEY": "x" * 60})
    assert debug_on.returncode != 0 and "DEBUG" in debug_on.stderr
    debug_off_default_key = _settings_import({**base, "DEBUG": "0"})
    assert debug_off_default_key.returncode != 0
    ok = _settings_import({**base, "DJANGO_ENV": "production", "SECRET_KEY": "k" * 60, "ALLOWED_HOSTS": "a.example"})
    assert ok.returncode == 0, ok.stderr


def test_check_deploy_has_nothing_serious_to_say():
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ".", "DJANGO_ENV": "production",
           "SECRET_KEY": "prod-" + "q7Zk2" * 12, "ALLOWED_HOSTS": "cache.example.com"}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
