from django.contrib.auth import authenticate, login, logout
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApiError
from tenants import login_limits, selectors, services
from tenants.serializers import (
    LoginSerializer,
    NamespaceOutSerializer,
    OrganizationOutSerializer,
    SignupResponseSerializer,
    SignupSerializer,
)


def provisioned_payload(provisioned):
    return {
        "organization": OrganizationOutSerializer(provisioned.organization).data,
        "namespaces": NamespaceOutSerializer(provisioned.namespaces, many=True).data,
        "api_key": provisioned.issued_key.plaintext,
        "api_key_prefix": provisioned.issued_key.api_key.prefix,
        "user": {"email": provisioned.owner.email},
    }


class SignupView(APIView):
    authentication_classes = []

    @extend_schema(
        request=SignupSerializer,
        responses={201: SignupResponseSerializer},
        examples=[
            OpenApiExample(
                "JettyThunder",
                request_only=True,
                value={
                    "email": "ops@jettythunder.example",
                    "password": "a long passphrase",
                    "organization": {"name": "JettyThunder", "sector": "filestorage", "description": "Desktop sync"},
                },
            )
        ],
        summary="Create an account, its organization, the sector's namespaces and the first API key",
    )
    def post(self, request):
        serializer = SignupSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        provisioned = services.provision_organization(
            owner_email=data["email"],
            owner_password=data["password"],
            name=data["organization"]["name"],
            sector_slug=data["organization"]["sector"],
            description=data["organization"].get("description", ""),
        )
        return Response(provisioned_payload(provisioned), status=status.HTTP_201_CREATED)


class LoginView(APIView):
    authentication_classes = []

    @extend_schema(
        request=LoginSerializer,
        responses={200: dict},
        summary="Start a session (for the portal)",
        description="401 invalid_credentials on a wrong email or password. After PORTAL_LOGIN_MAX_FAILURES "
        "failures for one email or one client address (shared with the portal login), 429 "
        "too_many_login_failures with Retry-After until the window ends; the password is not checked then.",
    )
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data["email"]
        wait = login_limits.locked_out(request, email)
        if wait:  # refused before the password is checked
            raise ApiError(
                "too_many_login_failures",
                login_limits.lockout_message(wait),
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(wait)},
                retry_after=wait,
            )
        user = authenticate(request, email=email, password=serializer.validated_data["password"])
        if user is None:
            login_limits.record_failure(request, email)
            raise ApiError("invalid_credentials", "Email or password is wrong.", status_code=401)
        login_limits.record_success(request, email)
        login(request, user)
        organizations = selectors.organizations_for_user(user)
        return Response(
            {"user": {"email": user.email}, "organizations": OrganizationOutSerializer(organizations, many=True).data}
        )


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None}, summary="End the session")
    def post(self, request):
        logout(request)
        return Response(status=status.HTTP_204_NO_CONTENT)
