"""Jupyter widgets: a plan as a checklist with a ``GO REPAIR`` button, progress bars, an output log.

Without ipywidgets (or outside a kernel) the same objects render as HTML tables, so nothing depends on them.
The selection in the checklist *is* the approval: the button builds ``GO REPAIR: <selected>`` for the plan it
shows and runs it through the session (the same path as ``%repair``), so a stale plan is refused the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .i18n import tr
from .monitoring import SensorSample

__all__ = ["PlanView", "SampleView", "diagnosis_progress", "have_widgets"]


def have_widgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def diagnosis_progress(total: int | None = None) -> Callable[[str, Any], None] | None:
    """A progress-bar callback for ``diagnose(progress=...)`` in a notebook, or ``None`` without ipywidgets."""
    if not have_widgets():
        return None
    import ipywidgets as w
    from IPython.display import display

    from .system import PROBES

    bar = w.IntProgress(min=0, max=total or len(PROBES), description=tr("Diagnose", "Diagnosis"))
    label = w.Label("")
    box = w.HBox([bar, label])
    display(box)

    def update(name: str, _result: Any) -> None:
        bar.value += 1
        label.value = name
        if bar.value >= bar.max:
            box.close()

    return update


def _risk_word(risk: str) -> str:
    de, en = {"low": ("niedrig", "low"), "medium": ("mittel", "medium"), "high": ("hoch", "high")}.get(risk, (risk, risk))
    return tr(de, en)


class PlanView:
    """Displays a plan; in Jupyter with ipywidgets as an approvable checklist."""

    def __init__(self, plan: Any, session: Any) -> None:
        self.plan = plan
        self.session = session
        self.result: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.plan, name)

    def _repr_html_(self) -> str:
        return self.plan._repr_html_()

    def __repr__(self) -> str:
        return repr(self.plan)

    def widget(self):
        import ipywidgets as w

        boxes = []
        for step in self.plan.steps:
            risk = _risk_word(getattr(step, "risk", ""))
            label = f"{step.number}. {step.title()}  [{risk}]" if callable(getattr(step, "title", None)) \
                else f"{step.number}. {getattr(step, 'action_id', step)}  [{risk}]"
            boxes.append(w.Checkbox(value=False, description=label, indent=False,
                                    layout=w.Layout(width="auto")))
        confirm = w.Checkbox(value=False, description=tr("Hochrisiko-Schritte bestätigen", "Confirm high-risk steps"),
                             indent=False)
        dry = w.Checkbox(value=False, description=tr("Nur Probelauf", "Dry run only"), indent=False)
        button = w.Button(description="GO REPAIR", button_style="danger", icon="wrench")
        progress = w.IntProgress(min=0, max=max(1, len(boxes)), description=tr("Fortschritt", "Progress"))
        log = w.Output(layout=w.Layout(border="1px solid #ccc", max_height="240px", overflow="auto"))

        def on_click(_btn: Any) -> None:
            chosen = [str(step.number) for step, box in zip(self.plan.steps, boxes) if box.value]
            with log:
                if not chosen:
                    print(tr("Keine Schritte ausgewählt – nichts ausgeführt.", "No steps selected – nothing ran."))
                    return
                progress.value = 0
                progress.max = len(chosen)
                button.disabled = True
                try:
                    self.result = self.session.run(
                        "GO REPAIR: " + ",".join(chosen), dry_run=dry.value, confirm=lambda step: confirm.value,
                        plan_id=self.plan.id,
                        progress=lambda *args, **kw: setattr(progress, "value", min(progress.max, progress.value + 1)))
                    from IPython.display import display

                    display(self.result)
                except Exception as exc:  # noqa: BLE001 - shown in the log, the button stays usable
                    print(f"✖ {exc}")
                finally:
                    button.disabled = False

        button.on_click(on_click)
        return w.VBox([w.HTML(self.plan._repr_html_()), *boxes, confirm, dry, button, progress, log])

    def _ipython_display_(self) -> None:
        from IPython import get_ipython
        from IPython.display import HTML, display

        shell = get_ipython()
        if shell is None or shell.__class__.__name__ != "ZMQInteractiveShell":
            print(self.plan.text())  # terminal shell: the plain-text plan with its exact commands
            return
        display(self.widget() if have_widgets() else HTML(self._repr_html_()))



def _word(value: Any) -> str:
    """A state word of the sensor contract (on/off/ok/passed/…) in the session language."""
    words = {"on": ("an", "on"), "off": ("aus", "off"), "ok": ("in Ordnung", "ok"), "problem": ("Problem", "problem"),
             "passed": ("in Ordnung", "passed"), "warning": ("Warnung", "warning"), "failing": ("defekt", "failing"),
             True: ("ja", "yes"), False: ("nein", "no"), None: ("unbekannt", "unknown"),
             "unknown": ("unbekannt", "unknown")}
    pair = words.get(value) if isinstance(value, (str, bool)) or value is None else None
    return tr(*pair) if pair else str(value)


class SampleView(SensorSample):
    """A sensor sample (still the same dict, the backend contract) that says whether it was sent to the backend
    and shows its values as a table in the terminal and in Jupyter."""

    def __init__(self, sample: Any = (), *, sent: bool = False) -> None:
        super().__init__(sample)
        self.sent = sent

    def status_line(self) -> str:
        from .diagnosis import os_name

        where = f"{self.get('hostname')} ({os_name(str(self.get('os')))}) · {self.get('timestamp')}"
        if self.sent:
            return tr("Messwert {w} – an das Backend gesendet.", "Sample {w} – sent to the backend.", w=where)
        return tr("Messwert {w} – nicht gesendet, nur angezeigt (gesendet wird vom Sensor: techcare sensor --once).",
                  "Sample {w} – not sent, only shown (the sensor sends samples: techcare sensor --once).", w=where)

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) in the session language; values the machine reported (mounts, devices) stay as they are."""
        def pct(value: Any) -> str:
            return "-" if value is None else f"{float(value):.0f} %"

        rows = [(tr("Prozessorlast", "CPU load"), pct(self.get("cpu_percent"))),
                (tr("Arbeitsspeicher", "Memory"), pct(self.get("ram_percent"))),
                (tr("Auslagerung", "Swap"), pct(self.get("swap_percent")))]
        rows += [(tr("Laufwerk {m}", "Drive {m}", m=d.get("mount")), pct(d.get("percent"))) for d in self.get("disks") or []]
        services = self.get("services") or {}
        rows += [(tr("Firewall", "Firewall"), _word(services.get("firewall"))),
                 (tr("Virenschutz", "Antivirus"), _word(services.get("antivirus"))),
                 (tr("Update-Dienst", "Update service"), _word(services.get("update_service"))),
                 (tr("Ausgefallene Dienste", "Failed services"), ", ".join(services.get("failed") or []) or "-")]
        updates = self.get("pending_updates")
        rows.append((tr("Ausstehende Updates", "Pending updates"), tr("unbekannt", "unknown") if updates is None else
                     tr("{n} ({s} Sicherheit)", "{n} ({s} security)", n=updates.get("count"), s=updates.get("security"))))
        rows.append((tr("Neustart ausstehend", "Restart pending"), _word(self.get("pending_reboot"))))
        rows += [(f"SMART {d.get('device')}", _word(d.get("health"))) for d in self.get("smart") or []]
        rows.append((tr("Fehlerereignisse", "Error events"), str(len(self.get("events") or []))))
        return rows

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        if cycle:
            printer.text("{...}")
            return
        rows = self.rows()
        width = max(len(label) for label, _ in rows)
        printer.text("\n".join([self.status_line()] + [f"  {label.ljust(width)}  {value}" for label, value in rows]))

    def _repr_html_(self) -> str:
        import html

        body = "".join(f"<tr><td>{html.escape(label)}</td><td>{html.escape(value)}</td></tr>" for label, value in self.rows())
        return f"<p>{html.escape(self.status_line())}</p><table><tbody>{body}</tbody></table>"
