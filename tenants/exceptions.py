from rest_framework import status

from config.errors import ApiError


class PlanLimitExceeded(ApiError):
    """Raised when a create would exceed the organization's plan; names the limit."""

    def __init__(self, plan, limit, value, what):
        super().__init__(
            "plan_limit_exceeded",
            f"The {plan.name} plan allows at most {value} {what}; this organization is at the limit.",
            status_code=status.HTTP_403_FORBIDDEN,
            limit=limit,
            limit_value=value,
            plan=plan.slug,
        )


def invalid_field(field, message):
    return ApiError("invalid_field", f"{field}: {message}", field=field)
