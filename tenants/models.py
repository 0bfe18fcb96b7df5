from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

NAMESPACE_NAME_VALIDATOR = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$",
    "Namespace names are 1-64 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit.",
)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email, password, **extra):
        if not email:
            raise ValueError("An email is required.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    @classmethod
    def normalize_email(cls, email):
        # Emails are stored lowercased on every path (signup, portal, admin, createsuperuser).
        return super().normalize_email(email or "").lower()

    def get_by_natural_key(self, email):
        """Login lookup, case-insensitive: "Ops@X.example" finds "ops@x.example"."""
        # An exact match first: rows saved before emails were lowercased may differ only in case.
        user = self.filter(email=email).first() or self.filter(email__iexact=email).order_by("id").first()
        if user is None:
            raise self.model.DoesNotExist(f"No user with email {email!r}.")
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractUser):
    """Django's user with the email as the login."""

    username = None
    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []
    objects = UserManager()

    def __str__(self):
        return self.email

    def clean(self):
        super().clean()
        self.email = type(self).objects.normalize_email(self.email)

    def save(self, *args, **kwargs):
        if self.email:
            self.email = type(self).objects.normalize_email(self.email)
        super().save(*args, **kwargs)


class Plan(models.Model):
    """Limits as data; `None` means no limit. Edited by staff in admin."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=64)
    max_namespaces = models.PositiveIntegerField(null=True, blank=True)
    max_api_keys = models.PositiveIntegerField(null=True, blank=True, help_text="Active (unrevoked, unexpired) keys.")
    requests_per_second = models.PositiveIntegerField(null=True, blank=True)
    max_value_bytes = models.PositiveIntegerField(default=1024 * 1024)
    storage_quota_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    max_upload_bytes = models.PositiveBigIntegerField(default=100 * 1024 * 1024, help_text="Largest log upload.")
    monthly_price_usd = models.DecimalField(max_digits=10, decimal_places=2, default=0)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name


class Sector(models.Model):
    """A signup template: which namespaces (and nodes on each) a new organization gets."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    # [{"name": "storage", "nodes": ["file_dedup_cache", ...], "default_ttl": 86400}, ...]
    namespaces = models.JSONField(default=list)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.name


class Organization(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    sector = models.ForeignKey(Sector, on_delete=models.PROTECT, related_name="organizations")
    description = models.TextField(blank=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="organizations")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    members = models.ManyToManyField(User, through="Membership", related_name="organizations")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="unique_membership")]

    def __str__(self):
        return f"{self.user} @ {self.organization} ({self.role})"

    @property
    def can_manage(self):
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


class Namespace(models.Model):
    DEFAULT_TTL = 86400

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="namespaces")
    name = models.CharField(max_length=64, validators=[NAMESPACE_NAME_VALIDATOR])
    nodes = models.JSONField(default=list, help_text="Node slugs from tenants.nodes.NODES.")
    default_ttl = models.PositiveIntegerField(default=DEFAULT_TTL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="unique_namespace_per_org")]

    def __str__(self):
        return f"{self.organization.slug}/{self.name}"

    def has_node(self, node):
        return node in self.nodes


class ApiKeyQuerySet(models.QuerySet):
    def active(self, now=None):
        now = now or timezone.now()
        unexpired = models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        return self.filter(unexpired, revoked_at__isnull=True)


class ApiKey(models.Model):
    """Only the SHA-256 digest and a display prefix are stored; the plaintext is shown once."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16)
    label = models.CharField(max_length=120, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    allowed_namespaces = models.ManyToManyField(
        Namespace, blank=True, related_name="+", help_text="Empty means every namespace of the organization."
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.prefix}… ({self.label or 'unlabelled'})"

    def is_active(self, now=None):
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
