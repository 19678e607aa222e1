//! The compute driver the orchestration thread drives, and the `fake` one: a simulated
//! hypervisor whose operations take configured times and whose builds fail on demand.
//!
//! Orchestration thread only. A driver answers how long an operation takes, which host and
//! node it runs servers on, what network a new server gets and whether a spawn succeeds; the
//! thread does the waiting (one timer queue for every task) and the database writes. A driver
//! must never sleep, block or touch the database.

use std::{
    cell::{Cell, Ref, RefCell},
    fmt,
    sync::Arc,
    time::Duration,
};

use crate::{
    config::{live::LiveConfig, FakeDriverConfig},
    db::queries::orchestration::TaskKind,
};

/// What the orchestration thread needs from a hypervisor.
pub trait ComputeDriver: Send + fmt::Debug {
    /// The compute host servers are placed on.
    fn host(&self) -> &str;
    /// The hypervisor node name.
    fn node(&self) -> &str;
    /// How long the whole operation takes.
    fn duration(&self, kind: TaskKind) -> Duration;
    /// Spawns the guest at the end of a build: `Err(reason)` fails the build.
    fn spawn(&mut self, uuid: &str, name: &str) -> Result<(), String>;
    /// The `network_info` (the addresses view, JSON) of a new server: attached to the
    /// `private` network when `attach`, with `fixed_ip` when one was asked for.
    fn plug_vifs(&mut self, uuid: &str, attach: bool, fixed_ip: Option<&str>) -> String;
}

/// The simulated hypervisor.
#[derive(Debug, Clone)]
pub struct FakeDriver {
    config: RefCell<FakeDriverConfig>,
    /// The published configuration whose `[fake_driver]` it follows, and the generation it
    /// last took its settings from (`None`: fixed settings).
    live: Option<(Arc<LiveConfig>, Cell<u64>)>,
}

impl FakeDriver {
    /// A fake driver with these timings and failure rules.
    pub fn new(config: FakeDriverConfig) -> FakeDriver {
        FakeDriver {
            config: RefCell::new(config),
            live: None,
        }
    }

    /// A fake driver that takes up the `[fake_driver]` settings of each reloaded
    /// configuration (for operations started after the reload).
    pub fn following(live: Arc<LiveConfig>) -> FakeDriver {
        let (generation, config) = live.current();
        FakeDriver {
            config: RefCell::new(config.orchestrator.fake.clone()),
            live: Some((live, Cell::new(generation))),
        }
    }

    /// The settings in force: one atomic load unless a reload was published.
    fn settings(&self) -> Ref<'_, FakeDriverConfig> {
        if let Some((live, seen)) = &self.live {
            if live.generation() != seen.get() {
                let (generation, config) = live.current();
                seen.set(generation);
                *self.config.borrow_mut() = config.orchestrator.fake.clone();
            }
        }
        self.config.borrow()
    }
}

/// The fake network's name.
pub const NETWORK_LABEL: &str = "private";

/// The fake `private` network's id (what a create's `networks[].uuid` may name).
pub const NETWORK_ID: &str = "3cb9bc59-5699-4588-a4b1-b87f96708bc6";

/// Two hex digits of the UUID text at `at` (0 when not hex).
fn hex_byte(uuid: &str, at: usize) -> u8 {
    uuid.get(at..at + 2)
        .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        .unwrap_or(0)
}

impl ComputeDriver for FakeDriver {
    fn host(&self) -> &str {
        "compute"
    }

    fn node(&self) -> &str {
        "fake-mini"
    }

    fn duration(&self, kind: TaskKind) -> Duration {
        let c = self.settings();
        match kind {
            TaskKind::Build => c.build_time,
            TaskKind::Reboot | TaskKind::RebootHard => c.reboot_time,
            TaskKind::Stop | TaskKind::Start => c.power_time,
            TaskKind::Pause | TaskKind::Unpause => c.pause_time,
            TaskKind::Suspend | TaskKind::Resume => c.suspend_time,
            TaskKind::Resize | TaskKind::RevertResize => c.resize_time,
            TaskKind::Snapshot => c.snapshot_time,
            TaskKind::Rebuild => c.rebuild_time,
            TaskKind::Delete => c.delete_time,
        }
    }

