//! What the benches share.

/// This thread's on-CPU time in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`): unlike wall time it
/// leaves out the time other processes had the CPU, which on the shared build machine
/// dominates criterion's figures. (`/proc/thread-self/schedstat` looks the same but is only
/// brought up to date at scheduler ticks: 4 ms steps.)
pub(crate) fn cpu_nanos() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}
