"""Production settings pass Django's deployment checks, and their HTTPS redirect spares the health check."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def deploy_check(tmp_path, **extra) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DEBUG", "SECURE_COOKIES")}
    env |= {"SMSPORTAL_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(60), "ALLOWED_HOSTS": "sms.example.com",
            "DATA_DIR": str(tmp_path), **extra}
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_production_behind_its_tls_proxy_passes_check_deploy(tmp_path):
    result = deploy_check(tmp_path, BEHIND_TLS_PROXY="true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_https_the_check_says_what_is_missing(tmp_path):
    result = deploy_check(tmp_path, BEHIND_TLS_PROXY="false")  # a plain-http trial of the compose file
    assert result.returncode != 0
    assert "security.W008" in result.stderr + result.stdout  # no redirect to an HTTPS that does not exist


@pytest.mark.django_db
def test_the_https_redirect_spares_the_health_check(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/login/").status_code == 301
    assert client.get("/healthz").status_code != 301
