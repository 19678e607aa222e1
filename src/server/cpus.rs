//! Which CPU each worker is pinned to, and the unpinning of background threads.
//!
//! Start-up only (and once per background thread). `Auto` uses the CPUs this process may run on (`Cpus_allowed_list` in
//! `/proc/self/status`, which honours taskset and cgroup cpusets) in order.
//!
//! It must never pin two workers to the same CPU when enough CPUs are allowed.

use crate::config::{self, CpuPinning};

/// The CPUs this process is allowed to run on, in ascending order.
pub fn allowed() -> Vec<usize> {
    cpus_allowed_in("/proc/self/status").unwrap_or_else(|| {
        (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
    })
}

/// The `Cpus_allowed_list` of a `/proc/…/status` file, when it has a non-empty one.
fn cpus_allowed_in(status_file: &str) -> Option<Vec<usize>> {
    let status = std::fs::read_to_string(status_file).ok()?;
    let list = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))?
        .trim();
    match config::parse_cpus(list) {
        Ok(CpuPinning::List(cpus)) if !cpus.is_empty() => Some(cpus),
        _ => None,
    }
}

/// Lets the calling thread run on every CPU the process may use ([`allowed`], the main
/// thread's set: the main thread is never pinned). A thread inherits its creator's affinity,
/// so a background thread (the group flush, the checkpointer) started lazily from a pinned
/// worker would otherwise compete with that worker for its core. Best effort: a failure
/// leaves the thread where it was.
pub fn unpin_current_thread() {
    let _ = monoio::utils::bind_to_cpu_set(allowed());
}

/// The CPUs the calling thread may run on (`/proc/thread-self/status`).
#[cfg(test)]
fn current_thread_cpus() -> Vec<usize> {
    cpus_allowed_in("/proc/thread-self/status").unwrap_or_default()
}

/// The CPU for each of `workers` workers (`None` = not pinned).
pub fn plan(pinning: &CpuPinning, workers: usize) -> Vec<Option<usize>> {
    let cpus = match pinning {
        CpuPinning::Off => return vec![None; workers],
        CpuPinning::Auto => allowed(),
        CpuPinning::List(list) => list.clone(),
    };
    (0..workers).map(|i| Some(cpus[i % cpus.len()])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        assert_eq!(plan(&CpuPinning::Off, 2), vec![None, None]);
        assert_eq!(
            plan(&CpuPinning::List(vec![3, 5]), 3),
            vec![Some(3), Some(5), Some(3)]
        );
        let auto = plan(&CpuPinning::Auto, 1);
        assert!(allowed().contains(&auto[0].unwrap()));
    }

    #[test]
    fn a_thread_started_by_a_pinned_thread_unpins_itself() {
        let all = allowed();
        let first = all[0];
        let (pinned, unpinned) = std::thread::spawn(move || {
            monoio::utils::bind_to_cpu_set([first]).unwrap();
            std::thread::spawn(|| {
                let inherited = current_thread_cpus();
                unpin_current_thread();
                (inherited, current_thread_cpus())
            })
            .join()
            .unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(
            pinned,
            vec![first],
            "a spawned thread inherits its creator's pin"
        );
        assert_eq!(unpinned, all);
    }
}
