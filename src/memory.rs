//! Memory as an admission criterion: new generations are refused (`503 overloaded`) once the
//! process's resident memory reaches a limit, so that the streams already accepted — which
//! still grow by their pages, and need memory to sanitize and save them — are never the ones
//! the kernel's out-of-memory killer ends (docs/ARCHITECTURE.md, "Descriptors and connections").
//!
//! The check reads the resident set once per new generation (`/proc/self/statm`: one small
//! read, no listing), so it sees what the process really holds, allocator slack included, not
//! an estimate per stream that would drift with page sizes and versions.

use std::fmt;
use std::str::FromStr;

use bytesize::ByteSize;

/// Of the memory the process may use, the share new generations may fill: the rest is the
/// headroom of the streams already accepted.
const AUTO_SHARE: f64 = 0.9;

/// `LIVEPAGE_MEMORY_LIMIT`: where the limit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemorySetting {
    /// 90% of the memory the process may use: its cgroup's limit when it has one, the
    /// machine's memory otherwise.
    Auto,
    /// No limit: generations are admitted whatever the process holds.
    Off,
    /// Resident bytes at which new generations are refused.
    Bytes(u64),
}

impl FromStr for MemorySetting {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim() {
            "auto" => Ok(Self::Auto),
            "off" => Ok(Self::Off),
            size => match size.parse::<ByteSize>() {
                Ok(ByteSize(0)) => Err("must be more than zero bytes".into()),
                Ok(ByteSize(bytes)) => Ok(Self::Bytes(bytes)),
                Err(_) => Err(format!(
                    "{size:?} is not `auto`, `off` or a size such as `512MiB` or `2GB`"
                )),
            },
        }
    }
}

impl fmt::Display for MemorySetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Off => f.write_str("off"),
            Self::Bytes(bytes) => write!(f, "{}", ByteSize(*bytes).display().iec()),
        }
    }
}

/// The resident memory at which new generations are refused, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit(Option<u64>);

impl MemoryLimit {
    /// No limit (tests of parts that never run out).
    pub const NONE: Self = Self(None);

    /// Resolves the setting: `auto` reads the cgroup's limit and the machine's memory (once,
    /// at start-up).
    pub fn resolve(setting: MemorySetting) -> Self {
        match setting {
            MemorySetting::Off => Self(None),
            MemorySetting::Bytes(bytes) => Self(Some(bytes)),
            MemorySetting::Auto => {
                Self(available().map(|bytes| (bytes as f64 * AUTO_SHARE) as u64))
            }
        }
    }

    pub fn bytes(self) -> Option<u64> {
        self.0
    }

    /// Whether a new generation may start: the process holds less than the limit (or what it
    /// holds cannot be read, in which case memory is not what refuses it).
    pub fn admits(self) -> bool {
        match (self.0, resident()) {
            (Some(limit), Some(resident)) => resident < limit,
            _ => true,
        }
    }
}

/// The process's resident memory in bytes.
pub fn resident() -> Option<u64> {
    memory_stats::memory_stats().map(|stats| stats.physical_mem as u64)
}

/// The memory this process may use: the least of its cgroup's limit and the machine's memory.
fn available() -> Option<u64> {
    let mut system = sysinfo::System::new().ok()?;
    system.refresh_memory();
    let cgroup = system.cgroup_limits().map(|limits| limits.total_memory);
    [Some(system.total_memory()), cgroup]
        .into_iter()
        .flatten()
        .filter(|&bytes| bytes > 0)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_sizes_and_name_what_is_wrong() {
        assert_eq!("auto".parse(), Ok(MemorySetting::Auto));
        assert_eq!("off".parse(), Ok(MemorySetting::Off));
        assert_eq!("512MiB".parse(), Ok(MemorySetting::Bytes(512 << 20)));
        assert_eq!("2 GB".parse(), Ok(MemorySetting::Bytes(2_000_000_000)));
        assert!("0".parse::<MemorySetting>().is_err());
        let err = "lots".parse::<MemorySetting>().unwrap_err();
        assert!(err.contains("\"lots\""), "{err}");
        assert_eq!(MemorySetting::Bytes(512 << 20).to_string(), "512.0 MiB");
    }

    #[test]
    fn a_limit_under_what_the_process_holds_refuses_and_one_above_admits() {
        let resident = resident().expect("Linux reports the resident set");
        assert!(resident > 0);
        assert!(!MemoryLimit(Some(resident / 2)).admits());
        assert!(MemoryLimit(Some(resident * 4)).admits());
        assert!(MemoryLimit::NONE.admits());
    }

    #[test]
    fn auto_is_a_share_of_what_the_machine_has() {
        let MemoryLimit(Some(limit)) = MemoryLimit::resolve(MemorySetting::Auto) else {
            panic!("the machine's memory is readable here");
        };
        let available = available().unwrap();
        assert!(
            limit < available && limit > available / 2,
            "{limit} of {available}"
        );
    }
}
