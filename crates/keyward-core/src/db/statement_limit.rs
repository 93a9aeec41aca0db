//! Statements run for a request stop at the request's budget, so no query holds a thread
//! and a connection unbounded (issue 23): on PostgreSQL each pooled connection carries
//! `statement_timeout`; on SQLite every connection gets a progress handler that interrupts
//! a statement once the deadline of the work on its thread has passed. That deadline is set
//! by `within` (which `AppState::run` wraps around each service call); work outside it (the
//! housekeeping thread, migrations, the CLI) has none.
//!
//! A statement stopped this way fails with PostgreSQL's "canceling statement due to
//! statement timeout" or SQLite's "interrupted", which `AppError` reports as `TimedOut`.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How long a request may run, and so how long one of its statements may.
pub const BUDGET: Duration = Duration::from_secs(5);

/// How many SQLite virtual-machine steps between two looks at the clock (a few tens of
/// microseconds of work).
const SQLITE_STEPS_PER_CHECK: i32 = 10_000;

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `f` with SQLite statements on this thread interrupted `limit` from now.
pub fn within<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            DEADLINE.with(|d| d.set(self.0));
        }
    }
    let _restore = Restore(DEADLINE.with(|d| d.replace(Some(Instant::now() + limit))));
    f()
}

/// The SQL that gives a new PostgreSQL pool connection its statement limit.
pub fn postgres_setting() -> String {
    format!("SET statement_timeout = {}", BUDGET.as_millis())
}

/// Registers the progress handler for every SQLite connection this process opens from
/// now on (SQLite's auto-extension mechanism: diesel does not hand out its raw handle).
pub fn install_for_sqlite() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: `on_open` has the entry-point signature SQLite expects and only calls
        // `sqlite3_progress_handler` on the connection it is given.
        let rc = unsafe { libsqlite3_sys::sqlite3_auto_extension(Some(on_open)) };
        if rc != libsqlite3_sys::SQLITE_OK {
            tracing::warn!(code = rc, "SQLite statements will run without a time limit");
        }
    });
}

unsafe extern "C" fn on_open(
    db: *mut libsqlite3_sys::sqlite3,
    _error: *mut *mut std::ffi::c_char,
    _api: *const libsqlite3_sys::sqlite3_api_routines,
) -> std::ffi::c_int {
    // SAFETY: SQLite calls this with the connection it is opening; the handler takes no
    // user data.
    unsafe {
        libsqlite3_sys::sqlite3_progress_handler(
            db,
            SQLITE_STEPS_PER_CHECK,
            Some(past_deadline),
            std::ptr::null_mut(),
        )
    };
    libsqlite3_sys::SQLITE_OK
}

/// Non-zero interrupts the running statement.
unsafe extern "C" fn past_deadline(_: *mut std::ffi::c_void) -> std::ffi::c_int {
    let past = DEADLINE
        .try_with(|d| d.get().is_some_and(|deadline| Instant::now() >= deadline))
        .unwrap_or(false);
    std::ffi::c_int::from(past)
}

/// True when a database error says a statement was stopped by this limit.
pub fn stopped_statement(message: &str) -> bool {
    message == "interrupted" || message.contains("canceling statement due to statement timeout")
}
