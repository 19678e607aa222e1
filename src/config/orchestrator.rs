//! `[orchestrator]` and `[fake_driver]`: the orchestration thread's queue bound and the fake
//! hypervisor's per-operation durations and failure injection; plus the two `[api]` /
//! `[DEFAULT]` options server create reads (`enable_instance_password`, `password_length`).
//!
//! Start-up only: read once by `Config::load` through the option table. It must never start
//! the orchestration thread itself (the server does) nor read the database.

use std::time::Duration;

use super::{ConfigError, Reader};

/// `[fake_driver]`: how long each simulated hypervisor operation takes, and which builds fail.
#[derive(Debug, Clone)]
pub struct FakeDriverConfig {
    /// `build_time`: scheduling → networking → spawning → active.
    pub build_time: Duration,
    /// `reboot_time`: soft and hard reboots.
    pub reboot_time: Duration,
    /// `power_time`: os-stop and os-start.
    pub power_time: Duration,
    /// `pause_time`: pause and unpause.
    pub pause_time: Duration,
    /// `suspend_time`: suspend and resume.
    pub suspend_time: Duration,
    /// `resize_time`: resize (to VERIFY_RESIZE) and revertResize.
    pub resize_time: Duration,
    /// `snapshot_time`: createImage.
    pub snapshot_time: Duration,
    /// `rebuild_time`: rebuild.
    pub rebuild_time: Duration,
    /// `delete_time`: terminating a server that has a host.
    pub delete_time: Duration,
    /// `fail_build_names`: builds of servers whose name matches fail (vm_state error with a
    /// fault); `None` means none fail.
    pub fail_build_names: Option<regex::Regex>,
}

/// `[orchestrator]` plus `[fake_driver]`.
#[derive(Debug, Clone)]
pub struct OrchestratorConfig {
    /// `queue_size`: most tasks admitted and not yet finished; past it a request that would
    /// start one more answers 503.
    pub queue_size: usize,
    /// `driver`: the compute driver (only `fake`).
    pub driver: String,
    /// The fake driver's settings.
    pub fake: FakeDriverConfig,
    /// `[api] enable_instance_password`: return `adminPass` from create and rebuild.
    pub enable_instance_password: bool,
    /// `[DEFAULT] password_length`: length of generated admin passwords.
    pub password_length: usize,
}

/// Seconds as a duration, 0 to 3600 (fractions allowed).
fn parse_duration(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(secs) if (0.0..=3600.0).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
        _ => Err("expected seconds from 0 to 3600".to_string()),
    }
}

impl OrchestratorConfig {
    pub(super) fn from_reader(r: &Reader<'_>) -> Result<OrchestratorConfig, ConfigError> {
        let time = |name: &'static str| r.parse("fake_driver", name, parse_duration);
        Ok(OrchestratorConfig {
            queue_size: r.parse("orchestrator", "queue_size", super::parse_count(1, 1 << 20))?,
            driver: r.parse("orchestrator", "compute_driver", |t| match t {
                "fake" => Ok(t.to_owned()),
                _ => Err("expected fake".to_string()),
            })?,
            fake: FakeDriverConfig {
                build_time: time("build_time")?,
                reboot_time: time("reboot_time")?,
                power_time: time("power_time")?,
                pause_time: time("pause_time")?,
                suspend_time: time("suspend_time")?,
                resize_time: time("resize_time")?,
                snapshot_time: time("snapshot_time")?,
                rebuild_time: time("rebuild_time")?,
                delete_time: time("delete_time")?,
                fail_build_names: r.parse("fake_driver", "fail_build_names", |t| {
                    if t.is_empty() {
                        Ok(None)
                    } else {
                        regex::Regex::new(t)
                            .map(Some)
                            .map_err(|err| format!("not a regular expression: {err}"))
                    }
                })?,
            },
            enable_instance_password: r.parse(
                "api",
                "enable_instance_password",
                super::parse_bool,
            )?,
            password_length: r.parse("DEFAULT", "password_length", super::parse_count(3, 255))?,
        })
    }
}
