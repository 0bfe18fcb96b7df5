"""Celery job for large logs and uploads (eager in tests and on the embedded defaults)."""

from celery import shared_task

from cdn_eval import services
from cdn_eval.engine import memory


@shared_task(
    bind=True, name="cdn_eval.run_evaluation", acks_late=True, ignore_result=True, time_limit=3600, soft_time_limit=3500
)
def run_evaluation_task(self, evaluation_id):
    # acks_late: a worker that dies mid-job gets the message redelivered; run_evaluation only
    # claims queued/running rows, so a finished job is never redone.
    if not self.request.is_eager:  # eager (no broker): this is a web worker, which keeps glibc's default
        memory.keep_large_arrays_mapped()
    services.run_evaluation(evaluation_id)
