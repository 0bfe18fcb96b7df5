"""Stored evaluations: one row per evaluation of an access log, owned by a namespace."""

import uuid

from django.db import models


class Evaluation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    class Source(models.TextChoices):
        INLINE = "inline"
        UPLOAD = "upload"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("tenants.Organization", on_delete=models.CASCADE, related_name="cdn_evaluations")
    namespace = models.ForeignKey("tenants.Namespace", on_delete=models.CASCADE, related_name="cdn_evaluations")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=64, blank=True, default="")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.INLINE)
    options = models.JSONField(default=dict, blank=True)
    input_path = models.CharField(max_length=500, blank=True, default="")  # spooled log until the job has run
    input_bytes = models.PositiveBigIntegerField(default=0)
    requests = models.PositiveBigIntegerField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["namespace", "-created_at"])]

    def __str__(self):
        return f"{self.id} ({self.status})"
