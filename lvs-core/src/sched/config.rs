//! Scheduler configuration: ipvsadm's `-b` flags, table sizes, the twos seed.

use core::fmt;
use core::time::Duration;

/// The service's scheduler flags (ipvsadm `-b`), stored as the kernel's three generic bits
/// `IP_VS_SVC_F_SCHED1..3`: sh and mh give bit 1 the meaning "fallback" and bit 2 "port", so a
/// service switched from sh to mh keeps the meaning of its flags, as in the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SchedFlags(u32);

impl SchedFlags {
    /// No flag.
    pub const EMPTY: Self = Self(0);
    /// `IP_VS_SVC_F_SCHED1` (`flag-1`).
    pub const FLAG_1: Self = Self(0x0008);
    /// `IP_VS_SVC_F_SCHED2` (`flag-2`).
    pub const FLAG_2: Self = Self(0x0010);
    /// `IP_VS_SVC_F_SCHED3` (`flag-3`).
    pub const FLAG_3: Self = Self(0x0020);
    /// `sh-fallback`: an unavailable bucket owner probes onward instead of failing.
    pub const SH_FALLBACK: Self = Self::FLAG_1;
    /// `sh-port`: hash the client port too.
    pub const SH_PORT: Self = Self::FLAG_2;
    /// `mh-fallback`: an unavailable slot owner re-hashes instead of failing.
    pub const MH_FALLBACK: Self = Self::FLAG_1;
    /// `mh-port`: hash the client port too.
    pub const MH_PORT: Self = Self::FLAG_2;

    /// The kernel bit values (`IP_VS_SVC_F_SCHED1` = 0x8, ...).
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Flags from kernel bits; bits outside the three scheduler flags are dropped.
    pub const fn from_bits_truncate(bits: u32) -> Self {
        Self(bits & 0x0038)
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of flags.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `sh-fallback` / `mh-fallback` (bit 1).
    pub const fn fallback(self) -> bool {
        self.contains(Self::FLAG_1)
    }

    /// `sh-port` / `mh-port` (bit 2).
    pub const fn port(self) -> bool {
        self.contains(Self::FLAG_2)
    }

    /// Parse ipvsadm's `-b` list (`"sh-fallback,sh-port"`) for a service using `sched` (ipvsadm
    /// `parse_sched_flags`): `flag-1..3` always, `sh-*` only with sh, `mh-*` only with mh.
    pub fn parse(list: &str, sched: &str) -> Result<Self, SchedError> {
        let mut flags = Self::EMPTY;
        for name in list.split(',') {
            let (flag, only) = match name {
                "flag-1" => (Self::FLAG_1, None),
                "flag-2" => (Self::FLAG_2, None),
                "flag-3" => (Self::FLAG_3, None),
                "sh-fallback" => (Self::SH_FALLBACK, Some("sh")),
                "sh-port" => (Self::SH_PORT, Some("sh")),
                "mh-fallback" => (Self::MH_FALLBACK, Some("mh")),
                "mh-port" => (Self::MH_PORT, Some("mh")),
                _ => return Err(SchedError::InvalidFlag(name.to_owned())),
            };
            if only.is_some_and(|only| only != sched) {
                return Err(SchedError::IncompatibleFlag(name.to_owned()));
            }
            flags = flags.union(flag);
        }
        Ok(flags)
    }

    /// The flags as ipvsadm lists them for a service using `sched`: comma-separated,
    /// `sh-fallback,sh-port` for sh, `mh-...` for mh, `flag-N` otherwise.
    pub fn display(self, sched: &str) -> impl fmt::Display + '_ {
        FlagsDisplay { flags: self, sched }
    }
}

struct FlagsDisplay<'a> {
    flags: SchedFlags,
    sched: &'a str,
}

