"""Who may see what: every portal page runs inside one organization the user belongs to.

The current organization comes from the session, re-checked against the user's memberships
on every request; objects are then always looked up *within* that organization, so an id
from another organization answers 404 exactly like an id that does not exist.
"""

import functools

from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import render

from tenants.models import Membership

SESSION_ORG_KEY = "portal_organization_id"


def current_membership(request):
    memberships = Membership.objects.select_related("organization__plan", "organization__sector").filter(
        user=request.user
    )
    wanted = request.session.get(SESSION_ORG_KEY)
    membership = memberships.filter(organization_id=wanted).first() if wanted else None
    if membership is None:
        membership = memberships.order_by("created_at", "id").first()
        if membership is not None:
            request.session[SESSION_ORG_KEY] = membership.organization_id
    return membership


def portal_view(manage=False):
    """Login required; sets request.membership and request.organization; manage=True needs owner/admin."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = current_membership(request)
            if membership is None:
                return render(request, "portal/no_organization.html", status=403)
            request.membership = membership
            request.organization = membership.organization
            if manage and not membership.can_manage:
                return render(
                    request,
                    "portal/forbidden.html",
                    {"reason": "Only owners and admins can manage this."},
                    status=403,
                )
            try:
                return view(request, *args, **kwargs)
            except Http404:
                return render(request, "portal/not_found.html", status=404)

        return wrapper

    return decorator
