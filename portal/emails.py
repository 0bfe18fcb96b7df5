"""Emails sent from portal requests (invitations). HTML and text parts through Django's backend."""

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode


def send_invitation(request, membership, new_user):
    user = membership.user
    if new_user:
        path = reverse(
            "portal:password_reset_confirm",
            kwargs={
                "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                "token": default_token_generator.make_token(user),
            },
        )
    else:
        path = reverse("portal:login")
    context = {
        "organization": membership.organization,
        "role": membership.get_role_display(),
        "inviter": request.user.email,
        "link": request.build_absolute_uri(path),
        "new_user": new_user,
    }
    subject = f"You have been added to {membership.organization.name} on AgentCache"
    message = EmailMultiAlternatives(
        subject,
        render_to_string("portal/email/invitation.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
    )
    message.attach_alternative(render_to_string("portal/email/invitation.html", context), "text/html")
    message.send()