impl fmt::Display for FlagsDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: [&str; 3] = match self.sched {
            "sh" => ["sh-fallback", "sh-port", "flag-3"],
            "mh" => ["mh-fallback", "mh-port", "flag-3"],
            _ => ["flag-1", "flag-2", "flag-3"],
        };
        let bits = [SchedFlags::FLAG_1, SchedFlags::FLAG_2, SchedFlags::FLAG_3];
        let mut first = true;
        for (bit, name) in bits.into_iter().zip(names) {
            if self.flags.contains(bit) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// The Maglev table sizes the kernel can be built with (`primes[]` in `ip_vs_mh.c`, chosen by
/// `CONFIG_IP_VS_MH_TAB_INDEX`), plus 65537, the size of the Maglev paper and Katran.
pub const MH_TABLE_SIZES: [u32; 11] = [
    251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 65537, 131071,
];

/// Per-service scheduler settings: the kernel's build-time table sizes and sysctls, the flags,
/// and the seed that replaces the kernel's random source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedConfig {
    /// ipvsadm `-b` flags.
    pub flags: SchedFlags,
    /// sh table size as a power of two (`CONFIG_IP_VS_SH_TAB_BITS`, 4..=20, default 8).
    pub sh_table_bits: u8,
    /// dh table size as a power of two (`CONFIG_IP_VS_DH_TAB_BITS`, 1..=20, default 8).
    pub dh_table_bits: u8,
    /// Maglev table size, one of [`MH_TABLE_SIZES`] (default 4093).
    pub mh_table_size: u32,
    /// lblc idle-entry expiry (sysctl `lblc_expiration`, default 24 h).
    pub lblc_expiration: Duration,
    /// lblcr idle-entry and set-shrink expiry (sysctl `lblcr_expiration`, default 24 h).
    pub lblcr_expiration: Duration,
    /// Seed of the twos RNG (the kernel uses `get_random_u32`).
    pub seed: u64,
}

impl Default for SchedConfig {
    fn default() -> Self {
        Self {
            flags: SchedFlags::EMPTY,
            sh_table_bits: 8,
            dh_table_bits: 8,
            mh_table_size: 4093,
            lblc_expiration: Duration::from_secs(24 * 60 * 60),
            lblcr_expiration: Duration::from_secs(24 * 60 * 60),
            seed: 0,
        }
    }
}

impl SchedConfig {
    /// Check the table sizes against the ranges the kernel's Kconfig allows.
    pub fn validate(&self) -> Result<(), SchedError> {
        if !(4..=20).contains(&self.sh_table_bits) {
            return Err(SchedError::BadTableBits {
                sched: "sh",
                bits: self.sh_table_bits,
            });
        }
        if !(1..=20).contains(&self.dh_table_bits) {
            return Err(SchedError::BadTableBits {
                sched: "dh",
                bits: self.dh_table_bits,
            });
        }
        if !MH_TABLE_SIZES.contains(&self.mh_table_size) {
            return Err(SchedError::BadMhTableSize(self.mh_table_size));
        }
        Ok(())
    }
}

/// Errors creating a scheduler or parsing its flags.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchedError {
    /// No scheduler has this name (the kernel: `Scheduler module ip_vs_<name> not found`).
    #[error("Scheduler not found: {0}")]
    UnknownScheduler(String),
    /// A `-b` flag ipvsadm does not know.
    #[error("invalid scheduler flag `{0}'")]
    InvalidFlag(String),
    /// A `-b` flag of another scheduler (`sh-port` with `-s mh`).
    #[error("incompatible scheduler flag `{0}'")]
    IncompatibleFlag(String),
    /// A sh/dh table size outside the kernel's Kconfig range.
    #[error("{sched} table bits {bits} out of range")]
    BadTableBits {
        /// `sh` or `dh`.
        sched: &'static str,
        /// The rejected value.
        bits: u8,
    },
    /// A Maglev table size that is not one of [`MH_TABLE_SIZES`].
    #[error("mh table size {0} is not one of the kernel's primes (or 65537)")]
    BadMhTableSize(u32),
}
