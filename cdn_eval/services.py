"""Writes: start evaluations (inline or as a job), run a job, keep its progress and result."""

import logging
import os
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cdn_eval import engine
from cdn_eval.models import Evaluation

log = logging.getLogger(__name__)


def upload_dir():
    path = Path(settings.CDN_EVAL_UPLOAD_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def egress_price(organization_id, namespace_id):
    """(usd per GB, source) the namespace's savings are priced at when the request names no price.

    The same selector as every other dollar figure of the product (portal.pricing over dedup's table):
    a namespace with an origin uses its origin's price (the organization's own, else the list price);
    an origin charging no egress saves no dollars (0). Without an origin, the CDN_EVAL_EGRESS_PRICE_PER_GB
    setting is the default."""
    from portal.pricing import namespace_prices

    price = namespace_prices(organization_id, [namespace_id])[namespace_id]
    if price.is_default:
        value = float(settings.CDN_EVAL_EGRESS_PRICE_PER_GB)
        if value == float(price.usd_per_gb):
            return value, price.source
        return value, "default: CDN_EVAL_EGRESS_PRICE_PER_GB setting"
    if not price.charges_egress:
        return 0.0, f"{price.source} (no egress charge)"
    return float(price.usd_per_gb), price.source


def engine_options(raw, organization_id=None, namespace_id=None):
    """Validated engine options (raises engine.EngineError naming the option); without an egress price
    option, the namespace's egress price."""
    if namespace_id is None or (isinstance(raw, dict) and raw.get("egress_price_per_gb") is not None):
        return engine.Options.from_dict(
            raw,
            default_egress_price=settings.CDN_EVAL_EGRESS_PRICE_PER_GB,
            default_price_source="default: CDN_EVAL_EGRESS_PRICE_PER_GB setting",
        )
    price, source = egress_price(organization_id, namespace_id)
    return engine.Options.from_dict(raw, default_egress_price=price, default_price_source=source)


def parse_inline(records, skip_invalid=False):
    return engine.parse_records(records, skip_invalid=skip_invalid)


def evaluate_now(context, columns, raw_options, options):
    """Small logs: evaluate in the request and store the finished evaluation."""
    started = timezone.now()
    result = engine.evaluate_columns(columns, options).to_dict()
    return Evaluation.objects.create(
        organization_id=context.organization_id,
        namespace_id=context.namespace.id,
        status=Evaluation.Status.DONE,
        progress=1.0,
        stage="done",
        source=Evaluation.Source.INLINE,
        options=raw_options,
        requests=result["requests"],
        result=result,
        started_at=started,
        finished_at=timezone.now(),
    )


def spool(chunks):
    """Write an uploaded log to the job spool; returns (path, bytes)."""
    path = upload_dir() / f"{uuid.uuid4().hex}.log"
    written = 0
    with open(path, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
            written += len(chunk)
    return str(path), written


def queue_evaluation(context, input_path, input_bytes, raw_options, source, skip_invalid=False):
    """Store a queued evaluation and hand it to the worker once the row is committed."""
    from cdn_eval.tasks import run_evaluation_task

    options = dict(raw_options)
    evaluation = Evaluation.objects.create(
        organization_id=context.organization_id,
        namespace_id=context.namespace.id,
        status=Evaluation.Status.QUEUED,
        source=source,
        options={**options, **({"skip_invalid": True} if skip_invalid else {})},
        input_path=input_path,
        input_bytes=input_bytes,
    )
    transaction.on_commit(lambda: run_evaluation_task.delay(str(evaluation.id)))
    return evaluation


class _Progress:
    """Writes progress at most every `interval` seconds or 5 points, so the job is not DB-bound."""

    def __init__(self, evaluation_id, interval=1.0):
        self.evaluation_id = evaluation_id
        self.interval = interval
        self.last_time = 0.0
        self.last_value = -1.0
        self.last_stage = None

    def __call__(self, fraction, stage):
        now = time.monotonic()
        if stage == self.last_stage and fraction - self.last_value < 0.05 and now - self.last_time < self.interval:
            return
        self.last_time, self.last_value, self.last_stage = now, fraction, stage
        Evaluation.objects.filter(id=self.evaluation_id).update(progress=round(fraction, 4), stage=stage[:64])


def run_evaluation(evaluation_id):
    """The job body; safe to run twice (a redelivered message finds the job finished and stops)."""
    claimed = Evaluation.objects.filter(
        id=evaluation_id, status__in=[Evaluation.Status.QUEUED, Evaluation.Status.RUNNING]
    ).update(status=Evaluation.Status.RUNNING, started_at=timezone.now(), stage="parsing", progress=0.0)
    if not claimed:
        return None
    evaluation = Evaluation.objects.get(id=evaluation_id)
    progress = _Progress(evaluation.id)
    raw_options = dict(evaluation.options)
    skip_invalid = bool(raw_options.pop("skip_invalid", False))
    try:
        options = engine_options(raw_options, evaluation.organization_id, evaluation.namespace_id)
        columns = engine.parse_file(
            evaluation.input_path, skip_invalid=skip_invalid, max_bytes=settings.CDN_EVAL_MAX_DECOMPRESSED_BYTES
        )
        progress(0.05, "building trace")
        result = engine.evaluate_columns(columns, options, progress=lambda f, s: progress(0.05 + 0.95 * f, s))
    except engine.EngineError as exc:
        _finish(evaluation, status=Evaluation.Status.FAILED, error=exc.as_dict())
        return evaluation
    except Exception:
        log.exception("cdn evaluation %s failed", evaluation_id)
        _finish(
            evaluation,
            status=Evaluation.Status.FAILED,
            error={"code": "evaluation_failed", "message": "The evaluation failed unexpectedly; it has been logged."},
        )
        return evaluation
    payload = result.to_dict()
    _finish(evaluation, status=Evaluation.Status.DONE, result=payload, requests=payload["requests"])
    return evaluation


def _finish(evaluation, status, result=None, error=None, requests=None):
    Evaluation.objects.filter(id=evaluation.id).update(
        status=status,
        progress=1.0 if status == Evaluation.Status.DONE else evaluation.progress,
        stage=status,
        result=result,
        error=error,
        requests=requests,
        finished_at=timezone.now(),
        input_path="",
    )
    if evaluation.input_path:
        try:
            os.remove(evaluation.input_path)
        except FileNotFoundError:
            pass


def delete_inputs_for_namespace(namespace_id):
    for path in (
        Evaluation.objects.filter(namespace_id=namespace_id).exclude(input_path="").values_list("input_path", flat=True)
    ):
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def delete_file(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
