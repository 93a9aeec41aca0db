//! What each client command asks the server (GraphQL only) and prints.

use super::api::Api;
use super::config::{self, ConfigFile};
use super::output::{confirm, expiry, table};
use super::{KeysCommand, NewKey, Revoke, ServiceAccountKeysCommand, ServiceAccountsCommand};
use crate::cli::CliError;
use serde_json::{json, Value};
use std::path::Path;

pub(super) const KEY_FIELDS: &str = "id name user_id user_name account_type tenant_id display_hint created_at expires_at expired last_used_at read_only allowed_ips description";
pub(super) const KEY_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("OWNER", "user_name"),
    ("KEY", "display_hint"),
    ("ACCESS", "access"),
    ("FROM", "from"),
    ("EXPIRES", "expires_at"),
    ("LAST USED", "last_used_at"),
];
const SA_FIELDS: &str = "id name tenant_id role created_at key_count created_by_name";
const SA_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("ROLE", "role"),
    ("KEYS", "key_count"),
    ("CREATED", "created_at"),
    ("CREATED BY", "created_by_name"),
];
const WHOAMI: &str = "{ auth_info { user_id tenant_id api_key_id role account_type } \
    tenant { id name slug } auth_api_key { id name user_name display_hint read_only } }";

/// Prints `value` as JSON (times to the second), or `text` for people.
pub(super) fn emit(json_out: bool, value: &Value, text: impl FnOnce()) {
    if json_out {
        println!("{}", super::output::whole_seconds(value.clone()));
    } else {
        text();
    }
}

/// The key's account, tenant and role, with where the URL and key came from.
fn who(api: &Api) -> Result<Value, CliError> {
    let data = api.call(WHOAMI, Value::Null)?;
    let info = &data["auth_info"];
    let this_key = data["auth_api_key"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["id"] == info["api_key_id"]))
        .cloned()
        .unwrap_or(Value::Null);
    let tenant = data["tenant"].get(0).cloned().unwrap_or(Value::Null);
    Ok(json!({
        "account": { "id": info["user_id"], "name": this_key["user_name"], "type": info["account_type"] },
        "tenant": { "id": info["tenant_id"], "name": tenant["name"], "slug": tenant["slug"] },
        "role": info["role"],
        "key": { "id": info["api_key_id"], "name": this_key["name"], "hint": this_key["display_hint"], "read_only": this_key["read_only"], "source": api.key.source.kind(), "from": api.key.source.to_string() },
        "server": { "url": api.url.value, "source": api.url.source.kind(), "from": api.url.source.to_string() },
    }))
}

fn print_who(w: &Value) {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    println!(
        "account  {} ({}, {})",
        s(&w["account"]["name"]),
        s(&w["account"]["type"]),
        s(&w["account"]["id"])
    );
    println!(
        "tenant   {} ({}, {})",
        s(&w["tenant"]["name"]),
        s(&w["tenant"]["slug"]),
        s(&w["tenant"]["id"])
    );
    if w["key"]["read_only"] == Value::Bool(true) {
        println!(
            "role     {} (this key is read-only: it runs queries, every change is refused)",
            s(&w["role"])
        );
    } else {
        println!("role     {}", s(&w["role"]));
    }
    println!(
        "server   {} (from {})",
        s(&w["server"]["url"]),
        s(&w["server"]["from"])
    );
    println!(
        "key      {} {} (from {})",
        s(&w["key"]["hint"]),
        s(&w["key"]["name"]),
        s(&w["key"]["from"])
    );
}

pub fn whoami(api: &Api, json_out: bool) -> Result<(), CliError> {
    let w = who(api)?;
    emit(json_out, &w, || print_who(&w));
    Ok(())
}

