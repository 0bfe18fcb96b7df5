"""Writes of tenant data: provisioning, keys, namespaces, plans, members.

Every function enforces the plan's limits itself, so signup, the portal, the
admin and tests share one set of rules. Changes that affect API-key
resolution send `tenant_auth_changed` after commit, so caches of resolved keys
(cache_api's auth cache) drop them before the next request.
"""

import datetime
from dataclasses import dataclass

from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.text import slugify

from config.errors import ApiError
from tenants import keys, nodes, selectors
from tenants.exceptions import PlanLimitExceeded, invalid_field
from tenants.models import NAMESPACE_NAME_VALIDATOR, ApiKey, Membership, Namespace, Organization, Plan, Sector, User

# Sent (after commit) with organization_id and key_digests (list, may be empty = whole org).
tenant_auth_changed = Signal()

DEFAULT_PLAN_SLUG = "starter"
LAST_USED_GRANULARITY = datetime.timedelta(minutes=1)


@dataclass
class IssuedKey:
    api_key: ApiKey
    plaintext: str  # exists only in this object and the response that shows it


@dataclass
class Provisioned:
    organization: Organization
    owner: User
    namespaces: list
    issued_key: IssuedKey


def _announce(organization_id, key_digests=()):
    digests = list(key_digests)
    transaction.on_commit(
        lambda: tenant_auth_changed.send(sender=Organization, organization_id=organization_id, key_digests=digests)
    )


# --- Organizations -----------------------------------------------------------


def base_slug(name):
    return (slugify(name) or "org")[:120]


def _free_slug(root, also_taken=()):
    """The root, or root-N with the smallest N >= 2 that no organization (and no failed attempt) holds."""
    taken = set(Organization.objects.filter(slug__startswith=root).values_list("slug", flat=True))
    taken.update(also_taken)
    if root not in taken:
        return root
    suffix = 2
    while f"{root}-{suffix}" in taken:
        suffix += 1
    return f"{root}-{suffix}"


def _create_organization_with_unique_slug(**fields):
    """Insert with the name's slug, or the first free -2, -3... suffix.

    Always succeeds: the free slug is computed from the slugs that exist. The
    unique constraint is the arbiter between concurrent signups: the loser of
    a race retries inside a savepoint with a fresh read, never reusing a slug
    it lost, so every retry makes progress.
    """
    root = base_slug(fields["name"])
    lost = set()
    while True:
        candidate = _free_slug(root, lost)
        try:
            with transaction.atomic():
                return Organization.objects.create(slug=candidate, **fields)
        except IntegrityError:
            lost.add(candidate)


EMAIL_MAX_LENGTH = User._meta.get_field("email").max_length


def validate_new_user(email, password):
    """The normalized email; `password=None` means "no password yet" (unusable until a reset)."""
    email = User.objects.normalize_email(email)
    if not email:
        raise invalid_field("email", "An email address is required.")
    if len(email) > EMAIL_MAX_LENGTH:
        raise invalid_field("email", f"At most {EMAIL_MAX_LENGTH} characters.")
    if User.objects.filter(email__iexact=email).exists():
        raise invalid_field("email", "An account with this email already exists.")
    if password is not None:
        try:
            validate_password(password, User(email=email))
        except DjangoValidationError as exc:
            raise invalid_field("password", " ".join(exc.messages)) from exc
    return email


def send_set_password_email(user, request):
    """Email `user` a link to choose a password (Django's reset tokens and the portal's reset pages).

    Django's PasswordResetForm skips users without a usable password, which
    is exactly the new owner onboarded by staff; this form addresses the one
    user given instead of looking users up.
    """

    class _OneUserForm(PasswordResetForm):
        def get_users(self, email):
            return [user] if user.is_active else []

    form = _OneUserForm(data={"email": user.email})
    form.is_valid()
    form.save(
        request=request,
        use_https=request.is_secure(),
        subject_template_name="tenants/email/set_password_subject.txt",
        email_template_name="tenants/email/set_password.txt",
    )


