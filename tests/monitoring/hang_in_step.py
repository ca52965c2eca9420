"""Run as a subprocess by test_sensor_jobs.py: the sensor's job runner on the replayed Windows PC, whose
``sc.exe config`` (the apply of ``win.set_service_start_type``) changes the simulated PC and then hangs, so that
the test can SIGKILL this process in the middle of a repair step.

    python hang_in_step.py SNAPSHOT MARKER
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from techcare.config import get_settings
from techcare.monitoring.sensor import Sensor
from techcare.monitoring.simulated import SimulatedPC


class HangingPC(SimulatedPC):
    def __init__(self, *args, marker: Path, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.marker = marker

    def __call__(self, argv):
        result = super().__call__(argv)   # the change is made (and saved) ...
        if tuple(argv[:2]) == ("sc.exe", "config"):
            self.marker.write_text(" ".join(argv))
            while True:                   # ... and the step never ends
                time.sleep(1)
        return result


def main(snapshot: str, marker: str) -> int:
    settings = get_settings()
    pc = HangingPC.from_snapshot(snapshot, state_file=Path(settings.techcare_home) / "simulated-pc.json",
                                 marker=Path(marker))
    sensor = Sensor(settings=settings, runner=pc.runner(), hostname=pc.hostname, cache_ttl={})
    return 0 if sensor.run_jobs(wait=0) else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
