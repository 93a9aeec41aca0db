//! Every static file, embedded in the binary: the vendored htmx and Pico CSS, GraphiQL
//! (graphiql 3.8.3's UMD build with React 18.3.1, from npm), and Keyward's own JS and CSS.
//! Vendored files carry their version in the name, so they are cached for a year.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    cache_control: &'static str,
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The dashboard's own files keep their names across releases: revalidate after an hour.
const OWN: &str = "public, max-age=3600";

const ASSETS: &[Asset] = &[
    Asset {
        path: "vendor/htmx-4.0.1.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../../../static/vendor/htmx-4.0.1.min.js"),
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "vendor/pico-2.1.1.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../../../../static/vendor/pico-2.1.1.min.css"),
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "vendor/graphiql-3.8.3.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../../../static/vendor/graphiql-3.8.3.min.js"),
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "vendor/graphiql-3.8.3.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../../../../static/vendor/graphiql-3.8.3.min.css"),
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "vendor/react-18.3.1.production.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../../../static/vendor/react-18.3.1.production.min.js"),
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "vendor/react-dom-18.3.1.production.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../../../static/vendor/react-dom-18.3.1.production.min.js"),
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "keyward-graphiql.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../../../static/keyward-graphiql.js"),
        cache_control: OWN,
    },
    Asset {
        path: "keyward-graphiql.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../../../../static/keyward-graphiql.css"),
        cache_control: OWN,
    },
    Asset {
        path: "keyward.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../../../static/keyward.js"),
        cache_control: OWN,
    },
    Asset {
        path: "keyward.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../../../../static/keyward.css"),
        cache_control: OWN,
    },
    Asset {
        path: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../../../../static/favicon.svg"),
        cache_control: OWN,
    },
];

/// `GET /favicon.ico`: browsers ask for it on every page; they get Keyward's icon.
pub async fn favicon() -> HttpResponse {
    asset(web::Path::from("favicon.svg".to_string())).await
}

/// `GET /static/{path}`.
pub async fn asset(path: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|a| a.path == path.as_str()) {
        Some(asset) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((header::CACHE_CONTROL, asset.cache_control))
            .body(asset.body),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no such file"),
    }
}
