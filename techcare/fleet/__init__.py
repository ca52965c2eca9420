"""Remote work on the customer's PCs: the technician's side (``docs/remote-jobs.md``).

Approved work is signed on this machine with the technician's Ed25519 key (``TECHCARE_HOME/signing/ed25519.pem``,
created on first use; ``techcare fleet key`` prints the public key to pin on the hosts). The backend only stores and
routes a job; each sensor host checks signer, target, time window and job id before anything runs, and refuses a
job that was changed on the way::

    from techcare import fleet
    fleet.hosts()                                  # DataFrame: hostname, os, status, last values
    d = fleet.diagnose("kasse-01").result()        # a Diagnosis of that host, made there
    plan = techcare.plan(d)                        # numbered steps, as for a local diagnosis
    job = fleet.queue(plan, "GO REPAIR: 1,2")      # signed and queued for the plan's host
    job.wait(120)                                  # until every host answered (or says who has not)
    job.to_frame()                                 # one row per host and step
    fleet.rollback(job)                            # a signed undo of the completed steps
    fleet.jobs(host="kasse-01")                    # DataFrame of jobs, newest first
    fleet.cancel(job.id)                           # stops work that has not finished (no signature needed)

Groups and scheduled maintenance (§5)::

    fleet.tag(["kasse-01", "buero-pc"], "kunde:baeckerei-mueller")   # tags route; they never authorise
    fleet.hosts(tag="kunde:baeckerei-mueller")     # the backend filters
    fleet.diagnose(tag="kunde:baeckerei-mueller")  # one DataFrame of every host's findings (host column)
    fleet.drivers(tag="kunde:baeckerei-mueller")   # every host's driver inventory (host column)
    s = fleet.schedule(plan, "GO REPAIR: 1,2", tag="kunde:baeckerei-mueller",
                       rrule="FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0", window="2h")   # signed for the tag's hosts
    s.next(); s.occurrences(); s.pause(); s.resume(); s.delete()
    fleet.schedules(tag=...); fleet.occurrences(s.id)
    r = fleet.report(tag="kunde:baeckerei-mueller", month="2026-11")   # Wartungsbericht: r.markdown, r.html
    r.save("wartungsbericht-2026-11.html")

Settings: ``BACKEND_URL`` and ``TECHCARE_API_KEY`` (a key of role technician or admin); remote jobs need a
Pro Business license or higher. Errors are :class:`FleetError` (German/English, saying what to do); a bad
approval is refused here with the repairs' :class:`~techcare.errors.ApprovalError`. Every function takes
``backend=`` (a :class:`~techcare.backend_client.BackendClient`) to talk to another backend than the configured one.
"""

from __future__ import annotations

from ._groups import (
    diagnose,
    drivers,
    get_schedule,
    occurrences,
    report,
    schedule,
    schedules,
    tag,
    tags,
    untag,
)
from ._job import FleetTimeout, Job
from ._payload import FleetError, build_payload
from ._remote import cancel, hosts, job, jobs, queue, rollback, signing_key
from ._schedule import Schedule, build_schedule_payload, parse_window
from .report import MaintenanceReport, render_report

__all__ = ["FleetError", "FleetTimeout", "Job", "MaintenanceReport", "Schedule", "build_payload",
           "build_schedule_payload", "cancel", "diagnose", "drivers", "get_schedule", "hosts", "job", "jobs",
           "occurrences", "parse_window", "queue", "render_report", "report", "rollback", "schedule", "schedules",
           "signing_key", "tag", "tags", "untag"]
