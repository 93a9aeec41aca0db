//! The server's resident memory (issue 9: at most 64 MiB with 100,000 keys): glibc's
//! malloc keeps what threads free, so the server tunes it at start and gives free pages
//! back once a second. Elsewhere than glibc on Linux there is nothing to do.

use std::time::Duration;

/// Keeps freed memory from staying resident (glibc's malloc; elsewhere nothing to do).
///
/// Every argon2 hash allocates its 19 MiB of blocks and frees them afterwards. glibc's
/// malloc raises its mmap threshold to the size of the first large block freed, so from
/// the second hash on the blocks come from the hashing thread's arena and stay resident
/// after `free` (hundreds of MiB on a busy server, docs/PERFORMANCE.md). A fixed
/// threshold keeps large blocks mapped on their own and unmapped when freed, so the
/// server holds an argon2 block only while a hash runs.
///
/// glibc also gives each thread that allocates while another holds its arena an arena of
/// its own, up to 8 per core, and keeps what is freed in each: the blocking pool's
/// threads, each answering a list of 1,000 rows in turn, left ~50 MiB more resident
/// than two arenas did, at the same CPU per request (docs/PERFORMANCE.md). One arena
/// per core is what the server's threads can use at once anyway.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        /// Blocks this large or larger are mapped on their own: argon2's 19 MiB and any
        /// response body of a page of 1,000 rows.
        const MMAP_THRESHOLD: libc::c_int = 256 * 1024;
        let arenas = std::thread::available_parallelism().map_or(1, |n| n.get());
        let arenas = libc::c_int::try_from(arenas).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only changes malloc's tuning parameters; any value is allowed
        // and allocations made before keep working.
        let ok = unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                & libc::mallopt(libc::M_ARENA_MAX, arenas)
        };
        if ok != 1 {
            tracing::warn!("could not tune malloc; freed memory may stay resident");
        }
    }
}

/// How often free memory is given back.
const TRIM_EVERY: Duration = Duration::from_secs(1);

/// Gives malloc's free pages back to the system once a second, on a thread of its own.
/// A burst of large answers (a page of 1,000 keys to 32 clients at once) leaves tens of
/// MiB free but resident in the arenas, and the next burst's peak starts from there;
/// `malloc_trim` returns every free page of every arena (not only the top), in well
/// under a millisecond on a quiet heap (docs/PERFORMANCE.md).
/// One trimmer per process.
pub fn spawn_trimmer() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static STARTED: std::sync::Once = std::sync::Once::new();
        STARTED.call_once(start_trimmer);
    }
}

/// Gives malloc's free pages back to the system now.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn start_trimmer() {
    let spawned = std::thread::Builder::new()
        .name("keyward-trim".into())
        .spawn(|| loop {
            std::thread::sleep(TRIM_EVERY);
            trim();
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the memory trimmer");
    }
}
