"""Background jobs: backoff, the periodic scheduler, and the worker running real tasks."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

from studiobook import jobs
from studiobook.jobs.models import PeriodicRun
from studiobook.jobs.tasks import enqueue_due
from tests.support.factories import NOW
from tests.support.live import fresh_database_url, migrate, subprocess_env


def test_backoff_doubles_and_is_capped():
    assert [jobs.backoff_seconds(n, jitter=0) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert jobs.backoff_seconds(20, jitter=0) == 3600
    assert all(30 <= jobs.backoff_seconds(1) <= 33 for _ in range(50))


def test_due_periodic_jobs_are_enqueued_once_per_interval(db, settings, monkeypatch):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    monkeypatch.setattr(jobs, "PERIODIC", {})
    # Never run: the dummy backend only records what is enqueued.
    jobs.register_periodic("test.tick", 60, lambda: None)
    monkeypatch.setattr("studiobook.jobs.tasks.PERIODIC", jobs.PERIODIC)

    assert enqueue_due(NOW) == ["test.tick"]
    assert enqueue_due(NOW + timedelta(seconds=59)) == []
    assert enqueue_due(NOW + timedelta(seconds=60)) == ["test.tick"]
    run = PeriodicRun.objects.get(name="test.tick")
    assert run.next_run_at == NOW + timedelta(seconds=120)


def test_the_worker_runs_the_hold_sweep(tmp_path):
    """`studiobook worker` on a fresh database of this pass's kind (SQLite or PostgreSQL):
    its scheduler enqueues the hold sweep and its task runner executes it."""
    with fresh_database_url(tmp_path) as url:
        env = subprocess_env(url)
        run = [sys.executable, "-m", "django"]
        migrate(url)
        script = (
            "import django; django.setup()\n"
            "from datetime import timedelta\n"
            "from django.utils import timezone\n"
            "from studiobook.accounts.models import User\n"
            "from studiobook.bookings.models import Hold\n"
            "from studiobook.studios.models import Service, Studio\n"
            "s = Studio.objects.create(slug='w', name='W', time_zone='UTC')\n"
            "svc = Service.objects.create(studio=s, name='S', requires_room=False)\n"
            "u = User.objects.create_user(email='a@example.test', password=None)\n"
            "now = timezone.now()\n"
            "Hold.objects.create(studio=s, token='t1', user=u, service=svc, start_at=now,\n"
            "    end_at=now + timedelta(hours=1), expires_at=now - timedelta(minutes=1))\n"
        )
        subprocess.run([sys.executable, "-c", script], env=env, check=True)
        log = (tmp_path / "worker.log").open("wb")
        worker = subprocess.Popen([*run, "worker", "--interval", "0.2"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            check = ("import django; django.setup()\n"
                     "from studiobook.bookings.models import Hold\n"
                     "print(Hold.objects.get().status)")
            deadline = time.monotonic() + 60  # a cold worker start on a loaded machine
            status = ""
            while time.monotonic() < deadline:
                status = subprocess.run([sys.executable, "-c", check], env=env, check=True,
                                        capture_output=True, text=True).stdout.strip()
                if status == "expired":
                    break
                time.sleep(0.5)
            assert status == "expired", (tmp_path / "worker.log").read_text()
        finally:
            worker.terminate()
            worker.wait(timeout=20)
            log.close()
