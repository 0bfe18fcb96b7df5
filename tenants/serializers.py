from rest_framework import serializers

from tenants.models import Namespace, Organization


class SignupOrganizationSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    sector = serializers.SlugField()
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class SignupSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)  # the column's length (RFC 5321 path limit)
    # Passwords are taken byte for byte: trimming would make "secret " and "secret" one password.
    password = serializers.CharField(min_length=8, max_length=128, write_only=True, trim_whitespace=False)
    organization = SignupOrganizationSerializer()


class LoginSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, max_length=4096, trim_whitespace=False)


class NamespaceOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = Namespace
        fields = ["name", "nodes", "default_ttl"]


class OrganizationOutSerializer(serializers.ModelSerializer):
    sector = serializers.CharField(source="sector.slug")
    plan = serializers.CharField(source="plan.slug")

    class Meta:
        model = Organization
        fields = ["name", "slug", "sector", "description", "plan"]


class SignupResponseSerializer(serializers.Serializer):
    organization = OrganizationOutSerializer()
    namespaces = NamespaceOutSerializer(many=True)
    api_key = serializers.CharField(help_text="Shown only in this response; store it now.")
    api_key_prefix = serializers.CharField()
    user = serializers.DictField()
