"""Portal pages. Thin: reads come from selectors, writes from services; every lookup is scoped
to request.organization (see portal.access)."""

import datetime

from django.contrib import messages
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from cache_api import metering
from config.errors import ApiError
from portal import charts, emails, figures, reports, selectors, services
from portal.access import SESSION_ORG_KEY, portal_view
from portal.forms import ApiKeyForm, InviteForm, NamespaceEditForm, NamespaceForm, RangeForm, RoleForm
from tenants import nodes
from tenants import services as tenant_services
from tenants.models import ApiKey, Membership, Namespace

DEFAULT_RANGE_DAYS = 30
MAX_RANGE_DAYS = 3660


def home(request):
    return redirect("portal:dashboard" if request.user.is_authenticated else "portal:login")


def _api_error_to_form(form, exc):
    field = exc.extra.get("field")
    form.add_error(field if field in form.fields else None, exc.message)


def date_range_from(request, today):
    """(start, end, form) from ?days= or ?start=&end=; bad input falls back to the default with the form's errors."""
    form = RangeForm(request.GET or None)
    start, end = today - datetime.timedelta(days=DEFAULT_RANGE_DAYS - 1), today
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data.get("start") and data.get("end"):
            if data["start"] > data["end"]:
                form.add_error("end", "The end date is before the start date.")
            elif (data["end"] - data["start"]).days >= MAX_RANGE_DAYS:
                form.add_error("start", f"Choose at most {MAX_RANGE_DAYS} days.")
            else:
                start, end = data["start"], data["end"]
        elif data.get("days"):
            start = today - datetime.timedelta(days=data["days"] - 1)
    return start, end, form


def _percent(value):
    return "–" if value is None else f"{value * 100:.1f}%"


def _usd(value):
    return f"${value:,.2f}"


def usage_charts(per_day):
    labels = [row["date"].strftime("%b %d") for row in per_day]

    def points(key):
        return list(zip(labels, [row[key] for row in per_day], strict=True))

    return [
        ("Requests", charts.bar_chart(points("requests"), "Requests per day", fmt=lambda v: f"{v:,.0f}")),
        ("Hit rate", charts.bar_chart(points("hit_rate"), "Hit rate per day", fmt=_percent, css_class="bar rate")),
        (
            "Bandwidth saved",
            charts.bar_chart(points("bandwidth_saved_bytes"), "Bandwidth saved per day", fmt=figures.human_bytes),
        ),
        (
            "Dedup rate",
            charts.bar_chart(points("dedup_rate"), "Dedup rate per day", fmt=_percent, css_class="bar rate"),
        ),
        (
            "Cost saved",
            charts.bar_chart(
                [(label, float(value)) for label, value in points("cost_saved_usd")],
                "Cost saved per day (USD)",
                fmt=lambda v: f"${v:,.2f}",
                css_class="bar money",
            ),
        ),
    ]


@portal_view()
def dashboard(request):
    org = request.organization
    today = metering.utc_today()
    start, end, range_form = date_range_from(request, today)
    figures_ = selectors.summary(org, start, end, today=today)
    namespaces = list(Namespace.objects.filter(organization=org).order_by("name"))
    api_keys = list(
        ApiKey.objects.filter(organization=org, revoked_at__isnull=True)
        .prefetch_related(Prefetch("allowed_namespaces", queryset=Namespace.objects.order_by("name")))
        .order_by("-created_at")
    )
    now = timezone.now()
    active_keys = sum(1 for key in api_keys if key.is_active(now))
    plan = org.plan
    context = {
        "range_form": range_form,
        "start": start,
        "end": end,
        "summary": figures_,
        "totals": figures_["totals"],
        "charts": usage_charts(figures_["per_day"]),
        "namespaces": [(ns, [(n, nodes.NODES.get(n, "")) for n in ns.nodes]) for ns in namespaces],
        "api_keys": api_keys,
        "limits": [
            ("Namespaces", len(namespaces), plan.max_namespaces),
            ("Active API keys", active_keys, plan.max_api_keys),
        ],
        "plan": plan,
        "storage_used": selectors.storage_used(org),
        "presets": RangeForm.PRESETS,
        "range_days": (end - start).days + 1 if end == today else None,
        "memberships": list(Membership.objects.filter(user=request.user).select_related("organization")),
    }
    return render(request, "portal/dashboard.html", context)


@portal_view()
@require_POST
def switch_organization(request):
    organization_id = request.POST.get("organization") or ""
    if not organization_id.isdigit():
        raise Http404("No such organization.")
    membership = get_object_or_404(Membership, user=request.user, organization_id=int(organization_id))
    request.session[SESSION_ORG_KEY] = membership.organization_id
    return redirect("portal:dashboard")


# --- API keys ----------------------------------------------------------------------


