//! Client commands of the key lifecycle (issue 14): `keys rotate`, `keys expiring` and
//! `policy show|set`, all through GraphQL like the rest of the client.

use super::api::Api;
use super::commands::{emit, list, mutate, KEY_COLUMNS, KEY_FIELDS};
use super::Connection;
use crate::cli::CliError;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub struct Rotate {
    /// The key's id (from `keys list`)
    #[arg(value_name = "KEY_ID")]
    pub id: String,
    /// How long the old key keeps working: none, 1h, 24h or 7d
    #[arg(long, default_value = "none")]
    pub overlap: String,
    /// Print only the new key
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct Expiring {
    /// How many days ahead to look
    #[arg(long, default_value_t = 7)]
    pub within_days: i32,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show the policy and the keys beyond it
    Show,
    /// Replace the policy
    Set {
        /// The longest lifetime of a new key, in days; leave out for no limit
        #[arg(long, value_name = "DAYS")]
        max_lifetime_days: Option<i32>,
        /// Require every new key to expire (implied by --max-lifetime-days)
        #[arg(long)]
        require_expiry: bool,
    },
}

fn overlap_hours(raw: &str) -> Result<i32, CliError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "none" | "0" | "0h" => Ok(0),
        "1h" | "1" => Ok(1),
        "24h" | "1d" | "24" => Ok(24),
        "7d" | "168h" | "1w" | "168" => Ok(168),
        _ => Err(CliError::usage("--overlap must be none, 1h, 24h or 7d")),
    }
}

pub fn rotate(api: &Api, r: &Rotate, json_out: bool) -> Result<(), CliError> {
    let input = json!({ "key_id": r.id, "overlap_hours": overlap_hours(&r.overlap)? });
    let rotated = mutate(
        api,
        "rotate_api_key",
        input,
        "id key old_key_id old_key_expires_at",
    )?;
    let key = rotated["key"].as_str().unwrap_or_default();
    if r.quiet {
        println!("{key}");
        return Ok(());
    }
    emit(json_out, &rotated, || {
        println!(
            "{key}\n\nThis is the only time this key is shown: store it now.\nnew key id {}; the old key {} stops at {}",
            rotated["id"].as_str().unwrap_or("-"),
            rotated["old_key_id"].as_str().unwrap_or("-"),
            rotated["old_key_expires_at"].as_str().unwrap_or("-"),
        )
    });
    Ok(())
}

pub fn expiring(api: &Api, e: &Expiring, json_out: bool) -> Result<(), CliError> {
    let query =
        format!("query($d: Int!) {{ expiring_api_keys(within_days: $d) {{ {KEY_FIELDS} }} }}");
    let data = api.call(&query, json!({ "d": e.within_days }))?;
    list(
        json_out,
        &data["expiring_api_keys"],
        KEY_COLUMNS,
        "No key expires that soon.",
    );
    Ok(())
}

const POLICY_FIELDS: &str = "tenant_id max_key_lifetime_days require_expiry keys_beyond_policy { id name user_name expires_at }";

pub fn policy(api: &Api, command: PolicyCommand, json_out: bool) -> Result<(), CliError> {
    let policy = match command {
        PolicyCommand::Show => {
            let mut data = api.call(
                &format!("{{ tenant_key_policy {{ {POLICY_FIELDS} }} }}"),
                Value::Null,
            )?;
            data["tenant_key_policy"].take()
        }
        PolicyCommand::Set {
            max_lifetime_days,
            require_expiry,
        } => mutate(
            api,
            "set_tenant_key_policy",
            json!({ "max_key_lifetime_days": max_lifetime_days, "require_expiry": require_expiry }),
            POLICY_FIELDS,
        )?,
    };
    emit(json_out, &policy, || print_policy(&policy));
    Ok(())
}

fn print_policy(p: &Value) {
    match p["max_key_lifetime_days"].as_i64() {
        Some(d) => println!("new keys must expire within {d} days"),
        None if p["require_expiry"] == Value::Bool(true) => println!("new keys must expire"),
        None => println!("no limit: new keys may never expire"),
    }
    let beyond = p["keys_beyond_policy"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !beyond.is_empty() {
        println!(
            "\n{} existing key(s) beyond this policy (not cut):",
            beyond.len()
        );
        super::output::table(
            &beyond,
            &[
                ("ID", "id"),
                ("NAME", "name"),
                ("OWNER", "user_name"),
                ("EXPIRES", "expires_at"),
            ],
            "",
        );
    }
}
