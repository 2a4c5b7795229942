//! The pieces of IPVS state tracking that TCP ([`super::tcp`]) and SCTP ([`super::sctp`])
//! share: the INPUT-ONLY direction rule, the counter movement of a state change, and the
//! number/name plumbing of the state enums.

use super::ConnFlags;
use super::tcp::{CounterChange, Direction};

/// The direction whose rows a packet uses: while the connection has
/// [`ConnFlags::NO_OUTPUT`] an IN packet uses the INPUT-ONLY rows, and the first OUT packet
/// clears the flag for good (and itself uses the OUT rows).
#[inline]
pub(super) fn table_direction(flags: &mut ConnFlags, direction: Direction) -> Direction {
    if flags.contains(ConnFlags::NO_OUTPUT) {
        if direction == Direction::Out {
            flags.remove(ConnFlags::NO_OUTPUT);
        } else {
            return Direction::InputOnly;
        }
    }
    direction
}

/// The counter movement of a state change from the connection's `IP_VS_CONN_F_INACTIVE`
/// flag (which says which counter holds it now): only a real change of state (`changed`)
/// moves counters, towards the new state's activity (`new_active`). Updates the flag.
#[inline]
pub(super) fn counter_change(
    flags: &mut ConnFlags,
    changed: bool,
    new_active: bool,
) -> CounterChange {
    if !changed {
        return CounterChange::None;
    }
    let inactive = flags.contains(ConnFlags::INACTIVE);
    if !inactive && !new_active {
        flags.insert(ConnFlags::INACTIVE);
        CounterChange::Deactivate
    } else if inactive && new_active {
        flags.remove(ConnFlags::INACTIVE);
        CounterChange::Activate
    } else {
        CounterChange::None
    }
}

/// `from_u8` from the enum's `ALL` table and `Display` by its `name`, for a state enum with
/// `COUNT`, `ALL` and `const fn name(self)`.
macro_rules! state_numbers_and_names {
    ($state:ty) => {
        impl $state {
            /// The state with kernel number `n`.
            pub const fn from_u8(n: u8) -> Option<Self> {
                if (n as usize) < Self::COUNT {
                    Some(Self::ALL[n as usize])
                } else {
                    None
                }
            }
        }

        impl core::fmt::Display for $state {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.pad(self.name())
            }
        }
    };
}
pub(super) use state_numbers_and_names;
