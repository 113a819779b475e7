"""The worker's workflows and activities, wired to their dependencies. Each new workflow or activity
class is registered here, and only here."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client

from activities.deps import ActivityDeps
from db.engine import get_engine
from edgewise.config import Settings
from edgewise.crypto import load_keyring


def build_deps(client: Client, settings: Settings) -> ActivityDeps:
    from linkedin.http_adapter import http_adapter_factory

    return ActivityDeps(
        settings=settings,
        engine=get_engine(settings),
        keyring=load_keyring(settings),
        client=client,
        adapter_factory=http_adapter_factory(settings),
    )


def components(client: Client, settings: Settings) -> tuple[list[type], list[Any]]:
    deps = build_deps(client, settings)
    workflows: list[type] = []
    activities: list[Any] = []
    # --- registrations (one block per module) ---
    # deliveries (webhook events and run callbacks)
    from activities.deliveries import DeliveryActivities
    from workflows.delivery import DeliveryWorkflow

    workflows.append(DeliveryWorkflow)
    activities.append(DeliveryActivities(deps).attempt_delivery)
    # action runs (live and async)
    from activities.runs import RunActivities
    from workflows.run import ActionRunWorkflow

    runs = RunActivities(deps)
    workflows.append(ActionRunWorkflow)
    activities.extend(
        [
            runs.plan_run,
            runs.request_permit,
            runs.run_batch,
            runs.run_live_page,
            runs.settle_run,
            runs.postpone_inputs,
            runs.requeue_inputs,
            runs.fail_batch,
        ]
    )
    # accounts (per-account workflow, leases) and connecting LinkedIn
    from activities.accounts import AccountActivities
    from activities.connect import ConnectActivities
    from workflows.account import AccountWorkflow
    from workflows.connect import ConnectWorkflow

    workflows += [AccountWorkflow, ConnectWorkflow]
    account_activities = AccountActivities(deps)
    connect_activities = ConnectActivities(deps)
    activities += [
        account_activities.acquire_lease,
        account_activities.release_lease,
        connect_activities.verify_and_attach_cookies,
        connect_activities.announce_connected,
        connect_activities.discard_stash,
    ]
    # session health (the per-account workflow's periodic probe)
    from activities.health import HealthActivities

    activities.append(HealthActivities(deps).check_account_health)
    # credentials logins (the connect workflow's other path)
    from activities.login import LoginActivities

    logins = LoginActivities(deps)
    activities += [
        logins.login_with_credentials,
        logins.answer_checkpoint,
        logins.end_login,
        logins.announce_login_event,
    ]
    # schedules (the firing started by each Temporal Schedule)
    from activities.schedules import ScheduleActivities
    from workflows.schedule import ScheduleFireWorkflow

    workflows.append(ScheduleFireWorkflow)
    schedule_activities = ScheduleActivities(deps)
    activities += [schedule_activities.fire_schedule, schedule_activities.finish_firing]
    return workflows, activities


def live_components(client: Client, settings: Settings) -> tuple[list[type], list[Any]]:
    """What serves the live task queue: the run workflow (live mode) and its page activity, plus the lease
    release it falls back on. Hosted by every API process (eager start) and every worker."""
    from activities.accounts import AccountActivities
    from activities.runs import RunActivities
    from workflows.run import ActionRunWorkflow

    deps = build_deps(client, settings)
    runs = RunActivities(deps)
    accounts = AccountActivities(deps)
    return [ActionRunWorkflow], [runs.run_live_page, accounts.release_lease]


def live_worker_options() -> dict[str, Any]:
    """Worker options for the live task queue.

    No workflow sandbox: the sandbox re-imports the workflow's module for every new workflow instance, and
    every live call is a new instance — measured at ~14 % of the API process's CPU per live call. The
    sandbox is a development-time guard against non-deterministic workflow code; the same `ActionRun` code
    runs sandboxed on the main task queue (every async run) and in the replay tests, which is where such
    code would be caught. A live run's workflow is one local activity and a lease release."""
    from temporalio.worker import UnsandboxedWorkflowRunner

    return {"workflow_runner": UnsandboxedWorkflowRunner()}
