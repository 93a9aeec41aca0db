//! The optional settings file (`keyward.toml`, or the one `--config` names), and the
//! quotas resolved from it and the flags.

use super::{LimitArgs, DEFAULT_CONFIG_FILE};
use crate::domain::Quotas;
use std::path::Path;

/// The optional settings file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSettings {
    pub(super) bind: Option<String>,
    pub(super) database_url: Option<String>,
    pub(super) public_url: Option<String>,
    pub(super) log: Option<String>,
    pub(super) trusted_proxies: Option<Vec<String>>,
    pub(super) session_secret: Option<String>,
    pub(super) previous_session_secret: Option<String>,
    pub(super) metrics_token: Option<String>,
    pub(super) revocation_api_token: Option<String>,
    pub(super) shutdown_timeout: Option<u64>,
    pub(super) smtp_url: Option<String>,
    pub(super) mail_from: Option<String>,
    pub(super) max_keys_per_account: Option<i64>,
    pub(super) max_service_accounts_per_tenant: Option<i64>,
    pub(super) max_pending_invitations_per_tenant: Option<i64>,
    pub(super) max_mails_per_tenant_per_day: Option<i64>,
    pub(super) audit_retention_days: Option<i64>,
    pub(super) oidc_issuer: Option<String>,
    pub(super) oidc_client_id: Option<String>,
    pub(super) oidc_client_secret: Option<String>,
    pub(super) oidc_display_name: Option<String>,
    pub(super) oidc_allowed_domains: Option<Vec<String>>,
    pub(super) oidc_default_tenant: Option<String>,
    pub(super) oidc_default_role: Option<String>,
    pub(super) oidc_trust_unverified_email: Option<bool>,
    pub(super) oidc_session_hours: Option<i64>,
}

impl FileSettings {
    /// The `--oidc-*` flags over the file's `oidc_*` keys; the file's client secret (the
    /// file is the operator's, like its session secret) comes back apart.
    pub(super) fn oidc(&self, args: &super::OidcArgs) -> (super::OidcArgs, Option<String>) {
        let or = |a: &Option<String>, f: &Option<String>| a.clone().or_else(|| f.clone());
        let merged = super::OidcArgs {
            oidc_issuer: or(&args.oidc_issuer, &self.oidc_issuer),
            oidc_client_id: or(&args.oidc_client_id, &self.oidc_client_id),
            oidc_client_secret_file: args.oidc_client_secret_file.clone(),
            oidc_client_secret: args.oidc_client_secret.clone(),
            oidc_display_name: or(&args.oidc_display_name, &self.oidc_display_name),
            oidc_allowed_domains: args
                .oidc_allowed_domains
                .clone()
                .or_else(|| self.oidc_allowed_domains.as_ref().map(|d| d.join(","))),
            oidc_default_tenant: or(&args.oidc_default_tenant, &self.oidc_default_tenant),
            oidc_default_role: or(&args.oidc_default_role, &self.oidc_default_role),
            oidc_trust_unverified_email: args
                .oidc_trust_unverified_email
                .or(self.oidc_trust_unverified_email),
            oidc_session_hours: args.oidc_session_hours.or(self.oidc_session_hours),
        };
        (merged, self.oidc_client_secret.clone())
    }

    pub(super) fn limits(&self, args: &LimitArgs) -> Result<(Quotas, Option<i64>), String> {
        let d = Quotas::default();
        let pick = |name: &str, arg: Option<i64>, file: Option<i64>, default: i64| {
            let n = arg.or(file).unwrap_or(default);
            if n < 0 {
                return Err(format!("{name} must be 0 or more, not {n}"));
            }
            Ok(n)
        };
        let quotas = Quotas {
            max_keys_per_account: pick(
                "max_keys_per_account",
                args.max_keys_per_account,
                self.max_keys_per_account,
                d.max_keys_per_account,
            )?,
            max_service_accounts_per_tenant: pick(
                "max_service_accounts_per_tenant",
                args.max_service_accounts_per_tenant,
                self.max_service_accounts_per_tenant,
                d.max_service_accounts_per_tenant,
            )?,
            max_pending_invitations_per_tenant: pick(
                "max_pending_invitations_per_tenant",
                args.max_pending_invitations_per_tenant,
                self.max_pending_invitations_per_tenant,
                d.max_pending_invitations_per_tenant,
            )?,
            max_mails_per_tenant_per_day: pick(
                "max_mails_per_tenant_per_day",
                args.max_mails_per_tenant_per_day,
                self.max_mails_per_tenant_per_day,
                d.max_mails_per_tenant_per_day,
            )?,
        };
        let retention = match args.audit_retention_days.or(self.audit_retention_days) {
            Some(n) if n < 1 => {
                return Err(format!(
                    "audit_retention_days must be 1 or more (leave it out to keep the audit log forever), not {n}"
                ))
            }
            other => other,
        };
        Ok((quotas, retention))
    }
}

pub(super) fn load_file(explicit: Option<&Path>) -> Result<FileSettings, String> {
    let path = explicit.unwrap_or(Path::new(DEFAULT_CONFIG_FILE));
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| {
            format!(
                "the settings file {} is not valid: {}",
                path.display(),
                e.message()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
            Ok(FileSettings::default())
        }
        Err(e) => Err(format!(
            "cannot read the settings file {}: {e}",
            path.display()
        )),
    }
}
