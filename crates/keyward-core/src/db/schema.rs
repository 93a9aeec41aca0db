// One portable schema for both backends: Text ids, Timestamp times (UTC by convention).

diesel::table! {
    tenants (id) {
        id -> Text,
        name -> Text,
        slug -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    accounts (id) {
        id -> Text,
        account_type -> Text,
        name -> Text,
        email -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        tenant_id -> Nullable<Text>,
        created_at -> Timestamp,
        created_by -> Nullable<Text>,
        created_by_key_id -> Nullable<Text>,
    }
}

diesel::table! {
    memberships (account_id, tenant_id) {
        account_id -> Text,
        tenant_id -> Text,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        account_id -> Text,
        tenant_id -> Text,
        name -> Text,
        token_digest -> Text,
        display_hint -> Text,
        created_at -> Timestamp,
        created_by -> Nullable<Text>,
        created_by_key_id -> Nullable<Text>,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        last_used_ip -> Nullable<Text>,
        read_only -> Bool,
        rotated_to_key_id -> Nullable<Text>,
        allowed_ips -> Nullable<Text>,
        ip_refusal_audited_at -> Nullable<Timestamp>,
        description -> Text,
    }
}

diesel::table! {
    tenant_key_policies (tenant_id) {
        tenant_id -> Text,
        max_key_lifetime_days -> Nullable<Integer>,
        require_expiry -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        tenant_id -> Nullable<Text>,
        actor_id -> Nullable<Text>,
        actor_key_id -> Nullable<Text>,
        action -> Text,
        target_id -> Nullable<Text>,
        detail -> Text,
        ip -> Nullable<Text>,
        at -> Timestamp,
        actor_key_name -> Nullable<Text>,
    }
}

diesel::table! {
    sessions (id_digest) {
        id_digest -> Text,
        account_id -> Text,
        csrf_token -> Text,
        tenant_id -> Nullable<Text>,
        state -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        token_digest -> Text,
        tenant_id -> Text,
        role -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        used_by -> Nullable<Text>,
        note -> Nullable<Text>,
        email -> Nullable<Text>,
    }
}

diesel::table! {
    sign_in_failures (id) {
        id -> Text,
        email_digest -> Text,
        ip -> Text,
        at -> Timestamp,
        purpose -> Text,
        device -> Text,
    }
}

diesel::table! {
    throttle_notices (id) {
        id -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    setup_tokens (token_digest) {
        token_digest -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(accounts -> tenants (tenant_id));
diesel::joinable!(memberships -> accounts (account_id));
diesel::joinable!(memberships -> tenants (tenant_id));
diesel::joinable!(api_keys -> accounts (account_id));
diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(invitations -> tenants (tenant_id));
diesel::joinable!(sessions -> accounts (account_id));
diesel::joinable!(tenant_key_policies -> tenants (tenant_id));

diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    accounts,
    memberships,
    api_keys,
    audit_events,
    sessions,
    invitations,
    sign_in_failures,
    setup_tokens,
    tenant_key_policies,
    tenant_sso_requirements,
);

diesel::table! {
    agents (id) {
        id -> Text,
        tenant_id -> Text,
        account_id -> Text,
        api_key_id -> Text,
        api_key_digest -> Text,
        name -> Text,
        agent_type -> Text,
        labels -> Text,
        first_seen_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    api_key_clients (api_key_id, user_agent, ip) {
        api_key_id -> Text,
        user_agent -> Text,
        ip -> Text,
        first_seen_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(agents, api_keys);

diesel::table! {
    outbox (id) {
        id -> Text,
        kind -> Text,
        tenant_id -> Nullable<Text>,
        about_id -> Nullable<Text>,
        recipient -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        claim -> Nullable<Text>,
        last_attempt_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        done_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    password_resets (id) {
        id -> Text,
        account_id -> Text,
        token_digest -> Text,
        epoch -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        state_digest -> Nullable<Text>,
        state_expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    two_factor (account_id) {
        account_id -> Text,
        secret_sealed -> Text,
        key_version -> Text,
        last_step -> BigInt,
        created_at -> Timestamp,
        enabled_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    two_factor_recovery_codes (id) {
        id -> Text,
        account_id -> Text,
        code_digest -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    pending_sign_ins (id_digest) {
        id_digest -> Text,
        account_id -> Text,
        next -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    tenant_two_factor_requirements (tenant_id) {
        tenant_id -> Text,
        required_since -> Timestamp,
    }
}

diesel::table! {
    oidc_flows (cookie_digest) {
        cookie_digest -> Text,
        state -> Text,
        nonce -> Text,
        pkce_verifier -> Text,
        next_path -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        client_group -> Text,
    }
}

diesel::table! {
    tenant_sso_requirements (tenant_id) {
        tenant_id -> Text,
        required_since -> Timestamp,
    }
}

diesel::table! {
    oidc_identities (issuer, subject) {
        issuer -> Text,
        subject -> Text,
        account_id -> Text,
        created_at -> Timestamp,
        last_sign_in_at -> Timestamp,
    }
}

diesel::table! {
    oidc_pending_links (cookie_digest) {
        cookie_digest -> Text,
        issuer -> Text,
        subject -> Text,
        account_id -> Text,
        next_path -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    verified_emails (account_id) {
        account_id -> Text,
        email -> Text,
        verified_at -> Timestamp,
    }
}

diesel::table! {
    oidc_link_removals (account_id) {
        account_id -> Text,
        removed_at -> Timestamp,
    }
}

diesel::table! {
    key_reminders (api_key_id, kind) {
        api_key_id -> Text,
        kind -> Text,
        sent_at -> Timestamp,
    }
}

diesel::table! {
    notification_opt_outs (account_id, kind) {
        account_id -> Text,
        kind -> Text,
        since -> Timestamp,
    }
}

diesel::joinable!(key_reminders -> api_keys (api_key_id));
diesel::allow_tables_to_appear_in_same_query!(key_reminders, api_keys);
diesel::allow_tables_to_appear_in_same_query!(key_reminders, accounts);
diesel::allow_tables_to_appear_in_same_query!(key_reminders, tenants);

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        tenant_id -> Text,
        url -> Text,
        events -> Text,
        secret_sealed -> Text,
        key_version -> Text,
        previous_secret_sealed -> Nullable<Text>,
        previous_key_version -> Nullable<Text>,
        previous_until -> Nullable<Timestamp>,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        failures -> Integer,
        busy_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        created_by -> Nullable<Text>,
        last_served_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_messages (id) {
        id -> Text,
        endpoint_id -> Text,
        event -> Text,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Text,
        message_id -> Text,
        endpoint_id -> Text,
        attempted_at -> Timestamp,
        status_code -> Nullable<Integer>,
        duration_ms -> Integer,
        error -> Nullable<Text>,
    }
}
