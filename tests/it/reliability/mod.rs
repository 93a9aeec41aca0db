//! Reliability and hostile input (issue 13): crashes, database outages, several
//! instances, concurrency, hostile input and every route's protections. Each test prints
//! its figures on one `figures:` line; `docs/RELIABILITY.md` sums them up.

mod crash;
mod hostile;
mod instances;
mod outage;
mod pressure;
mod protections;

use keyward::db::{Database, DatabaseUrl, DbConnection};
use keyward::domain::{
    AccountId, ApiKeyId, Email, KeyName, Password, PersonName, Role, TenantId, TenantName,
    TenantSlug,
};
use keyward::services::{self, Actor};
use serde_json::{json, Value};

use crate::support::PASSWORD;

/// What a test did, printed as one line the docs quote.
#[derive(Debug, Default)]
pub struct Figures {
    pub test: String,
    pub requests: usize,
    pub faults: usize,
    pub inputs: usize,
    pub keys_lost: usize,
    pub unauthorised_successes: usize,
}

impl Figures {
    pub fn new(test: &str) -> Self {
        Self {
            test: test.to_string(),
            ..Self::default()
        }
    }

    /// For a test that runs on both backends: the backend is part of its name.
    pub fn on(test: &str, backend: crate::support::Backend) -> Self {
        Self::new(&format!("{test}[{backend:?}]"))
    }

    pub fn print(&self) {
        println!(
            "figures: {} requests={} faults={} inputs={} keys_lost={} unauthorised_successes={}",
            self.test,
            self.requests,
            self.faults,
            self.inputs,
            self.keys_lost,
            self.unauthorised_successes
        );
    }
}

/// A tenant `acme` with an admin person who holds a key, seeded straight into the
/// database (before or between server processes).
#[derive(Debug, Clone)]
pub struct Seed {
    pub tenant_id: String,
    pub admin_id: String,
    pub admin_email: String,
    pub admin_key: String,
}

pub fn seed(url: &str) -> Seed {
    let url = DatabaseUrl::parse(url).unwrap();
    let mut conn = Database::connect_once(&url).expect("database");
    let now = keyward::domain::Clock::system().now();
    let op = Actor::operator();
    let tenant = services::tenants::create_tenant(
        &mut conn,
        &op,
        now,
        TenantName::parse("Acme").unwrap(),
        TenantSlug::parse("acme").unwrap(),
    )
    .unwrap();
    let admin_email = "ada@example.com".to_string();
    let admin = services::accounts::create_user(
        &mut conn,
        &op,
        now,
        Email::parse(&admin_email).unwrap(),
        PersonName::parse("Ada").unwrap(),
        keyward::services::passwords::HashedPassword::of(&Password::parse_new(PASSWORD).unwrap())
            .unwrap(),
    )
    .unwrap();
    services::members::add_member(
        &mut conn,
        &op,
        now,
        &TenantId::from_stored(&tenant.id),
        &AccountId::from_stored(&admin.id),
        Role::Admin,
    )
    .unwrap();
    let admin_key = operator_key(&mut conn, &admin.id, &tenant.id);
    Seed {
        tenant_id: tenant.id,
        admin_id: admin.id,
        admin_email,
        admin_key,
    }
}

/// A key made by an operator straight in the database; returns its secret.
pub fn operator_key(conn: &mut DbConnection, account_id: &str, tenant_id: &str) -> String {
    let now = keyward::domain::Clock::system().now();
    let created = services::api_keys::create_api_key(
        conn,
        &Actor::operator(),
        now,
        services::api_keys::NewApiKey {
            account_id: AccountId::from_stored(account_id.to_string()),
            tenant_id: Some(TenantId::from_stored(tenant_id.to_string())),
            name: KeyName::parse(&format!("seed {}", uuid::Uuid::new_v4().simple())).unwrap(),
            expires_at: None,
            read_only: false,
            allowed_ips: Default::default(),
            description: Default::default(),
        },
        ApiKeyId::generate(),
        &keyward::domain::Quotas::default(),
    )
    .unwrap();
    created.token.expose_secret().to_string()
}

/// A client for one server: GraphQL with a key, `/api/whoami`, dashboard sign-in.
#[derive(Clone)]
pub struct Caller {
    pub http: reqwest::Client,
    pub base: String,
}

pub const CREATE_KEY: &str =
    "mutation($input: create_api_key_input!) { create_api_key(input: $input) { id key } }";

impl Caller {
    pub fn new(base: String) -> Self {
        // Idle connections are dropped well before the server's keep-alive of 5 s ends,
        // so a request never goes out on a connection the server is closing that moment
        // (a "connection reset" that says nothing about the server).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .unwrap();
        Self { http, base }
    }

    /// POSTs a GraphQL document; `Err` when no HTTP answer came (the server is gone).
    pub async fn gql(
        &self,
        key: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Result<(u16, Value), reqwest::Error> {
        // A key runs two GraphQL requests at once; these tests send more through one key,
        // so a 429 is sent again once a place is free (for at most a minute).
        let body = json!({ "query": query, "variables": variables });
        let (http, url, body) = (&self.http, format!("{}/graphql", self.base), &body);
        let url = &url;
        crate::support::eventually(
            "a place among the key's running requests",
            move || async move {
                let mut req = http.post(url).json(body);
                if let Some(key) = key {
                    req = req.bearer_auth(key);
                }
                let answered = async {
                    let res = req.send().await?;
                    let status = res.status().as_u16();
                    let text = res.text().await?;
                    Ok((
                        status,
                        serde_json::from_str(&text).unwrap_or(Value::String(text)),
                    ))
                };
                match answered.await {
                    Ok((429, _)) => None,
                    other => Some(other),
                }
            },
        )
        .await
    }

    /// Creates a key for `user_id` through GraphQL; `Some((id, secret))` when acknowledged.
    pub async fn create_key(
        &self,
        key: &str,
        user_id: &str,
        name: &str,
    ) -> Result<Option<(String, String)>, reqwest::Error> {
        let (_, answer) = self
            .gql(
                Some(key),
                CREATE_KEY,
                json!({ "input": { "user_id": user_id, "name": name } }),
            )
            .await?;
        let created = &answer["data"]["create_api_key"];
        Ok(created["key"].as_str().map(|secret| {
            (
                created["id"].as_str().unwrap().to_string(),
                secret.to_string(),
            )
        }))
    }

    /// `GET /api/whoami` with a key: its status.
    pub async fn whoami(&self, key: &str) -> u16 {
        self.http
            .get(format!("{}/api/whoami", self.base))
            .bearer_auth(key)
            .send()
            .await
            .expect("whoami answers")
            .status()
            .as_u16()
    }
}

/// The error code of a GraphQL answer's first error.
pub fn error_code(answer: &Value) -> Option<&str> {
    answer["errors"][0]["extensions"]["code"].as_str()
}