def provision_organization(
    *, owner_email, owner_password=None, owner=None, name, sector_slug, description="", plan_slug=DEFAULT_PLAN_SLUG
):
    """Organization, owner membership, the sector's namespaces and the first API key, in one transaction."""
    sector = Sector.objects.filter(slug=sector_slug).first()
    if sector is None:
        raise invalid_field("organization.sector", f"Unknown sector '{sector_slug}'.")
    plan = Plan.objects.filter(slug=plan_slug).first()
    if plan is None:
        raise invalid_field("plan", f"Unknown plan '{plan_slug}'.")
    if not (name or "").strip():
        raise invalid_field("organization.name", "An organization name is required.")
    template = sector.namespaces or []
    try:
        validate_sector_template(template)
    except ApiError as exc:  # saved before admin validated templates: refuse cleanly, provision nothing
        raise invalid_field("organization.sector", f"Sector '{sector_slug}' is misconfigured ({exc.message}).") from exc
    if plan.max_namespaces is not None and len(template) > plan.max_namespaces:
        raise PlanLimitExceeded(plan, "max_namespaces", plan.max_namespaces, "namespaces")

    with transaction.atomic():
        if owner is None:
            email = validate_new_user(owner_email, owner_password)
            try:
                with transaction.atomic():
                    owner = User.objects.create_user(email=email, password=owner_password)
            except IntegrityError as exc:  # a concurrent signup took the email first
                raise invalid_field("email", "An account with this email already exists.") from exc
        organization = _create_organization_with_unique_slug(
            name=name.strip(), sector=sector, description=description or "", plan=plan
        )
        Membership.objects.create(user=owner, organization=organization, role=Membership.Role.OWNER)
        created = [
            _create_namespace_row(
                organization,
                spec["name"],
                spec.get("nodes", []),
                spec.get("default_ttl", Namespace.DEFAULT_TTL),
            )
            for spec in template
        ]
        issued = create_api_key(organization, label="Default key", created_by=owner)
    return Provisioned(organization=organization, owner=owner, namespaces=created, issued_key=issued)


def change_plan(organization, plan):
    organization.plan = plan
    organization.save(update_fields=["plan"])
    _announce(organization.id)
    return organization


def set_active(organization, active):
    organization.is_active = active
    organization.save(update_fields=["is_active"])
    _announce(organization.id)
    return organization


def add_member(organization, user, role=Membership.Role.MEMBER):
    membership, _ = Membership.objects.update_or_create(
        user=user, organization=organization, defaults={"role": role}
    )
    return membership


# --- Namespaces ---------------------------------------------------------------


def _validate_namespace(name, node_list, default_ttl):
    try:
        NAMESPACE_NAME_VALIDATOR(name)
    except DjangoValidationError as exc:
        raise invalid_field("name", " ".join(exc.messages)) from exc
    unknown = nodes.unknown_nodes(node_list)
    if unknown:
        raise invalid_field("nodes", f"Unknown nodes: {', '.join(unknown)}.")
    if not isinstance(default_ttl, int) or not 1 <= default_ttl <= 2592000:
        raise invalid_field("default_ttl", "Must be an integer from 1 to 2592000 seconds.")


TEMPLATE_KEYS = {"name", "nodes", "default_ttl"}


def validate_sector_template(template):
    """A sector's namespace list must provision cleanly: raises ApiError naming the bad entry.

    Checked when staff save a sector, so a bad template fails in admin, not at every signup.
    """
    if not isinstance(template, list):
        raise invalid_field("namespaces", 'A list of {"name", "nodes", "default_ttl"} objects.')
    seen = set()
    for index, spec in enumerate(template):
        where = f"namespaces[{index}]"
        if not isinstance(spec, dict):
            raise invalid_field(where, 'Each entry is an object: {"name": ..., "nodes": [...], "default_ttl": ...}.')
        unknown_keys = sorted(set(spec) - TEMPLATE_KEYS)
        if unknown_keys:
            raise invalid_field(where, f"Unknown keys: {', '.join(unknown_keys)}.")
        name = spec.get("name")
        if not isinstance(name, str):
            raise invalid_field(f"{where}.name", "A namespace name (string) is required.")
        node_list = spec.get("nodes", [])
        if not isinstance(node_list, list) or not all(isinstance(n, str) for n in node_list):
            raise invalid_field(f"{where}.nodes", "A list of node slugs.")
        default_ttl = spec.get("default_ttl", Namespace.DEFAULT_TTL)
        if isinstance(default_ttl, bool):
            default_ttl = None
        try:
            _validate_namespace(name, node_list, default_ttl)
        except ApiError as exc:
            raise invalid_field(f"{where}.{exc.extra['field']}", exc.message.split(": ", 1)[-1]) from exc
        if name in seen:
            raise invalid_field(f"{where}.name", f"Namespace '{name}' appears twice.")
        seen.add(name)
    return template


