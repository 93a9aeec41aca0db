//! argon2id password hashing with the crate's defaults (m=19 MiB, t=2, p=1: OWASP's
//! recommendation). Slow on purpose.
//!
//! The server hashes and verifies only through `verify_bounded` and `hash_bounded`: at
//! most half the cores hash at once in the whole process, so key checks always keep a
//! core; hashes run on one dedicated thread per turn (`hashers`), so a request waiting
//! for its turn or hashing holds no thread of the executor and no database connection (services take a `HashedPassword`, made before the connection is
//! taken), and when `MAX_WAITING` already wait the request is refused at once (429)
//! instead of queueing without bound. `HashedPassword::of` and `verify_password` are the
//! blocking forms, for the command line and tests.

use crate::domain::Password;
use crate::error::AppError;
use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// How many requests may wait for a turn to hash before more are refused.
pub const MAX_WAITING: usize = 64;

/// How many hashes may run at once: half the cores, at least one.
pub fn max_concurrent_hashes() -> usize {
    (std::thread::available_parallelism().map_or(1, |n| n.get()) / 2).max(1)
}

static TURNS: OnceLock<Arc<Semaphore>> = OnceLock::new();
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// The turns to hash, one per hash running (`max_concurrent_hashes` in all). Public so a
/// test can take them all and see who waits.
pub fn turns() -> &'static Arc<Semaphore> {
    TURNS.get_or_init(|| Arc::new(Semaphore::new(max_concurrent_hashes())))
}

/// How many requests wait for a turn right now.
pub fn waiting() -> usize {
    WAITING.load(Ordering::Acquire)
}

/// A new password's argon2 hash: what services store. Made by `hash_bounded` (the
/// server) or `of` (blocking: the command line and tests), never while holding a
/// database connection. Its Debug shows no hash.
pub struct HashedPassword(String);

impl HashedPassword {
    /// Hashes on this thread (blocking, ~40 ms in release): not for the server's requests.
    pub fn of(password: &Password) -> Result<Self, AppError> {
        hash_password(password).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for HashedPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashedPassword(..)")
    }
}

/// A place in the queue for a hashing turn: counted in `WAITING` from `enter` until it
/// is dropped, which happens however the wait ends (a turn, an error, or the request's
/// future dropped while it waits, as when the client goes away).
struct WaitingPlace(());

impl WaitingPlace {
    /// `None` when `MAX_WAITING` requests already wait.
    fn enter() -> Option<Self> {
        if WAITING.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            WAITING.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Self(()))
    }
}

impl Drop for WaitingPlace {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `work` on a hashing thread once a hashing turn is free; refuses at once when
/// `MAX_WAITING` requests already wait. The turn goes with the job and is given back when
/// the hash is done, not when the caller stops waiting: a request dropped mid-hash (the
/// client gone, a deadline) cannot free its turn for another hash while its own still
/// runs, so no more than `max_concurrent_hashes` jobs are ever queued or running.
async fn with_turn<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    let place = WaitingPlace::enter().ok_or_else(|| {
        AppError::TooManyRequests(
            "too many passwords are being checked right now; try again in a moment".into(),
        )
    })?;
    let turn = turns().clone().acquire_owned().await;
    drop(place);
    let turn = turn.map_err(|_| AppError::internal("the password hashers are closed"))?;
    let (done, result) = tokio::sync::oneshot::channel();
    hashers()
        .send(Box::new(move || {
            let answer = work();
            drop(turn);
            drop(done.send(answer));
        }))
        .map_err(|_| AppError::internal("the password hashers are gone"))?;
    result
        .await
        .map_err(|_| AppError::internal("hashing a password failed"))
}

type Job = Box<dyn FnOnce() + Send>;

/// Run on a hashing thread before each hash; set by the process, not by a service.
static BEFORE_HASH: OnceLock<fn()> = OnceLock::new();

/// Sets what runs on a hashing thread before each hash, once per process (later calls
/// change nothing). The server binary hands back free memory there, so its peak is what
/// it holds plus one argon2 block (docs/PERFORMANCE.md); tests' servers set nothing.
pub fn before_each_hash(hook: fn()) {
    let _ = BEFORE_HASH.set(hook);
}

/// The threads that hash: one per turn, started on first use and kept for the life of the
/// process. Not the blocking pool: every thread that ever ran argon2 keeps its freed 19 MiB
/// block resident in its own malloc arena, so hashing on whichever blocking thread was free
/// left the server at hundreds of MiB (docs/PERFORMANCE.md); here at most one arena per
/// turn holds one.
fn hashers() -> &'static std::sync::mpsc::Sender<Job> {
    static HASHERS: OnceLock<std::sync::mpsc::Sender<Job>> = OnceLock::new();
    HASHERS.get_or_init(|| {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for i in 0..max_concurrent_hashes() {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("keyward-hash-{i}"))
                .spawn(move || loop {
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    // The hash maps 19 MiB of its own: the binary's allocator policy may
                    // first hand back what is free (`before_each_hash`).
                    if let Some(hook) = BEFORE_HASH.get() {
                        hook();
                    }
                    // A panicking hash drops its answer (the caller gets an error); the
                    // thread stays for the next one.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password-hashing thread");
            }
        }
        jobs
    })
}

