//! How many rows of each kind people may create: settings, checked by the services inside
//! the creating transaction. Rows that already exceed a lowered quota stay and work.

/// The quotas; each is a setting (`--flag`, `KEYWARD_*`, `keyward.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Keys one account may hold in one tenant.
    pub max_keys_per_account: i64,
    /// Service accounts one tenant may have.
    pub max_service_accounts_per_tenant: i64,
    /// Pending (unused, unexpired) invitations one tenant may have.
    pub max_pending_invitations_per_tenant: i64,
    /// Mails one tenant may have queued in 24 hours (sent, failed or revoked unsent alike).
    pub max_mails_per_tenant_per_day: i64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            max_keys_per_account: 1_000,
            max_service_accounts_per_tenant: 1_000,
            max_pending_invitations_per_tenant: 100,
            max_mails_per_tenant_per_day: 200,
        }
    }
}

/// A quota's setting, spelled the three ways it can be given.
#[derive(Debug, Clone, Copy)]
pub struct QuotaSetting {
    pub file_key: &'static str,
}

impl QuotaSetting {
    pub const KEYS: QuotaSetting = QuotaSetting {
        file_key: "max_keys_per_account",
    };
    pub const SERVICE_ACCOUNTS: QuotaSetting = QuotaSetting {
        file_key: "max_service_accounts_per_tenant",
    };
    pub const INVITATIONS: QuotaSetting = QuotaSetting {
        file_key: "max_pending_invitations_per_tenant",
    };
    pub const MAILS: QuotaSetting = QuotaSetting {
        file_key: "max_mails_per_tenant_per_day",
    };

    /// "max_keys_per_account (--max-keys-per-account, KEYWARD_MAX_KEYS_PER_ACCOUNT)".
    pub fn describe(self) -> String {
        format!(
            "{} (--{}, KEYWARD_{})",
            self.file_key,
            self.file_key.replace('_', "-"),
            self.file_key.to_uppercase()
        )
    }
}