pub fn login(api: &Api, path: &Path, json_out: bool) -> Result<(), CliError> {
    // Before the key is sent, so the warning is read while there is still time to stop.
    if sends_keys_in_clear(&api.url.value) {
        eprintln!(
            "warning: {} is plain http:// to another machine: the key sent now to check it, and every request made with it, crosses the network unencrypted; use the server's https:// URL",
            api.url.value
        );
    }
    let w = who(api)?;
    let file = ConfigFile {
        url: Some(api.url.value.clone()),
        key: Some(api.key.value.clone()),
    };
    config::save(path, &file)?;
    let value = json!({ "logged_in": true, "config": path, "whoami": w });
    emit(json_out, &value, || {
        println!(
            "Logged in to {} as {} in {} ({}). The URL and key are stored in {} (mode 0600).",
            api.url.value,
            w["account"]["name"].as_str().unwrap_or("-"),
            w["tenant"]["slug"].as_str().unwrap_or("-"),
            w["role"].as_str().unwrap_or("-"),
            path.display()
        )
    });
    Ok(())
}

/// Whether `url` is plain `http://` to a host other than this machine's loopback.
pub fn sends_keys_in_clear(url: &str) -> bool {
    let url = url.trim();
    if !url
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
    {
        return false;
    }
    let host = match url.parse::<ureq::http::Uri>() {
        Ok(uri) => uri.host().unwrap_or_default().to_ascii_lowercase(),
        Err(_) => return true,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

pub fn logout(path: &Path) -> Result<(), CliError> {
    match std::fs::remove_file(path) {
        Ok(()) => println!("Logged out: removed {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("Not logged in: {} does not exist", path.display())
        }
        Err(e) => {
            return Err(CliError::failure(format!(
                "cannot remove {}: {e}",
                path.display()
            )))
        }
    }
    Ok(())
}

pub fn keys(api: &Api, command: KeysCommand, json_out: bool) -> Result<(), CliError> {
    match command {
        KeysCommand::List => {
            let data = api.call(
                &format!("{{ auth_api_key {{ {KEY_FIELDS} }} }}"),
                Value::Null,
            )?;
            list(json_out, &data["auth_api_key"], KEY_COLUMNS, "No API keys.");
            Ok(())
        }
        KeysCommand::Create(new) => {
            let data = api.call("{ auth_info { user_id } }", Value::Null)?;
            let user_id = data["auth_info"]["user_id"].clone();
            create_key(api, user_id, &new, json_out)
        }
        KeysCommand::Revoke(r) => revoke_key(api, &r, json_out),
        KeysCommand::Rotate(r) => super::lifecycle::rotate(api, &r, json_out),
        KeysCommand::Expiring(e) => super::lifecycle::expiring(api, &e, json_out),
    }
}

pub fn service_accounts(
    api: &Api,
    command: ServiceAccountsCommand,
    json_out: bool,
) -> Result<(), CliError> {
    match command {
        ServiceAccountsCommand::List => {
            let data = api.call(
                &format!("{{ service_accounts {{ {SA_FIELDS} }} }}"),
                Value::Null,
            )?;
            list(
                json_out,
                &data["service_accounts"],
                SA_COLUMNS,
                "No service accounts.",
            );
        }
        ServiceAccountsCommand::Create { name, role } => {
            let role = crate::domain::Role::parse(&role)
                .map_err(|e| CliError::usage(format!("--role {}", e.message)))?;
            let sa = mutate(
                api,
                "create_service_account",
                json!({ "name": name, "role": role.as_str() }),
                SA_FIELDS,
            )?;
            emit(json_out, &sa, || {
                println!(
                    "Created service account {} with id {}",
                    sa["name"].as_str().unwrap_or("-"),
                    sa["id"].as_str().unwrap_or("-")
                )
            });
        }
        ServiceAccountsCommand::Rename { id, name } => {
            let id = service_account_id(api, &id)?;
            let input = json!({ "id": id, "name": name });
            let sa = mutate(api, "rename_service_account", input, SA_FIELDS)?;
            emit(json_out, &sa, || {
                println!(
                    "Renamed service account {} to {}",
                    sa["id"].as_str().unwrap_or("-"),
                    sa["name"].as_str().unwrap_or("-")
                )
            });
        }
        ServiceAccountsCommand::SetRole { id, role } => {
            let role = crate::domain::Role::parse(&role)
                .map_err(|e| CliError::usage(format!("ROLE {}", e.message)))?;
            let sa = find_service_account(api, &id)?;
            let input =
                json!({ "user_id": sa["id"], "role": role.as_str(), "tenant_id": sa["tenant_id"] });
            mutate(api, "change_member_role", input, "role")?;
            let value = json!({ "id": sa["id"], "name": sa["name"], "role": role.as_str() });
            emit(json_out, &value, || {
                println!(
                    "Service account {} ({}) now has the role {}",
                    sa["name"].as_str().unwrap_or("-"),
                    sa["id"].as_str().unwrap_or("-"),
                    role.as_str()
                )
            });
        }
        ServiceAccountsCommand::Remove { id, yes } => {
            let sa = find_service_account(api, &id)?;
            let id = sa["id"].as_str().unwrap_or_default().to_string();
            confirm(
                yes,
                &format!(
                    "remove service account {} ({id}) and revoke all its keys",
                    sa["name"].as_str().unwrap_or("-")
                ),
            )?;
            succeed(mutate(
                api,
                "remove_service_account",
                json!({ "id": id }),
                "success",
            )?)?;
            let value = json!({ "id": id, "removed": true });
            emit(json_out, &value, || {
                println!("Removed service account {id} and revoked its keys")
            });
        }
        ServiceAccountsCommand::Keys(ServiceAccountKeysCommand::List { sa_id }) => {
            let sa_id = service_account_id(api, &sa_id)?;
            let query = format!("query($id: UUID!) {{ service_account(id: $id) {{ api_keys {{ {KEY_FIELDS} }} }} }}");
            let data = api.call(&query, json!({ "id": sa_id }))?;
            let keys = &data["service_account"]["api_keys"];
            list(
                json_out,
                keys,
                KEY_COLUMNS,
                "This service account has no keys.",
            );
        }
        ServiceAccountsCommand::Keys(ServiceAccountKeysCommand::Create { sa_id, key }) => {
            let sa_id = service_account_id(api, &sa_id)?;
            return create_key(api, Value::String(sa_id), &key, json_out);
        }
        ServiceAccountsCommand::Keys(ServiceAccountKeysCommand::Revoke(r)) => {
            return revoke_key(api, &r, json_out)
        }
    }
    Ok(())
}

pub(super) fn list(json_out: bool, rows: &Value, columns: &[(&str, &str)], empty: &str) {
    let rows = rows.as_array().cloned().unwrap_or_default();
    emit(json_out, &Value::Array(rows.clone()), || {
        let rows: Vec<Value> = rows.into_iter().map(for_people).collect();
        table(&rows, columns, empty)
    });
}

/// A key's row with the table's words: `access` (read-only or full) and `from` (its
/// allow-list, or anywhere).
fn for_people(mut row: Value) -> Value {
    if let Some(read_only) = row["read_only"].as_bool() {
        row["access"] = json!(if read_only { "read-only" } else { "full" });
    }
    if let Some(ips) = row["allowed_ips"].as_array() {
        let ips: Vec<&str> = ips.iter().filter_map(Value::as_str).collect();
        row["from"] = json!(if ips.is_empty() {
            "anywhere".to_string()
        } else {
            ips.join(",")
        });
    }
    row
}

/// A service account given by id or by name: its `{ id name tenant_id }`.
fn find_service_account(api: &Api, given: &str) -> Result<Value, CliError> {
    let given = given.trim();
    let data = api.call(
        "{ service_accounts(limit: 1000) { id name tenant_id } }",
        Value::Null,
    )?;
    let all = data["service_accounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if let Some(sa) = all.iter().find(|sa| sa["id"].as_str() == Some(given)) {
        return Ok(sa.clone());
    }
    let named: Vec<&Value> = all
        .iter()
        .filter(|sa| sa["name"].as_str() == Some(given))
        .collect();
    match named.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(CliError::usage(format!(
            "no service account has the id or name {given:?} in this tenant: pass an id or a name from `keyward service-accounts list`"
        ))),
        many => Err(CliError::usage(format!(
            "{} service accounts are named {given:?}: pass the id of the one you mean (from `keyward service-accounts list`)",
            many.len()
        ))),
    }
}

/// A service account's id, given its id or its name.
fn service_account_id(api: &Api, given: &str) -> Result<String, CliError> {
    let sa = find_service_account(api, given)?;
    Ok(sa["id"].as_str().unwrap_or_default().to_string())
}

/// A key given by id or by name: its `{ id name }`. An id is named from the first 1,000
/// keys the caller can see (`name` null past them: the server still decides); a name must
/// be one key's.
fn find_key(api: &Api, given: &str) -> Result<Value, CliError> {
    let given = given.trim();
    if uuid_like(given) {
        let data = api.call("{ auth_api_key(limit: 1000) { id name } }", Value::Null)?;
        let named = data["auth_api_key"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| k["id"].as_str() == Some(given)))
            .cloned();
        return Ok(named.unwrap_or_else(|| json!({ "id": given, "name": null })));
    }
    let data = api.call(
        "query($w: auth_api_key_bool_exp) { auth_api_key(where: $w, limit: 3) { id name } }",
        json!({ "w": { "name": { "_eq": given } } }),
    )?;
    let found = data["auth_api_key"].as_array().cloned().unwrap_or_default();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(CliError::usage(format!(
            "no key you can see has the id or name {given:?}: pass a key's id (a UUID) or name from `keyward keys list`"
        ))),
        _ => Err(CliError::usage(format!(
            "several keys are named {given:?}: pass the id of the one you mean (from `keyward keys list`)"
        ))),
    }
}