@portal_view(manage=True)
def keys(request):
    org = request.organization
    form = ApiKeyForm(request.POST or None, organization=org)
    if request.method == "POST" and form.is_valid():
        try:
            issued = tenant_services.create_api_key(
                org,
                label=form.cleaned_data["label"],
                created_by=request.user,
                namespaces=form.cleaned_data["namespaces"],
            )
        except ApiError as exc:
            _api_error_to_form(form, exc)
        else:
            response = render(
                request,
                "portal/key_created.html",
                {"plaintext": issued.plaintext, "api_key": issued.api_key, "organization": org},
            )
            response["Cache-Control"] = "no-store"
            return response
    api_keys = (
        ApiKey.objects.filter(organization=org)
        .select_related("created_by")
        .prefetch_related(Prefetch("allowed_namespaces", queryset=Namespace.objects.order_by("name")))
        .order_by("revoked_at", "-created_at")
    )
    return render(request, "portal/keys.html", {"form": form, "api_keys": api_keys, "now": timezone.now()})


@portal_view(manage=True)
def key_edit(request, key_id):
    org = request.organization
    api_key = get_object_or_404(ApiKey, pk=key_id, organization=org)
    initial = {"label": api_key.label, "namespaces": list(api_key.allowed_namespaces.all())}
    form = ApiKeyForm(request.POST or None, organization=org, initial=initial)
    if request.method == "POST" and form.is_valid():
        api_key.label = form.cleaned_data["label"]
        api_key.save(update_fields=["label"])
        tenant_services.set_key_namespaces(api_key, form.cleaned_data["namespaces"])
        messages.success(request, f"Key {api_key.prefix}… updated.")
        return redirect("portal:keys")
    return render(request, "portal/key_edit.html", {"form": form, "api_key": api_key})


@portal_view(manage=True)
@require_POST
def key_revoke(request, key_id):
    api_key = get_object_or_404(ApiKey, pk=key_id, organization=request.organization)
    tenant_services.revoke_api_key(api_key)
    messages.success(request, f"Key {api_key.prefix}… revoked; it stops working on the next request.")
    return redirect("portal:keys")


# --- Namespaces --------------------------------------------------------------------


@portal_view()
def namespaces(request):
    org = request.organization
    form = NamespaceForm(request.POST or None)
    if request.method == "POST":
        if not request.membership.can_manage:
            return render(
                request, "portal/forbidden.html", {"reason": "Only owners and admins can manage this."}, status=403
            )
        if form.is_valid():
            data = form.cleaned_data
            try:
                namespace = tenant_services.create_namespace(org, data["name"], data["nodes"], data["default_ttl"])
            except ApiError as exc:
                _api_error_to_form(form, exc)
            else:
                messages.success(request, f"Namespace {namespace.name} created.")
                return redirect("portal:namespaces")
    rows = Namespace.objects.filter(organization=org).order_by("name")
    context = {
        "form": form,
        "rows": [(ns, [(n, nodes.NODES.get(n, "")) for n in ns.nodes]) for ns in rows],
        "limit": org.plan.max_namespaces,
        "count": len(rows),
    }
    return render(request, "portal/namespaces.html", context)


@portal_view(manage=True)
def namespace_edit(request, namespace_id):
    namespace = get_object_or_404(Namespace, pk=namespace_id, organization=request.organization)
    form = NamespaceEditForm(
        request.POST or None, initial={"nodes": namespace.nodes, "default_ttl": namespace.default_ttl}
    )
    if request.method == "POST" and form.is_valid():
        try:
            tenant_services.update_namespace(
                namespace, node_list=form.cleaned_data["nodes"], default_ttl=form.cleaned_data["default_ttl"]
            )
        except ApiError as exc:
            _api_error_to_form(form, exc)
        else:
            messages.success(request, f"Namespace {namespace.name} updated.")
            return redirect("portal:namespaces")
    return render(request, "portal/namespace_edit.html", {"form": form, "namespace": namespace})


@portal_view(manage=True)
def namespace_delete(request, namespace_id):
    namespace = get_object_or_404(Namespace, pk=namespace_id, organization=request.organization)
    error = None
    if request.method == "POST":
        if request.POST.get("confirm_name") != namespace.name:
            error = "Type the namespace's name exactly to confirm."
        else:
            name = namespace.name
            tenant_services.delete_namespace(namespace)
            messages.success(request, f"Namespace {name} and its data were deleted.")
            return redirect("portal:namespaces")
    return render(
        request, "portal/namespace_delete.html", {"namespace": namespace, "error": error}, status=400 if error else 200
    )


# --- Members -----------------------------------------------------------------------


@portal_view()
def members(request):
    org = request.organization
    form = InviteForm(request.POST or None)
    if request.method == "POST":
        if not request.membership.can_manage:
            return render(
                request, "portal/forbidden.html", {"reason": "Only owners and admins can manage this."}, status=403
            )
        if form.is_valid():
            try:
                membership, new_user = services.invite_member(
                    org, form.cleaned_data["email"], form.cleaned_data["role"], request.membership
                )
            except services.MemberError as exc:
                form.add_error(None, str(exc))
            else:
                emails.send_invitation(request, membership, new_user)
                messages.success(request, f"Invitation sent to {membership.user.email}.")
                return redirect("portal:members")
    rows = Membership.objects.filter(organization=org).select_related("user").order_by("created_at", "id")
    return render(request, "portal/members.html", {"form": form, "rows": rows, "roles": Membership.Role.choices})