    fn spawn(&mut self, _uuid: &str, name: &str) -> Result<(), String> {
        match &self.settings().fail_build_names {
            Some(pattern) if pattern.is_match(name) => Err(format!(
                "the fake driver was told to fail builds matching {:?}",
                pattern.as_str()
            )),
            _ => Ok(()),
        }
    }

    fn plug_vifs(&mut self, uuid: &str, attach: bool, fixed_ip: Option<&str>) -> String {
        if !attach {
            return "{}".to_owned();
        }
        // Derived from the UUID, so a resumed build gets the same address.
        let address = match fixed_ip {
            Some(ip) => ip.to_owned(),
            None => format!(
                "10.0.{}.{}",
                hex_byte(uuid, 0) % 64,
                2 + hex_byte(uuid, 2) % 252
            ),
        };
        let mac = format!(
            "fa:16:3e:{:02x}:{:02x}:{:02x}",
            hex_byte(uuid, 4),
            hex_byte(uuid, 6),
            hex_byte(uuid, 9)
        );
        format!(
            "{{\"{NETWORK_LABEL}\": [{{\"OS-EXT-IPS-MAC:mac_addr\": \"{mac}\", \"version\": 4, \
             \"addr\": \"{address}\", \"OS-EXT-IPS:type\": \"fixed\"}}]}}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> FakeDriverConfig {
        let secs = Duration::from_millis;
        FakeDriverConfig {
            build_time: secs(100),
            reboot_time: secs(1),
            power_time: secs(2),
            pause_time: secs(3),
            suspend_time: secs(4),
            resize_time: secs(5),
            snapshot_time: secs(6),
            rebuild_time: secs(7),
            delete_time: secs(8),
            fail_build_names: Some(regex::Regex::new("^fail").unwrap()),
        }
    }

    #[test]
    fn addresses_are_stable_and_failures_follow_the_pattern() {
        let mut driver = FakeDriver::new(config());
        let uuid = "f5dc173b-6804-445a-a6d8-c705dad5b5eb";
        let a = driver.plug_vifs(uuid, true, None);
        assert_eq!(a, driver.plug_vifs(uuid, true, None));
        assert!(a.contains("\"addr\": \"10.0."), "{a}");
        assert!(a.contains("fa:16:3e:17:3b:68"), "{a}");
        assert_eq!(driver.plug_vifs(uuid, false, None), "{}");
        assert!(driver
            .plug_vifs(uuid, true, Some("10.0.0.9"))
            .contains("10.0.0.9"));
        assert!(driver.spawn(uuid, "failing").is_err());
        assert!(driver.spawn(uuid, "ok").is_ok());
        assert_eq!(driver.duration(TaskKind::Delete), Duration::from_millis(8));
    }

    #[test]
    fn a_following_driver_takes_up_reloaded_timings() {
        use crate::config::{Config, Overrides};
        let load = |text: &str| Config::from_text(text, None, &Overrides::default()).unwrap();
        let live = LiveConfig::new(load("[fake_driver]\nbuild_time = 3\n"));
        let mut driver = FakeDriver::following(Arc::clone(&live));
        let uuid = "f5dc173b-6804-445a-a6d8-c705dad5b5eb";
        assert_eq!(driver.duration(TaskKind::Build), Duration::from_secs(3));
        assert!(driver.spawn(uuid, "doomed").is_ok());
        live.publish(load(
            "[fake_driver]\nbuild_time = 0.25\nfail_build_names = ^doomed\n",
        ));
        assert_eq!(driver.duration(TaskKind::Build), Duration::from_millis(250));
        assert!(driver.spawn(uuid, "doomed").is_err());
        // A fixed driver does not follow anything.
        let fixed = FakeDriver::new(config());
        live.publish(load("[fake_driver]\nbuild_time = 9\n"));
        assert_eq!(fixed.duration(TaskKind::Build), Duration::from_millis(100));
    }
}
