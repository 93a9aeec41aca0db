//! The requests this process is in the middle of, by method and route pattern (never the
//! raw path, which can carry one-time tokens): what the shutdown watchdog names when it
//! stops the process with requests still running (`startup`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static NEXT: AtomicU64 = AtomicU64::new(0);
static SERVING: Mutex<Option<HashMap<u64, (String, Instant)>>> = Mutex::new(None);

/// One request being served; dropped when it ends, however it ends.
pub struct Serving(u64);

pub fn serving(method: &str, route: &str) -> Serving {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut serving = SERVING.lock().unwrap_or_else(|e| e.into_inner());
    serving
        .get_or_insert_with(HashMap::new)
        .insert(id, (format!("{method} {route}"), Instant::now()));
    Serving(id)
}

impl Drop for Serving {
    fn drop(&mut self) {
        let mut serving = SERVING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(map) = serving.as_mut() {
            map.remove(&self.0);
        }
    }
}

/// The requests being served now, longest running first: ("POST /graphql", for how long).
pub fn now_serving() -> Vec<(String, Duration)> {
    let serving = SERVING.lock().unwrap_or_else(|e| e.into_inner());
    let mut all: Vec<(String, Duration)> = serving
        .iter()
        .flatten()
        .map(|(_, (route, since))| (route.clone(), since.elapsed()))
        .collect();
    all.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    all
}
