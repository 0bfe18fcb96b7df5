"""Reads: evaluations are visible only inside their own namespace (anything else is a plain 404)."""

from cdn_eval.models import Evaluation


def evaluations_for(context):
    return Evaluation.objects.filter(organization_id=context.organization_id, namespace_id=context.namespace.id)


def get_evaluation(context, evaluation_id):
    return evaluations_for(context).filter(id=evaluation_id).first()


def list_evaluations(context, limit=100):
    return list(evaluations_for(context).defer("result").order_by("-created_at")[:limit])
