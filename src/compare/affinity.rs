//! Pinning processes to CPUs, as `taskset` does, so that a server and its load
//! generator do not compete for the same cores.

use std::io;

/// The CPUs this process may run on, in order (all of them unless a
/// container, `taskset` or a cgroup narrowed the set).
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: an all-zero cpu_set_t is the empty set; sched_getaffinity only writes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is this thread; the size is that of the set passed.
    let got =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    let fallback = || (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
    if got != 0 {
        return fallback();
    }
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: cpu is below CPU_SETSIZE, the set's capacity.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    if cpus.is_empty() {
        fallback()
    } else {
        cpus
    }
}

/// The kernel's set of `cpus`.
pub fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus.iter().filter(|&&cpu| cpu < libc::CPU_SETSIZE as usize) {
        // SAFETY: cpu is below CPU_SETSIZE, the set's capacity.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    set
}

/// Restricts the calling thread (and the threads and children it starts
/// afterwards) to `set`.
pub fn apply(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: pid 0 is the calling thread; the pointer and size describe `set`.
    let done = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if done == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// CPU time (user + system) this whole process has used, in seconds.
pub fn process_cpu_secs() -> f64 {
    // SAFETY: an all-zero rusage is valid; getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF and a pointer to a live local.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_may_run_somewhere_and_can_be_pinned_there() {
        let cpus = allowed_cpus();
        assert!(!cpus.is_empty());
        // Pinning a fresh thread to what it already has changes nothing else.
        let pinned = std::thread::spawn(move || {
            apply(&cpu_set(&cpus[..1])).unwrap();
            allowed_cpus()
        })
        .join()
        .unwrap();
        assert_eq!(pinned.len(), 1);
        assert!(process_cpu_secs() >= 0.0);
    }
}
