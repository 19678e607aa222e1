//! Which CPU each worker is pinned to.
//!
//! Start-up only. `Auto` uses the CPUs this process may run on (`Cpus_allowed_list` in
//! `/proc/self/status`, which honours taskset and cgroup cpusets) in order.
//!
//! It must never pin two workers to the same CPU when enough CPUs are allowed.

use crate::config::{self, CpuPinning};

/// The CPUs this process is allowed to run on, in ascending order.
pub fn allowed() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let list = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .map(str::trim)
        .unwrap_or_default();
    match config::parse_cpus(list) {
        Ok(CpuPinning::List(cpus)) if !cpus.is_empty() => cpus,
        _ => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
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
}
