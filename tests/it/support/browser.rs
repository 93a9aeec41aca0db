//! A browser for dashboard tests: a reqwest client with a cookie jar the test can read,
//! no redirects followed, and the dashboard's sign-in and form steps.

use crate::support::{TestApp, PASSWORD};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Response, StatusCode};
use std::sync::Arc;

pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<Jar>,
    pub base: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Self::with_address(app, None)
    }

    /// A browser whose requests say they were forwarded for `ip` (believed only behind
    /// a trusted proxy).
    pub fn with_address(app: &TestApp, forwarded_for: Option<&str>) -> Self {
        let jar = Arc::new(Jar::default());
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(ip) = forwarded_for {
            headers.insert("x-forwarded-for", ip.parse().unwrap());
        }
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .unwrap();
        Self {
            client,
            jar,
            base: app.address.clone(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The `Cookie` header this browser sends.
    pub fn cookies(&self) -> String {
        self.jar
            .cookies(&self.base.parse().unwrap())
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// The body of `GET path`.
    pub async fn text(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    pub async fn get_hx(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("HX-Request", "true")
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_hx(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .header("HX-Request", "true")
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_in_with(&self, email: &str, password: &str) -> Response {
        self.post(
            "/login",
            &[("email", email), ("password", password), ("next", "")],
        )
        .await
    }

    pub async fn sign_in(&self, email: &str) -> String {
        let res = self.sign_in_with(email, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign-in failed");
        self.csrf_token().await
    }

    /// The CSRF token of this browser's session, as its pages carry it.
    pub async fn csrf_token(&self) -> String {
        let html = self.get("/user/api-keys").await.text().await.unwrap();
        input_value(&html, "csrf_token").expect("a page with a CSRF token")
    }

    /// Opens the create form and returns its fields (csrf_token, nonce, tenant).
    pub async fn open_create_form(&self) -> (String, String) {
        let html = self.get("/user/api-keys/new").await.text().await.unwrap();
        (
            input_value(&html, "csrf_token").unwrap(),
            input_value(&html, "nonce").unwrap(),
        )
    }
}

/// The value of `<input name="{name}" value="…">` in a page.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

pub fn location(res: &Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

pub fn header(res: &Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}