@portal_view(manage=True)
@require_POST
def member_role(request, membership_id):
    target = get_object_or_404(Membership, pk=membership_id, organization=request.organization)
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            services.change_role(target, form.cleaned_data["role"], request.membership)
            messages.success(request, f"{target.user.email} is now {target.get_role_display().lower()}.")
        except services.MemberError as exc:
            messages.error(request, str(exc))
    return redirect("portal:members")


@portal_view(manage=True)
@require_POST
def member_remove(request, membership_id):
    target = get_object_or_404(Membership, pk=membership_id, organization=request.organization)
    try:
        services.remove_member(target, request.membership)
        messages.success(request, f"{target.user.email} was removed.")
    except services.MemberError as exc:
        messages.error(request, str(exc))
    return redirect("portal:members")


# --- Quick start, report, dedup, CDN -------------------------------------------------


@portal_view()
def quickstart(request):
    org = request.organization
    rows = list(Namespace.objects.filter(organization=org).order_by("name"))
    base_url = request.build_absolute_uri("/").rstrip("/")
    return render(
        request,
        "portal/quickstart.html",
        {
            "namespaces": rows,
            "example_namespace": rows[0].name if rows else "your-namespace",
            "base_url": base_url,
            "docs_url": reverse("api-docs"),
        },
    )


@portal_view()
def weekly_report(request):
    week_start = reports.parse_week(request.GET.get("week"), today=metering.utc_today())
    report = reports.build_weekly_report(request.organization, week_start)
    return render(
        request,
        "portal/weekly_report.html",
        {
            "report": report,
            "previous": week_start - datetime.timedelta(days=7),
            "next": week_start + datetime.timedelta(days=7),
        },
    )


@portal_view()
def dedup_stats(request):
    org = request.organization
    rows = selectors.dedup_stats(org)
    today = metering.utc_today()
    start = today - datetime.timedelta(days=DEFAULT_RANGE_DAYS - 1)
    per_day = selectors.usage(org, start, today, namespace_ids=[ns.id for ns, _ in rows], today=today).per_day()
    labels = [row["date"].strftime("%b %d") for row in per_day]
    chart_specs = (
        ("dedup_bytes_saved", "Duplicate bytes not stored"),
        ("upload_bytes_saved", "Bytes not uploaded"),
        ("origin_bytes", "Bytes fetched from origin"),
        ("origin_hit_bytes", "Origin files served from the store (egress avoided)"),
    )
    day_charts = [
        (
            title,
            charts.bar_chart(list(zip(labels, [r[key] for r in per_day], strict=True)), title, fmt=figures.human_bytes),
        )
        for key, title in chart_specs
    ]
    # Stocks from the daily storage snapshots (dedup.tasks.snapshot_storage), per namespace: a chunk shared
    # by two namespaces counts in both, so their stored bytes do not add up. A day without one has no bar.
    dates = [row["date"].isoformat() for row in per_day]
    for namespace, stats in rows:
        held = {day["date"]: day for day in stats["days"]}
        for key, title in (("logical_bytes", "Logical bytes held"), ("stored_bytes", "Stored bytes held")):
            title = f"{title} in {namespace.name} (daily snapshot)"
            points = [
                (label, held[date][key] if date in held else None) for label, date in zip(labels, dates, strict=True)
            ]
            day_charts.append((title, charts.bar_chart(points, title, fmt=figures.human_bytes)))
    return render(request, "portal/dedup.html", {"rows": rows, "charts": day_charts})


@portal_view()
def cdn_evaluations(request):
    return render(request, "portal/cdn.html", {"groups": selectors.cdn_evaluations(request.organization)})


@portal_view()
def cdn_evaluation(request, evaluation_id):
    found = selectors.cdn_evaluation(request.organization, evaluation_id)
    if found is None:
        raise Http404
    namespace, evaluation = found
    result = evaluation.result or {}
    curve = result.get("curve") or []
    curve_chart = charts.line_chart(
        [
            ("hit ratio", [(p["cache_bytes"], p["hit_ratio"]) for p in curve], "first"),
            ("byte hit ratio", [(p["cache_bytes"], p["byte_hit_ratio"]) for p in curve], "second"),
        ],
        "Exact LRU miss-ratio curve: hit ratio by cache size",
        fmt=_percent,
        x_fmt=figures.human_bytes,
        y_max=1.0,
    )
    policies = sorted({name for size in result.get("at_sizes") or [] for name in size.get("policies", {})})
    return render(
        request,
        "portal/cdn_evaluation.html",
        {
            "namespace": namespace,
            "evaluation": evaluation,
            "result": result,
            "curve_chart": curve_chart,
            "policies": policies,
            "priorities": (result.get("eviction_priorities") or [])[:25],
        },
    )