/// `verify_password` off the executor, taking a turn among the bounded hashers.
pub async fn verify_bounded(hash: String, password: Password) -> Result<bool, AppError> {
    with_turn(move || {
        crate::telemetry::metrics::password_checked();
        verify_password(&hash, &password)
    })
    .await
}

/// `HashedPassword::of` off the executor, taking a turn among the bounded hashers.
pub async fn hash_bounded(password: Password) -> Result<HashedPassword, AppError> {
    with_turn(move || HashedPassword::of(&password)).await?
}

fn hash_password(password: &Password) -> Result<String, AppError> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal(format!("hashing a password failed: {e}")))
}

pub fn verify_password(hash: &str, password: &Password) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok()
    })
}

static DECOY: OnceLock<String> = OnceLock::new();

/// Makes the decoy hash, at start: a server that cannot make it does not start (an
/// unknown email checked against anything less than a whole hash would answer faster
/// and tell which emails have accounts).
pub fn prepare_decoy() -> Result<(), String> {
    let decoy = make_decoy().map_err(|e| format!("cannot make the decoy password hash: {e}"))?;
    let _ = DECOY.set(decoy);
    Ok(())
}

/// What an unknown email is checked against, so it takes as long as a wrong password
/// (made by `prepare_decoy` at start).
pub fn decoy_hash() -> &'static str {
    DECOY.get_or_init(|| make_decoy().expect("argon2's own parameters make a valid hash"))
}

/// A stored hash's twin that no password matches: argon2id with the parameters
/// `hash_password` uses, a random salt and a random output, so verifying any password
/// against it runs the whole hash, as for a real account, and fails. Making it hashes
/// nothing: a server starts without a 19 MiB hash (docs/PERFORMANCE.md).
fn make_decoy() -> Result<String, argon2::password_hash::Error> {
    let argon2 = Argon2::default();
    let decoy = PasswordHash {
        algorithm: argon2::Algorithm::default().ident(),
        version: Some(argon2::Version::default().into()),
        params: ParamsString::try_from(argon2.params())?,
        salt: Some(Salt::generate()),
        hash: Some(Output::init_with(
            argon2::Params::DEFAULT_OUTPUT_LEN,
            |bytes| {
                rand::fill(bytes);
                Ok(())
            },
        )?),
    };
    Ok(decoy.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_decoy_asks_for_the_same_hash_as_a_stored_password_and_matches_none() {
        let real = hash_password(&Password::offered("correct horse battery staple")).unwrap();
        let (real, decoy) = (
            PasswordHash::new(&real).unwrap(),
            PasswordHash::new(decoy_hash()).unwrap(),
        );
        assert_eq!(decoy.algorithm, real.algorithm);
        assert_eq!(decoy.version, real.version);
        assert_eq!(decoy.params, real.params, "same memory, passes and lanes");
        assert_eq!(
            decoy.salt.map(|s| s.len()),
            real.salt.map(|s| s.len()),
            "a salt as long as a real one"
        );
        assert_eq!(decoy.hash.map(|h| h.len()), real.hash.map(|h| h.len()));
        assert_ne!(decoy.salt, real.salt);
        for offered in ["", "correct horse battery staple", "password"] {
            assert!(!verify_password(decoy_hash(), &Password::offered(offered)));
        }
        assert_eq!(decoy_hash(), decoy_hash(), "made once per process");
    }

    #[tokio::test]
    async fn a_check_dropped_while_it_hashes_keeps_its_turn_until_the_hash_is_done() {
        let all = max_concurrent_hashes() as u32;
        let (started, has_started) = std::sync::mpsc::channel();
        let (finish, may_finish) = std::sync::mpsc::channel::<()>();
        let check = tokio::spawn(with_turn(move || {
            let _ = started.send(());
            let _ = may_finish.recv();
        }));
        tokio::task::spawn_blocking(move || has_started.recv())
            .await
            .unwrap()
            .unwrap();
        // The request goes away (its client left, its deadline passed) mid-hash.
        check.abort();
        assert!(check.await.unwrap_err().is_cancelled());
        assert_eq!(
            turns().available_permits(),
            all as usize - 1,
            "the turn came back while its hash still runs"
        );
        finish.send(()).unwrap();
        let back = tokio::time::timeout(Duration::from_secs(10), turns().acquire_many(all)).await;
        assert!(back.is_ok(), "the turn never came back after the hash");
    }
}