/// Whether `s` is shaped like a UUID (what the server takes as an id).
fn uuid_like(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `name(input: $input) { fields }`, with the input type named after the mutation.
pub(super) fn mutate(api: &Api, name: &str, input: Value, fields: &str) -> Result<Value, CliError> {
    let query =
        format!("mutation($input: {name}_input!) {{ {name}(input: $input) {{ {fields} }} }}");
    let mut data = api.call(&query, json!({ "input": input }))?;
    Ok(data[name].take())
}

fn succeed(payload: Value) -> Result<(), CliError> {
    if payload["success"] == Value::Bool(true) {
        Ok(())
    } else {
        Err(CliError::failure("the server did not make the change"))
    }
}

fn create_key(api: &Api, user_id: Value, new: &NewKey, json_out: bool) -> Result<(), CliError> {
    let expires_at = expiry(
        new.expires_in.as_deref(),
        new.expires_at.as_deref(),
        time::OffsetDateTime::now_utc(),
    )?;
    let mut input = json!({ "user_id": user_id, "name": new.name, "expires_at": expires_at, "read_only": new.read_only, "allowed_ips": new.allowed_ips });
    if let Some(description) = &new.description {
        input["description"] = json!(description);
    }
    let created = mutate(api, "create_api_key", input, "id key")?;
    let key = created["key"].as_str().unwrap_or_default();
    if new.quiet {
        println!("{key}");
        return Ok(());
    }
    let value = json!({ "id": created["id"], "key": key, "user_id": user_id, "expires_at": expires_at, "read_only": new.read_only, "allowed_ips": new.allowed_ips, "description": new.description });
    emit(json_out, &value, || {
        println!(
            "{key}\n\nThis is the only time this key is shown: store it now.\nkey id {}, expires {}",
            created["id"].as_str().unwrap_or("-"),
            expires_at.as_deref().unwrap_or("never")
        )
    });
    Ok(())
}

fn revoke_key(api: &Api, r: &Revoke, json_out: bool) -> Result<(), CliError> {
    let what = if r.with_descendants {
        " and every key and service account made through it"
    } else {
        ""
    };
    let key = find_key(api, &r.id)?;
    let id = key["id"].as_str().unwrap_or_default();
    let label = match key["name"].as_str() {
        Some(name) => format!("{name:?} ({id})"),
        None => id.to_string(),
    };
    confirm(
        r.yes,
        &format!("revoke key {label}{what} (it stops working at once)"),
    )?;
    succeed(mutate(
        api,
        "delete_api_key",
        json!({ "key_id": id, "with_descendants": r.with_descendants }),
        "success",
    )?)?;
    let value = json!({ "id": id, "name": key["name"], "revoked": true });
    emit(json_out, &value, || println!("Revoked key {label}"));
    Ok(())
}
