DROP TABLE tenant_two_factor_requirements;
DROP TABLE pending_sign_ins;
DROP TABLE two_factor_recovery_codes;
DROP TABLE two_factor;
