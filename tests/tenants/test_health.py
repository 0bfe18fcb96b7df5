import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

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


def test_readyz_names_a_failing_dependency_without_its_error_text(client, settings, caplog):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"] == {"ok": False, "detail": "unavailable", "ms": body["checks"]["broker"]["ms"]}
    assert body["checks"]["database"]["ok"] is True
    assert "127.0.0.1" not in response.content.decode() and "refused" not in response.content.decode().lower()
    assert any("broker" in r.getMessage() and "Error" in r.getMessage() for r in caplog.records)  # logged instead


def test_check_status_fails_and_shows_the_error_to_the_operator(settings, capsys):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"
    with pytest.raises(CommandError):
        call_command("check_status")
    out = capsys.readouterr().out
    assert "FAIL broker" in out and "Error" in out


def test_postgresql_gets_a_connect_timeout():
    code = "import os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; from django.conf import settings; "
    code += "print(settings.DATABASES['default']['OPTIONS'].get('connect_timeout'))"
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "."}
    default = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**base, "DATABASE_URL": "postgres://u@db.invalid:5432/x"})
    assert default.stdout.strip() == "3", default.stderr
    given = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**base, "DATABASE_URL": "postgres://u@db.invalid:5432/x?connect_timeout=9"})
    assert given.stdout.strip() == "9", given.stderr


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
