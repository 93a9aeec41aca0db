//! What an audit line records: one list for the stored name, the label people read and
//! the filter the audit log offers, so they cannot disagree.

use super::InvalidInput;
use std::fmt;

macro_rules! audit_actions {
    ($($variant:ident => $stored:literal, $label:literal;)*) => {
        /// An action the services record. Stored as its text (`api_key.created`); a stored
        /// text this version does not know (written by a newer one) reads as `Other`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditAction {
            $($variant,)*
            /// Read from a row whose action this version does not know; never written.
            Other,
        }

        impl AuditAction {
            /// Every action the services write (all but `Other`).
            pub const WRITTEN: &'static [AuditAction] = &[$(AuditAction::$variant,)*];

            /// The stored spelling; "other" for `Other`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $stored,)*
                    AuditAction::Other => "other",
                }
            }

            /// What people read.
            pub fn label(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $label,)*
                    AuditAction::Other => "Other",
                }
            }

            /// A stored value: whatever this version does not write reads as `Other`.
            pub fn from_stored(raw: &str) -> AuditAction {
                match raw {
                    $($stored => AuditAction::$variant,)*
                    _ => AuditAction::Other,
                }
            }
        }
    };
}

audit_actions! {
    ApiKeyCreated => "api_key.created", "API key created";
    ApiKeyRevoked => "api_key.revoked", "API key deleted";
    ApiKeyRotated => "api_key.rotated", "API key rotated";
    KeyPolicyChanged => "tenant.key_policy_changed", "Key policy changed";
    AllowedIpsChanged => "api_key.allowed_ips_changed", "Key's allowed addresses changed";
    RefusedIp => "api_key.refused_ip", "Key refused from an address";
    ApiKeyLeaked => "api_key.leaked", "API key found leaked and revoked";
    ServiceAccountCreated => "service_account.created", "Service account created";
    ServiceAccountRenamed => "service_account.renamed", "Service account renamed";
    ServiceAccountRemoved => "service_account.removed", "Service account removed";
    MemberAdded => "member.added", "Member added";
    MemberRoleChanged => "member.role_changed", "Role changed";
    MemberRemoved => "member.removed", "Member removed";
    InvitationCreated => "invitation.created", "Invitation created";
    InvitationRevoked => "invitation.revoked", "Invitation revoked";
    InvitationAccepted => "invitation.accepted", "Invitation accepted";
    TenantCreated => "tenant.created", "Tenant created";
    TenantDeleted => "tenant.deleted", "Tenant deleted";
    SignInSucceeded => "sign_in.succeeded", "Signed in";
    SignInFailed => "sign_in.failed", "Sign-in failed";
    SignInRefused => "sign_in.refused", "Sign-ins refused (too many failures)";
    SignInCodeRequired => "sign_in.code_required", "Password accepted, two-factor code asked";
    SignInCodeFailed => "sign_in.code_failed", "Two-factor code refused";
    SignInCodeRefused => "sign_in.code_refused", "Two-factor codes refused (too many wrong)";
    TwoFactorEnabled => "two_factor.enabled", "Two-factor turned on";
    RecoveryCodesRegenerated => "two_factor.recovery_codes_regenerated", "Recovery codes replaced";
    TwoFactorDisabled => "two_factor.disabled", "Two-factor turned off";
    TwoFactorDisableRefused => "two_factor.disable_refused", "Turning two-factor off refused";
    TwoFactorEnableRefused => "two_factor.enable_refused", "Turning two-factor on refused";
    RecoveryCodesRefused => "two_factor.recovery_codes_refused", "New recovery codes refused";
    TwoFactorReset => "two_factor.reset", "Two-factor reset by an operator";
    TwoFactorRequirementChanged => "tenant.two_factor_requirement_changed", "Two-factor requirement changed";
    SsoRequirementChanged => "tenant.sso_requirement_changed", "Single sign-on requirement changed";
    SsoIdentityUnlinked => "sso.identity_unlinked", "Identity provider link removed";
    AccountCreated => "account.created", "Account created";
    PasswordChanged => "account.password_changed", "Password changed";
    PasswordChangeRefused => "account.password_change_refused", "Password change refused";
    PasswordResetRequested => "password_reset.requested", "Password reset mailed";
    PasswordResetRefused => "password_reset.refused", "Password reset requests refused (too many)";
    PasswordResetOpened => "password_reset.opened", "Password reset link opened";
    PasswordResetCompleted => "password_reset.completed", "Password reset";
    PasswordResetLinkCreated => "password_reset.link_created", "Password reset link made by an admin";
    PasswordSetByOperator => "password_reset.set_by_operator", "Password set by the operator";
    AuditLogExported => "audit_log.exported", "Audit log exported";
    NotificationChanged => "notification.changed", "Notice turned on or off";

    WebhookCreated => "webhook.created", "Webhook created";
    WebhookChanged => "webhook.changed", "Webhook changed";
    WebhookDeleted => "webhook.deleted", "Webhook deleted";
    WebhookSecretRotated => "webhook.secret_rotated", "Webhook secret rotated";
    WebhookDisabled => "webhook.disabled", "Webhook disabled after failures";
    WebhookRedelivered => "webhook.redelivered", "Webhook delivery sent again";
}

impl AuditAction {
    /// A filter's action: one the services write, named as stored.
    pub fn parse(raw: &str) -> Result<AuditAction, InvalidInput> {
        match AuditAction::from_stored(raw) {
            AuditAction::Other => Err(InvalidInput::new(
                "action",
                format!(
                    "is not an audit action; use one of {}",
                    AuditAction::WRITTEN
                        .iter()
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            action => Ok(action),
        }
    }

    /// Account events belong to no tenant, so a tenant's log does not offer them.
    pub fn in_tenant_log(self) -> bool {
        !self.as_str().starts_with("account.")
    }

    /// Done by someone not signed in (a reset mail asked for, a reset link opened): the
    /// line names no account, and it is not the operator's.
    pub fn by_someone_not_signed_in(self) -> bool {
        matches!(
            self,
            AuditAction::PasswordResetRequested
                | AuditAction::PasswordResetRefused
                | AuditAction::PasswordResetOpened
        )
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_written_action_reads_back_as_itself() {
        for &a in AuditAction::WRITTEN {
            assert_eq!(AuditAction::from_stored(a.as_str()), a);
            assert_eq!(AuditAction::parse(a.as_str()), Ok(a));
        }
    }

    #[test]
    fn an_action_this_version_does_not_know_reads_as_other() {
        assert_eq!(
            AuditAction::from_stored("api_key.teleported"),
            AuditAction::Other
        );
        assert_eq!(
            AuditAction::from_stored("api_key.teleported").label(),
            "Other"
        );
        assert!(AuditAction::parse("other").is_err());
    }
}