def check_new_namespace(organization, name, node_list=(), default_ttl=Namespace.DEFAULT_TTL, adding=1):
    """What create_namespace would refuse, without writing (forms call it to show errors in place).

    `adding` is how many namespaces the form creates at once (an admin inline may add several).
    create_namespace checks again under a lock; this is for messages, not for safety.
    """
    _validate_namespace(name, list(node_list), default_ttl)
    limit = organization.plan.max_namespaces
    if limit is not None and selectors.namespace_count(organization) + adding > limit:
        raise PlanLimitExceeded(organization.plan, "max_namespaces", limit, "namespaces")
    if Namespace.objects.filter(organization=organization, name=name).exists():
        raise invalid_field("name", f"Namespace '{name}' already exists.")


def _create_namespace_row(organization, name, node_list, default_ttl):
    _validate_namespace(name, node_list, default_ttl)
    if Namespace.objects.filter(organization=organization, name=name).exists():
        raise invalid_field("name", f"Namespace '{name}' already exists.")
    return Namespace.objects.create(
        organization=organization, name=name, nodes=sorted(set(node_list)), default_ttl=default_ttl
    )


def create_namespace(organization, name, node_list=(), default_ttl=Namespace.DEFAULT_TTL):
    with transaction.atomic():
        # Lock the organization so concurrent creates cannot both pass the limit check.
        org = Organization.objects.select_for_update().select_related("plan").get(pk=organization.pk)
        limit = org.plan.max_namespaces
        if limit is not None and selectors.namespace_count(org) >= limit:
            raise PlanLimitExceeded(org.plan, "max_namespaces", limit, "namespaces")
        namespace = _create_namespace_row(org, name, list(node_list), default_ttl)
    _announce(organization.id)
    return namespace


def update_namespace(namespace, *, node_list=None, default_ttl=None):
    node_list = namespace.nodes if node_list is None else list(node_list)
    default_ttl = namespace.default_ttl if default_ttl is None else default_ttl
    _validate_namespace(namespace.name, node_list, default_ttl)
    namespace.nodes = sorted(set(node_list))
    namespace.default_ttl = default_ttl
    namespace.save(update_fields=["nodes", "default_ttl"])
    _announce(namespace.organization_id)
    return namespace


namespace_deleted = Signal()  # sent before the row goes, so apps can free the namespace's data


def delete_namespace(namespace):
    organization_id = namespace.organization_id
    namespace_deleted.send(sender=Namespace, namespace=namespace)
    namespace.delete()
    _announce(organization_id)


# --- API keys -----------------------------------------------------------------


def create_api_key(organization, *, label="", created_by=None, expires_at=None, namespaces=()):
    """Issue a key; the plaintext is returned once and never stored."""
    with transaction.atomic():
        org = Organization.objects.select_for_update().select_related("plan").get(pk=organization.pk)
        limit = org.plan.max_api_keys
        if limit is not None and selectors.active_key_count(org) >= limit:
            raise PlanLimitExceeded(org.plan, "max_api_keys", limit, "active API keys")
        namespaces = list(namespaces)
        if any(ns.organization_id != org.id for ns in namespaces):
            raise invalid_field("namespaces", "Every namespace must belong to the key's organization.")
        plaintext = keys.generate_key()
        api_key = ApiKey.objects.create(
            organization=org,
            digest=keys.digest(plaintext),
            prefix=keys.display_prefix(plaintext),
            label=label or "",
            created_by=created_by,
            expires_at=expires_at,
        )
        if namespaces:
            api_key.allowed_namespaces.set(namespaces)
    return IssuedKey(api_key=api_key, plaintext=plaintext)


def revoke_api_key(api_key, when=None):
    if api_key.revoked_at is None:
        api_key.revoked_at = when or timezone.now()
        api_key.save(update_fields=["revoked_at"])
    _announce(api_key.organization_id, [api_key.digest])
    return api_key


def set_key_namespaces(api_key, namespaces):
    namespaces = list(namespaces)
    if any(ns.organization_id != api_key.organization_id for ns in namespaces):
        raise invalid_field("namespaces", "Every namespace must belong to the key's organization.")
    api_key.allowed_namespaces.set(namespaces)
    _announce(api_key.organization_id, [api_key.digest])


def touch_last_used(api_key_id, when=None):
    """Record use at most once a minute per key: one cheap conditional UPDATE, usually a no-op."""
    when = when or timezone.now()
    from django.db.models import Q

    return ApiKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=when - LAST_USED_GRANULARITY), pk=api_key_id
    ).update(last_used_at=when)
